try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.core.step import run
from workflow_scripts.report.model_report import write_report


def main(smk):
    write_report(
        smk.input.model,
        smk.input.get("quality") or None,
        dict(smk.params.meta),
        smk.params.results,
        dict(smk.params.method_figures),
        smk.output.html,
    )


run(snakemake, main)  # noqa: F821
