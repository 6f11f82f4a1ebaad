"""The pipeline's batched SmoothGrad and IG against the homework's one-sample-at-a-time loops
(restated from HW09.ipynb), same model and inputs, one run: seconds per image and the ratio.

    .venv/bin/python benchmarks/bench_homework.py --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_methods import timed  # noqa: E402

from workflow_scripts.assets.models import Classifier  # noqa: E402
from workflow_scripts.cnn.fastpath import for_gradients  # noqa: E402
from workflow_scripts.cnn.methods.integrated_gradients import integrated_gradients  # noqa: E402
from workflow_scripts.cnn.methods.smoothgrad import smoothgrad  # noqa: E402

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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Classifier(args.width).eval()
    n = args.images
    x = torch.rand(n, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    t = model(x).argmax(1).detach()
    fast = for_gradients(model, torch.device("cpu"))
    k, m = args.samples, 0.4
    ours, _ = timed(
        lambda: smoothgrad(
            fast, x, t, k, m, "homework", "loss", args.batch, torch.Generator().manual_seed(0)
        )
    )
    theirs, _ = timed(lambda: [homework_smoothgrad(x[i], t[i], model, k, m) for i in range(n)])
    print(
        f"smoothgrad ({k}): {ours / n:.3f} s/img, homework loop {theirs / n:.3f} s/img, "
        f"ratio {theirs / ours:.2f}x"
    )
    s = args.steps
    ours, _ = timed(lambda: integrated_gradients(fast, x, t, s, "homework", batch_size=args.batch))
    theirs, _ = timed(lambda: [homework_ig(model, x[i : i + 1], int(t[i]), s) for i in range(n)])
    print(
        f"IG ({s}): {ours / n:.3f} s/img, homework loop {theirs / n:.3f} s/img, "
        f"ratio {theirs / ours:.2f}x"
    )


if __name__ == "__main__":
    main()
