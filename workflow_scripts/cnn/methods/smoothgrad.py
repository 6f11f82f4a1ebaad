"""SmoothGrad (Smilkov et al. 2017): average |gradient| over noisy copies of the input.

noise 'homework': sigma = m / (max(x) - min(x)) and noise drawn with standard deviation sigma**2
(the homework passes sigma**2 to normal_). noise 'paper': sigma = m * (max(x) - min(x)) used as
the standard deviation. Gradients are those of the per-image cross-entropy loss (homework) or the
target logit (Captum's NoiseTunnel over Saliency). Noise samples are batched.
"""

from __future__ import annotations

import numpy as np
import torch

from workflow_scripts.cnn.methods import image_seed, normalize
from workflow_scripts.cnn.methods.saliency import input_gradient

NAME = "smoothgrad"
ORDER = 3
PREPARE = "gradients"
VARIANT_KEYS = ("noise", "objective")
REFERENCE = "captum NoiseTunnel(Saliency)"  # what benchmarks/bench_methods.py times it against
CHECK = {"equality": {"samples": 8}, "dry": {"samples": 3}}
FIGURE = {
    "title": "SmoothGrad",
    "facts": [{"key": "noise_std", "text": "noise std {lo:.3g}-{hi:.3g}"}],
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "rgb", "key": "rgb", "label": "SmoothGrad (homework RGB)"},
        {"show": "heat", "key": "map", "label": "max over RGB of |attr.|, normalised"},
    ],
    # quiz 12: the same layout without the final normalisation (the homework's imshow of the
    # raw average, RGB clipped to [0, 1]; the map on the same fixed [0, 1] scale)
    "extra": [
        {
            "name": "unnormalised",
            "title": "SmoothGrad without the final normalisation",
            "rows": [
                {"show": "image", "label": "image"},
                {"show": "rgb", "key": "attribution", "label": "SmoothGrad, not normalised (RGB)"},
                {"show": "heat", "key": "map_raw", "label": "max over RGB of |attr.|, raw"},
            ],
        }
    ],
}


def noise_std(x: torch.Tensor, multiplier: float, noise: str) -> float:
    span = float(x.max() - x.min())
    if noise == "homework":
        return (multiplier / span) ** 2 if span > 0 else 0.0
    if noise == "paper":
        return multiplier * span
    raise ValueError(f"smoothgrad noise must be 'homework' or 'paper', not {noise!r}")


def smoothgrad(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    samples: int,
    multiplier: float,
    noise: str = "homework",
    objective: str = "loss",
    batch_size: int = 50,
    generator: torch.Generator | None = None,
    absolute: bool = True,
) -> dict:
    """Mean over `samples` noisy copies of |grad| (or grad) for each image of the batch x."""
    out, stds = [], []
    for i in range(len(x)):
        xi, ti = x[i : i + 1], target[i : i + 1]
        std = noise_std(xi, multiplier, noise)
        stds.append(std)
        total = torch.zeros_like(xi[0])
        done = 0
        while done < samples:
            n = min(batch_size, samples - done)
            # one draw per sample, in sample order: the noise does not depend on batch_size
            eps = torch.cat(
                [
                    torch.randn(
                        xi.shape,
                        generator=generator,
                        dtype=xi.dtype,
                        device="cpu" if generator is None else generator.device,
                    )
                    for _ in range(n)
                ]
            ).to(xi.device)
            grad, _ = input_gradient(model, xi + std * eps, ti.expand(n), objective)
            total += (grad.abs() if absolute else grad).sum(0)
            done += n
        out.append((total / samples).cpu().numpy())
    g = np.stack(out)
    return {"attribution": g, "map_raw": g.max(axis=1), "noise_std": np.asarray(stds)}


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    seed: int,
    samples: int,
    multiplier: float,
    noise: str,
    objective: str,
    batch_size: int,
) -> dict:
    """The artifact arrays of one image; the noise stream is the image's own (image_seed)."""
    gen = torch.Generator(device="cpu").manual_seed(image_seed(seed, image))
    out = smoothgrad(
        model,
        x,
        target,
        samples=samples,
        multiplier=multiplier,
        noise=noise,
        objective=objective,
        batch_size=batch_size,
        generator=gen,
    )
    att = out["attribution"][0]
    return {
        "attribution": att,
        "map_raw": out["map_raw"][0],
        "noise_std": float(out["noise_std"][0]),
        "rgb": normalize(att).transpose(1, 2, 0),
    }


def passes(cfg: dict, model=None) -> dict:
    return {"gradient": cfg["samples"]}


def reference(model, x, target, cfg: dict):
    """Captum's NoiseTunnel around Saliency with the same number of noisy copies."""
    from captum.attr import NoiseTunnel, Saliency

    return NoiseTunnel(Saliency(model)).attribute(
        x.clone(), nt_type="smoothgrad", nt_samples=cfg["samples"], stdevs=0.1, target=target
    )
