"""The controlled shortcut (config offline.shortcut): how much the CNN relies on the marker, and
which explanation methods show that it does.

Reliance is measured on the same test images rendered twice, without the marker and with it
pasted (both deterministic: the marker is a solid square drawn on top, and the clean image is
re-rendered from its own random stream): the shortcut class's accuracy with vs without it, and the
flip rate, the share of other classes' images (not predicted as the shortcut class when clean)
that the pasted marker turns into the shortcut class. Per registered method, on the first
`eval_images` test images of the class with the marker, every localisation statistic of the
metric registry whose chance level is an area share (relevance mass, relevance rank, pointing
game), each next to its chance level for the marker. Rule: a statistic *reveals* the shortcut when
the lower end of the 95 % bootstrap CI of its mean is above `reveal_factor` x its chance level; a
method reveals it when every statistic does, hides it when none does, and is *split* otherwise
(mass inside a 12-px square penalises a coarse, upsampled 8 x 8 map by construction, while rank
and pointing only read its order).
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
from workflow_scripts.quality import metrics as M
from workflow_scripts.quality.stats import bootstrap_ci

LEVEL = 0.95  # the bootstrap CI's level
MASS = "relevance_mass"  # the statistic the figure draws


def statistics() -> list[str]:
    """The registry's localisation metrics judged against k x chance (area-share chance)."""
    return [name for name, e in M.LOCALISATION.items() if e.get("area_chance")]


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


def marker_scores(
    model, clean: np.ndarray, labels: np.ndarray, cls: int, marker: dict, count: int, params, device
) -> tuple[list[str], dict, list[str], dict]:
    """Every registered method on the first `count` images of class `cls` with the marker pasted,
    explaining `cls`: (image names, {method: {statistic: per-image values}}, methods without a
    map, {method: map of the first image})."""
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
    stats = statistics()
    scores = {m: {k: [] for k in stats} for m in methods.registry()}
    no_map: list[str] = []
    examples = {}
    for j, name in enumerate(names):
        x = to_tensor(marked[j : j + 1])[0]
        for m in [m for m in scores if m not in no_map]:
            a = method_map(explain_image(m, model, x, cls, name, params[m], device))
            if a is None:  # known after the first image: the method is not run again
                no_map.append(m)
                continue
            values = M.localisation(a, mask)
            for k in stats:
                scores[m][k].append(values[k])
            if j == 0:
                examples[m] = a
    return names, {m: v for m, v in scores.items() if m not in no_map}, no_map, examples


def judge(scores: dict, chances: dict, cfg: dict) -> dict:
    """{method: {statistic: per-image values}} -> per method: each statistic's bootstrap CI,
    chance, ratio and verdict, and the method's verdict (reveals / hides / split); the mass's
    numbers at the top level (the figure draws them)."""
    k = cfg["reveal_factor"]
    per_method = {}
    for m, by_stat in scores.items():
        judged = {}
        for stat, values in by_stat.items():
            ci = bootstrap_ci(values, seed=cfg["seed"], n_boot=cfg["bootstrap"], level=LEVEL)
            judged[stat] = {
                **ci,
                "chance": chances[stat],
                "ratio_to_chance": ci["mean"] / chances[stat],
                "reveals": bool(ci["low"] > k * chances[stat]),
                "per_image": [float(v) for v in values],
            }
        votes = {r["reveals"] for r in judged.values()}
        verdict = "split" if len(votes) > 1 else "reveals" if votes == {True} else "hides"
        per_method[m] = {
            **judged[MASS],
            "reveals": verdict == "reveals",
            "verdict": verdict,
            "statistics": judged,
        }
    return per_method


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
    names, scores, no_map, example_maps = marker_scores(
        model, clean, labels, cls, marker, cfg["eval_images"], params, device
    )
    chances = M.chance(marker_mask(marker, clean.shape[1]))  # area shares of the marker
    per_method = judge(scores, chances, cfg)
    first = int(np.flatnonzero(labels == cls)[0])
    data = {
        "class": cls,
        "class_name": CLASS_NAMES[cls] if cls < len(CLASS_NAMES) else str(cls),
        "marker": dict(marker),
        "shares": {k_: sc[k_] for k_ in ("p", "p_other", "test_p")},
        "chance": chances[MASS],
        "chances": {stat: chances[stat] for stat in statistics()},
        "reveal_factor": cfg["reveal_factor"],
        "rule": (
            f"a statistic ({', '.join(statistics())}) reveals the shortcut when the low end of "
            f"the {LEVEL:.0%} bootstrap CI of its mean is above {cfg['reveal_factor']:g} x its "
            "chance level; a method reveals it when every statistic does, hides it when none "
            "does, and is split otherwise"
        ),
        "bootstrap": cfg["bootstrap"],
        "seed": cfg["seed"],
        "reliance": rel,
        "eval_images": names,
        "methods": per_method,
        "no_map": no_map,
        "reveal": [m for m, r in per_method.items() if r["verdict"] == "reveals"],
        "hide": [m for m, r in per_method.items() if r["verdict"] == "hides"],
        "split": [m for m, r in per_method.items() if r["verdict"] == "split"],
    }
    examples = {
        "image_marked": paste_marker(clean[first], marker),
        "image_clean": clean[first],
        "marker_mask": marker_mask(marker, clean.shape[1]),
        **{f"map_{m}": a for m, a in example_maps.items()},
    }
    return data, examples
