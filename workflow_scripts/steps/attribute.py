try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.assets import sources
from workflow_scripts.assets.observed import load_observed
from workflow_scripts.cnn.attribute import explain_images, write_artifact
from workflow_scripts.core.runtime import seed_everything
from workflow_scripts.core.step import run, speed, torch_device


def main(smk):
    """One method on a chunk of observed images (cnn.images_per_job): the model is loaded and
    prepared once; each image gets its own artifact, equal to what a job of its own writes."""
    device = torch_device(smk)
    model = sources.load(smk.config["source"]).load_model(smk.input.checkpoint, device=device)
    items = [load_observed(path)[:3] for path in smk.input.images]
    arrays = explain_images(
        smk.params.method,
        model,
        items,
        {**smk.params.cfg, **speed(smk, f"cnn.{smk.params.method}")},
        device,
        before_each=lambda name: seed_everything(smk.params.seed),
    )
    for path, artifact in zip(smk.output.npz, arrays):
        write_artifact(path, artifact)


run(snakemake, main, exit_now=True)  # noqa: F821
