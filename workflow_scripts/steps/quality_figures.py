try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

import numpy as np

from workflow_scripts.core.io import read_json
from workflow_scripts.core.step import run
from workflow_scripts.figures.quality import draw


def main(smk):
    with np.load(smk.input.curves) as z:
        curves = {k: z[k] for k in z.files}
    names = ("metrics", "curves", "sanity")
    draw(read_json(smk.input.json), curves, dict(zip(names, smk.output.pngs)))


run(snakemake, main)  # noqa: F821
