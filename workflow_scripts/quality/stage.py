"""The quality stage: every registered map method on held-out images, scored and summarised.

Torch-free parts (selection, params, merge, summary, ranking) are imported when the DAG is built
or by the report; the scoring functions import torch when called. Metrics come from
workflow_scripts.quality.metrics, intervals from workflow_scripts.quality.stats.

Tidy rows are (method, image, metric, value). Besides the scored methods, two reference rows
share the table: method "chance" (localisation of a map that carries no information: the mask
area, 0.5 for ROC-AUC) and method "random" (deletion/insertion AUCs of a random pixel order).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
from pathlib import Path

import numpy as np

from workflow_scripts.core.errors import UserError

# Where a method's per-pixel map lives in its artifact, first found wins: the gradient methods'
# and Grad-CAM's unnormalised map, LIME's superpixel weights painted on the pixels (signed; the
# localisation metrics use its positive part, the rank metrics its order).
MAP_KEYS = ("map_raw", "pixel_weights")
CHANCE, RANDOM = "chance", "random"
LOCALISATION = ("relevance_mass", "relevance_rank", "pointing_game", "roc_auc")
MODES = ("deletion", "insertion")
N_CLASSES = 11


# ---------------------------------------------------------------- which images, which methods


def image_name(index: int) -> str:
    """Name of test-split image `index` in the quality tables."""
    return f"test_{index}"


def select_indices(labels, per_class: int, count: int) -> list[int]:
    """The first `per_class` test images of each class (class order, then split order), then the
    first `count` of those; a class with too few images is a UserError."""
    labels = np.asarray(labels)
    chosen = []
    for c in range(N_CLASSES):
        found = np.flatnonzero(labels == c)[:per_class]
        if len(found) < per_class:
            raise UserError(
                f"config key quality.images_per_class: {per_class} requested but class {c} has "
                f"{len(found)} test images; lower it or raise offline.splits.test"
            )
        chosen += [int(i) for i in found]
    return chosen[:count]


def image_count(q: dict, offline: bool, observed: list[str]) -> int:
    """How many images the stage scores (known when the DAG is built)."""
    if offline:
        if q["images"] > q["images_per_class"] * N_CLASSES:
            raise UserError(
                f"config key quality.images: {q['images']} exceeds images_per_class "
                f"({q['images_per_class']}) x {N_CLASSES} classes; raise "
                "quality.images_per_class or lower quality.images"
            )
        return q["images"]
    return min(q["images"], len(observed))


def chunk_ranges(n: int, per_job: int) -> list[range]:
    """Positions 0..n-1 cut into consecutive jobs of at most per_job."""
    return [range(s, min(s + per_job, n)) for s in range(0, n, per_job)]


def sanity_count(q: dict, n_images: int) -> int:
    """The first sanity_images quality images, at most all of them (hw9 has 10)."""
    return min(q["sanity_images"], n_images)


def scored_methods(registry: dict, exclude) -> list[str]:
    """Every registered method, in ORDER, except quality.exclude (unknown names refused)."""
    unknown = sorted(set(exclude) - set(registry))
    if unknown:
        raise UserError(
            f"config key quality.exclude: {unknown} are not registered methods "
            f"(registered: {', '.join(registry)})"
        )
    return [m for m in registry if m not in exclude]


def merged(base: dict, override: dict) -> dict:
    """base with override's keys replaced, recursively (a method block with quality overrides)."""
    out = dict(base)
    for k, v in (override or {}).items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def method_params(cnn: dict, methods, overrides: dict) -> dict:
    """{method: its cnn.<method> block with the quality overrides applied}."""
    return {m: merged(cnn[m], overrides.get(m, {})) for m in methods}


def quality_map(method: str, arrays: dict) -> np.ndarray:
    """The per-pixel map of an artifact (MAP_KEYS), as float64."""
    for key in MAP_KEYS:
        if key in arrays and np.ndim(arrays[key]) == 2:
            return np.asarray(arrays[key], dtype=np.float64)
    raise UserError(
        f"method {method} produces no per-pixel map (none of {', '.join(MAP_KEYS)}); add it to "
        "config key quality.exclude, or give its artifact a map_raw"
    )


# ---------------------------------------------------------------- scoring (torch)


def predictor(model, device):
    """predict(N x C x H x W tensor) -> N x K probabilities (numpy), on the inference model."""
    import torch

    from workflow_scripts.cnn.fastpath import for_inference

    fast = for_inference(model, device)

    @torch.no_grad()
    def predict(batch):
        try:
            return fast(batch.to(device)).softmax(1).cpu().numpy()
        except torch.cuda.OutOfMemoryError:
            if len(batch) == 1:
                raise
            # the same probabilities (eval mode: images are independent), in two smaller calls
            half = len(batch) // 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            logging.getLogger("xai").warning(
                "CUDA out of memory at a batch of %d images: retrying with %d (set quality."
                "batch_size to skip the retry)",
                len(batch),
                half,
            )
            return np.concatenate([predict(batch[:half]), predict(batch[half:])])

    return predict


