try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.core.step import run
from workflow_scripts.figures.bert import attention_heads


def main(smk):
    attention_heads(smk.input.npz, smk.input.json, smk.output.png)


run(snakemake, main)  # noqa: F821
