"""Asset-stage steps common to every asset set: the observed image tensors and the model summary."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from workflow_scripts.assets import images as img
from workflow_scripts.core.io import sha256_file, write_json, write_npz

log = logging.getLogger("xai")


def observed_image(food_dir, name: str, out_npz) -> dict:
    """Load one observed image the homework's way and cache it: image (3 x 128 x 128 in [0, 1]),
    label, name, and mask (128 x 128 bool) when `<name>.mask.png` ground truth lies beside it."""
    from PIL import Image

    food_dir = Path(food_dir)
    path = food_dir / f"{name}.jpg"
    label = img.sort_key(path.name) // 1_000_000
    arrays = {
        "image": img.load_image_array(path),
        "label": np.int64(label),
        "name": np.asarray(name),
    }
    mask_path = food_dir / f"{name}.mask.png"
    if mask_path.is_file():
        with Image.open(mask_path) as im:
            arrays["mask"] = (
                np.asarray(im.convert("L").resize((img.IMAGE_SIZE, img.IMAGE_SIZE), Image.NEAREST))
                >= 128
            )
    write_npz(out_npz, arrays)
    log.info("observed image %s (label %d, mask: %s)", name, label, "mask" in arrays)
    return {"name": name, "label": label}


def load_observed(path):
    """(image tensor, label, name, mask or None) from an observed-image cache file."""
    import torch

    with np.load(path) as z:
        return (
            torch.from_numpy(z["image"]),
            int(z["label"]),
            str(z["name"]),
            z["mask"] if "mask" in z else None,
        )


def width_record(used: float, configured: float | None) -> dict:
    """Which width the methods use and why, for the model summary (the report shows
    `width_source`): always the checkpoint's, which a differing config model.width cannot
    change."""
    if configured is None:
        source = "checkpoint (no config width)"
    elif abs(used - configured) > 1e-9:
        source = f"checkpoint (config said {configured:g})"
    else:
        source = "checkpoint (same as config)"
    return {"width": used, "config_width": configured, "width_source": source}


def model_summary(checkpoint, out_json, width: float | None) -> dict:
    """Load the checkpoint exactly as every method will, and record what it is."""
    import torch

    from workflow_scripts.assets.models import describe_model, load_checkpoint

    model = load_checkpoint(checkpoint, width=None)
    summary = describe_model(model)
    summary.update(width_record(model.width, width))
    if summary["width_source"] != "checkpoint (same as config)":
        log.warning(
            "checkpoint %s has width %g: using it (%s)",
            checkpoint,
            model.width,
            summary["width_source"],
        )
    summary.update(
        {
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": sha256_file(checkpoint),
            "torch": torch.__version__,
        }
    )
    write_json(out_json, summary)
    log.info(
        "model: width %g, %d parameters, sha256 %s",
        model.width,
        summary["parameters"],
        summary["checkpoint_sha256"][:12],
    )
    return summary
