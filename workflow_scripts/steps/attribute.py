from workflow_scripts.assets.models import load_checkpoint
from workflow_scripts.assets.observed import load_observed
from workflow_scripts.cnn.attribute import explain_image, write_artifact
from workflow_scripts.core.runtime import (
    make_deterministic,
    pick_device,
    seed_everything,
    set_threads,
)
from workflow_scripts.core.step import run, speed

import _bootstrap  # noqa: F401  (repository root on sys.path)


def main(smk):
    job = speed(smk)  # device, threads
    set_threads(job["threads"] or smk.threads)
    device = pick_device(job["device"])
    make_deterministic(device)
    seed_everything(smk.params.seed)
    image, label, name, _ = load_observed(smk.input.image)
    model = load_checkpoint(smk.input.checkpoint, device=device)
    write_artifact(
        smk.output.npz,
        explain_image(
            smk.params.method,
            model,
            image,
            label,
            name,
            {**smk.params.cfg, **speed(smk, f"cnn.{smk.params.method}")},
            device,
        ),
    )


run(snakemake, main)  # noqa: F821
