"""Throughput of the pipeline's CNN methods against their compute bound (benchmarks/bound.py),
Captum, the `lime` package and the homework loops.

Same model, same inputs, one run; prints seconds per image, measured / bound per method at the
config's settings (default config/config.yaml), and the ratio to each baseline.

    .venv/bin/python benchmarks/bench_methods.py                       # random-init width 1/8 model
    .venv/bin/python benchmarks/bench_methods.py --checkpoint results/offline/assets/checkpoint.pth
    .venv/bin/python benchmarks/bench_methods.py --bound-only --threads 1   # as the jobs run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from workflow_scripts.assets.models import Classifier, load_checkpoint  # noqa: E402
from workflow_scripts.cnn.fastpath import for_gradients, for_inference  # noqa: E402
from workflow_scripts.cnn.methods import lime as L  # noqa: E402
from workflow_scripts.cnn.methods.integrated_gradients import integrated_gradients  # noqa: E402
from workflow_scripts.cnn.methods.saliency import saliency  # noqa: E402
from workflow_scripts.cnn.methods.smoothgrad import smoothgrad  # noqa: E402


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


# --- the homework's one-sample-at-a-time loops (restated from HW09.ipynb) ---------------------


def homework_smoothgrad(x, y, model, epoch, param_sigma_multiplier):
    mean = 0
    sigma = param_sigma_multiplier / (torch.max(x) - torch.min(x)).item()
    smooth = np.zeros(x.unsqueeze(0).size())
    for _ in range(epoch):
        noise = x.data.new(x.size()).normal_(mean, sigma**2)
        x_mod = (x + noise).unsqueeze(0)
        x_mod.requires_grad_()
        y_pred = model(x_mod)
        loss = torch.nn.CrossEntropyLoss()(y_pred, y.unsqueeze(0))
        loss.backward()
        smooth += x_mod.grad.abs().detach().cpu().data.numpy()
    return smooth / epoch


def homework_ig(model, input_image, target_class, steps):
    integrated = np.zeros(input_image.size())
    for step in range(steps):
        xbar = (input_image * step / steps).detach().requires_grad_(True)
        out = model(xbar)
        model.zero_grad()
        one_hot = torch.zeros(1, out.size()[-1])
        one_hot[0][target_class] = 1
        out.backward(gradient=one_hot)
        integrated = integrated + xbar.grad.data.cpu().numpy() / steps
    return integrated[0]


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
    from workflow_scripts.cnn.layers import homework_layers

    # "auto" layers as the workflow resolves them on the homework Classifier
    cfg["cnn"]["gradcam"]["layer"], cfg["cnn"]["filters"]["pairs"] = homework_layers(cfg)
    return cfg["cnn"]


def cnn_cfg_methods(cnn_cfg: dict):
    from workflow_scripts.cnn.methods import names

    return [m for m in names() if m in cnn_cfg]


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--checkpoint", help="homework-format checkpoint (default: random-init Classifier)"
    )
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--smoothgrad-samples", type=int, default=100)
    ap.add_argument(
        "--batch",
        type=int,
        default=25,
        help="batch size for ours and Captum (noise samples, path points, LIME)",
    )
    ap.add_argument("--ig-steps", type=int, default=50)
    ap.add_argument("--lime-samples", type=int, default=500)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--config", help="a config file over config/config.yaml (cnn settings)")
    ap.add_argument("--bound-only", action="store_true", help="skip the baselines")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = load_checkpoint(args.checkpoint) if args.checkpoint else Classifier(args.width).eval()
    x = torch.rand(args.images, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    t = model(x).argmax(1).detach()
    n = args.images
    cpu = torch.device("cpu")
    grad_model, fwd_model = (
        for_gradients(model, cpu),
        for_inference(model, cpu),
    )  # the pipeline's fast path
    print(
        f"model width {model.width:g}, {n} images, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    from bound import bound_rows, format_rows  # noqa: E402

    cnn_cfg = cnn_settings(args.config)
    items = [(x[i], int(t[i]), f"{i}_{i}") for i in range(n)]
    bounds = bound_rows(model, items, cnn_cfg, list(cnn_cfg_methods(cnn_cfg)), cpu)
    print(format_rows(bounds), flush=True)
    if args.bound_only:
        return bounds
    rows = []

    def report(name, ours_s, base_name, base_s, extra=""):
        rows.append((name, ours_s / n, base_name, base_s / n, base_s / ours_s, extra))
        print(
            f"{name:<28} {ours_s / n:8.3f} s/img   {base_name:<34} {base_s / n:8.3f} s/img   "
            f"ratio {base_s / ours_s:5.2f}x {extra}",
            flush=True,
        )

    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

    s_ours, _ = timed(lambda: saliency(grad_model, x, t, "logit"), 3)
    s_cap, _ = timed(lambda: Saliency(model).attribute(x.clone(), target=t, abs=True), 3)
    report("saliency (logit)", s_ours, "captum Saliency", s_cap)

    m, k = 0.4, args.smoothgrad_samples
    sg_ours, _ = timed(
        lambda: smoothgrad(
            grad_model, x, t, k, m, "paper", "logit", args.batch, torch.Generator().manual_seed(0)
        )
    )
    sg_cap, _ = timed(
        lambda: NoiseTunnel(Saliency(model)).attribute(
            x.clone(),
            nt_type="smoothgrad",
            nt_samples=k,
            nt_samples_batch_size=args.batch,
            stdevs=m * float(x.max() - x.min()),
            target=t,
            abs=True,
        )
    )
    report(f"smoothgrad ({k} samples)", sg_ours, "captum NoiseTunnel(Saliency)", sg_cap)
    sg_hw_ours, _ = timed(
        lambda: smoothgrad(
            grad_model, x, t, k, m, "homework", "loss", args.batch, torch.Generator().manual_seed(0)
        )
    )
    sg_hw, _ = timed(lambda: [homework_smoothgrad(x[i], t[i], model, k, m) for i in range(n)])
    report(f"smoothgrad homework ({k})", sg_hw_ours, "homework loop (1 sample at a time)", sg_hw)

    steps = args.ig_steps
    ig_ours, _ = timed(
        lambda: integrated_gradients(grad_model, x, t, steps, "ig", "riemann_left", 0.0, args.batch)
    )
    ig_cap, _ = timed(
        lambda: IntegratedGradients(model).attribute(
            x,
            baselines=torch.zeros_like(x),
            target=t,
            n_steps=steps,
            method="riemann_left",
            internal_batch_size=args.batch,
        )
    )
    report(f"integrated gradients ({steps})", ig_ours, "captum IntegratedGradients", ig_cap)
    ig_hw_ours, _ = timed(
        lambda: integrated_gradients(grad_model, x, t, steps, "homework", batch_size=args.batch)
    )
    ig_hw, _ = timed(lambda: [homework_ig(model, x[i : i + 1], int(t[i]), steps) for i in range(n)])
    report(f"IG homework ({steps})", ig_hw_ours, "homework loop (1 step at a time)", ig_hw)

    from lime.lime_image import LimeImageExplainer

    @torch.no_grad()
    def predict(batch):  # the homework's classifier function
        return model(torch.FloatTensor(batch).permute(0, 3, 1, 2)).numpy()

    @torch.no_grad()
    def predict_fast(batch):
        return fwd_model(
            torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).permute(0, 3, 1, 2)
        ).numpy()

    images = [x[i].permute(1, 2, 0).numpy().astype(np.float64) for i in range(n)]
    segs = [L.segment(im) for im in images]
    ours_out, theirs_out = [], []
    l_ours, _ = timed(
        lambda: ours_out.extend(
            L.lime_image(im, predict_fast, sg, 16, args.lime_samples, args.batch)[0]
            for im, sg in zip(images, segs)
        )
    )
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):  # lime's tqdm bar
        l_ref, _ = timed(
            lambda: theirs_out.extend(
                LimeImageExplainer(random_state=16).explain_instance(
                    im,
                    predict,
                    segmentation_fn=lambda a, s=sg: s,
                    num_samples=args.lime_samples,
                    batch_size=10,
                )
                for im, sg in zip(images, segs)
            )
        )
    diff = max(
        abs(dict(a.local_exp[lab])[f] - w)
        for a, b in zip(ours_out, theirs_out)
        for lab in b.top_labels
        for f, w in b.local_exp[lab]
    )
    report(
        f"lime ({args.lime_samples} samples)",
        l_ours,
        "lime package (batch_size=10)",
        l_ref,
        f"max |weight difference| {diff:.1e}",
    )
    return rows


if __name__ == "__main__":
    main()
