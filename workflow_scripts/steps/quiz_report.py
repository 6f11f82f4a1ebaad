try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.core.step import run
from workflow_scripts.report.render import write_reports


def main(smk):
    write_reports(
        smk.input.answers,
        smk.params.results,
        smk.output.md,
        smk.output.html,
        dict(smk.params.method_figures),
        evidence_dir=smk.output.evidence,
        workers=smk.threads,
    )


run(snakemake, main)  # noqa: F821
