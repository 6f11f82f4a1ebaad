import numpy as np

from workflow_scripts.core.io import read_json
from workflow_scripts.core.step import run
from workflow_scripts.figures.quality import draw

import _bootstrap  # noqa: F401  (repository root on sys.path)


def main(smk):
    with np.load(smk.input.curves) as z:
        curves = {k: z[k] for k in z.files}
    names = ("metrics", "curves", "sanity")
    draw(read_json(smk.input.json), curves, dict(zip(names, smk.output.pngs)))


run(snakemake, main)  # noqa: F821
