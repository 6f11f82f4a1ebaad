try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

import numpy as np

from workflow_scripts.assets import sources
from workflow_scripts.assets.observed import load_observed
from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.core.io import write_npz
from workflow_scripts.core.step import run, speed, torch_device


def main(smk):
    """Each image's IG map for each configured number of path steps (quiz 18), for a chunk of
    observed images (cnn.images_per_job)."""
    device = torch_device(smk)
    model = sources.load(smk.config["source"]).load_model(smk.input.checkpoint, device=device)
    items = [load_observed(path)[:3] for path in smk.input.images]
    steps = sorted(smk.params.steps)
    cfg = {**smk.params.cfg, **speed(smk, "cnn.integrated_gradients")}
    per_steps = [
        explain_images("integrated_gradients", model, items, {**cfg, "steps": s}, device)
        for s in steps
    ]
    for i, (path, (_, label, name)) in enumerate(zip(smk.output.npz, items)):
        write_npz(
            path,
            {
                "steps": np.array(steps),
                "maps": np.stack([arrays[i]["map"] for arrays in per_steps]),
                "image": name,
                "label": label,
                "seconds": sum(float(arrays[i]["seconds"]) for arrays in per_steps),
            },
            compressed=True,
        )


run(snakemake, main, exit_now=True)  # noqa: F821
