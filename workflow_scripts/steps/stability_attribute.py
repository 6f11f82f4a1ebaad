"""One noisy CNN method on every observed image with its seed + k (report.stability_seeds): the
report answers the questions that depend on its noise again from these artifacts."""

import _bootstrap  # noqa: F401  (first: the package on sys.path, Ctrl-C during imports)

from workflow_scripts.assets import sources
from workflow_scripts.assets.observed import load_observed
from workflow_scripts.cnn.attribute import explain_image, write_artifact
from workflow_scripts.core.step import run, speed, torch_device


def main(smk):
    k, method = int(smk.wildcards.k), smk.params.method
    device = torch_device(smk, smk.params.seed + k)
    params = {**smk.params.cfg, **speed(smk, f"cnn.{method}")}
    params["seed"] = int(params["seed"]) + k
    model = sources.load(smk.config["source"]).load_model(smk.input.checkpoint, device=device)
    for image_file, out in zip(smk.input.images, smk.output.npz):
        image, label, name, _ = load_observed(image_file)
        write_artifact(out, explain_image(method, model, image, label, name, params, device))


run(snakemake, main)  # noqa: F821
