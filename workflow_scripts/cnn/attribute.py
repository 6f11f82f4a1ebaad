"""The CNN run layer: one registered method on one or several observed images -> the artifacts'
arrays (explain_image: one image; explain_images: a chunk job's images, the model prepared once).

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
from workflow_scripts.cnn.fastpath import auto_batch, for_gradients, for_hooks, for_inference
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.io import write_npz

log = logging.getLogger("xai")

# The model each PREPARE of a method module gets (same function; other kernels, see fastpath).
PREPARE = {
    "inference": for_inference,
    "gradients": for_gradients,
    "hooks": for_hooks,
    "raw": lambda model, device: model,
}


def prepared_model(method: str, params: dict, model, device: torch.device):
    """The model a method's explain gets, made once per job: its PREPARE, then its module's own
    `prepare(model)` where it has one (LRP canonises there, not per image). A wrapper's is its inner
    method's (noise_tunnel: prepared as the inner method alone would be)."""
    registry = methods.registry()
    inner = params.get(registry[method]["INNER_KEY"] or "")
    # a missing or unknown inner method: the method's own, and its explain says what is wrong
    owner = inner if inner in registry else method
    net = PREPARE[registry[owner]["PREPARE"]](model, device)
    own = getattr(methods.load(owner), "prepare", None)
    return own(net) if own is not None else net


def explain_image(
    method: str,
    model,
    image: torch.Tensor,
    label: int,
    name: str,
    params: dict,
    device: torch.device,
    prepared: dict | None = None,
) -> dict:
    """Run `method` on one 3 x H x W image; return the artifact's arrays. `prepared`: a dict
    that keeps the method's prepared model for the next call on the same model (a quality job
    explains image after image: one preparation per method, not per image)."""
    return explain_images(method, model, [(image, label, name)], params, device, prepared=prepared)[
        0
    ]


def explain_images(
    method: str,
    model,
    items,
    params: dict,
    device: torch.device,
    before_each=None,
    prepared: dict | None = None,
) -> list[dict]:
    """Run `method` on each (image, label, name) of `items`; return their artifacts' arrays in
    order. The model is prepared once for all of them (a chunk job's saving); each image's arrays
    equal what explain_image gives it alone. `before_each(name)` runs before each image (the
    step re-seeds the global generators there, so an image never depends on the ones before it).
    """
    module = methods.load(method)
    model = model.to(device).eval()
    cfg = dict(params)
    if "batch_size" in cfg:  # 0 = auto: a speed setting, resolved for this device
        cfg["batch_size"] = auto_batch(cfg["batch_size"], device)
    cache = prepared if prepared is not None else {}
    out = []
    many = getattr(module, "explain_many", None)  # a method that batches a job's images
    if many is not None and device.type == "cuda" and len(items) > 1:
        return _explain_batched(method, module, model, items, params, cfg, device, before_each)
    began = time.perf_counter()
    for k, (image, label, name) in enumerate(items, 1):
        if before_each is not None:
            before_each(name)
        x = image[None].to(device)
        refuse_non_finite(method, name, {"image": image})
        with torch.no_grad():
            logits = model(x)[0].cpu()
        refuse_non_finite(method, name, {"logits": logits})
        if method not in cache:  # once per model and method (the same function, other kernels)
            cache[method] = prepared_model(method, params, model, device)
        start = time.perf_counter()
        target = torch.tensor([label], device=device)

        def call(c, x=x, target=target, name=name):
            return module.explain(cache[method], x, target, image=name, device=device, **c)

        arrays, cfg = halving_on_oom(call, cfg, f"{method} on {name}", before_each, name)
        seconds = time.perf_counter() - start
        done = time.perf_counter() - began
        left = done / k * (len(items) - k)
        count = f"; {k}/{len(items)} images, about {left:.0f} s left" if len(items) > 1 else ""
        out.append(
            _finish(method, module, name, label, logits, params, seconds, device, arrays, count)
        )
    return out


def halving_on_oom(call, cfg: dict, what: str, before_each=None, name=None):
    """call(cfg), and on a CUDA out-of-memory error again with half of cfg's batch_size (a speed
    setting: the same numbers), down to 1, each retry in the log; returns (result, the cfg that
    fitted, kept for the job's next images). The global generators are re-seeded before a
    retry, so it draws what the first try drew."""
    while True:
        try:
            return call(cfg), cfg
        except torch.cuda.OutOfMemoryError:
            batch = int(cfg.get("batch_size", 0))
            if batch <= 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            log.warning(
                "%s: CUDA out of memory at batch_size %d: retrying with %d", what, batch, batch // 2
            )
            cfg = {**cfg, "batch_size": batch // 2}
            if before_each is not None:
                before_each(name)


def _explain_batched(method, module, model, items, params, cfg, device, before_each) -> list:
    """All images of a job in one call of the method's explain_many (GPU: batching pays there);
    each artifact's `seconds` is its share of the call."""
    if before_each is not None:
        before_each(items[0][2])
    xs = torch.stack([image for image, _, _ in items]).to(device)
    logits = []
    for (image, _, name), x in zip(items, xs):
        refuse_non_finite(method, name, {"image": image})
        with torch.no_grad():
            logits.append(model(x[None])[0].cpu())
        refuse_non_finite(method, name, {"logits": logits[-1]})
    prepared = prepared_model(method, params, model, device)
    labels = torch.tensor([label for _, label, _ in items], device=device)
    start = time.perf_counter()
    arrays = module.explain_many(
        prepared, xs, labels, images=[n for _, _, n in items], device=device, **cfg
    )
    seconds = (time.perf_counter() - start) / len(items)
    return [
        _finish(method, module, name, label, logit, params, seconds, device, a)
        for (_, label, name), logit, a in zip(items, logits, arrays)
    ]


def _finish(method, module, name, label, logits, params, seconds, device, arrays, count="") -> dict:
    """The shared artifact keys around a method's own arrays (after the NaN check); `count`: the
    job's progress, ending the image's log line."""
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
        "%s on %s (label %d, predicted %d, variant %s): %.2f s%s",
        method,
        name,
        label,
        arrays["prediction"],
        arrays["variant"],
        seconds,
        count,
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
