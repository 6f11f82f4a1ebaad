"""Filter explanation: what a filter of `model.cnn[layer]` responds to (the homework's hooks).

activation: the filter's output map for each image (model.cnn[layer]'s output: the modules up
to it, exactly what the homework's forward hook records).
visualization: activation maximisation, Adam on the input maximising the filter's summed
activation; 'homework' starts from the images themselves, unconstrained; 'noise' starts from
uniform noise and keeps the input in [0, 1] (the usual feature-visualisation setup). It runs on
the fast stack (BatchNorm folded, weights frozen, nothing after the hooked module): the same
function, other rounding; Adam over 100 steps amplifies rounding (float32 is chaotic here), so it
is compared with the hooked reference through objective curves and activation maps in float64
(tests/test_methods.py), not pixels.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from workflow_scripts.cnn.fastpath import features_until
from workflow_scripts.cnn.layers import label, module_at
from workflow_scripts.cnn.methods import image_seed
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.paths import filter_keys, filter_objective_key

PAIRS_KEY = "cnn.filters.pairs"
NAME = "filters"
ORDER = 4
PREPARE = "raw"  # hooks modules by index or path; builds its own fast stack per cnn index
HOOKS = True
VARIANT_KEYS = ("start",)
# Adam amplifies rounding over its steps: compared on objective curves and activation maps
CHECK = {
    "compared": ("objective_", "activation_"),
    "tolerance": 1e-4,
    "equality": {"iterations": 10},
    "dry": {"iterations": 2},
}
FIGURE = {
    "title": "Filter explanation",
    "per": "pairs",
}  # one figure per item of config key `pairs`


class _Capture:
    """A forward hook that keeps the module's last output."""

    def __init__(self, module):
        self.output = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.output = output

    def close(self):
        self.handle.remove()


class _Reached(Exception):
    """Raised by a hook once the hooked module's output is known: nothing after it runs."""


def until(model, layer):
    """A function x -> the output of the module `layer` names (any model: the forward pass stops
    there). For an index into model.cnn: fastpath.features_until's stack, unfolded."""
    if isinstance(layer, int):
        return features_until(model, layer, fold=False)
    module = module_at(model, layer, PAIRS_KEY)

    def forward(x):
        def hook(m, inputs, output):
            raise _Reached(output)

        handle = module.register_forward_hook(hook)
        try:
            model(x)
        except _Reached as reached:
            return reached.args[0]
        finally:
            handle.remove()
        raise UserError(f"config key {PAIRS_KEY}: {label(layer)} was not run by the forward pass")

    return forward


def layer_seed(layer) -> int:
    """A pair's share of the noise seed: the index, or a stable number for a module path."""
    return layer if isinstance(layer, int) else zlib.crc32(str(layer).encode()) % 100_000


def activation(model, x: torch.Tensor, layer) -> torch.Tensor:
    """All channels of the output of the module `layer` names for x (N x C x h x w)."""
    cap = _Capture(module_at(model, layer, PAIRS_KEY))
    try:
        with torch.no_grad():
            model(x)
        return cap.output.detach()
    finally:
        cap.close()


class Adam:
    """torch.optim.Adam's single-tensor update at its defaults (betas 0.9, 0.999, eps 1e-8),
    written out op for op (equal to it bit for bit on the CPU; tested). Constructing
    torch.optim.Adam imports torch._dynamo, which cost 3-14 s in every job process that ran
    this method (measured: more than the 4 x 100 optimisation steps themselves at width 1/8)."""

    def __init__(self, param: torch.Tensor, lr: float):
        self.param, self.lr, self.steps = param, lr, 0
        self.exp_avg = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.exp_avg_sq = torch.zeros_like(param, memory_format=torch.preserve_format)

    def zero_grad(self) -> None:
        self.param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        grad = self.param.grad
        self.steps += 1
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = float(self.steps)
        step_size = self.lr / (1 - beta1**step)
        denom = (self.exp_avg_sq.sqrt() / (1 - beta2**step) ** 0.5).add_(eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)


def _start_images(x, start, generator):
    """The optimisation's starting images: the images themselves ('homework') or uniform noise
    drawn per image from its own generator ('noise'; `generator`: one, or one per image)."""
    if start == "homework":
        return x.detach().clone(), False
    if start == "noise":
        gens = generator if isinstance(generator, (list, tuple)) else [generator] * len(x)
        init = torch.cat([torch.rand((1, *x.shape[1:]), generator=g) for g in gens])
        return init.to(x.device, x.dtype), True
    raise ValueError(f"filter visualisation start must be 'homework' or 'noise', not {start!r}")


