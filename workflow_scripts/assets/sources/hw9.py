"""The homework's own assets: its 10 food images and the TA's checkpoint, from the first source
that works (rules/sources/hw9.smk, workflow_scripts/assets/hw9.py)."""

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
from workflow_scripts.core.homework import HW9_IMAGES

NAME = "hw9"
HOMEWORK = True


def observed_candidates(config) -> list[str]:
    return list(HW9_IMAGES)


def quality_count(config, observed) -> int:
    return min(config["quality"]["images"], len(observed))


def quality_input(root, observed) -> dict:
    return {"observed": observed}


def has_masks(config) -> bool:
    return False


def quality_images(smk, positions) -> tuple:
    """The observed images (no masks)."""
    from workflow_scripts.quality.images import from_observed

    return from_observed([smk.input.observed[i] for i in positions])
