import numpy as np

from workflow_scripts.assets.models import load_checkpoint
from workflow_scripts.assets.observed import load_observed
from workflow_scripts.cnn.attribute import explain_image
from workflow_scripts.core.io import write_npz
from workflow_scripts.core.runtime import make_deterministic, pick_device, set_threads
from workflow_scripts.core.step import run, speed

import _bootstrap  # noqa: F401  (repository root on sys.path)


def main(smk):
    """The same image's IG map for each configured number of path steps (quiz 18)."""
    job = speed(smk)  # device, threads
    set_threads(job["threads"] or smk.threads)
    device = pick_device(job["device"])
    make_deterministic(device)
    image, label, name, _ = load_observed(smk.input.image)
    model = load_checkpoint(smk.input.checkpoint, device=device)
    steps = sorted(smk.params.steps)
    maps = [
        explain_image(
            "integrated_gradients",
            model,
            image,
            label,
            name,
            {**smk.params.cfg, **speed(smk, "cnn.integrated_gradients"), "steps": s},
            device,
        )["map"]
        for s in steps
    ]
    write_npz(
        smk.output.npz,
        {"steps": np.array(steps), "maps": np.stack(maps), "image": name, "label": label},
        compressed=True,
    )


run(snakemake, main)  # noqa: F821
