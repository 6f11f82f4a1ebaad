"""The offline asset set: the emoji food-11 images rendered here (with masks), and the homework
Classifier trained on them (rules/sources/offline.smk)."""

from __future__ import annotations

from workflow_scripts.assets.sources._homework import (  # noqa: F401  (the interface, shared)
    layers,
    limits,
    load_model,
    model_file,
    model_summary,
    observed_image,
    observed_input,
)
from workflow_scripts.core import paths as P

NAME = "offline"
HOMEWORK = True


def observed_candidates(config) -> list[str]:
    """The dataset rule names the first `observed_per_class` test images of class c `<c>_<k>`
    with a running k, so the names follow from the config alone."""
    per = config["offline"]["observed_per_class"]
    return [f"{c}_{c * per + j}" for c in range(11) for j in range(per)]


def quality_count(config, observed) -> int:
    from workflow_scripts.quality.plan import image_count

    return image_count(config["quality"], True, observed)


def quality_input(root, observed) -> dict:
    return {"dataset": P.dataset_split(root, "test")}


def has_masks(config) -> bool:
    return True


def quality_images(smk, positions) -> tuple:
    """The test split's images at `positions` (the selection is a prefix: no job depends on
    quality.images)."""
    from workflow_scripts.quality.images import from_dataset

    per_class = smk.params.quality["images_per_class"]
    return from_dataset(smk.input.dataset, per_class, max(positions) + 1, positions)
