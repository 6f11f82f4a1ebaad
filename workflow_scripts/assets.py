"""Asset-stage steps common to every asset set: the observed image tensors and the model summary."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from . import images as img
from .io import atomic_path, sha256_file, write_json
from .models import describe_model, load_checkpoint

log = logging.getLogger("xai")


def observed_images(food_dir, out_npz, count: int, names: list[str]) -> dict:
    """Load the observed images the homework's way and cache them as one float32 tensor stack.

    Writes images (N x 3 x 128 x 128 in [0, 1]), labels, names, and masks (N x 128 x 128 bool)
    when the folder holds `<stem>.mask.png` ground truth (the offline set does).
    """
    paths, labels = img.get_paths_labels(food_dir)
    paths, labels = img.select_observed(paths, labels, count, names)
    batch = img.load_batch(paths)
    stems = [p.stem for p in paths]
    arrays = {"images": batch.numpy().astype(np.float32), "labels": np.asarray(labels, dtype=np.int64),
              "names": np.asarray(stems)}
    mask_paths = [p.with_name(p.stem + ".mask.png") for p in paths]
    if all(m.is_file() for m in mask_paths):
        from PIL import Image

        masks = []
        for m in mask_paths:
            with Image.open(m) as im:
                masks.append(np.asarray(im.convert("L").resize((img.IMAGE_SIZE, img.IMAGE_SIZE), Image.NEAREST)) >= 128)
        arrays["masks"] = np.stack(masks)
    with atomic_path(out_npz) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    log.info("observed %d images from %s: %s (masks: %s)", len(stems), food_dir, stems, "masks" in arrays)
    return {"names": stems, "labels": labels}


def model_summary(checkpoint, out_json, width: float | None) -> dict:
    """Load the checkpoint exactly as every method will, and record what it is."""
    model = load_checkpoint(checkpoint, width=None)
    if width is not None and abs(model.width - width) > 1e-9:
        log.warning("checkpoint %s has width %g, config model.width says %g: using the checkpoint's",
                    checkpoint, model.width, width)
    summary = describe_model(model)
    summary.update({"checkpoint": str(checkpoint), "checkpoint_sha256": sha256_file(checkpoint),
                    "torch": torch.__version__})
    write_json(out_json, summary)
    log.info("model: width %g, %d parameters, sha256 %s", model.width, summary["parameters"],
             summary["checkpoint_sha256"][:12])
    return summary
