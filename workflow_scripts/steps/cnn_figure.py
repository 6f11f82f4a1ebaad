import _bootstrap  # noqa: F401  (repository root on sys.path)
from workflow_scripts.errors import UserError
from workflow_scripts.figures.cnn import FIGURES, filters_figures
from workflow_scripts.step import run


def main(smk):
    method = smk.params.method
    observed, artifacts = list(smk.input.observed), list(smk.input.artifacts)
    if method == "filters":
        filters_figures(observed, artifacts, smk.params.pairs, smk.params.template)
    elif method in FIGURES:
        FIGURES[method](observed, artifacts, smk.output.png)
    else:
        raise UserError(f"unknown CNN figure method {method!r}; expected filters or one of {sorted(FIGURES)}")


run(snakemake, main)  # noqa: F821
