"""The compute bound of each CNN method and the pipeline's time against it.

The bound of a method on an image is the time of the same number of forward passes (LIME), or of
forward + input-backward passes (the gradient methods; filters: of the stack up to the hooked
module), of the same optimised model, at its best batch size, on the same device and threads.
`measured / bound` is then what the method spends beyond its unavoidable passes (sampling,
segmentation, regressions, Python, small batches). The same passes of one image alone (batch 1)
are printed beside it: a method that explains one image per call (so that an image's numbers
never depend on the images that share its job) cannot go below that. Shared by bench_methods.py
and gpu_check.py.
"""

from __future__ import annotations

import sys
import time

import torch

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.fastpath import features_until, for_gradients, for_inference
from workflow_scripts.cnn.methods import load

BATCHES = (1, 5, 10, 25, 50, 100)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def best_per_image(step, x1: torch.Tensor, batches=BATCHES, repeat: int = 3, budget: float = 2.0):
    """(seconds per image, batch) of the fastest batch size for `step(batch)`, and the seconds of
    one image alone (batch 1; NaN when `batches` leaves it out); x1: one image. Each size is timed
    `repeat` times (best kept); sizes stop growing once a call takes `budget`."""
    best, single = (float("inf"), 0), float("nan")
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
        single = t if n == 1 else single
        if t > budget:
            break
    return (*best, single)


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


def _layer(kind: str):
    """The layer of a "stack<layer>" pass kind (an index into model.cnn, or a module path)."""
    name = kind[len("stack") :]
    return int(name) if name.isdigit() else name


def pass_cost(model, x1, device, kind: str, batches=BATCHES, repeat=3):
    """(seconds per image, best batch) of one pass kind a method's `passes()` names."""
    if kind == "forward":
        return best_per_image(forward_step(for_inference(model, device)), x1, batches, repeat)
    if kind == "gradient":
        step = gradient_step(for_gradients(model, device))
        return best_per_image(step, x1, batches, repeat)
    if kind.startswith("stack"):
        stack = features_until(model, _layer(kind))
        return best_per_image(gradient_step(stack), x1, batches, repeat)
    raise KeyError(f"unknown pass kind {kind!r} (forward, gradient, stack<layer>)")


def pass_costs(model, x1, device, kinds, batches=BATCHES, repeat=3) -> dict:
    """Per-image seconds (and best batch) of each pass kind in `kinds`."""
    return {k: pass_cost(model, x1, device, k, batches, repeat) for k in sorted(set(kinds))}


def needed(method: str, cfg: dict, model=None) -> list[str]:
    """The pass kinds of a method's bound at `cfg` (its module's `passes`)."""
    return [k for k, n in load(method).passes(cfg, model).items() if n]


def bound_seconds(method: str, cfg: dict, costs: dict, model=None, at: int = 0) -> float:
    """The method's unavoidable passes per image (its module's `passes`, which may count the
    model's channels), times their cost: at the best batch size (at=0), or of one image alone
    (at=2: what a method that explains one image per call cannot go below)."""
    return sum(n * costs[k][at] for k, n in load(method).passes(cfg, model).items() if n)


def method_seconds(method, model, items, cfg, device) -> tuple[float, list[dict]]:
    """Seconds per image of the pipeline's run layer (the method call, what artifacts record as
    `seconds`; model loading and preparation excluded) and the artifacts."""
    arrays = explain_images(method, model, items, cfg, torch.device(device))
    return sum(float(a["seconds"]) for a in arrays) / len(arrays), arrays


def pass_costs_for(model, x1, device, method, cfg, batches=BATCHES, repeat=3) -> dict:
    return pass_costs(model, x1, device, needed(method, cfg, model), batches, repeat)


def _min_costs(a: dict, b: dict) -> dict:
    return {k: (*min(a[k][:2], b[k][:2]), min(a[k][2], b[k][2])) for k in a}


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
        bound = bound_seconds(method, cfg, costs, model)
        single = bound_seconds(method, cfg, costs, model, at=2)
        print(
            f"{method}: {seconds:.3f} s/img, bound {bound:.3f} s/img", file=sys.stderr, flush=True
        )
        rows.append(
            {
                "method": method,
                "measured_s": seconds,
                "bound_s": bound,
                "ratio": seconds / bound,
                "single_s": single,
                "passes": {k: (round(1000 * v[0], 3), v[1]) for k, v in costs.items()},
            }
        )
    return rows


def format_rows(rows) -> str:
    lines = [
        "| method | measured (s/img) | bound (s/img) | measured / bound "
        "| measured / batch-1 bound |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['measured_s']:.3f} | {r['bound_s']:.3f} | {r['ratio']:.2f}x | "
        f"{r['measured_s'] / r['single_s']:.2f}x |"
        for r in rows
    ]
    lines.append("\npass costs, ms per image (best batch):")
    lines += [
        f"- {r['method']}: "
        + ", ".join(f"{k} {ms} ({b})" for k, (ms, b) in r["passes"].items() if ms == ms)
        for r in rows
    ]
    return "\n".join(lines)
