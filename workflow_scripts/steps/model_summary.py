try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.assets import sources
from workflow_scripts.core.step import run


def main(smk):
    sources.load(smk.config["source"]).model_summary(smk)


run(snakemake, main)  # noqa: F821
