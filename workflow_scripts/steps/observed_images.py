import _bootstrap  # noqa: F401  (repository root on sys.path)
from workflow_scripts.assets import observed_images
from workflow_scripts.step import run


def main(smk):
    observed_images(smk.input.food, smk.output.npz, smk.params.first, list(smk.params.names))


run(snakemake, main)  # noqa: F821
