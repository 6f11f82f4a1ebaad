"""The homework's own assets: its 10 food images and the TA's checkpoint, from the first source
that works (rules/sources/hw9.smk, workflow_scripts/assets/hw9.py)."""

from __future__ import annotations

from workflow_scripts.cnn.layers import homework_layers
from workflow_scripts.core import paths as P
from workflow_scripts.core.homework import HW9_IMAGES

NAME = "hw9"
HOMEWORK = True


def model_file(root) -> str:
    return P.checkpoint(root)


def observed_input(root) -> dict:
    return {"food": P.food_dir(root)}


def observed_candidates(config) -> list[str]:
    return list(HW9_IMAGES)


def layers(config) -> tuple:
    return homework_layers(config)


def limits(config) -> dict:
    return {"hooks": True, "sanity": True, "why": ""}


def quality_count(config, observed) -> int:
    return min(config["quality"]["images"], len(observed))


def quality_input(root, observed) -> dict:
    return {"observed": observed}


def has_masks(config) -> bool:
    return False


def observed_image(smk) -> None:
    from workflow_scripts.assets.observed import observed_image as write

    write(smk.input.food, smk.wildcards.image, smk.output.npz)


def quality_images(smk, positions) -> tuple:
    """The observed images (no masks)."""
    from workflow_scripts.quality.images import from_observed

    return from_observed([smk.input.observed[i] for i in positions])


def load_model(path, device="cpu"):
    """The homework Classifier from its checkpoint (weights_only, strict keys)."""
    from workflow_scripts.assets.models import load_checkpoint

    return load_checkpoint(path, device=device)


def model_summary(smk) -> None:
    from workflow_scripts.assets.observed import model_summary as write

    write(smk.input.checkpoint, smk.output.json, smk.params.width)
