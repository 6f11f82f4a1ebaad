"""The controlled shortcut (config offline.shortcut): how much the CNN relies on the marker, and
which explanation methods show that it does.

Reliance is measured on the same test images rendered twice, without the marker and with it
pasted (both deterministic: the marker is a solid square drawn on top, and the clean image is
re-rendered from its own random stream): the shortcut class's accuracy with vs without it, and the
flip rate, the share of other classes' images (not predicted as the shortcut class when clean)
that the pasted marker turns into the shortcut class. Per registered method, the share of the
positive attribution on the marker's pixels, on the first `eval_images` test images of the class
with the marker, next to the marker's area share (what a map that ignores the marker puts there
on average). Rule: a method *reveals* the shortcut when the lower end of the 95 % bootstrap CI of
its mean share is above `reveal_factor` x that area share; otherwise it *hides* it.
"""

from __future__ import annotations

import numpy as np

from workflow_scripts.assets.offline_dataset import (
    SPLITS,
    marker_mask,
    paste_marker,
    render_image,
)
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.homework import CLASS_NAMES
from workflow_scripts.quality.metrics import chance as chance_of
from workflow_scripts.quality.metrics import relevance_mass
from workflow_scripts.quality.stats import bootstrap_ci

LEVEL = 0.95  # the bootstrap CI's level


def method_map(arrays: dict) -> np.ndarray | None:
    """The H x W class-attribution map of a method's artifact: `map` (gradient methods, Grad-CAM),
    else LIME's signed `pixel_weights`; None for a method without one (the filter explanation
    shows what a filter responds to, not what the class score rests on)."""
    for key in ("map", "pixel_weights"):
        if key in arrays:
            return np.asarray(arrays[key], dtype=np.float64)
    return None


def clean_test_images(test: dict, spec: dict, seed: int) -> np.ndarray:
    """The test split without any marker: stored images where it is absent, re-rendered from
    their own random streams where present. Pasting the marker back onto a re-rendered image must
    give the stored one, else the dataset was built by other code or config: one line saying so."""
    marker = spec["shortcut"]["marker"]
    clean = np.array(test["images"], copy=True)
    split_index = SPLITS.index("test")
    for i in np.flatnonzero(test["has_marker"]):
        img, _, label = render_image(seed, split_index, int(i), spec)
        if label != test["labels"][i] or not np.array_equal(
            paste_marker(img, marker), test["images"][i]
        ):
            raise UserError(
                f"test image {i} of the dataset differs from what this code renders for it; "
                "the dataset is stale: rerun with --forcerun offline_dataset"
            )
        clean[i] = img
    return clean


def reliance(model, clean: np.ndarray, labels: np.ndarray, cls: int, marker: dict, device) -> dict:
    """Accuracy on class `cls` with vs without the marker, and the flip rate of the others."""
    from workflow_scripts.assets.train import predict

    p_clean = predict(model, clean, device)
    p_marked = predict(model, paste_marker(clean, marker), device)
    own, others = labels == cls, labels != cls
    candidates = others & (p_clean != cls)
    flips = candidates & (p_marked == cls)
    acc_with = float((p_marked[own] == cls).mean())
    acc_without = float((p_clean[own] == cls).mean())
    return {
        "class_images": int(own.sum()),
        "accuracy_with_marker": acc_with,
        "accuracy_without_marker": acc_without,
        "accuracy_drop": acc_with - acc_without,
        "other_images": int(others.sum()),
        "other_accuracy_with_marker": float((p_marked[others] == labels[others]).mean()),
        "other_accuracy_without_marker": float((p_clean[others] == labels[others]).mean()),
        "flip_candidates": int(candidates.sum()),
        "flips": int(flips.sum()),
        "flip_rate": float(flips.sum() / candidates.sum()) if candidates.any() else float("nan"),
    }


