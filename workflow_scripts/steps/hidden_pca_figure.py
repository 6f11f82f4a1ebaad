try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.core.step import run
from workflow_scripts.figures.bert import pca_grid, pca_layers


def main(smk):
    pca_grid(smk.input.npz, smk.input.json, smk.output.png)
    pca_layers(smk.input.npz, smk.input.json, smk.output.layers)


run(snakemake, main)  # noqa: F821