def faithfulness_rows(predict, x, maps: dict, target: int, name: str, f: dict, seed: int, batch):
    """Deletion/insertion of every map against one random order per image and fill (the
    library's random_baseline, shared by the methods: paired, and half the forward passes)."""
    from workflow_scripts.cnn.methods import image_seed
    from workflow_scripts.quality import metrics as M

    rows, curves = [], {}
    order_seed = image_seed(seed, name) % (2**32)
    for fill in f["fills"]:
        common = dict(
            fill=fill,
            steps=f["steps"],
            blur_sigma=f["blur_sigma"],
            seed=order_seed,
            batch_size=batch,
        )
        rand = M.random_baseline(predict, x, target, **common)
        for mode in MODES:
            rows.append((RANDOM, name, f"{mode}_auc_{fill}", float(rand[f"{mode}_auc_random"])))
            curves[(RANDOM, fill, mode)] = rand[f"{mode}_curve_random"]
        for method, a in maps.items():
            r = M.faithfulness(predict, x, a, target, random=rand, **common)
            for mode in MODES:
                curves[(method, fill, mode)] = r[f"{mode}_curve"]
                rows.append((method, name, f"{mode}_auc_{fill}", float(r[f"{mode}_auc"])))
            # higher is better for both, 0 = no better than the random order
            for key in ("deletion_norm", "insertion_norm"):
                rows.append((method, name, f"{key}_{fill}", float(r[key])))
    return rows, curves


def localisation_rows(maps: dict, mask, name: str, tolerance: int):
    from workflow_scripts.quality import metrics as M

    rows = [(CHANCE, name, k, float(v)) for k, v in M.chance(mask, tolerance).items()]
    for method, a in maps.items():
        rows += [(method, name, k, float(v)) for k, v in M.localisation(a, mask, tolerance).items()]
    return rows


def agreement_rows(maps: dict, name: str):
    from workflow_scripts.quality import metrics as M

    return [(f"{a}|{b}", name, "agreement", float(v)) for (a, b), v in M.agreement(maps).items()]


@contextlib.contextmanager
def _one_line_per_image(what: str, count: int):
    """The run layer's line per (method, image) would be hundreds of lines per job (and LIME's
    "true label not among the top labels", expected of a randomised model): keep errors only, and
    say what the job did in one line at the end."""
    import time

    xai = logging.getLogger("xai")
    level, start = xai.level, time.perf_counter()
    xai.setLevel(logging.ERROR)
    try:
        yield
    finally:
        xai.setLevel(level)
    xai.info("%s: %d images in %.1f s", what, count, time.perf_counter() - start)


def score_images(model, images, masks, labels, names, params: dict, q: dict, device, batch):
    """Every method's map of each image, then its scores: (rows, curves {key: [n, steps+1]}).

    images: N x 3 x H x W float tensor in [0, 1]; masks: N x H x W bool or None (hw9)."""
    with _one_line_per_image(f"quality: {len(params)} methods scored", len(names)):
        return _score_images(model, images, masks, labels, names, params, q, device, batch)


def _score_images(model, images, masks, labels, names, params: dict, q: dict, device, batch):
    from workflow_scripts.cnn.attribute import explain_image

    predict = predictor(model, device)
    rows, curves = [], {}
    prepared: dict = {}  # each method's prepared model, shared by the job's images
    for i, name in enumerate(names):
        label = int(labels[i])
        maps = {
            m: quality_map(m, explain_image(m, model, images[i], label, name, p, device, prepared))
            for m, p in params.items()
        }
        if masks is not None:
            rows += localisation_rows(
                maps, np.asarray(masks[i], bool), name, q["pointing_tolerance"]
            )
        f_rows, f_curves = faithfulness_rows(
            predict, images[i][None], maps, label, name, q["faithfulness"], q["seed"], batch
        )
        rows += f_rows + agreement_rows(maps, name)
        for key, c in f_curves.items():
            curves.setdefault(key, []).append(np.asarray(c, dtype=np.float64))
    return rows, {k: np.stack(v) for k, v in curves.items()}


