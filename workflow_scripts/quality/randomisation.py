"""Similarity of two maps, cascading model-parameter randomisation (Adebayo et al. 2018) and the
agreement between methods on one image."""

from __future__ import annotations

import copy

import numpy as np
import skimage.metrics
import torch

from workflow_scripts.quality.localisation import average_ranks


def _pearson(ra, rb) -> float:
    ra = ra - ra.mean()
    rb = rb - rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def spearman(a, b) -> float:
    """Spearman rank correlation of two maps (flattened, average ranks for ties); nan if either
    is constant."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"maps {a.shape} and {b.shape} differ in shape")
    return _pearson(average_ranks(a), average_ranks(b))


def _minmax_abs(m) -> np.ndarray:
    m = np.abs(np.asarray(m, dtype=np.float64))
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def ssim(a, b) -> float:
    """SSIM (skimage structural_similarity, 7 x 7 window, data_range=1) of the min-max
    normalised |a| and |b| (a constant map normalises to zeros). Equal to Quantus's ssim on the
    same normalised 2-D maps; Quantus's MPRT would pass flattened 1-D maps instead."""
    a, b = _minmax_abs(a), _minmax_abs(b)
    if a.shape != b.shape:
        raise ValueError(f"maps {a.shape} and {b.shape} differ in shape")
    return float(skimage.metrics.structural_similarity(a, b, data_range=1.0))


def cascade_layers(model) -> list[str]:
    """Names of the modules that own parameters and can re-initialise them (reset_parameters),
    from the output down: the reverse of the registration order, which is the forward order for
    Sequential and torchvision models. Quantus's MPRT "top_down" walks the same list."""
    names = [
        name
        for name, module in model.named_modules()
        if hasattr(module, "reset_parameters") and any(True for _ in module.parameters(False))
    ]
    return names[::-1]


def evaluated_steps(n_layers: int, count: int) -> list[int]:
    """The cascade steps (1 = the output layer re-initialised, n_layers = all) after which the
    maps are compared: `count` evenly spaced ones from the first to the last (always the fully
    randomised model), or every step for 0 or count >= n_layers."""
    if count <= 0 or count >= n_layers:
        return list(range(1, n_layers + 1))
    return sorted({int(round(v)) + 1 for v in np.linspace(n_layers - 1, 0, count)})


def cascading_randomisation(
    model, explain_fn, x, target, *, seed, layers=None, steps=None
) -> list[dict]:
    """Adebayo et al. 2018: re-initialise layers from the top down, cumulatively, in a copy.

    After each layer explain_fn(model_copy, x, target) -> H x W map is compared with the map of
    the intact model: [{"step", "layer", "spearman": rho(|m0|, |m|), "ssim": ssim(|m0|, |m|)}].
    steps: the 1-based steps to explain after (None: all); the others only re-initialise their
    layer, so a step's numbers equal the full cascade's (the explanation is the cost).
    Each layer's reset_parameters() runs right after torch.manual_seed(seed) inside
    torch.random.fork_rng, so the result is seeded and the caller's RNG and model are untouched.
    Quantus's MPRT seeds with seed + 1 before each layer: MPRT(seed=s - 1) gives our "spearman"
    (its default abs + normalise_by_max keep the ranks of |m|).
    """
    m0 = np.abs(np.asarray(explain_fn(model, x, target), dtype=np.float64))
    randomised = copy.deepcopy(model)
    modules = dict(randomised.named_modules())
    names = cascade_layers(randomised) if layers is None else list(layers)
    for name in names:
        if not hasattr(modules.get(name), "reset_parameters"):
            raise ValueError(f"layer {name!r} is not a module of the model with reset_parameters")
    wanted = set(range(1, len(names) + 1) if steps is None else steps)
    out = []
    for step, name in enumerate(names, start=1):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            modules[name].reset_parameters()
        if step not in wanted:
            continue
        m = np.abs(np.asarray(explain_fn(randomised, x, target), dtype=np.float64))
        out.append({"step": step, "layer": name, "spearman": spearman(m0, m), "ssim": ssim(m0, m)})
    return out


def agreement(maps: dict[str, np.ndarray]) -> dict[tuple[str, str], float]:
    """Pairwise Spearman correlation between the methods' maps of one image (as given, no abs),
    keyed (m1, m2) with m1 before m2 in the dict's order; each map is ranked once."""
    names = list(maps)
    ranks = {name: average_ranks(maps[name]) for name in names}
    return {
        (m1, m2): _pearson(ranks[m1], ranks[m2])
        for i, m1 in enumerate(names)
        for m2 in names[i + 1 :]
    }
