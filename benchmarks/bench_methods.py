"""Throughput of every registered CNN method against its compute bound (benchmarks/bound.py)
and its reference library (the module's REFERENCE: Captum, pytorch-grad-cam, the `lime` package);
the homework's own loops are in bench_homework.py.

Same model, same inputs, one run; prints seconds per image, measured / bound per method at the
config's settings (default config/config.yaml), and the ratio to each reference, all read from
the method registry (no per-method table here).

    .venv/bin/python benchmarks/bench_methods.py                       # random-init width 1/8 model
    .venv/bin/python benchmarks/bench_methods.py --checkpoint results/offline/assets/checkpoint.pth
    .venv/bin/python benchmarks/bench_methods.py --bound-only --threads 1   # as the jobs run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from workflow_scripts.assets.models import Classifier, load_checkpoint  # noqa: E402


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def cnn_settings(config_file=None) -> dict:
    """The cnn section of config/config.yaml, overridden by `config_file` (as --configfile)."""
    import yaml

    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))
    if config_file:
        cfg = _merge(cfg, yaml.safe_load(Path(config_file).read_text(encoding="utf-8")))
    from workflow_scripts.cnn.layers import with_homework_layers

    # "auto" layers as the workflow resolves them on the homework Classifier
    with_homework_layers(cfg)
    return cfg["cnn"]


def cnn_cfg_methods(cnn_cfg: dict):
    from workflow_scripts.cnn.methods import names

    return [m for m in names() if m in cnn_cfg]


def reference_rows(model, items, cnn_cfg: dict, methods, repeat: int = 1) -> list[tuple]:
    """Per method with a REFERENCE: (method, ours s/img, reference, its s/img, ratio). Ours is the
    pipeline's run layer (explain_images, preparation included), theirs the module's
    `reference` on the raw model, same images and targets, same settings."""
    from workflow_scripts.cnn.attribute import explain_images
    from workflow_scripts.cnn.methods import load, registry

    x = torch.stack([im for im, _, _ in items])
    t = torch.tensor([label for _, label, _ in items])
    n, cpu, rows = len(items), torch.device("cpu"), []
    for method in methods:
        ref = registry()[method]["REFERENCE"]
        if not ref:
            print(f"{method:<22} no reference library", flush=True)
            continue
        cfg = dict(cnn_cfg[method])
        ours, _ = timed(lambda: explain_images(method, model, items, cfg, cpu), repeat)
        theirs, _ = timed(lambda: load(method).reference(model, x, t, cfg), repeat)
        rows.append((method, ours / n, ref, theirs / n, theirs / ours))
        print(
            f"{method:<22} {ours / n:8.3f} s/img   {ref:<34} {theirs / n:8.3f} s/img   "
            f"ratio {theirs / ours:5.2f}x",
            flush=True,
        )
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--checkpoint", help="homework-format checkpoint (default: random-init Classifier)"
    )
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--config", help="a config file over config/config.yaml (cnn settings)")
    ap.add_argument("--bound-only", action="store_true", help="skip the reference libraries")
    ap.add_argument("--methods", nargs="*", help="only these methods (default: all registered)")
    ap.add_argument(
        "--quick", action="store_true", help="batch sizes 1 and 5, one repeat: a smoke test"
    )
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = load_checkpoint(args.checkpoint) if args.checkpoint else Classifier(args.width).eval()
    x = torch.rand(args.images, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    t = model(x).argmax(1).detach()
    print(
        f"model width {model.width:g}, {args.images} images, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    from bound import bound_rows, format_rows  # noqa: E402

    cnn_cfg = cnn_settings(args.config)
    methods = args.methods or cnn_cfg_methods(cnn_cfg)
    items = [(x[i], int(t[i]), f"{i}_{i}") for i in range(args.images)]
    quick = {"repeat": 1, "batches": (1, 5)} if args.quick else {}
    bounds = bound_rows(model, items, cnn_cfg, methods, torch.device("cpu"), **quick)
    print(format_rows(bounds), flush=True)
    if args.bound_only:
        return bounds
    print("\nagainst each method's reference library (ratio = theirs / ours):", flush=True)
    return reference_rows(model, items, cnn_cfg, methods)


if __name__ == "__main__":
    main()
