import _bootstrap  # noqa: F401  (first: the package on sys.path, Ctrl-C during imports)

from workflow_scripts.core.step import run
from workflow_scripts.figures.bert import attention_heads


def main(smk):
    attention_heads(smk.input.npz, smk.input.json, smk.output.png)


run(snakemake, main)  # noqa: F821