def marker_masses(
    model, clean: np.ndarray, labels: np.ndarray, cls: int, marker: dict, count: int, params, device
) -> tuple[list[str], dict, list[str], dict]:
    """Every registered method on the first `count` images of class `cls` with the marker pasted,
    explaining `cls`: (image names, {method: per-image marker mass}, methods without a map,
    {method: map of the first image})."""
    from workflow_scripts.assets.train import to_tensor
    from workflow_scripts.cnn import methods
    from workflow_scripts.cnn.attribute import explain_image

    idx = np.flatnonzero(labels == cls)[:count]
    if len(idx) < 2:
        raise UserError(
            f"config key offline.shortcut.eval_images: class {cls} has {len(idx)} test image(s); "
            "the bootstrap needs at least 2 (raise offline.splits.test)"
        )
    mask = marker_mask(marker, clean.shape[1])
    marked = paste_marker(clean[idx], marker)
    names = [f"shortcut_{i}" for i in idx]
    masses = {m: [] for m in methods.registry()}
    no_map: list[str] = []
    examples = {}
    for j, name in enumerate(names):
        x = to_tensor(marked[j : j + 1])[0]
        for m in [m for m in masses if m not in no_map]:
            a = method_map(explain_image(m, model, x, cls, name, params[m], device))
            if a is None:  # known after the first image: the method is not run again
                no_map.append(m)
                continue
            masses[m].append(relevance_mass(a, mask))
            if j == 0:
                examples[m] = a
    return names, {m: v for m, v in masses.items() if m not in no_map}, no_map, examples


def measure(model, test: dict, spec: dict, seed: int, cfg: dict, params: dict, device):
    """The whole measurement: (the JSON-able result, {method: example map} + example images).

    test: the test split's arrays (images, labels, has_marker); spec: the dataset's rendering
    spec (with its shortcut); seed: the dataset's seed; cfg: config offline.shortcut; params:
    {method: its config block as the method gets it}. Same inputs -> same result (no timings)."""
    sc = spec["shortcut"]
    cls, marker = sc["class"], sc["marker"]
    clean = clean_test_images(test, spec, seed)
    labels = np.asarray(test["labels"])
    rel = reliance(model, clean, labels, cls, marker, device)
    names, masses, no_map, example_maps = marker_masses(
        model, clean, labels, cls, marker, cfg["eval_images"], params, device
    )
    chance = chance_of(marker_mask(marker, clean.shape[1]))["relevance_mass"]  # its area share
    k = cfg["reveal_factor"]
    per_method = {}
    for m, values in masses.items():
        ci = bootstrap_ci(values, seed=cfg["seed"], n_boot=cfg["bootstrap"], level=LEVEL)
        per_method[m] = {
            **ci,
            "ratio_to_chance": ci["mean"] / chance,
            "reveals": bool(ci["low"] > k * chance),
            "per_image": [float(v) for v in values],
        }
    first = int(np.flatnonzero(labels == cls)[0])
    data = {
        "class": cls,
        "class_name": CLASS_NAMES[cls] if cls < len(CLASS_NAMES) else str(cls),
        "marker": dict(marker),
        "shares": {k_: sc[k_] for k_ in ("p", "p_other", "test_p")},
        "chance": chance,
        "reveal_factor": k,
        "rule": (
            f"a method reveals the shortcut when the low end of the {LEVEL:.0%} bootstrap CI of "
            f"its mean marker mass is above {k:g} x the marker's area share ({k * chance:.4f})"
        ),
        "bootstrap": cfg["bootstrap"],
        "seed": cfg["seed"],
        "reliance": rel,
        "eval_images": names,
        "methods": per_method,
        "no_map": no_map,
        "reveal": [m for m, r in per_method.items() if r["reveals"]],
        "hide": [m for m, r in per_method.items() if not r["reveals"]],
    }
    examples = {
        "image_marked": paste_marker(clean[first], marker),
        "image_clean": clean[first],
        "marker_mask": marker_mask(marker, clean.shape[1]),
        **{f"map_{m}": a for m, a in example_maps.items()},
    }
    return data, examples
