from workflow_scripts.core.step import run
from workflow_scripts.figures.bert import attention_heads

import _bootstrap  # noqa: F401  (repository root on sys.path)


def main(smk):
    attention_heads(smk.input.npz, smk.input.json, smk.output.png)


run(snakemake, main)  # noqa: F821
