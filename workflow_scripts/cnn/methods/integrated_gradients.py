"""Integrated Gradients (Sundararajan et al. 2017).

'homework': the path x * k/steps for k = 0..steps-1 from a black baseline and the average of the
target logit's gradients along it: an average path gradient, NOT multiplied by (x - baseline).
It equals Captum's IntegratedGradients(method='riemann_left', multiply_by_inputs=False).
'ig': true IG, (x - baseline) * average gradient with a chosen Riemann rule; its completeness
delta sum(attr) - (f(x) - f(baseline)) is returned (0 up to the quadrature error).
Either way the path actually used is measured (path_geometry): each image's interpolation factor
and its largest distance from the baseline-to-image line.
"""

from __future__ import annotations

import numpy as np
import torch

from workflow_scripts.cnn.methods import normalize

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")

NAME = "integrated_gradients"
ORDER = 5
PREPARE = "gradients"
VARIANT_KEYS = ("variant",)
REFERENCE = "captum IntegratedGradients"  # what benchmarks/bench_methods.py times it against
CHECK = {"equality": {"steps": 10}, "dry": {"steps": 3}}
FIGURE = {
    "title": "Integrated Gradients",
    "facts": [
        {"key": "completeness_delta", "abs": True, "text": "max |completeness delta| {hi:.3g}"}
    ],
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "rgb", "key": "rgb", "label": "IG (homework RGB)"},
        {"show": "heat", "key": "map", "label": "max over RGB of |attr.|, normalised"},
    ],
}


def path_alphas(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Interpolation points alpha_k in [0, 1] and their quadrature weights (summing to 1)."""
    if rule == "riemann_left":
        return np.arange(steps) / steps, np.full(steps, 1 / steps)
    if rule == "riemann_right":
        return np.arange(1, steps + 1) / steps, np.full(steps, 1 / steps)
    if rule == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1 / steps)
    if rule == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("riemann_trapezoid needs steps >= 2")
        w = np.full(steps, 1 / (steps - 1))
        w[[0, -1]] /= 2
        return np.linspace(0, 1, steps), w
    raise ValueError(f"unknown rule {rule!r}; use one of {RULES}")


def linear_path(x: torch.Tensor, baseline: torch.Tensor, alphas) -> torch.Tensor:
    """The images baseline + alpha * (x - baseline) for each alpha (the homework's path
    generator)."""
    a = torch.as_tensor(np.asarray(alphas), dtype=x.dtype, device=x.device).view(
        -1, *([1] * x.dim())
    )
    return baseline + a * (x - baseline)


def homework_path(x: torch.Tensor, steps: int) -> torch.Tensor:
    """The homework's generator, to the bit: [x * k / steps for k in range(steps)] (black
    baseline)."""
    return torch.stack([x * k / steps for k in range(steps)])


def path_geometry(
    path: torch.Tensor, x: torch.Tensor, baseline: torch.Tensor
) -> tuple[np.ndarray, float]:
    """Where a path's images lie relative to the straight line from `baseline` to `x`: each image's
    interpolation factor (its projection on the line: 0 the baseline, 1 the image) and the largest
    distance of any value from the line."""
    p = path.detach().double().cpu().reshape(len(path), -1)
    b = baseline.detach().double().cpu().reshape(-1)
    d = x.detach().double().cpu().reshape(-1) - b
    alphas = ((p - b) @ d) / (d @ d)
    off = float((p - b - alphas[:, None] * d).abs().max())
    return alphas.numpy(), off


def integrated_gradients(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    steps: int = 10,
    variant: str = "homework",
    rule: str = "riemann_left",
    baseline: float = 0.0,
    batch_size: int = 50,
) -> dict:
    """Per image: the weighted path gradient of the target logit (homework) or true IG (variant
    'ig')."""
    if variant == "homework":
        rule = "riemann_left"
    alphas, weights = path_alphas(steps, rule)
    out, deltas, f_x, f_b, factors, off_line = [], [], [], [], [], []
    for i in range(len(x)):
        xi = x[i]
        base = torch.full_like(xi, baseline)
        path = homework_path(xi, steps) if variant == "homework" else linear_path(xi, base, alphas)
        a_k, off = path_geometry(path, xi, torch.zeros_like(xi) if variant == "homework" else base)
        factors.append(a_k)
        off_line.append(off)
        w = torch.as_tensor(weights, dtype=xi.dtype, device=xi.device).view(-1, 1, 1, 1)
        total = torch.zeros_like(xi)
        for s in range(0, steps, batch_size):
            p = path[s : s + batch_size].detach().requires_grad_(True)
            logit = model(p)[:, int(target[i])]
            (g,) = torch.autograd.grad(logit.sum(), p)
            total += (g * w[s : s + batch_size]).sum(0)
        with torch.no_grad():
            ends = model(torch.stack([xi, base]))[:, int(target[i])]
        attr = total if variant == "homework" else total * (xi - base)
        if variant not in ("homework", "ig"):
            raise ValueError(
                f"integrated_gradients variant must be 'homework' or 'ig', not {variant!r}"
            )
        out.append(attr.cpu().numpy())
        f_x.append(float(ends[0]))
        f_b.append(float(ends[1]))
        deltas.append(float(attr.sum()) - (f_x[-1] - f_b[-1]))
    a = np.stack(out)
    return {
        "attribution": a,
        "map_raw": np.abs(a).max(axis=1),
        "completeness_delta": np.asarray(deltas),
        "f_x": np.asarray(f_x),
        "f_baseline": np.asarray(f_b),
        "alphas": alphas,
        "weights": weights,
        "path_factors": np.stack(factors),
        "path_off_line": np.asarray(off_line),
    }


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    variant: str,
    steps: int,
    rule: str,
    baseline: float,
    batch_size: int,
) -> dict:
    """The artifact arrays of one image."""
    out = integrated_gradients(
        model,
        x,
        target,
        steps=steps,
        variant=variant,
        rule=rule,
        baseline=baseline,
        batch_size=batch_size,
    )
    att = out["attribution"][0]
    return {
        "attribution": att,
        "map_raw": out["map_raw"][0],
        "completeness_delta": float(out["completeness_delta"][0]),
        "f_x": float(out["f_x"][0]),
        "f_baseline": float(out["f_baseline"][0]),
        "alphas": out["alphas"],
        "rgb": normalize(att).transpose(1, 2, 0),
        "path_factors": out["path_factors"][0],
        "path_off_line": float(out["path_off_line"][0]),
    }


def passes(cfg: dict, model=None) -> dict:
    """`steps` gradients, and f(x), f(baseline) for the completeness check of variant ig."""
    return {"gradient": cfg["steps"], "forward": 2 if cfg["variant"] == "ig" else 0}


def reference(model, x, target, cfg: dict):
    """Captum's IntegratedGradients with the same number of steps."""
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model).attribute(
        x, baselines=torch.zeros_like(x), target=target, n_steps=cfg["steps"]
    )