def visualize(
    model,
    x: torch.Tensor,
    layer,
    filter_index: int,
    iterations: int = 100,
    lr: float = 0.1,
    start: str = "homework",
    generator=None,
    fast: bool = True,
) -> dict:
    """Optimise each input image to maximise the sum of activation[filter] of model.cnn[layer];
    return the images and the objective curves (per image: `objectives`, N x steps+1; summed:
    `objective`). The images are independent (Adam works element-wise), so a batch of N equals
    N runs of one to float rounding. fast: the stack cut after the hooked module, BatchNorm
    folded, weights frozen (fastpath.features_until); False: the homework's forward hook on the
    whole model (the reference)."""
    img, clamp = _start_images(x, start, generator)
    img.requires_grad_(True)
    opt = Adam(img, lr=lr)
    if fast:
        stack = features_until(model, layer) if isinstance(layer, int) else until(model, layer)
        cap = None

        def forward(v):
            return stack(v)[:, filter_index].sum(dim=(1, 2))
    else:
        cap = _Capture(module_at(model, layer, PAIRS_KEY))

        def forward(v):
            model(v)
            return cap.output[:, filter_index].sum(dim=(1, 2))

    curves = []
    try:
        for _ in range(iterations):
            opt.zero_grad()
            per_image = forward(img)
            curves.append(per_image.detach().cpu().numpy())
            (-per_image.sum()).backward()
            opt.step()
            if clamp:
                with torch.no_grad():
                    img.clamp_(0, 1)
        with torch.no_grad():
            curves.append(forward(img).cpu().numpy())
    finally:
        if cap is not None:
            cap.close()
    objectives = np.stack(curves, axis=1).astype(np.float64)  # N x (iterations + 1)
    return {
        "image": img.detach().cpu().numpy(),
        "objectives": objectives,
        "objective": objectives.sum(0),
    }


def filter_explanation(
    model,
    x: torch.Tensor,
    pairs,
    iterations: int = 100,
    lr: float = 0.1,
    start: str = "homework",
    seed: int | list[int] = 0,
    fast: bool = True,
) -> dict:
    """Activation and visualisation for each (layer, filter) pair and each image of x (N x 3 x H
    x W, one seed per image: `seed` an int or a list); keys carry the pair, arrays lead with N.
    The activation is model.cnn[layer]'s output on x (the layers after it are not run)."""
    seeds = seed if isinstance(seed, (list, tuple)) else [seed] * len(x)
    out = {}
    for layer, f in pairs:
        module = module_at(model, layer, PAIRS_KEY)
        with torch.no_grad():  # the same modules on the same input: the hooked output, exactly
            act = until(model, layer)(x)
        if act.dim() != 4 or f >= act.shape[1]:
            raise UserError(
                f"config key {PAIRS_KEY}: {label(layer)} ({type(module).__name__}) has "
                f"{act.shape[1] if act.dim() == 4 else 0} filters in this model; filter {f} "
                "does not exist"
            )
        gens = [torch.Generator().manual_seed(s + 1000 * layer_seed(layer) + f) for s in seeds]
        vis = visualize(model, x, layer, f, iterations, lr, start, gens, fast=fast)
        act_key, vis_key, mod_key = filter_keys(layer, f)
        out[act_key] = act[:, f].cpu().numpy()
        out[vis_key] = vis["image"]
        out[filter_objective_key(layer, f)] = vis["objectives"]
        out[mod_key] = np.asarray(type(module).__name__)
    return out


def _per_image(out: dict, pairs, i: int) -> dict:
    """Image i's artifact arrays from filter_explanation's batched ones."""
    batched = {k for layer, f in pairs for k in filter_keys(layer, f)[:2]}
    batched |= {filter_objective_key(layer, f) for layer, f in pairs}
    numeric = all(isinstance(layer, int) for layer, _ in pairs)
    res = {"pairs": np.asarray(pairs, dtype=np.int64) if numeric else np.asarray(pairs, dtype=str)}
    for k, v in out.items():
        res[k] = v[i] if k in batched else v
    return res


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    seed: int,
    pairs,
    iterations: int,
    lr: float,
    start: str,
) -> dict:
    """The artifact arrays of one image: per (layer, filter) pair the keys of paths.filter_keys."""
    pairs = [tuple(pair) for pair in pairs]
    out = filter_explanation(
        model, x, pairs, iterations=iterations, lr=lr, start=start, seed=image_seed(seed, image)
    )
    return _per_image(out, pairs, 0)


def explain_many(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    images: list[str],
    device,
    seed: int,
    pairs,
    iterations: int,
    lr: float,
    start: str,
) -> list[dict]:
    """explain for a batch of images (x: N x 3 x H x W) in one optimisation per pair: what a GPU
    job runs (on a CPU the per-step cost grows with the batch, so the run layer loops there).
    Each image keeps its own seed; results equal explain's to float rounding."""
    pairs = [tuple(pair) for pair in pairs]
    out = filter_explanation(
        model,
        x,
        pairs,
        iterations=iterations,
        lr=lr,
        start=start,
        seed=[image_seed(seed, name) for name in images],
    )
    return [_per_image(out, pairs, i) for i in range(len(images))]


def passes(cfg: dict, model=None) -> dict:
    """Per pair: `iterations` steps of the stack up to its layer and the final evaluation."""
    out: dict = {}
    for layer, _ in cfg["pairs"]:
        out[f"stack{layer}"] = out.get(f"stack{layer}", 0) + cfg["iterations"] + 0.5
    return out
