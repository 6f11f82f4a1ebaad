# xai-pipeline: explain the HW9 food CNN and BERT, render figures, answer the quiz.
#   snakemake --cores all                               # default: the offline asset set
#   snakemake --cores all --configfile config/hw9.yaml  # the real homework assets
import os

from snakemake.utils import min_version

min_version("9.0")


# The defaults, found next to this Snakefile from any working directory (-s, --directory, module).
configfile: os.path.join(str(workflow.current_basedir), "config", "config.yaml")


# The top-level description of Snakemake's report (snakemake --report report.zip).
report: "report/workflow.rst"


include: "rules/common.smk"


# The terminal of a run shows the pipeline's own lines and "N of M steps", not Snakemake's per-job
# blocks and scheduling chatter (kept in .snakemake/log/; a dry run and --verbose show them):
# workflow_scripts/core/console.py
quiet_scheduler(lambda: workflow.dryrun)
# Ctrl-C: each running job stops with one ERROR line, finished jobs are kept, exit status 130
# (workflow_scripts/core/interrupt.py; the onerror hook below ends the run)
INTERRUPT = handle_interrupts()


include: "rules/assets.smk"
include: "rules/cnn.smk"
include: "rules/quality.smk"
include: "rules/bert.smk"
include: "rules/figures.smk"
include: "rules/stability.smk"
include: "rules/report.smk"
include: "rules/shortcut.smk"


rule all:
    default_target: True
    input:
        all_targets() + shortcut_targets(),


# Every successful run ends with where the report is (plain snakemake users see it too).
onsuccess:
    report_line(R)


onerror:
    INTERRUPT.end(log)