def sanity_layers(model, which: str) -> list[str]:
    """The cascade, output layer first: every module with parameters ("all"), or only the Conv2d
    and Linear ones ("conv_linear": BatchNorm keeps its parameters; about half the steps)."""
    from torch import nn

    from workflow_scripts.quality import metrics as M

    names = M.cascade_layers(model)
    if which == "all":
        return names
    modules = dict(model.named_modules())
    return [n for n in names if isinstance(modules[n], (nn.Conv2d, nn.Linear))]


def sanity_images(model, images, labels, names, params: dict, seed: int, device, which="all"):
    """Cascading randomisation of every method on each image: rows (method, image, step, layer,
    spearman, ssim); step 1 = the output layer re-initialised."""
    import torch

    from workflow_scripts.cnn.attribute import explain_image
    from workflow_scripts.cnn.methods import image_seed
    from workflow_scripts.quality import metrics as M

    out = []
    layers = sanity_layers(model, which)
    with _one_line_per_image(
        f"quality sanity: {len(params)} methods x {len(layers)} randomised layers", len(names)
    ):
        for i, name in enumerate(names):
            label = int(labels[i])
            for m, p in params.items():

                def explain(net, x, target, m=m, p=p, name=name):
                    arrays = explain_image(m, net, x[0].cpu(), int(target), name, p, device)
                    return quality_map(m, arrays)

                steps = M.cascading_randomisation(
                    model,
                    explain,
                    images[i][None].to(device),
                    torch.tensor(label),
                    seed=image_seed(seed, name) % (2**32),
                    layers=layers,
                )
                out += [
                    (m, name, k + 1, s["layer"], float(s["spearman"]), float(s["ssim"]))
                    for k, s in enumerate(steps)
                ]
    return out


# ---------------------------------------------------------------- tables

SCORE_COLUMNS = ("method", "image", "metric", "value")
SANITY_COLUMNS = ("method", "image", "step", "layer", "spearman", "ssim")


def write_rows(path, columns, rows) -> None:
    from workflow_scripts.core.io import atomic_path

    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([repr(v) if isinstance(v, float) else v for v in r])


def read_rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_curves(path, curves: dict, names) -> None:
    from workflow_scripts.core.io import write_npz

    arrays = {"/".join(k): v for k, v in curves.items()}
    write_npz(path, {**arrays, "images": np.asarray(list(names))})


def merge_chunks(csvs, npzs) -> tuple[list[tuple], list[tuple], dict]:
    """(score rows, agreement rows, curves concatenated over the chunks in order)."""
    scores, agree = [], []
    for path in csvs:
        for r in read_rows(path):
            row = (r["method"], r["image"], r["metric"], float(r["value"]))
            (agree if r["metric"] == "agreement" else scores).append(row)
    curves: dict[str, list] = {}
    for path in npzs:
        with np.load(path) as z:
            for k in z.files:
                if k != "images":
                    curves.setdefault(k, []).append(z[k])
    return scores, agree, {k: np.concatenate(v) for k, v in curves.items()}


# ---------------------------------------------------------------- summary and ranking


def lower_is_better(metric: str) -> bool:
    return metric.startswith("deletion_auc")


def _by(rows, method, metric) -> dict[str, float]:
    return {img: v for m, img, k, v in rows if m == method and k == metric}


def summarise(scores, agree, sanity, methods, boot: dict) -> dict:
    """Per metric and method: bootstrap mean and 95 % CI; the reference (chance / random); every
    pair's paired difference; the ranking. Sanity: per method and cascade step. Agreement: per
    pair."""
    from workflow_scripts.quality.stats import bootstrap_ci, paired_difference_ci

    ci = {"seed": boot["seed"], "n_boot": boot["n"]}
    metrics = list(dict.fromkeys(k for m, _, k, _ in scores if m in methods))
    out = {"methods": list(methods), "metrics": {}, "level": 0.95}
    for metric in metrics:
        values = {m: _by(scores, m, metric) for m in methods}
        entry = {
            "lower_is_better": lower_is_better(metric),
            "by_method": {
                m: _clean(bootstrap_ci(list(v.values()), **ci)) for m, v in values.items()
            },
        }
        ref = CHANCE if metric in LOCALISATION else RANDOM
        ref_values = _by(scores, ref, metric)
        if ref_values:
            entry["reference"] = {
                "name": ref,
                **_clean(bootstrap_ci(list(ref_values.values()), **ci)),
            }
        elif "_norm_" in metric:
            entry["reference"] = {"name": "random order", "mean": 0.0}
        pairs = []
        for i, a in enumerate(methods):
            for b in methods[i + 1 :]:
                common = sorted(set(values[a]) & set(values[b]))
                d = paired_difference_ci(
                    [values[a][k] for k in common], [values[b][k] for k in common], **ci
                )
                pairs.append({"a": a, "b": b, **_clean(d)})
        entry["pairs"] = pairs
        entry["ranking"] = ranking(entry)
        out["metrics"][metric] = entry
    out["agreement"] = {
        pair: _clean(bootstrap_ci([v for p, _, _, v in agree if p == pair], **ci))
        for pair in dict.fromkeys(p for p, _, _, _ in agree)
    }
    out["sanity"] = sanity_summary(sanity, methods, ci)
    return out


