"""Run one explanation method on one observed image and write its artifact (.npz).

Artifact keys shared by every method: method, variant, image, label, prediction, logits,
probabilities, params (JSON), seed, seconds, device; gradient methods add attribution
(3 x H x W, before normalisation), map_raw (H x W, max over RGB of |attribution|) and
map (map_raw min-max normalised per image: what the figures show). Method-specific keys are
listed in the README ("Attribution artifacts").
"""
from __future__ import annotations

import json
import logging
import time
import zlib

import numpy as np
import torch

from .fastpath import auto_batch, for_gradients, for_inference
from .io import write_npz
from .methods import normalize

log = logging.getLogger("xai")


def image_seed(seed: int, name: str) -> int:
    """A per-image seed: an image's random draws never depend on which images came before it."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63 - 1)


def _lime(model, x, label, name, p, device):
    from .methods import lime as L

    image = x[0].permute(1, 2, 0).cpu().numpy().astype(np.float64)  # the homework's HWC double image
    seg = p["segmentation"]
    segments = L.segment(image, seg["n_segments"], seg["compactness"], seg["sigma"], seg["start_label"])

    @torch.no_grad()
    def classifier_fn(batch: np.ndarray) -> np.ndarray:
        out = model(torch.as_tensor(batch, dtype=torch.float32).permute(0, 3, 1, 2).to(device))
        return (out.softmax(1) if p["output"] == "probabilities" else out).cpu().numpy()

    exp, raw = L.explain(image, classifier_fn, segments, p["seed"], p["num_samples"],
                         auto_batch(p["batch_size"], device), p["top_labels"], p["feature_map"])
    if label not in exp.local_exp:
        label_used = int(exp.top_labels[0])
        log.warning("%s: true label %d is not among LIME's top %d labels; explaining %d", name, label,
                    p["top_labels"], label_used)
    else:
        label_used = label
    m = p["mask"]
    overlay, mask = exp.get_image_and_mask(label_used, positive_only=m["positive_only"], hide_rest=m["hide_rest"],
                                           num_features=m["num_features"], min_weight=m["min_weight"])
    weights = L.weight_vector(exp, label_used, raw["n_features"])
    feat = L.feature_pixels(segments, p["feature_map"])
    pixel_weights = np.where(feat >= 0, weights[np.maximum(feat, 0)], 0.0)
    return {
        "segments": segments, "feature_of_pixel": feat, "weights": weights,
        "intercept": float(exp.intercept[label_used]), "score": float(exp.scores[label_used]),
        "local_pred": np.asarray(exp.local_preds[label_used]).ravel(), "explained_label": label_used,
        "top_labels": np.asarray(exp.top_labels), "overlay": overlay.astype(np.float32), "mask": mask,
        "positive_mask": mask > 0, "negative_mask": mask < 0, "pixel_weights": pixel_weights.astype(np.float32),
        "sample_scores": raw["scores"].astype(np.float32),
    }


def _saliency(model, x, label, name, p, device):
    from .methods.saliency import saliency

    out = saliency(model, x, torch.tensor([label], device=device), p["objective"])
    return {"attribution": out["attribution"][0], "map_raw": out["map_raw"][0],
            "grad_abs_max": float(out["grad_abs_max"][0]), "grad_abs_mean": float(out["grad_abs_mean"][0])}


def _smoothgrad(model, x, label, name, p, device):
    from .methods.smoothgrad import smoothgrad

    gen = torch.Generator(device="cpu").manual_seed(image_seed(p["seed"], name))
    out = smoothgrad(model, x, torch.tensor([label], device=device), p["samples"], p["multiplier"], p["noise"],
                     p["objective"], auto_batch(p["batch_size"], device), gen)
    att = out["attribution"][0]
    return {"attribution": att, "map_raw": out["map_raw"][0], "noise_std": float(out["noise_std"][0]),
            "rgb": normalize(att).transpose(1, 2, 0)}


def _filters(model, x, label, name, p, device):
    from .methods.filters import filter_explanation

    pairs = [tuple(pair) for pair in p["pairs"]]
    out = filter_explanation(model, x, pairs, p["iterations"], p["lr"], p["start"], image_seed(p["seed"], name))
    res = {"pairs": np.asarray(pairs, dtype=np.int64)}
    for k, v in out.items():
        res[k] = v[0] if k.startswith(("activation_", "visualization_")) else v
    return res


def _integrated_gradients(model, x, label, name, p, device):
    from .methods.integrated_gradients import integrated_gradients

    out = integrated_gradients(model, x, torch.tensor([label], device=device), p["steps"], p["variant"], p["rule"],
                               p["baseline"], auto_batch(p["batch_size"], device))
    att = out["attribution"][0]
    return {"attribution": att, "map_raw": out["map_raw"][0], "completeness_delta": float(out["completeness_delta"][0]),
            "f_x": float(out["f_x"][0]), "f_baseline": float(out["f_baseline"][0]), "alphas": out["alphas"],
            "rgb": normalize(att).transpose(1, 2, 0)}


RUNNERS = {"lime": _lime, "saliency": _saliency, "smoothgrad": _smoothgrad, "filters": _filters,
           "integrated_gradients": _integrated_gradients}

VARIANT_KEYS = {"lime": ("feature_map", "output"), "saliency": ("objective",), "smoothgrad": ("noise", "objective"),
                "filters": ("start",), "integrated_gradients": ("variant",)}


def variant_name(method: str, params: dict) -> str:
    """A name for what the configured variant computes, e.g. 'feature_map=lime,output=logits'."""
    return ",".join(f"{k}={params[k]}" for k in VARIANT_KEYS[method])


def explain_image(method: str, model, image: torch.Tensor, label: int, name: str, params: dict,
                  device: torch.device) -> dict:
    """Run `method` on one 3 x H x W image; return the artifact's arrays."""
    model = model.to(device).eval()
    x = image[None].to(device)
    with torch.no_grad():
        logits = model(x)[0].cpu()
    # filter explanation hooks modules by index: it gets the model as it is
    fast = {"lime": for_inference, "filters": lambda m, d: m}.get(method, for_gradients)(model, device)
    start = time.perf_counter()
    arrays = RUNNERS[method](fast, x, label, name, params, device)
    seconds = time.perf_counter() - start
    if "map_raw" in arrays:
        arrays["map"] = normalize(arrays["map_raw"])
    arrays.update({
        "method": method, "variant": variant_name(method, params), "image": name, "label": label,
        "prediction": int(logits.argmax()), "logits": logits.numpy(), "probabilities": logits.softmax(0).numpy(),
        "params": json.dumps(params, sort_keys=True), "seed": int(params.get("seed", -1)), "seconds": seconds,
        "device": str(device),
    })
    log.info("%s on %s (label %d, predicted %d, variant %s): %.2f s", method, name, label, arrays["prediction"],
             arrays["variant"], seconds)
    return arrays


def write_artifact(path, arrays: dict) -> None:
    write_npz(path, arrays)
