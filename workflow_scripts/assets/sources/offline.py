"""The offline asset set: the emoji food-11 images rendered here (with masks), and the homework
Classifier trained on them (rules/sources/offline.smk)."""

from __future__ import annotations

from workflow_scripts.cnn.layers import homework_layers
from workflow_scripts.core import paths as P

NAME = "offline"
HOMEWORK = True


def model_file(root) -> str:
    return P.checkpoint(root)


def observed_input(root) -> dict:
    return {"food": P.food_dir(root)}


def observed_candidates(config) -> list[str]:
    """The dataset rule names the first `observed_per_class` test images of class c `<c>_<k>`
    with a running k, so the names follow from the config alone."""
    per = config["offline"]["observed_per_class"]
    return [f"{c}_{c * per + j}" for c in range(11) for j in range(per)]


def layers(config) -> tuple:
    return homework_layers(config)


def limits(config) -> dict:
    """The Classifier hooks and re-initialises like any nn.Module."""
    return {"hooks": True, "sanity": True, "why": ""}


def quality_count(config, observed) -> int:
    from workflow_scripts.quality.stage import image_count

    return image_count(config["quality"], True, observed)


def quality_input(root, observed) -> dict:
    return {"dataset": P.dataset_split(root, "test")}


def has_masks(config) -> bool:
    return True


def observed_image(smk) -> None:
    from workflow_scripts.assets.observed import observed_image as write

    write(smk.input.food, smk.wildcards.image, smk.output.npz)


def quality_images(smk, positions) -> tuple:
    """The test split's images at `positions` (the selection is a prefix: no job depends on
    quality.images)."""
    from workflow_scripts.quality.images import from_dataset

    per_class = smk.params.quality["images_per_class"]
    return from_dataset(smk.input.dataset, per_class, max(positions) + 1, positions)


def load_model(path, device="cpu"):
    """The homework Classifier from its checkpoint (weights_only, strict keys)."""
    from workflow_scripts.assets.models import load_checkpoint

    return load_checkpoint(path, device=device)


def model_summary(smk) -> None:
    from workflow_scripts.assets.observed import model_summary as write

    write(smk.input.checkpoint, smk.output.json, smk.params.width)
