"""蘋果 contextual-embedding questions (28-30), read from bert/similarity.{npz,json}."""

from __future__ import annotations

import numpy as np

from workflow_scripts.core import paths
from workflow_scripts.report.evaluators.base import (
    Answer,
    NotAnswerable,
    beyond,
    corr,
    evaluator,
    load,
    model_caveat,
    t,
)


def _similarity(ctx):
    return load(ctx, paths.similarity("")), load(ctx, paths.similarity("", "npz"))


@evaluator(caveat=True)
def slide_match(ctx, q):
    slide = (ctx.get("annotations") or {}).get("slide_similarity") or {}

    def matrix(key):
        return np.array(
            [[np.nan if v is None else v for v in row] for row in slide.get(key) or []], dtype=float
        )

    # printed values when the slide has them, else each cell's position on the colour map: an affine
    # function of the value under matplotlib's default scaling, so correlations are the same
    ref, source = matrix("values"), "printed values"
    if ref.size == 0 or np.isnan(ref).all():
        ref, source = matrix("colour_fraction"), "cell colours (position on viridis)"
    if ref.size == 0 or np.isnan(ref).all():
        raise NotAnswerable(
            "the slide's matrix is not in report.annotations "
            "(slide_similarity: values or colour_fraction)"
        )
    s, z = _similarity(ctx)
    layer = t(ctx, "slide_layer")
    # the candidate tokens: each character, and the word (the mean of its characters' vectors)
    candidates = {c: v["key"] for c, v in s["characters"].items()}
    word = s.get("word")
    if word:
        candidates[word["text"]] = "word"
    off = ~np.eye(ref.shape[0], dtype=bool) & ~np.isnan(ref)
    scores = {}
    for name, key in candidates.items():
        for metric in ("cosine", "euclidean"):
            m = z[f"{metric}_{key}"][layer].astype(np.float64)
            # Euclidean distance falls as similarity rises: compare with its negative
            scores[(metric, name)] = corr(ref[off], (m if metric == "cosine" else -m)[off])
    (metric, token), best = max(scores.items(), key=lambda kv: kv[1])
    numbers = {f"correlation with the slide, {m}, {c}": v for (m, c), v in scores.items()}
    numbers["slide reference"] = source
    choice, caveat = [metric, token], model_caveat(ctx, "embedding")
    merged = word["merged"] if word else True  # one character: nothing to choose between
    if merged:  # e.g. XLM-R's one piece for 蘋果: the three candidates are the same vector
        choice = [metric]
        caveat = "; ".join(
            filter(
                None, [caveat, "this tokenizer keeps 蘋果 as one token, so (b) cannot be decided"]
            )
        )
        runner = max(v for (m, _), v in scores.items() if m != metric)
    else:
        runner = sorted(scores.values())[-2]
    return Answer(
        choice=choice,
        numbers=numbers,
        figure=paths.similarity_figure("", "cosine", 0, layer),
        margin=float(min(1.0, max(0.0, best - runner) / 2.0)),  # correlations lie in [-1, 1]
        rule="the (metric, token) whose matrix correlates best with the slide's (margin: lead "
        "over the runner-up, correlations in [-1, 1])",
        why=(
            f"the layer-{layer} matrix (the notebook's LAYER) "
            "whose off-diagonal values correlate best with the slide's"
        ),
        caveat=caveat,
    )


