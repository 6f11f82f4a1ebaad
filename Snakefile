# xai-pipeline: explain the HW9 food CNN and BERT, render figures, answer the quiz.
#   snakemake --cores all                               # default: the offline asset set
#   snakemake --cores all --configfile config/hw9.yaml  # the real homework assets
import os

from snakemake.utils import min_version

min_version("9.0")


# The defaults, found next to this Snakefile from any working directory (-s, --directory, module).
configfile: os.path.join(str(workflow.current_basedir), "config", "config.yaml")


include: "rules/common.smk"
include: "rules/assets.smk"
include: "rules/cnn.smk"
include: "rules/quality.smk"
include: "rules/bert.smk"
include: "rules/figures.smk"
include: "rules/report.smk"
include: "rules/shortcut.smk"


rule all:
    default_target: True
    input:
        all_targets() + shortcut_targets(),
