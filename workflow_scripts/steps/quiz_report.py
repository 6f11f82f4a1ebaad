from workflow_scripts.core.step import run
from workflow_scripts.report.render import write_reports

import _bootstrap  # noqa: F401  (repository root on sys.path)


def main(smk):
    write_reports(
        smk.input.answers,
        smk.params.results,
        smk.output.md,
        smk.output.html,
        dict(smk.params.method_figures),
        evidence_dir=smk.output.evidence,
    )


run(snakemake, main)  # noqa: F821
