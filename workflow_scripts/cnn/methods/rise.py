"""RISE (Petsiuk et al. 2018): the true label's probability under random masks, averaged with
the masks as weights.

Each of `masks` masks is a `cells` x `cells` grid of cells kept with probability `p`, upsampled
bilinearly to (cells + 1) x the cell size and cropped at a random shift in [0, cell size) on each
axis (smooth masks, not aligned to the grid). The map is S = sum_i f(x * M_i) M_i / (masks * p),
f the softmax probability of the true label: the Monte-Carlo estimate of E[f(x * M) | M(u) = 1] at
each pixel u. The masks are drawn from the image's own seed (methods.image_seed), so a map does
not depend on the images before it. tests/test_rise.py checks the estimator against a plain loop
over the same masks and, on a linear model, against its expectation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from workflow_scripts.cnn.fastpath import auto_batch
from workflow_scripts.cnn.methods import image_seed

NAME = "rise"
ORDER = 10
PREPARE = "inference"
VARIANT_KEYS = ("masks", "cells", "p")
CHECK = {"equality": {"masks": 64}, "dry": {"masks": 16}}
FIGURE = {
    "title": "RISE",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "RISE (true label's probability, normalised)"},
    ],
}


def make_masks(n: int, size: tuple, cells: int, p: float, generator, dtype=torch.float32):
    """n x H x W smooth random masks in [0, 1] (the paper's construction)."""
    h, w = size
    ch, cw = math.ceil(h / cells), math.ceil(w / cells)
    grid = (torch.rand(n, 1, cells, cells, generator=generator) < p).to(dtype)
    up = F.interpolate(
        grid, size=((cells + 1) * ch, (cells + 1) * cw), mode="bilinear", align_corners=False
    )
    shifts = torch.randint(0, ch * cw, (n,), generator=generator)
    out = torch.empty(n, h, w, dtype=dtype)
    for k in range(n):
        dy, dx = int(shifts[k]) // cw, int(shifts[k]) % cw
        out[k] = up[k, 0, dy : dy + h, dx : dx + w]
    return out


def rise(model, x, target: int, masks: int, cells: int, p: float, seed: int, batch: int):
    """The RISE map (H x W) of one image x (1 x 3 x H x W)."""
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(x.shape[-2:], dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for start in range(0, masks, batch):
            m = make_masks(min(batch, masks - start), x.shape[-2:], cells, p, g, x.dtype)
            m = m.to(x.device)
            prob = F.softmax(model(x * m[:, None]), dim=1)[:, target]
            total += torch.einsum("n,nhw->hw", prob, m)
    return total / (masks * p)


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    masks: int,
    cells: int,
    p: float,
    seed: int,
    batch_size: int,
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    batch = auto_batch(batch_size, torch.device(device))
    s = rise(model, x, int(target[0]), masks, cells, p, image_seed(seed, image), batch)
    a = s.cpu().numpy()
    return {"attribution": a, "map_raw": a.copy()}


def passes(cfg: dict, model=None) -> dict:
    return {"forward": cfg["masks"]}
