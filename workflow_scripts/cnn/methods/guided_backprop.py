"""Guided Backpropagation (Springenberg et al. 2015): the input gradient of the true label's
logit with every ReLU passing back only positive gradients (and only where its input was
positive, as a ReLU does).

Every nn.ReLU module of the model gets a forward hook that routes its output through an identity
whose backward clamps the gradient at zero: ReLU's own backward then applies its mask, so each
ReLU passes back ReLU(dL/dout) * [in > 0], Captum's GuidedBackprop rule (tests compare). It works
for in-place ReLUs too. A ReLU called as a function (F.relu) is not a module and is not guided:
the model summary counts the ReLU modules it found. `map_raw`: max over RGB of |attribution|.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

NAME = "guided_backprop"
ORDER = 11
PREPARE = "gradients"  # its nn.ReLU modules stay modules there (BatchNorm folded)
HOOKS = True
VARIANT_KEYS = ()
REFERENCE = "captum GuidedBackprop"  # what benchmarks/bench_methods.py times it against
FIGURE = {
    "title": "Guided Backprop",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "guided backprop (max over RGB, normalised)"},
    ],
}


class _GuidedReLU(torch.autograd.Function):
    """ReLU forward; backward ReLU(grad) where the input was positive, in one pass (a hook that
    clamps the ReLU's output gradient adds a copy forward and a pass backward per ReLU)."""

    @staticmethod
    def forward(ctx, x):
        out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        # ReLU's own backward kernel on the clamped gradient (where() is 10x slower here: 1 thread,
        # channels_last, 8 x 128 x 128: 35 vs 525 us)
        return torch.ops.aten.threshold_backward(grad.clamp(min=0), out, 0)


def _guided_forward(x):
    return _GuidedReLU.apply(x)


@contextlib.contextmanager
def guided(model):
    """The model with its ReLU modules guided (their forward replaced on the instance: forward
    hooks on them, a CAM's layer, still see the output); yields how many there are."""
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    for m in relus:
        m.forward = _guided_forward
    try:
        yield len(relus)
    finally:
        for m in relus:
            del m.forward


def guided_gradient(model, x: torch.Tensor, target: torch.Tensor):
    """(guided d logit / d x, N x 3 x H x W; number of guided ReLUs)."""
    with guided(model) as n, torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        score = model(xg).gather(1, target.reshape(-1, 1)).sum()
        (grad,) = torch.autograd.grad(score, xg)
    return grad.detach(), n


def explain(model, x: torch.Tensor, target: torch.Tensor, *, image: str, device) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    grad, n = guided_gradient(model, x, target)
    g = grad[0].cpu().numpy()
    return {"attribution": g, "map_raw": np.abs(g).max(axis=0), "guided_relus": n}


def passes(cfg: dict, model=None) -> dict:
    return {"gradient": 1}


def reference(model, x, target, cfg: dict):
    from captum.attr import GuidedBackprop

    return GuidedBackprop(model).attribute(x.clone().requires_grad_(True), target=target)
