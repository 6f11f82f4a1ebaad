"""Filter explanation: what a filter of `model.cnn[layer]` responds to (the homework's hooks).

activation: the filter's output map for each image (forward hook on model.cnn[layer]).
visualization: activation maximisation, Adam on the input maximising the filter's summed
activation; 'homework' starts from the images themselves, unconstrained; 'noise' starts from
uniform noise and keeps the input in [0, 1] (the usual feature-visualisation setup).
"""

from __future__ import annotations

import numpy as np
import torch

from workflow_scripts.cnn.methods import image_seed
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.paths import filter_keys, filter_objective_key

NAME = "filters"
ORDER = 4
PREPARE = "raw"  # hooks modules by their index in model.cnn: the model as loaded
VARIANT_KEYS = ("start",)
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


def activation(model, x: torch.Tensor, layer: int) -> torch.Tensor:
    """All channels of model.cnn[layer]'s output for x (N x C x h x w)."""
    cap = _Capture(model.cnn[layer])
    try:
        with torch.no_grad():
            model(x)
        return cap.output.detach()
    finally:
        cap.close()


def visualize(
    model,
    x: torch.Tensor,
    layer: int,
    filter_index: int,
    iterations: int = 100,
    lr: float = 0.1,
    start: str = "homework",
    generator: torch.Generator | None = None,
) -> dict:
    """Optimise the input to maximise sum(activation[:, filter]); return the image and the
    objective curve."""
    if start == "homework":
        init, clamp = x.detach().clone(), False
    elif start == "noise":
        init = torch.rand(x.shape, generator=generator).to(x.device, x.dtype)
        clamp = True
    else:
        raise ValueError(f"filter visualisation start must be 'homework' or 'noise', not {start!r}")
    img = init.requires_grad_(True)
    opt = torch.optim.Adam([img], lr=lr)
    cap = _Capture(model.cnn[layer])
    curve = []
    try:
        for _ in range(iterations):
            opt.zero_grad()
            model(img)
            objective = cap.output[:, filter_index].sum()
            curve.append(float(objective.detach()))
            (-objective).backward()
            opt.step()
            if clamp:
                with torch.no_grad():
                    img.clamp_(0, 1)
        with torch.no_grad():
            model(img)
            curve.append(float(cap.output[:, filter_index].sum()))
    finally:
        cap.close()
    return {"image": img.detach().cpu().numpy(), "objective": np.asarray(curve)}


def filter_explanation(
    model,
    x: torch.Tensor,
    pairs,
    iterations: int = 100,
    lr: float = 0.1,
    start: str = "homework",
    seed: int = 0,
) -> dict:
    """Activation and visualisation for each (layer, filter) pair; keys carry the pair."""
    out = {}
    for layer, f in pairs:
        module = model.cnn[layer]
        act = activation(model, x, layer)
        if f >= act.shape[1]:
            raise UserError(
                f"config key cnn.filters.pairs: cnn[{layer}] ({type(module).__name__}) has "
                f"{act.shape[1]} filters at this checkpoint's width; filter {f} does not exist"
            )
        gen = torch.Generator().manual_seed(seed + 1000 * layer + f)
        vis = visualize(model, x, layer, f, iterations, lr, start, gen)
        act_key, vis_key, mod_key = filter_keys(layer, f)
        out[act_key] = act[:, f].cpu().numpy()
        out[vis_key] = vis["image"]
        out[filter_objective_key(layer, f)] = vis["objective"]
        out[mod_key] = np.asarray(type(module).__name__)
    return out


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
    # activation, visualisation: a batch of 1
    per_image = {k for layer, f in pairs for k in filter_keys(layer, f)[:2]}
    res = {"pairs": np.asarray(pairs, dtype=np.int64)}
    for k, v in out.items():
        res[k] = v[0] if k in per_image else v
    return res
