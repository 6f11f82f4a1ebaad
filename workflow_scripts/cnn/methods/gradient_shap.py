"""GradientSHAP (Lundberg & Lee 2017, as Captum defines it): the expected gradient of the true
label's logit at random points between a baseline and a noisy copy of the image, times (noisy
image - baseline).

Each of `samples` draws picks a baseline from `baselines` (constant images: 0.0 black, 1.0 white
by default), a noise N(0, (stdev * (max - min))^2) per value, and alpha ~ U(0, 1); the attribution
is the mean over draws of (x + noise - b) * d logit / d input at b + alpha (x + noise - b). Its
expectation approximates the SHAP values of the model's logit with the baselines as background.
Captum's GradientShap computes the same from the same draws (tests/test_gradient_shap.py feeds
both the same ones); ours are drawn from the image's own seed. `map_raw`: max over RGB of |.|.
"""

from __future__ import annotations

import numpy as np
import torch

from workflow_scripts.cnn.fastpath import auto_batch
from workflow_scripts.cnn.methods import image_seed
from workflow_scripts.cnn.methods.saliency import input_gradient

NAME = "gradient_shap"
ORDER = 15
PREPARE = "gradients"
VARIANT_KEYS = ("samples", "stdev")
REFERENCE = "captum GradientShap"  # what benchmarks/bench_methods.py times it against
CHECK = {"equality": {"samples": 6}, "dry": {"samples": 3}}
FIGURE = {
    "title": "GradientSHAP",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "GradientSHAP (max over RGB, normalised)"},
    ],
}


def given_draws(model, x, target: int, noise, baselines, alphas, batch: int) -> torch.Tensor:
    """The attribution (C x H x W) of x (1 x C x H x W) from given draws: noise (n x C x H x W),
    baselines (n x C x H x W) and alphas (n)."""
    noisy = x + noise
    diff = noisy - baselines
    points = baselines + alphas.reshape(-1, 1, 1, 1) * diff
    grads = []
    for i in range(0, len(points), batch):
        p = points[i : i + batch]
        t = torch.full((len(p),), target, dtype=torch.long, device=x.device)
        grads.append(input_gradient(model, p, t, "logit")[0])
    return (diff * torch.cat(grads)).mean(0)


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    baselines: list,
    samples: int,
    stdev: float,
    seed: int,
    batch_size: int,
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    g = torch.Generator().manual_seed(image_seed(seed, image))
    pick = torch.randint(len(baselines), (samples,), generator=g)
    sd = stdev * float(x.max() - x.min())
    noise = torch.randn(samples, *x.shape[1:], generator=g, dtype=x.dtype) * sd
    alphas = torch.rand(samples, generator=g, dtype=x.dtype)
    values = torch.tensor(baselines, dtype=x.dtype)[pick]
    b = values.reshape(-1, 1, 1, 1).expand(samples, *x.shape[1:])
    batch = auto_batch(batch_size, torch.device(device))
    dev = x.device
    a = given_draws(model, x, int(target[0]), noise.to(dev), b.to(dev), alphas.to(dev), batch)
    a = a.cpu().numpy()
    return {"attribution": a, "map_raw": np.abs(a).max(axis=0)}


def passes(cfg: dict, model=None) -> dict:
    return {"gradient": cfg["samples"]}


def reference(model, x, target, cfg: dict):
    from captum.attr import GradientShap

    base = torch.stack([torch.full_like(x[0], v) for v in cfg["baselines"]])
    return GradientShap(model).attribute(
        x, baselines=base, n_samples=cfg["samples"], stdevs=cfg["stdev"], target=target
    )
