"""What the two homework sources (offline, hw9) share: the homework Classifier in a checkpoint and
the observed images as `<label>_<id>.jpg` in a food folder. Not a source itself (no NAME)."""

from __future__ import annotations

from workflow_scripts.cnn.layers import homework_layers
from workflow_scripts.core import paths as P


def model_file(root) -> str:
    return P.checkpoint(root)


def observed_input(root) -> dict:
    return {"food": P.food_dir(root)}


def layers(config) -> tuple:
    return homework_layers(config)


def limits(config) -> dict:
    """The Classifier hooks and re-initialises like any nn.Module."""
    return {"hooks": True, "sanity": True, "why": ""}


def observed_image(smk) -> None:
    from workflow_scripts.assets.observed import observed_image as write

    write(smk.input.food, smk.wildcards.image, smk.output.npz)


def load_model(path, device="cpu"):
    """The homework Classifier from its checkpoint (weights_only, strict keys)."""
    from workflow_scripts.assets.models import load_checkpoint

    return load_checkpoint(path, device=device)


def model_summary(smk) -> None:
    from workflow_scripts.assets.observed import model_summary as write

    write(smk.input.checkpoint, smk.output.json, smk.params.width)
