"""KernelSHAP (Lundberg & Lee 2017) on superpixels: the Shapley values of the true label's logit
when each SLIC superpixel is either the image's or the baseline's (the features LIME uses).

Coalitions z (which superpixels are kept) are weighted by the Shapley kernel
(M - 1) / (C(M, |z|) |z| (M - |z|)); the values solve the weighted least squares fit of f(z) by
phi_0 + z . phi with phi_0 = f(no superpixel) and sum(phi) = f(x) - f(no superpixel) imposed.
When all 2^M - 2 proper coalitions fit in `samples` they are all evaluated and the values are
the exact Shapley values (tests/test_kernel_shap.py checks against the subset formula); otherwise
`samples` coalitions are drawn with their kernel as the sampling distribution (size first, then
a uniform subset), from the image's own seed, as Captum's KernelShap samples (compared within
Monte-Carlo error). `map_raw`/`attribution`: each pixel its superpixel's value.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from workflow_scripts.cnn.fastpath import auto_batch
from workflow_scripts.cnn.methods import image_seed
from workflow_scripts.cnn.methods.lime import segment

NAME = "kernel_shap"
ORDER = 16
PREPARE = "inference"
VARIANT_KEYS = ("samples",)
REFERENCE = "captum KernelShap"  # what benchmarks/bench_methods.py times it against
CHECK = {"equality": {"samples": 60}, "dry": {"samples": 20}}
FIGURE = {
    "title": "KernelSHAP",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "KernelSHAP per superpixel (normalised)"},
    ],
}


def kernel_weight(m: int, size: int) -> float:
    """The Shapley kernel of a coalition of `size` of m features (1 <= size <= m - 1)."""
    return (m - 1) / (math.comb(m, size) * size * (m - size))


def coalitions(m: int, samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(Z: k x m in {0, 1}, weights k): every proper coalition with its kernel weight when they
    fit in `samples`, else `samples` draws from the kernel (weights 1)."""
    if m < 2:
        return np.zeros((0, m)), np.zeros(0)
    if 2**m - 2 <= samples:
        z = ((np.arange(1, 2**m - 1)[:, None] >> np.arange(m)) & 1).astype(np.float64)
        sizes = z.sum(1).astype(int)
        return z, np.array([kernel_weight(m, s) for s in sizes])
    sizes = np.arange(1, m)
    p = (m - 1) / (sizes * (m - sizes))
    drawn = rng.choice(sizes, size=samples, p=p / p.sum())
    z = np.zeros((samples, m))
    for i, s in enumerate(drawn):
        z[i, rng.choice(m, size=s, replace=False)] = 1
    return z, np.ones(samples)


def solve(z: np.ndarray, w: np.ndarray, fz: np.ndarray, f0: float, f1: float) -> np.ndarray:
    """phi (m) minimising sum w (fz - f0 - z . phi)^2 with sum(phi) = f1 - f0 (the last feature
    eliminated)."""
    m = z.shape[1]
    total = f1 - f0
    if m == 1:
        return np.array([total])
    x = z[:, :-1] - z[:, -1:]
    y = fz - f0 - z[:, -1] * total
    sw = np.sqrt(w)[:, None]
    head, *_ = np.linalg.lstsq(x * sw, y * sw[:, 0], rcond=None)
    return np.append(head, total - head.sum())


def shap_values(model, x, target: int, segments, baseline: float, z, w, batch: int):
    """Per-superpixel values (ids 0..m-1 in np.unique(segments) order) from coalitions z."""
    ids = np.unique(segments)
    seg = torch.as_tensor(np.searchsorted(ids, segments), device=x.device)
    m = len(ids)
    full = np.vstack([np.zeros((1, m)), np.ones((1, m)), z])
    out = []
    with torch.no_grad():
        for i in range(0, len(full), batch):
            keep = torch.as_tensor(full[i : i + batch], dtype=x.dtype, device=x.device)[:, seg]
            xs = x * keep[:, None] + baseline * (1 - keep[:, None])
            out.append(model(xs)[:, target].double().cpu().numpy())
    f = np.concatenate(out)
    return solve(z, w, f[2:], float(f[0]), float(f[1])), ids


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    segmentation: dict,
    baseline: float,
    samples: int,
    seed: int,
    batch_size: int,
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    segments = segment(x[0].permute(1, 2, 0).double().cpu().numpy(), **segmentation)
    m = len(np.unique(segments))
    z, w = coalitions(m, samples, np.random.default_rng(image_seed(seed, image)))
    batch = auto_batch(batch_size, torch.device(device))
    phi, ids = shap_values(model, x, int(target[0]), segments, baseline, z, w, batch)
    pixel = phi[np.searchsorted(ids, segments)].astype(np.float32)
    return {
        "attribution": pixel,
        "map_raw": pixel.copy(),
        "values": phi,
        "segments": segments,
        "exact": len(z) == 2**m - 2,
    }


def passes(cfg: dict, model=None) -> dict:
    return {"forward": cfg["samples"] + 2}


def reference(model, x, target, cfg: dict):
    """Captum's KernelShap on the same superpixels and number of coalitions."""
    from captum.attr import KernelShap

    out = []
    for i in range(len(x)):
        seg = segment(x[i].permute(1, 2, 0).double().numpy(), **cfg["segmentation"])
        mask = torch.as_tensor(np.unique(seg, return_inverse=True)[1].reshape(seg.shape))
        out.append(
            KernelShap(model).attribute(
                x[i : i + 1],
                target=int(target[i]),
                baselines=cfg["baseline"],
                feature_mask=mask[None, None].expand(1, 3, *seg.shape),
                n_samples=cfg["samples"],
                perturbations_per_eval=25,
            )
        )
    return out
