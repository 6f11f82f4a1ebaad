"""DeepLIFT with the Rescale rule (Shrikumar et al. 2017), as Captum's DeepLift defines it: the
true label's logit difference f(x) - f(x0) from a constant baseline image x0, distributed over
the pixels as (x - x0) times multipliers that follow the chain rule.

The image and the baseline go through the model together (one batch of two). Every elementwise
nonlinearity module (ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus) passes back Δout / Δin
instead of its derivative (its derivative where |Δin| < 1e-10). Linear modules (conv, BatchNorm
in eval, linear, average pooling) keep their gradients. A MaxPool2d, by `maxpool`:
- "gradient": passes the gradient to the image's argmax -- the DeepLIFT authors' default for max
  pooling, and what Captum 0.9 computes on the usual ReLU -> MaxPool (its maxpool rule's result is
  overwritten there: the ReLU's hook reads the pool's gradient before the pool's hook changes it;
  the tests compare). The attributions then sum to f(x) - f(x0) only approximately
  (`completeness_delta` says how far).
- "rescale": Captum's maxpool rule: the window's Δout goes to the image's argmax (its part
  max(out, out0) - out0) and to the baseline's argmax (the rest), divided by Δin there, shares of
  an input that is the argmax of several (overlapping) windows summed: the attributions sum to
  f(x) - f(x0) exactly (to rounding).
The rules apply per call of a module, so a module used twice (ResNet's ReLU) is right; a
nonlinearity called as a function (F.relu) is not a module and keeps its gradient (the artifact
counts the rescaled modules). `map_raw`: max over RGB of |attribution|.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workflow_scripts.cnn.methods import normalize
from workflow_scripts.cnn.rules import per_call

NAME = "deeplift"
ORDER = 17
PREPARE = "gradients"  # hooks nonlinearity and max-pool modules (folded BatchNorm: linear)
HOOKS = True
VARIANT_KEYS = ("maxpool",)
MAXPOOL = ("gradient", "rescale")
REFERENCE = "captum DeepLift"  # what benchmarks/bench_methods.py times it against
CHECK = {"compared": ("attribution", "map_raw")}
FIGURE = {
    "title": "DeepLIFT (rescale)",
    "facts": [
        {"key": "completeness_delta", "abs": True, "text": "max |completeness delta| {hi:.3g}"}
    ],
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "rgb", "key": "rgb", "label": "DeepLIFT (RGB, normalised)"},
        {"show": "heat", "key": "map", "label": "max over RGB of |attr.|, normalised"},
    ],
}

EPS = 1e-10
ELEMENTWISE = (nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus)
POOLS = (nn.MaxPool2d,)


def _halves(t: torch.Tensor):
    return t.chunk(2)


class _Rescale(torch.autograd.Function):
    """out's values; backward: the gradient times the multiplier (Δout/Δin, or the derivative
    where the input does not move)."""

    @staticmethod
    def forward(ctx, inp, out, multiplier):
        ctx.save_for_backward(multiplier)
        return out.clone()

    @staticmethod
    def backward(ctx, grad):
        (multiplier,) = ctx.saved_tensors
        return grad * multiplier, None, None


class _PoolRescale(torch.autograd.Function):
    """A max-pool's output values; backward: Captum's maxpool rule with summed shares."""

    @staticmethod
    def forward(ctx, inp, out, indices):
        ctx.save_for_backward(inp.detach(), out.detach(), indices)
        return out.clone()

    @staticmethod
    def backward(ctx, grad):
        inp, out, idx = ctx.saved_tensors
        (x_in, b_in), (x_out, b_out), (x_idx, b_idx) = _halves(inp), _halves(out), _halves(idx)
        g_x, g_b = _halves(grad)
        top = torch.maximum(x_out, b_out)
        share = _scatter(g_x * (top - b_out), x_idx, x_in) + _scatter(
            g_b * (x_out - top), b_idx, x_in
        )
        delta = x_in - b_in
        plain = _scatter(g_x, x_idx, x_in)  # the pool's own gradient at the image
        new = torch.where(delta.abs() < EPS, plain, share / torch.where(delta == 0, 1, delta))
        return torch.cat([new, new]), None, None


def _scatter(values, indices, like):
    """Each pooled value added to its argmax position (max_pool2d's flat indices per plane)."""
    n, c = values.shape[:2]
    flat = torch.zeros(n, c, like[0, 0].numel(), dtype=values.dtype, device=values.device)
    flat.scatter_add_(2, indices.reshape(n, c, -1), values.reshape(n, c, -1))
    return flat.reshape(like.shape)


def _elementwise(module, live, out):
    """The rescaled output of an elementwise nonlinearity on the [image; baseline] batch (its
    gradient flows to `live`, the module's input)."""
    inp, out = live.detach(), out.detach()
    (x_in, b_in), (x_out, b_out) = _halves(inp), _halves(out)
    delta_in = x_in - b_in
    still = delta_in.abs() < EPS
    # (+ still: a non-zero denominator where the ratio is not used; where() is slower here)
    ratio = (x_out - b_out) / (delta_in + still)
    if not bool(still.any()):  # the usual case: every input moved, the ratio is the multiplier
        return _Rescale.apply(live, out, torch.cat([ratio, ratio]))
    if type(module) is nn.ReLU:  # its derivative, as autograd's threshold_backward has it
        derivative = inp > 0  # (where() below makes it 1.0 / 0.0)
    else:
        with torch.enable_grad():
            t = inp.clone().requires_grad_(True)
            y = type(module).forward(module, t * 1)  # the module's own function, without hooks
            (derivative,) = torch.autograd.grad(y, t, torch.ones_like(y))
    # the same multiplier for the image and the baseline half, but where the input is still
    multiplier = torch.cat([torch.where(still, d, ratio) for d in _halves(derivative)])
    return _Rescale.apply(live, out, multiplier)


def _pool(module, inp, out):
    _, indices = F.max_pool2d(
        inp.detach(),
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
        module.ceil_mode,
        return_indices=True,
    )
    return _PoolRescale.apply(inp, out.detach(), indices)


@contextlib.contextmanager
def rescaled(model, maxpool: str = "gradient"):
    """The model with the Rescale rules on its nonlinearity modules, and on its max-pool modules
    when maxpool is "rescale" (per call); yields how many modules are rescaled."""
    if maxpool not in MAXPOOL:
        raise ValueError(f"deeplift maxpool must be one of {MAXPOOL}, not {maxpool!r}")
    kinds = ELEMENTWISE + (POOLS if maxpool == "rescale" else ())
    mods = [m for m in model.modules() if isinstance(m, kinds)]

    def replace(module, inp, out):
        return (_pool if isinstance(module, POOLS) else _elementwise)(module, inp, out)

    with per_call(mods, replace):
        yield len(mods)


def deeplift(
    model, x: torch.Tensor, target: int, baseline: float = 0.0, maxpool: str = "gradient"
) -> dict:
    """Attribution (3 x H x W), f(x), f(x0) and the rescaled module count, for one image x
    (1 x 3 x H x W)."""
    base = torch.full_like(x, baseline)
    with rescaled(model, maxpool) as n, torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        logits = model(torch.cat([xg, base]))[:, target]
        (grad,) = torch.autograd.grad(logits.sum(), xg)
    attr = ((x - base) * grad)[0].detach()
    f_x, f_b = (float(v) for v in logits.detach())
    return {"attribution": attr, "f_x": f_x, "f_baseline": f_b, "rescaled_modules": n}


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    baseline: float,
    maxpool: str,
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    out = deeplift(model, x, int(target.reshape(-1)[0]), baseline, maxpool)
    a = out["attribution"].cpu().numpy()
    return {
        "attribution": a,
        "map_raw": np.abs(a).max(axis=0),
        "rgb": normalize(a).transpose(1, 2, 0),
        "f_x": out["f_x"],
        "f_baseline": out["f_baseline"],
        "completeness_delta": float(a.sum()) - (out["f_x"] - out["f_baseline"]),
        "rescaled_modules": out["rescaled_modules"],
    }


def passes(cfg: dict, model=None) -> dict:
    """One forward and backward of a batch of two (image and baseline)."""
    return {"gradient": 2}


def reference(model, x, target, cfg: dict):
    from captum.attr import DeepLift

    return DeepLift(model).attribute(
        x.clone().requires_grad_(True), baselines=torch.full_like(x, cfg["baseline"]), target=target
    )
