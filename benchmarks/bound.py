"""The compute bound of each CNN method and the pipeline's time against it.

The bound of a method on an image is the time of the same number of forward passes (LIME), or of
forward + input-backward passes (the gradient methods; filters: of the stack up to the hooked
module), of the same optimised model, at its best batch size, on the same device and threads.
`measured / bound` is then what the method spends beyond its unavoidable passes (sampling,
segmentation, regressions, Python, small batches). Shared by bench_methods.py and gpu_check.py.
"""

from __future__ import annotations

import sys
import time

import torch

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.fastpath import features_until, for_gradients, for_inference

BATCHES = (1, 5, 10, 25, 50, 100)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def best_per_image(step, x1: torch.Tensor, batches=BATCHES, repeat: int = 3, budget: float = 2.0):
    """(seconds per image, batch) of the fastest batch size for `step(batch)`; x1: one image.
    Each size is timed `repeat` times (best kept); sizes stop growing once a call takes `budget`."""
    best = (float("inf"), 0)
    for n in batches:
        xb = x1.expand(n, *x1.shape[1:]).contiguous()
        step(xb)  # warm-up (allocations, kernel choice)
        _sync(x1.device)
        t = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            step(xb)
            _sync(x1.device)
            t = min(t, time.perf_counter() - start)
        best = min(best, (t / n, n))
        if t > budget:
            break
    return best


def forward_step(model):
    @torch.no_grad()
    def step(xb):
        model(xb)

    return step


def gradient_step(model, output=lambda out: out[:, 0].sum()):
    """One forward + backward to the input only (the methods' frozen-weight passes)."""

    def step(xb):
        xb = xb.detach().requires_grad_(True)
        output(model(xb)).backward()

    return step


def pass_costs(model, x1, device, pairs=(), batches=BATCHES, repeat=3) -> dict:
    """Per-image seconds (and best batch) of: a forward pass of the inference model, a
    forward+input-backward of the gradient model, and per filter layer of the cut stack."""
    costs = {
        "forward": best_per_image(forward_step(for_inference(model, device)), x1, batches, repeat),
        "gradient": best_per_image(
            gradient_step(for_gradients(model, device)), x1, batches, repeat
        ),
    }
    for layer in sorted({layer for layer, _ in pairs}):
        stack = features_until(model, layer)
        costs[f"stack{layer}"] = best_per_image(
            gradient_step(stack, lambda out: out[:, 0].sum()), x1, batches, repeat
        )
    return costs


def bound_seconds(method: str, cfg: dict, costs: dict) -> float:
    """The method's unavoidable passes per image, times their per-image cost."""
    fwd, grad = costs["forward"][0], costs["gradient"][0]
    if method == "lime":
        return cfg["num_samples"] * fwd
    if method in ("saliency", "gradcam"):
        return grad
    if method == "smoothgrad":
        return cfg["samples"] * grad
    if method == "integrated_gradients":
        extra = 2 * fwd if cfg["variant"] == "ig" else 0.0  # f(x), f(baseline)
        return cfg["steps"] * grad + extra
    if method == "filters":  # per pair: `iterations` steps and the final evaluation
        return sum(
            cfg["iterations"] * costs[f"stack{layer}"][0] + costs[f"stack{layer}"][0] / 2
            for layer, _ in cfg["pairs"]
        )
    raise KeyError(f"no bound for method {method!r}")


def method_seconds(method, model, items, cfg, device) -> tuple[float, list[dict]]:
    """Seconds per image of the pipeline's run layer (the method call, what artifacts record as
    `seconds`; model loading and preparation excluded) and the artifacts."""
    arrays = explain_images(method, model, items, cfg, torch.device(device))
    return sum(float(a["seconds"]) for a in arrays) / len(arrays), arrays


def needed_passes(method: str, cfg: dict) -> tuple[bool, bool, tuple]:
    """Which pass costs a method's bound needs: (forward, gradient, filter layers)."""
    if method == "lime":
        return True, False, ()
    if method == "filters":
        return False, False, tuple(sorted({layer for layer, _ in cfg["pairs"]}))
    return method == "integrated_gradients" and cfg.get("variant") == "ig", True, ()


def pass_costs_for(model, x1, device, method, cfg, batches=BATCHES, repeat=3) -> dict:
    fwd, grad, layers = needed_passes(method, cfg)
    costs = {"forward": (float("nan"), 0), "gradient": (float("nan"), 0)}
    if fwd:
        costs["forward"] = best_per_image(
            forward_step(for_inference(model, device)), x1, batches, repeat
        )
    if grad:
        costs["gradient"] = best_per_image(
            gradient_step(for_gradients(model, device)), x1, batches, repeat
        )
    for layer in layers:
        costs[f"stack{layer}"] = best_per_image(
            gradient_step(features_until(model, layer)), x1, batches, repeat
        )
    return costs


def _min_costs(a: dict, b: dict) -> dict:
    return {k: min(a[k], b[k], key=lambda c: (c[0] != c[0], c[0])) for k in a}


def bound_rows(model, items, config_cnn: dict, methods, device, repeat=2, batches=BATCHES):
    """One row per method: measured s/img, bound s/img, ratio. Measured and bound are taken
    interleaved (bound, method, bound, method, ...; the best of each kept), so that a machine
    whose load changes during the run still compares like with like."""
    dev = torch.device(device)
    model = model.to(dev).eval()
    x1 = items[0][0][None].to(dev)
    rows = []
    for method in methods:
        cfg = dict(config_cnn[method])
        method_seconds(method, model, items[:1], cfg, device)  # warm-up: first-call kernel setup
        costs, seconds = None, float("inf")
        for _ in range(repeat):
            c = pass_costs_for(model, x1, dev, method, cfg, batches)
            costs = c if costs is None else _min_costs(costs, c)
            seconds = min(seconds, method_seconds(method, model, items, cfg, device)[0])
        c = pass_costs_for(model, x1, dev, method, cfg, batches)
        costs = _min_costs(costs, c)
        bound = bound_seconds(method, cfg, costs)
        print(
            f"{method}: {seconds:.3f} s/img, bound {bound:.3f} s/img", file=sys.stderr, flush=True
        )
        rows.append(
            {
                "method": method,
                "measured_s": seconds,
                "bound_s": bound,
                "ratio": seconds / bound,
                "passes": {k: (round(1000 * v[0], 3), v[1]) for k, v in costs.items()},
            }
        )
    return rows


def format_rows(rows) -> str:
    lines = [
        "| method | measured (s/img) | bound (s/img) | measured / bound |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['measured_s']:.3f} | {r['bound_s']:.3f} | {r['ratio']:.2f}x |"
        for r in rows
    ]
    lines.append("\npass costs, ms per image (best batch):")
    lines += [
        f"- {r['method']}: "
        + ", ".join(f"{k} {ms} ({b})" for k, (ms, b) in r["passes"].items() if ms == ms)
        for r in rows
    ]
    return "\n".join(lines)
