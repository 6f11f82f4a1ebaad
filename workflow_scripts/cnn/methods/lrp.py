"""Layer-wise Relevance Propagation (Bach et al. 2015; Montavon et al. 2019) with the usual
composites, as zennit defines them: the true label's logit is the output relevance, and each
layer passes its relevance back by its rule.

Before the rules, the model is canonised (on a copy): every BatchNorm that follows a conv or
linear layer directly (in module order) is folded into it exactly, and a torchvision ResNet
block's residual `+` becomes an explicit sum whose relevance is split in proportion to its two
terms (zennit's ResNetCanonizer). Then, per call of a module:
- conv and linear layers: by `composite` --
  epsilon:           LRP-epsilon on every one (z stabilised by `epsilon`);
  epsilon_plus_flat: the first of them (in module order) flat, the other convs z+ (alpha 1,
                     beta 0), the linear ones epsilon (zennit's EpsilonPlusFlat);
  alpha1_beta0:      z+ on every one;
- activations pass relevance through; average pooling and the residual sums split it in
  proportion to their inputs; max pooling, dropout and reshapes keep their gradients.
A residual `+` outside torchvision's blocks and a nonlinearity called as a function are not
modules: they keep their gradients (the artifact counts what was canonised). `map_raw`: the
relevance summed over RGB (signed, as LRP heatmaps are drawn).
"""

from __future__ import annotations

import contextlib
import copy
import types

import torch
import torch.nn.functional as F
from torch import nn

from workflow_scripts.cnn.rules import per_call, rewired

NAME = "lrp"
ORDER = 18
PREPARE = "hooks"  # its canoniser folds BatchNorm on a copy (and counts what it merged)
HOOKS = True
VARIANT_KEYS = ("composite",)
REFERENCE = "zennit Gradient + composite"  # what benchmarks/bench_methods.py times it against
CHECK = {"compared": ("attribution", "map_raw")}
FIGURE = {
    "title": "LRP",
    "facts": [{"key": "relevance_sum", "text": "input relevance sum {lo:.3g} to {hi:.3g}"}],
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "relevance summed over RGB, normalised"},
    ],
}

COMPOSITES = ("epsilon", "epsilon_plus_flat", "alpha1_beta0")
STABILIZER = 1e-6  # of every rule but epsilon's own
LAYERS = (nn.Conv2d, nn.Linear)
ACTIVATIONS = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
)  # fmt: skip
AVERAGES = (nn.AvgPool2d, nn.AdaptiveAvgPool2d)
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def stabilised(z: torch.Tensor, eps: float) -> torch.Tensor:
    """z moved away from 0 by eps, with its sign (+eps at 0 and at -0.0), as
    where(z >= 0, z + eps, z - eps) has it, bit for bit, in four elementwise passes without a
    bool tensor (where() with its z >= 0 is ~9x slower here: 1 thread, 16 x 128 x 128)."""
    signed = z + 0.0  # -0.0 -> +0.0
    return signed.abs().add_(eps).copysign_(signed)


def _linear(module, x, weight, bias):
    if isinstance(module, nn.Conv2d):
        return F.conv2d(
            x, weight, bias, module.stride, module.padding, module.dilation, module.groups
        )
    return F.linear(x, weight, bias)


def _backward(module, x, weight, grad):
    """The layer's gradient to its input x alone for output gradient `grad`, with the layer's
    weights replaced by `weight`: autograd's own kernel, called without building a graph (a rule
    runs once per layer inside the backward pass)."""
    if isinstance(module, nn.Linear):
        return grad.matmul(weight)
    if isinstance(module.padding, str):  # "same"/"valid": autograd works out the padding
        with torch.enable_grad():
            xi = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(_linear(module, xi, weight, None), xi, grad)
        return g
    return torch.ops.aten.convolution_backward(
        grad, x, weight, None, module.stride, module.padding, module.dilation,
        False, [0, 0], module.groups, (True, False, False),
    )[0]  # fmt: skip


def _epsilon(module, x, z, r, eps):
    """z: the layer's own output (its forward, already computed)."""
    return x * _backward(module, x, module.weight, r / stabilised(z, eps))


