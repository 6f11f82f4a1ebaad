"""Saliency maps: |d objective / d input|, max over RGB (Simonyan et al. 2014; the homework).

objective 'loss' (homework): the cross-entropy loss of the true label, per image (so one image's
gradient does not depend on the batch it is in). objective 'logit' (variant): the target logit,
which is what Captum's `Saliency` computes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NAME = "saliency"
ORDER = 2
PREPARE = "gradients"
VARIANT_KEYS = ("objective",)
REFERENCE = "captum Saliency"  # what benchmarks/bench_methods.py times it against
CHECK = {"compared": ("map_raw",)}
FIGURE = {
    "title": "Saliency map",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "saliency (max over RGB, normalised)"},
    ],
}


def input_gradient(model, x: torch.Tensor, target: torch.Tensor, objective: str = "loss"):
    """(d objective / d x as N x C x H x W, logits). Objective summed over the batch: per-image
    gradients."""
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    if objective == "loss":
        value = F.cross_entropy(logits, target, reduction="sum")
    elif objective == "logit":
        value = logits.gather(1, target[:, None]).sum()
    else:
        raise ValueError(f"saliency objective must be 'loss' or 'logit', not {objective!r}")
    (grad,) = torch.autograd.grad(value, x)
    return grad.detach(), logits.detach()


def saliency(model, x: torch.Tensor, target: torch.Tensor, objective: str = "loss") -> dict:
    """Raw gradient, its per-image max-over-RGB |.| map, and the per-image scale facts the quiz
    asks for."""
    grad, logits = input_gradient(model, x, target, objective)
    g = grad.cpu().numpy()
    raw_map = np.abs(g).max(axis=1)
    return {
        "attribution": g,
        "map_raw": raw_map,
        "grad_abs_max": np.abs(g).reshape(len(g), -1).max(1),
        "grad_abs_mean": np.abs(g).reshape(len(g), -1).mean(1),
        "logits": logits.cpu().numpy(),
    }


def explain(
    model, x: torch.Tensor, target: torch.Tensor, *, image: str, device, objective: str
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    out = saliency(model, x, target, objective)
    return {
        "attribution": out["attribution"][0],
        "map_raw": out["map_raw"][0],
        "grad_abs_max": float(out["grad_abs_max"][0]),
        "grad_abs_mean": float(out["grad_abs_mean"][0]),
    }


def passes(cfg: dict, model=None) -> dict:
    return {"gradient": 1}


def reference(model, x, target, cfg: dict):
    """Captum's Saliency (the logit's gradient: the same passes as either objective)."""
    from captum.attr import Saliency

    return Saliency(model).attribute(x.clone(), target=target, abs=False)