@evaluator(caveat=True)
def pair_trend(ctx, q):
    from scipy.stats import spearmanr

    s, z = _similarity(ctx)
    char = q["args"]["character"]
    if char not in s["characters"]:
        raise NotAnswerable(f"bert.similarity.characters has no {char}")
    key = s["characters"][char]["key"]
    i, j = q["args"]["sentences"]
    lo, hi = q["args"]["layers"]
    series = z[f"cosine_{key}"][lo : hi + 1, i, j].astype(np.float64)
    rho = float(spearmanr(np.arange(len(series)), series).statistic)
    k_max, k_min = int(np.argmax(series)), int(np.argmin(series))
    tol, rho_t = t(ctx, "trend_tolerance"), t(ctx, "trend_rho")
    span = max(float(series.max() - series.min()), 1e-30)
    peak = series[k_max] - max(series[0], series[-1])
    dip = min(series[0], series[-1]) - series[k_min]
    if abs(rho) >= rho_t:
        trend = "increases" if rho > 0 else "decreases"
        margin = beyond(abs(rho), rho_t, 0.0, 1.0)
        rule = f"monotonic: |Spearman rho| {abs(rho):.3g} >= trend_rho {rho_t}"
    elif 0 < k_max < len(series) - 1 and peak > tol:
        trend = "rises_then_falls"
        margin = min(beyond(abs(rho), rho_t, 0.0, 1.0), (peak - tol) / span)
        rule = (
            f"interior peak: |rho| {abs(rho):.3g} < trend_rho {rho_t} and the peak exceeds both "
            f"ends by {peak:.3g} > trend_tolerance {tol}"
        )
    elif 0 < k_min < len(series) - 1 and dip > tol:
        trend = "falls_then_rises"
        margin = min(beyond(abs(rho), rho_t, 0.0, 1.0), (dip - tol) / span)
        rule = (
            f"interior dip: |rho| {abs(rho):.3g} < trend_rho {rho_t} and the dip lies below both "
            f"ends by {dip:.3g} > trend_tolerance {tol}"
        )
    else:
        trend = "increases" if series[-1] > series[0] else "decreases"
        # the weaker of: |rho|'s distance from trend_rho, the last-first difference over the range
        margin = min(beyond(abs(rho), rho_t, 0.0, 1.0), abs(series[-1] - series[0]) / span)
        rule = (
            f"fallback: |rho| {abs(rho):.3g} < trend_rho {rho_t} and no interior peak or dip "
            "beyond trend_tolerance: the last layer against the first"
        )
    return Answer(
        choice=[trend],
        numbers={
            f"cosine, layers {lo}-{hi}": [round(float(x), 4) for x in series],
            "Spearman rho with layer": rho,
        },
        figure=paths.similarity_curves(""),  # replaced by the report's plot of the series
        margin=float(min(1.0, margin)),
        rule=rule,
        plot={
            "title": f"cosine similarity of 「{char}」 between {z['sentences'][i]} and "
            f"{z['sentences'][j]}, layers {lo}-{hi} ({rule.split(':')[0]})",
            "x": list(range(lo, hi + 1)),
            "xlabel": "layer",
            "ylabel": "cosine similarity",
            "series": {
                f"sentences {i} and {j} (Spearman rho {rho:.2f})": [float(x) for x in series]
            },
        },
        why="the trend of the pair's cosine similarity over the layers",
        caveat=model_caveat(ctx, "embedding"),
    )


@evaluator
def layer0_factors(ctx, q):
    s, _ = _similarity(ctx)
    char = q["args"]["character"]
    exp = s["characters"][char]["layer0"]
    mapping = {
        "frequency": "more_occurrences",
        "meaning": "other_context",
        "length": "longer_sentence",
        "position": "position_shift_3",
    }
    eps = t(ctx, "layer0_eps")
    choice = [k for k, v in mapping.items() if exp[v]["euclidean"] > eps]
    return Answer(
        choice=choice,
        numbers={
            f"layer-0 distance when only {k} changes": exp[v]["euclidean"]
            for k, v in mapping.items()
        },
        figure=paths.similarity_figure("", "euclidean", s["characters"][char]["key"], 0),
        margin=1.0,
        basis="definition",
        rule="definition: a layer-0 vector is token + position (+ segment) embedding (checked: "
        f"only the position moves it by more than layer0_eps {eps})",
        why=(
            "layer-0 vectors are token + position (+ segment) embeddings: "
            "only a change of position moves them"
        ),
    )
