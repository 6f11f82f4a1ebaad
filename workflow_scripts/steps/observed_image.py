import _bootstrap  # noqa: F401  (first: the package on sys.path, Ctrl-C during imports)

from workflow_scripts.assets.observed import observed_image
from workflow_scripts.core.step import run


def main(smk):
    observed_image(smk.input.food, smk.wildcards.image, smk.output.npz)


run(snakemake, main)  # noqa: F821
