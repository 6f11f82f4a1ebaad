try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.assets.hw9 import obtain
from workflow_scripts.core.step import run, speed


def main(smk):
    obtain({**smk.params.hw9, **speed(smk, "hw9")}, smk.output.food, smk.output.checkpoint)


run(snakemake, main)  # noqa: F821
