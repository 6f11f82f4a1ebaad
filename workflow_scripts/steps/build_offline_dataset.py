try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.assets.offline_dataset import build
from workflow_scripts.core.step import run


def main(smk):
    build(
        smk.params.offline,
        smk.params.seed,
        smk.threads,
        {"train": smk.output.train, "val": smk.output.val, "test": smk.output.test},
        smk.output.food,
        smk.output.summary,
    )


run(snakemake, main)  # noqa: F821 (injected by Snakemake)
