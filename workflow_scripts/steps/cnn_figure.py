try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.core.step import run
from workflow_scripts.figures.cnn import filters_figures, method_figures, spec


def main(smk):
    method = smk.params.method
    observed, artifacts, outs = (
        list(smk.input.observed),
        list(smk.input.artifacts),
        list(smk.output.pngs),
    )
    if spec(method).get("per") == "pairs":
        filters_figures(observed, artifacts, smk.params.per, outs)
    else:
        method_figures(method, observed, artifacts, outs)


run(snakemake, main)  # noqa: F821