def _clean(d: dict) -> dict:
    """JSON-safe numbers (nan -> None)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def pair_difference(entry: dict, a: str, b: str) -> dict:
    """The paired difference a - b from a metric's summary (either order stored)."""
    for p in entry["pairs"]:
        if (p["a"], p["b"]) == (a, b):
            return p
        if (p["a"], p["b"]) == (b, a):
            return {
                "a": a,
                "b": b,
                "mean": _neg(p["mean"]),
                "low": _neg(p["high"]),
                "high": _neg(p["low"]),
                "n": p["n"],
            }
    raise KeyError((a, b))


def _neg(v):
    return None if v is None else -v


def verdict(d: dict, lower_is_better: bool = False) -> str:
    """'>' when the CI of a - b lies on a's better side, '<' on b's, '≈' when it holds 0."""
    if d["low"] is None or d["high"] is None:
        return "?"
    lo, hi = (-d["high"], -d["low"]) if lower_is_better else (d["low"], d["high"])
    return ">" if lo > 0 else "<" if hi < 0 else "≈"


def ranking(entry: dict) -> list[dict]:
    """Methods best first by mean, each compared with the next one down: [{method, mean, vs_next:
    {verdict, mean, low, high}}]; '≈' (a tie) when the paired difference's CI holds 0."""
    lower = entry["lower_is_better"]
    means = {m: v["mean"] for m, v in entry["by_method"].items() if v["mean"] is not None}
    order = sorted(means, key=lambda m: means[m], reverse=not lower)
    out = []
    for i, m in enumerate(order):
        item = {"method": m, "mean": means[m]}
        if i + 1 < len(order):
            d = pair_difference(entry, m, order[i + 1])
            item["vs_next"] = {"verdict": verdict(d, lower), **d}
        out.append(item)
    return out


def ranking_line(metric: str, entry: dict) -> str:
    """'saliency > gradcam ≈ lime' with each step's paired difference and CI."""
    parts = []
    for item in entry["ranking"]:
        parts.append(item["method"])
        d = item.get("vs_next")
        if d:
            parts.append(
                f"{d['verdict']} (diff {d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}])"
                if d["verdict"] != "?"
                else "?"
            )
    return " ".join(parts)


def sanity_summary(rows, methods, ci) -> dict:
    """{method: {"layers": [...], "spearman": [CI per step], "ssim": [...]}}; the last step is the
    fully randomised model (a map that still matches it ignores the weights)."""
    from workflow_scripts.quality.stats import bootstrap_ci

    out = {}
    for m in methods:
        mine = [r for r in rows if r[0] == m]
        if not mine:
            continue
        steps = sorted({r[2] for r in mine})
        layers = [next(r[3] for r in mine if r[2] == s) for s in steps]
        out[m] = {
            "layers": layers,
            **{
                key: [
                    _clean(bootstrap_ci([r[col] for r in mine if r[2] == s], **ci)) for s in steps
                ]
                for key, col in (("spearman", 4), ("ssim", 5))
            },
        }
    return out


def summary_table(summary: dict) -> list[tuple]:
    """Rows of summary.csv: method, metric, mean, low, high, n, reference."""
    rows = []
    for metric, e in summary["metrics"].items():
        ref = e.get("reference", {}).get("mean")
        for m, v in e["by_method"].items():
            rows.append((m, metric, v["mean"], v["low"], v["high"], v["n"], ref))
    for m, s in summary["sanity"].items():
        for key in ("spearman", "ssim"):
            v = s[key][-1]  # the fully randomised model
            rows.append(
                (m, f"sanity_{key}_all_layers", v["mean"], v["low"], v["high"], v["n"], None)
            )
    return rows


def read_sanity(paths) -> list[tuple]:
    rows = []
    for path in paths:
        rows += [
            (
                r["method"],
                r["image"],
                int(r["step"]),
                r["layer"],
                float(r["spearman"]),
                float(r["ssim"]),
            )
            for r in read_rows(path)
        ]
    return rows


def mean_curves(curves: dict) -> dict:
    """{'method/fill/mode': mean curve over images}."""
    return {k: v.mean(axis=0) for k, v in curves.items()}


def exists(path) -> bool:
    return Path(path).exists()
