from workflow_scripts.assets.observed import observed_image
from workflow_scripts.core.step import run

import _bootstrap  # noqa: F401  (repository root on sys.path)


def main(smk):
    observed_image(smk.input.food, smk.wildcards.image, smk.output.npz)


run(snakemake, main)  # noqa: F821
