import _bootstrap  # noqa: F401  (repository root on sys.path)
from workflow_scripts.hw9_assets import obtain
from workflow_scripts.step import run, speed


def main(smk):
    obtain({**smk.params.hw9, **speed(smk, "hw9")}, smk.output.food, smk.output.checkpoint)


run(snakemake, main)  # noqa: F821
