"""DeepLIFT with the Rescale rule (Shrikumar et al. 2017), as Captum's DeepLift defines it: the
true label's logit difference f(x) - f(x0) from a constant baseline image x0, distributed over
the pixels as (x - x0) times multipliers that follow the chain rule.

Every elementwise nonlinearity module (ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus) passes
back Δout / Δin instead of its derivative (its derivative where |Δin| < 1e-10), the baseline's
values recorded in a forward of their own. Linear modules (conv, BatchNorm in eval, linear,
average pooling) keep their gradients. A MaxPool2d, by `maxpool`:
- "gradient": passes the gradient to the image's argmax -- the DeepLIFT authors' default for max
  pooling, and what Captum 0.9 computes on the usual ReLU -> MaxPool (its maxpool rule's result is
  overwritten there: the ReLU's hook reads the pool's gradient before the pool's hook changes it;
  the tests compare). The attributions then sum to f(x) - f(x0) only approximately
  (`completeness_delta` says how far).
- "rescale": Captum's maxpool rule: the window's Δout goes to the image's argmax (its part
  max(out, out0) - out0) and to the baseline's argmax (the rest), divided by Δin there, shares of
  an input that is the argmax of several (overlapping) windows summed: the attributions sum to
  f(x) - f(x0) exactly (to rounding). It needs the baseline's gradient: the image and the
  baseline go through the model as one batch of two.
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
from workflow_scripts.cnn.rules import per_call, rewired

NAME = "deeplift"
ORDER = 17
PREPARE = "gradients"  # hooks nonlinearity and max-pool modules (folded BatchNorm: linear);
# its own prepare() adds the per-job record of the baseline's activations
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


def _ratio(x_in, x_out, b_in, b_out):
    """Δout / Δin of an elementwise nonlinearity between the image's and the baseline's values,
    and where the input does not move (None where it moves everywhere, the usual case)."""
    delta_in = x_in - b_in
    magnitude = delta_in.abs()
    # the usual case: every input moved (amin: 7x faster than (< EPS).any() on channels_last)
    if float(magnitude.amin()) >= EPS:
        return (x_out - b_out) / delta_in, None
    still = magnitude < EPS
    # (+ still: a non-zero denominator where the ratio is not used; where() is slower here)
    return (x_out - b_out) / (delta_in + still), still


def _derivative(module, inp):
    """The module's derivative at its input (where Δin is too small for the ratio)."""
    if type(module) is nn.ReLU:  # its derivative, as autograd's threshold_backward has it
        return inp > 0  # (where() makes it 1.0 / 0.0)
    with torch.enable_grad():
        t = inp.clone().requires_grad_(True)
        y = type(module).forward(module, t * 1)  # the module's own function, without hooks
        (derivative,) = torch.autograd.grad(y, t, torch.ones_like(y))
    return derivative


def _times(grad, multiplier):
    return grad * multiplier


def _multiplier(module, ratio, still, inp):
    """Δout / Δin, but the module's derivative at `inp` where the input does not move."""
    return ratio if still is None else torch.where(still, _derivative(module, inp), ratio)


def _elementwise(module, live, out):
    """The rescaled output of an elementwise nonlinearity on the [image; baseline] batch (its
    gradient flows to `live`, the module's input): both halves get the multiplier, but where the
    input is still, each its own derivative."""
    inp, out = live.detach(), out.detach()
    (x_in, b_in), (x_out, b_out) = _halves(inp), _halves(out)
    ratio, still = _ratio(x_in, x_out, b_in, b_out)
    halves = [_multiplier(module, ratio, still, half) for half in (x_in, b_in)]
    return rewired(live, out, _times, torch.cat(halves))


def _against(module, live, out, b_in, b_out):
    """The rescaled output of an elementwise nonlinearity on the image alone, against the
    baseline's recorded input and output of the same call."""
    x_in, x_out = live.detach(), out.detach()
    ratio, still = _ratio(x_in, x_out, b_in, b_out)
    return rewired(live, x_out, _times, _multiplier(module, ratio, still, x_in))


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


def _modules(model, maxpool: str) -> list:
    if maxpool not in MAXPOOL:
        raise ValueError(f"deeplift maxpool must be one of {MAXPOOL}, not {maxpool!r}")
    kinds = ELEMENTWISE + (POOLS if maxpool == "rescale" else ())
    return [m for m in model.modules() if isinstance(m, kinds)]


