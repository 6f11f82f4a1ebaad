import _bootstrap  # noqa: F401  (repository root on sys.path)
from workflow_scripts.bert.pipeline import resolve_role
from workflow_scripts.step import run


def main(smk):
    resolve_role(smk.wildcards.role, smk.params.source, dict(smk.params.hub),
                 smk.input.get("folder"), smk.output.descriptor)


run(snakemake, main)  # noqa: F821
