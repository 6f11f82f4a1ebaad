try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.bert.pipeline import run_hidden_pca
from workflow_scripts.core.runtime import set_threads
from workflow_scripts.core.step import run


def main(smk):
    set_threads(smk.threads)
    run_hidden_pca(
        smk.input.model,
        dict(smk.params.item),
        int(smk.wildcards.item) - 1,
        dict(smk.params.pca),
        smk.output.npz,
        smk.output.json,
    )


run(snakemake, main)  # noqa: F821
