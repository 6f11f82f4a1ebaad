import _bootstrap  # noqa: F401  (first: the package on sys.path, Ctrl-C during imports)

from workflow_scripts.assets import sources
from workflow_scripts.core.step import run


def main(smk):
    sources.load(smk.config["source"]).model_summary(smk)


run(snakemake, main)  # noqa: F821
