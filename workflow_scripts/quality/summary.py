"""The quality stage's summary: per metric and method a bootstrap mean and CI, the reference
row, every pair's paired difference and the ranking; the sanity cascade per method and step.
Torch-free (the merge job and the report read it)."""

from __future__ import annotations

import math

from workflow_scripts.quality import metrics as M


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
        meta = M.info(metric)
        entry = {
            "lower_is_better": not meta["higher_is_better"],
            "by_method": {
                m: _clean(bootstrap_ci(list(v.values()), **ci)) for m, v in values.items()
            },
        }
        ref_values = _by(scores, meta["reference"], metric)
        if "reference_mean" in meta:
            entry["reference"] = {"name": meta["reference"], "mean": meta["reference_mean"]}
        elif ref_values:
            entry["reference"] = {
                "name": meta["reference"],
                **_clean(bootstrap_ci(list(ref_values.values()), **ci)),
            }
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
    """{method: {"steps": [...], "layers": [...], "spearman": [CI per step], "ssim": [...]}} over
    the explained steps; the last is the fully randomised model (a map that still matches it
    ignores the weights)."""
    from workflow_scripts.quality.stats import bootstrap_ci

    out = {}
    for m in methods:
        mine = [r for r in rows if r[0] == m]
        if not mine:
            continue
        steps = sorted({r[2] for r in mine})
        layers = [next(r[3] for r in mine if r[2] == s) for s in steps]
        out[m] = {
            "steps": steps,
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


def mean_curves(curves: dict) -> dict:
    """{'method/fill/mode': mean curve over images}."""
    return {k: v.mean(axis=0) for k, v in curves.items()}
