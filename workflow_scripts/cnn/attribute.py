"""The CNN run layer: one registered method on one observed image -> the artifact's arrays.

Artifact keys shared by every method: method, variant, image, label, prediction, logits,
probabilities, params (JSON), seed, seconds, device; gradient methods add attribution
(3 x H x W, before normalisation), map_raw (H x W, max over RGB of |attribution|) and
map (map_raw min-max normalised per image: what the figures show). Method-specific keys are
listed in the README ("Attribution artifacts").
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import torch

from workflow_scripts.cnn import methods
from workflow_scripts.cnn.fastpath import auto_batch, for_gradients, for_inference
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.io import write_npz

log = logging.getLogger("xai")

# The model each PREPARE of a method module gets (same function; other kernels, see fastpath).
PREPARE = {
    "inference": for_inference,
    "gradients": for_gradients,
    "raw": lambda model, device: model,
}


def explain_image(
    method: str,
    model,
    image: torch.Tensor,
    label: int,
    name: str,
    params: dict,
    device: torch.device,
) -> dict:
    """Run `method` on one 3 x H x W image; return the artifact's arrays."""
    meta, module = methods.registry()[method], methods.load(method)
    model = model.to(device).eval()
    x = image[None].to(device)
    refuse_non_finite(method, name, {"image": image})
    with torch.no_grad():
        logits = model(x)[0].cpu()
    refuse_non_finite(method, name, {"logits": logits})
    prepared = PREPARE[meta["PREPARE"]](model, device)
    cfg = dict(params)
    if "batch_size" in cfg:  # 0 = auto: a speed setting, resolved for this device
        cfg["batch_size"] = auto_batch(cfg["batch_size"], device)
    start = time.perf_counter()
    arrays = module.explain(
        prepared, x, torch.tensor([label], device=device), image=name, device=device, **cfg
    )
    seconds = time.perf_counter() - start
    refuse_non_finite(method, name, arrays, getattr(module, "ABSENT_AS_NAN", ()))
    if "map_raw" in arrays:
        arrays["map"] = methods.normalize(arrays["map_raw"])
    arrays.update(
        {
            "method": method,
            "variant": methods.variant_name(method, params),
            "image": name,
            "label": label,
            "prediction": int(logits.argmax()),
            "logits": logits.numpy(),
            "probabilities": logits.softmax(0).numpy(),
            "params": json.dumps(params, sort_keys=True),
            "seed": int(params.get("seed", -1)),
            "seconds": seconds,
            "device": str(device),
        }
    )
    log.info(
        "%s on %s (label %d, predicted %d, variant %s): %.2f s",
        method,
        name,
        label,
        arrays["prediction"],
        arrays["variant"],
        seconds,
    )
    return arrays


def _non_finite_count(value) -> int:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (float, np.floating, np.ndarray)):
        arr = np.asarray(value)
        if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating):
            return int(arr.size - np.count_nonzero(np.isfinite(arr)))
    return 0


def refuse_non_finite(method: str, image: str, arrays: dict, absent_as_nan=()) -> None:
    """A UserError naming the method, image and artifact key of the first float array that holds
    NaN or inf: a NaN map would otherwise normalise to garbage (or to zeros) and be reported as
    an explanation. `absent_as_nan`: keys where the method writes NaN on purpose for "no such
    pixels" (a method module's ABSENT_AS_NAN)."""
    for key, value in arrays.items():
        if key in absent_as_nan:
            continue
        count = _non_finite_count(value)
        if count:
            raise UserError(
                f"{method} on image {image}: artifact key {key} holds {count:,} NaN/inf "
                f"value(s); the checkpoint, the image or config cnn.{method} is broken "
                "(nothing was written)"
            )


def write_artifact(path, arrays: dict) -> None:
    write_npz(path, arrays)