def _zplus(module, x, out, r, eps):
    """alpha 1, beta 0: positive weights on positive inputs (with the positive bias) and negative
    weights on negative inputs share the relevance."""
    bias = None if module.bias is None else module.bias.clamp(min=0)
    wp = module.weight.clamp(min=0)
    if float(x.amin()) >= 0:  # after a ReLU: the negative half is exactly 0, and so is its part
        zp = _linear(module, x, wp, bias)
        return x * _backward(module, x, wp, r / stabilised(zp, STABILIZER))
    xp, xn, wn = x.clamp(min=0), x.clamp(max=0), module.weight.clamp(max=0)
    zp = _linear(module, xp, wp, bias)
    zn = _linear(module, xn, wn, None)
    s = r / stabilised(zp + zn, STABILIZER)
    return xp * _backward(module, xp, wp, s) + xn * _backward(module, xn, wn, s)


def _flat(module, x, out, r, eps):
    """Relevance spread evenly over each output's receptive field (all weights 1, no bias)."""
    ones, w = torch.ones_like(x), torch.ones_like(module.weight)
    z = _linear(module, ones, w, None)
    return _backward(module, ones, w, r / stabilised(z, STABILIZER))


def _norm(module, x, out, r, eps):
    """Relevance in proportion to each input's part of the output (average pooling)."""
    with torch.enable_grad():
        xi = x.detach().requires_grad_(True)
        z = type(module).forward(module, xi)
        (g,) = torch.autograd.grad(z, xi, r / stabilised(z, STABILIZER))
    return x * g


RULES = {"epsilon": _epsilon, "zplus": _zplus, "flat": _flat}


class _Sum(torch.autograd.Function):
    """a + b; backward: the relevance split in proportion to a and b."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a.detach(), b.detach())
        return a + b

    @staticmethod
    def backward(ctx, relevance):
        a, b = ctx.saved_tensors
        s = relevance / stabilised(a + b, STABILIZER)
        return a * s, b * s


def _block_forward(self, x):
    """A torchvision BasicBlock / Bottleneck with its residual `+` as an explicit sum."""
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    if hasattr(self, "conv3"):
        out = self.bn3(self.conv3(self.relu(out)))
    identity = x if self.downsample is None else self.downsample(x)
    return self.relu(_Sum.apply(identity, out))


def _leaves(model):
    return [(n, m) for n, m in model.named_modules() if not list(m.children())]


def canonised(model) -> tuple[nn.Module, dict]:
    """A copy with each BatchNorm right after a conv/linear folded into it (exactly: the norm
    becomes an identity) and torchvision's residual blocks summing explicitly; what it did."""
    model = copy.deepcopy(model)
    leaves, merged = _leaves(model), 0
    for (_, prev), (name, mod) in zip(leaves, leaves[1:]):
        if isinstance(prev, LAYERS) and isinstance(mod, BATCHNORMS):
            with torch.no_grad():
                scale = mod.weight / torch.sqrt(mod.running_var + mod.eps)
                shape = (-1,) + (1,) * (prev.weight.dim() - 1)
                bias = prev.bias if prev.bias is not None else torch.zeros_like(mod.running_mean)
                prev.weight.mul_(scale.reshape(shape))
                prev.bias = nn.Parameter((bias - mod.running_mean) * scale + mod.bias)
            parent, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, attr, nn.Identity())
            merged += 1
    blocks = 0
    for mod in model.modules():
        if type(mod).__name__ in ("BasicBlock", "Bottleneck") and type(mod).__module__.startswith(
            "torchvision."
        ):
            mod.forward = types.MethodType(_block_forward, mod)
            blocks += 1
    return model, {"merged_batchnorms": merged, "residual_sums": blocks}


def layer_rules(model, composite: str) -> dict[nn.Module, str]:
    """{conv/linear module: its rule name} under the composite."""
    if composite not in COMPOSITES:
        raise ValueError(f"lrp composite must be one of {COMPOSITES}, not {composite!r}")
    layers = [m for _, m in _leaves(model) if isinstance(m, LAYERS)]
    if composite == "epsilon":
        return {m: "epsilon" for m in layers}
    if composite == "alpha1_beta0":
        return {m: "zplus" for m in layers}
    rules = {m: "epsilon" if isinstance(m, nn.Linear) else "zplus" for m in layers}
    if layers:
        rules[layers[0]] = "flat"
    return rules


