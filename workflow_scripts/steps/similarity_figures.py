try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.core.step import run
from workflow_scripts.figures.bert import similarity_by_layer, similarity_matrix


def main(smk):
    for (metric, key, layer), out in zip(smk.params.matrices, smk.output.matrices, strict=True):
        similarity_matrix(smk.input.npz, key, metric, layer, out)
    similarity_by_layer(smk.input.json, smk.output.curves)


run(snakemake, main)  # noqa: F821