@contextlib.contextmanager
def rescaled(model, maxpool: str = "gradient"):
    """The model with the Rescale rules on its nonlinearity modules, and on its max-pool modules
    when maxpool is "rescale" (per call), for [image; baseline] batches; yields how many modules
    are rescaled."""
    mods = _modules(model, maxpool)

    def replace(module, inp, out):
        return (_pool if isinstance(module, POOLS) else _elementwise)(module, inp, out)

    with per_call(mods, replace):
        yield len(mods)


def _recorded(model, mods, base):
    """The baseline's logits, and the input and output of each call of `mods`, in call order."""
    calls = []

    def record(module, inp, out):
        calls.append((module, inp.detach(), out.detach()))
        return out

    with per_call(mods, record), torch.no_grad():
        logits = model(base)
    return logits, calls


def prepare(model) -> nn.Module:
    """The job's model (a copy the run layer made, cnn/attribute.prepared_model) with a place for
    the baseline's recorded activations: the same for every image of the job, recorded once.
    A prepared model's weights never change (a randomised copy is prepared anew)."""
    model.deeplift_baselines = {}
    return model


def _baseline(model, mods, base, baseline: float):
    """The baseline's `_recorded` forward, once per prepared model and baseline image."""
    cache = getattr(model, "deeplift_baselines", None)
    if cache is None:  # a model as loaded: recorded for this image only
        return _recorded(model, mods, base)
    key = (baseline, tuple(base.shape), base.dtype, base.device)
    if key not in cache:
        cache[key] = _recorded(model, mods, base)
    return cache[key]


def _diverged() -> ValueError:
    return ValueError(
        "deeplift: the model calls its nonlinearity modules in another order or with other "
        "shapes for the image than for the baseline (a forward that depends on its input); "
        "DeepLIFT compares the two call by call: set cnn.deeplift.maxpool: rescale to run them "
        "as one batch"
    )


def deeplift(
    model, x: torch.Tensor, target: int, baseline: float = 0.0, maxpool: str = "gradient"
) -> dict:
    """Attribution (3 x H x W), f(x), f(x0) and the rescaled module count, for one image x
    (1 x 3 x H x W). `model`: as loaded, or `prepare`d.

    With the gradient pool rule the baseline's activations are recorded in a forward without
    gradients (once per prepared model) and the image alone goes forward and back against them:
    its multipliers need nothing else. The rescale pool rule needs the baseline's gradient too:
    the image and the baseline go through as one batch of two."""
    mods = _modules(model, maxpool)
    base = torch.full_like(x, baseline)
    xg = x.detach().clone().requires_grad_(True)
    if maxpool == "rescale":
        with rescaled(model, maxpool), torch.enable_grad():
            logits = model(torch.cat([xg, base]))[:, target]
            (grad,) = torch.autograd.grad(logits.sum(), xg)
        f_x, f_b = (float(v) for v in logits.detach())
    else:
        base_logits, recorded = _baseline(model, mods, base, baseline)
        calls = recorded[::-1]  # popped in call order

        def replace(module, inp, out):
            if not calls or calls[-1][0] is not module or calls[-1][1].shape != inp.shape:
                raise _diverged()
            _, b_in, b_out = calls.pop()
            return _against(module, inp, out, b_in, b_out)

        with per_call(mods, replace), torch.enable_grad():
            logit = model(xg)[0, target]
            if calls:
                raise _diverged()
            (grad,) = torch.autograd.grad(logit, xg)
        f_x, f_b = float(logit.detach()), float(base_logits[0, target])
    attr = ((x - base) * grad)[0].detach()
    return {"attribution": attr, "f_x": f_x, "f_baseline": f_b, "rescaled_modules": len(mods)}


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
    """The gradient pool rule: the image's forward and backward (the baseline's forward is once
    per job); the rescale rule: one forward and backward of a batch of two (image and
    baseline)."""
    return {"gradient": 2 if cfg.get("maxpool") == "rescale" else 1}


def reference(model, x, target, cfg: dict):
    from captum.attr import DeepLift

    return DeepLift(model).attribute(
        x.clone().requires_grad_(True), baselines=torch.full_like(x, cfg["baseline"]), target=target
    )