@contextlib.contextmanager
def propagating(model, composite: str, epsilon: float):
    """The (canonised) model with every module's rule hooked in, per call."""
    rules = layer_rules(model, composite)

    def rule_of(module):
        if module in rules:
            fn = RULES[rules[module]]
            return lambda x, out, r: fn(module, x, out, r, epsilon)
        if isinstance(module, ACTIVATIONS):
            return lambda x, out, r: r
        return lambda x, out, r: _norm(module, x, out, r, epsilon)

    def replace(module, inp, out):
        rule, out = rule_of(module), out.detach()
        if rules.get(module) == "epsilon":  # reads its output: a copy goes on downstream
            return rewired(inp, out.clone(), lambda r, x, z: rule(x, z, r), inp.detach(), out)
        return rewired(inp, out, lambda r, x: rule(x, None, r), inp.detach())

    hooked = [m for _, m in _leaves(model) if isinstance(m, LAYERS + ACTIVATIONS + AVERAGES)]
    with per_call(hooked, replace):
        yield


def prepare(model) -> nn.Module:
    """The canonised copy, made once per job by the run layer (cnn/attribute.prepared_model);
    what canonising did rides along as `lrp_canonised`."""
    net, done = canonised(model)
    net.lrp_canonised = done
    return net


def lrp(model, x: torch.Tensor, target: int, composite: str, epsilon: float) -> dict:
    """Input relevance (3 x H x W) of one image x (1 x 3 x H x W), starting from the target
    logit; the logit and what canonising did. `model`: as loaded, or already `prepare`d."""
    net = model if hasattr(model, "lrp_canonised") else prepare(model)
    done = net.lrp_canonised
    with propagating(net, composite, epsilon), torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        logits = net(xg)
        start = torch.zeros_like(logits)
        start[0, target] = logits[0, target].detach()
        (rel,) = torch.autograd.grad(logits, xg, start)
    return {"relevance": rel[0].detach(), "logit": float(logits[0, target].detach()), **done}


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    composite: str,
    epsilon: float,
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    out = lrp(model, x, int(target.reshape(-1)[0]), composite, epsilon)
    r = out["relevance"].cpu().numpy()
    return {
        "attribution": r,
        "map_raw": r.sum(axis=0),
        "relevance_sum": float(r.sum()),
        "logit": out["logit"],
        "merged_batchnorms": out["merged_batchnorms"],
        "residual_sums": out["residual_sums"],
    }


def passes(cfg: dict, model=None) -> dict:
    """One forward and one backward, the rules' backward kernels in place of the layers' own; the
    epsilon rule's z is the layer's own output, but z+ (and flat) need each layer's forward with
    other weights (or inputs) again: a second forward pass, as zennit computes it too."""
    return {"gradient": 1} if cfg["composite"] == "epsilon" else {"gradient": 1, "forward": 1}


def reference(model, x, target, cfg: dict):
    """zennit's Gradient attributor with the same composite, from the target logit (zennit's
    SequentialMergeBatchNorm, or its ResNetCanonizer on a torchvision ResNet)."""
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonPlusFlat, LayerMapComposite, layer_map_base
    from zennit.rules import AlphaBeta, Epsilon
    from zennit.torchvision import ResNetCanonizer
    from zennit.types import Convolution

    resnet = any(type(m).__name__ in ("BasicBlock", "Bottleneck") for m in model.modules())
    canonizers = [ResNetCanonizer() if resnet else SequentialMergeBatchNorm()]
    if cfg["composite"] == "epsilon_plus_flat":
        composite = EpsilonPlusFlat(epsilon=cfg["epsilon"], canonizers=canonizers)
    else:
        rule = (
            (lambda: Epsilon(epsilon=cfg["epsilon"]))
            if cfg["composite"] == "epsilon"
            else (lambda: AlphaBeta(alpha=1.0, beta=0.0))
        )
        layers = [(Convolution, rule()), (nn.Linear, rule())]
        composite = LayerMapComposite(layer_map_base() + layers, canonizers=canonizers)
    target = torch.as_tensor(target).reshape(-1)
    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(
            x, lambda out: out * torch.eye(out.shape[1], dtype=out.dtype)[target]
        )
    return relevance
