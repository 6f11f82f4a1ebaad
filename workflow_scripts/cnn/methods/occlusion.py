"""Occlusion (Zeiler & Fergus 2014): how much the true label's logit falls when a window of the
image is set to a baseline value, averaged over the windows that cover each pixel.

Windows of `window` x `window` pixels (all three channels) start every `stride` pixels, ceil((H -
window) / stride) + 1 per axis (the last one cut at the border), so every pixel is covered; a
pixel's attribution is the mean of f(x) - f(x with the window at `baseline`) over the windows
covering it. This is Captum's Occlusion with sliding_window_shapes (3, window, window), strides
(3, stride, stride) and a scalar baseline (tests/test_occlusion.py compares). `map_raw`: the
signed attribution (one value per pixel: every channel of a window moves together); positive =
the logit falls when the pixel is hidden.
"""

from __future__ import annotations

import math

import torch

from workflow_scripts.cnn.fastpath import auto_batch

NAME = "occlusion"
ORDER = 9
PREPARE = "inference"
VARIANT_KEYS = ("window", "stride")
REFERENCE = "captum Occlusion"  # what benchmarks/bench_methods.py times it against
FIGURE = {
    "title": "Occlusion",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "logit drop when occluded (normalised)"},
    ],
}


def starts(size: int, window: int, stride: int) -> list[int]:
    """Window origins along one axis."""
    if not 0 < window <= size or not 0 < stride <= window:
        raise ValueError(f"occlusion needs 0 < stride <= window <= {size}, not {stride}, {window}")
    return [k * stride for k in range(math.ceil((size - window) / stride) + 1)]


def occlusion(model, x, target: int, window: int, stride: int, baseline: float, batch: int):
    """(attribution H x W, windows evaluated) for one image x (1 x 3 x H x W)."""
    _, _, h, w = x.shape
    boxes = [(i, j) for i in starts(h, window, stride) for j in starts(w, window, stride)]
    total = torch.zeros(h, w, dtype=x.dtype, device=x.device)
    count = torch.zeros(h, w, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        full = model(x)[0, target]
        for b in range(0, len(boxes), batch):
            chunk = boxes[b : b + batch]
            xs = x.repeat(len(chunk), 1, 1, 1)
            for k, (i, j) in enumerate(chunk):
                xs[k, :, i : i + window, j : j + window] = baseline
            drops = full - model(xs)[:, target]
            for k, (i, j) in enumerate(chunk):
                total[i : i + window, j : j + window] += drops[k]
                count[i : i + window, j : j + window] += 1
    return total / count, len(boxes)


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    window: int,
    stride: int,
    baseline: float,
    batch_size: int,
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    batch = auto_batch(batch_size, torch.device(device))
    attr, n = occlusion(model, x, int(target[0]), window, stride, baseline, batch)
    a = attr.cpu().numpy()
    return {"attribution": a, "map_raw": a.copy(), "windows": n}


def passes(cfg: dict, model=None) -> dict:
    n = len(starts(128, cfg["window"], cfg["stride"])) ** 2
    return {"forward": n + 1}


def reference(model, x, target, cfg: dict):
    from captum.attr import Occlusion

    w, s = cfg["window"], cfg["stride"]
    return Occlusion(model).attribute(
        x,
        sliding_window_shapes=(3, w, w),
        strides=(3, s, s),
        baselines=cfg["baseline"],
        target=target,
        perturbations_per_eval=25,
    )
