"""A noise wrapper around a gradient method (Smilkov et al. 2017; Adebayo et al. 2018): the inner
method's attribution on `samples` noisy copies of the image, aggregated.

kind smoothgrad: the mean; smoothgrad_sq: the mean of the squares; vargrad: their variance (mean
of squares minus the square of the mean), as Captum's NoiseTunnel computes them. The noise is
N(0, (stdev * (max - min))^2) per value, drawn from the image's own seed. `inner` names the
method (saliency, integrated_gradients, guided_backprop: those whose `attribution` is the input
gradient's shape); `inner_settings` overrides its cnn.<inner> block (resolved into this block when
the DAG is built, so a change in the inner block reruns this method too). SmoothGrad-IG is
inner: integrated_gradients, kind: smoothgrad. The homework's SmoothGrad keeps its own module
(smoothgrad.py, its noise and loss objective are the homework's). `map_raw`: max over RGB of
|aggregate|. tests/test_noise_tunnel.py compares with Captum on the same noise.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from workflow_scripts.cnn.fastpath import auto_batch
from workflow_scripts.cnn.methods import guided_backprop, image_seed, integrated_gradients, saliency

NAME = "noise_tunnel"
ORDER = 13
PREPARE = "raw"  # the run layer gives it its inner method's (cnn/attribute.prepared_model)
INNER_KEY = "inner"
VARIANT_KEYS = ("inner", "kind")
REFERENCE = "captum NoiseTunnel"  # what benchmarks/bench_methods.py times it against
CHECK = {"equality": {"samples": 3}, "dry": {"samples": 2}}
FIGURE = {
    "title": "Noise tunnel",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "aggregate over noisy copies (normalised)"},
    ],
}
INNER = {m.NAME: m for m in (saliency, integrated_gradients, guided_backprop)}
KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def aggregate(attributions: torch.Tensor, kind: str) -> torch.Tensor:
    """samples x ... -> ...: mean, mean of squares, or variance over the samples."""
    mean = attributions.mean(0)
    sq = (attributions * attributions).mean(0)
    return {"smoothgrad": mean, "smoothgrad_sq": sq, "vargrad": sq - mean * mean}[kind]


def tunnel(attribute, x: torch.Tensor, noise: torch.Tensor, kind: str) -> torch.Tensor:
    """aggregate(attribute(x + noise[k]) for k) for x (1 x C x H x W), noise (samples x C x H x
    W); `attribute` maps a 1 x C x H x W input to its attribution."""
    if kind not in KINDS:
        raise ValueError(f"noise_tunnel kind must be one of {KINDS}, not {kind!r}")
    return aggregate(
        torch.stack([attribute(x + noise[k : k + 1]) for k in range(len(noise))]), kind
    )


def explain(
    model,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    image: str,
    device,
    inner: str,
    inner_settings: dict,
    kind: str,
    samples: int,
    stdev: float,
    seed: int,
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W); `model` prepared for the inner
    method."""
    if inner not in INNER:
        raise ValueError(f"noise_tunnel inner must be one of {sorted(INNER)}, not {inner!r}")
    module = INNER[inner]
    g = torch.Generator().manual_seed(image_seed(seed, image))
    sd = stdev * float(x.max() - x.min())
    noise = (torch.randn(samples, *x.shape[1:], generator=g, dtype=x.dtype) * sd).to(x.device)

    settings = dict(inner_settings)
    if "batch_size" in inspect.signature(module.explain).parameters:  # speed only: left out of
        # the resolved settings, so the device's auto batch size (0 = auto, as the run layer's)
        settings["batch_size"] = auto_batch(settings.get("batch_size", 0), torch.device(device))

    def attribute(xn):
        out = module.explain(model, xn, target, image=image, device=device, **settings)
        return torch.as_tensor(np.asarray(out["attribution"]))

    a = tunnel(attribute, x, noise, kind).numpy()
    return {"attribution": a, "map_raw": np.abs(a).max(axis=0), "noise_std": sd}


def passes(cfg: dict, model=None) -> dict:
    inner = INNER[cfg["inner"]].passes(cfg["inner_settings"], model)
    return {k: v * cfg["samples"] for k, v in inner.items()}


def reference(model, x, target, cfg: dict):
    """Captum's NoiseTunnel around the same inner method's Captum counterpart."""
    from captum.attr import GuidedBackprop, IntegratedGradients, NoiseTunnel, Saliency

    inner = {
        "saliency": lambda: Saliency(model),
        "integrated_gradients": lambda: IntegratedGradients(model),
        "guided_backprop": lambda: GuidedBackprop(model),
    }[cfg["inner"]]()
    kw = (
        {"n_steps": cfg["inner_settings"]["steps"]}
        if cfg["inner"] == "integrated_gradients"
        else {}
    )
    return NoiseTunnel(inner).attribute(
        x.clone(), nt_type=cfg["kind"], nt_samples=cfg["samples"], stdevs=0.1, target=target, **kw
    )
