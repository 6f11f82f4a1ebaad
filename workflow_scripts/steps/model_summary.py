from workflow_scripts.assets.observed import model_summary
from workflow_scripts.core.step import run

import _bootstrap  # noqa: F401  (repository root on sys.path)


def main(smk):
    model_summary(smk.input.checkpoint, smk.output.json, smk.params.width)


run(snakemake, main)  # noqa: F821
