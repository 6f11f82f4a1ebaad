"""Answers from the quality stage (quality/summary.json): quiz 11 over every quality image, and the
report's "Which explanation to trust" section.

ctx["quality"]: the parsed summary, or None when quality.enabled is false (quiz 11 then falls
back to the observed-image rule, gradients.food_concentration); ctx["shortcut"]: the shortcut
measurement of a shortcut asset set, or None.
"""

from __future__ import annotations

from workflow_scripts.core import paths
from workflow_scripts.quality.summary import pair_difference, verdict
from workflow_scripts.report.evaluators.base import Answer, evaluator, substitute_cnn
from workflow_scripts.report.evaluators.gradients import food_concentration
from workflow_scripts.report.trust import budgeted, verdict_paragraphs
from workflow_scripts.report.trust import table as trust_table
from workflow_scripts.report.trust import title as method_title

MASS = "relevance_mass"


def _quiz11_noise(q, source, quality=False):
    """Over the quality images the bootstrap CI carries the uncertainty; the observed-image
    fallback depends on SmoothGrad's seed."""
    return () if quality else ("smoothgrad",)


@evaluator(caveat=True, noise=_quiz11_noise)
def food_mass_quality(ctx, q):
    """Quiz 11 from relevance mass over every quality image: saliency vs SmoothGrad, the paired
    difference's bootstrap CI deciding; the observed-image rule when the stage is off or has no
    masks (hw9)."""
    summary = ctx.get("quality")
    scored = (summary or {}).get("methods", [])
    if MASS not in (summary or {}).get("metrics", {}) or not {"saliency", "smoothgrad"} <= set(
        scored
    ):
        return food_concentration(ctx, q)
    e = summary["metrics"][MASS]
    d = pair_difference(e, "smoothgrad", "saliency")
    v = verdict(d)
    key = "smoothgrad_clearer" if d["mean"] > 0 else "saliency_clearer"
    sure = v in (">", "<")
    return Answer(
        choice=[key],
        numbers={
            "relevance mass, saliency (mean [95 % CI])": _ci(e["by_method"]["saliency"]),
            "relevance mass, SmoothGrad (mean [95 % CI])": _ci(e["by_method"]["smoothgrad"]),
            "SmoothGrad - saliency, paired (mean [95 % CI])": _ci(d),
            "food share of the image (chance)": e["reference"]["mean"],
            "images": d["n"],
        },
        figure=paths.quality_figure("", "metrics"),
        # the difference over the room between chance (the food's area) and all mass on the food;
        # 0 when the paired CI holds 0 (a tie at this sample size: weak)
        margin=float(min(1.0, abs(d["mean"]) / max(1 - e["reference"]["mean"], 1e-9)))
        if sure
        else 0.0,
        caveat=substitute_cnn(ctx),
        rule="the method with the larger mean relevance mass over the quality images; the paired "
        "bootstrap 95 % CI of the difference must exclude 0",
        why=(
            f"over {d['n']} held-out images the share of the map's mass on the food is "
            f"{'higher' if d['mean'] > 0 else 'lower'} for SmoothGrad by {d['mean']:+.3f} "
            f"[{d['low']:+.3f}, {d['high']:+.3f}]"
            + ("" if sure else "; the CI holds 0, so the two are tied at this sample size")
        ),
    )


def _ci(v: dict) -> str:
    if v.get("mean") is None:
        return "n/a"
    return f"{v['mean']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"


def section(summary: dict | None, shortcut_md: str | None = None) -> dict:
    """The report's quality section as data: title, paragraphs (the verdict), a table, notes (how
    it was measured: under the table, so the verdict and the table open the section), figures
    (results-relative) and an optional markdown block (the shortcut finding)."""
    heading = "Which explanation to trust"
    if summary is None:
        return {
            "title": heading,
            "paragraphs": [
                "The quality stage was off (config quality.enabled: false): no method was scored; "
                "quiz 11 was answered from the observed images."
            ],
            "table": None,
            "notes": [],
            "figures": [],
            "markdown": shortcut_md,
        }
    methods = summary["methods"]
    notes = [
        f"How it was measured: every method that makes a per-pixel map ({len(methods)}: "
        f"{', '.join(method_title(m) for m in methods)}) recomputed on {summary['images']} "
        "held-out images and scored; means with bootstrap 95 % CIs (images resampled); a "
        "method leads when the paired difference's CI excludes 0. Not scored: "
        f"{', '.join(summary['excluded']) or 'none'}. The table shades each column by rank "
        "(darker = better; ↑ higher is better, ↓ lower); quality/summary.csv has every number "
        "and every pair's difference."
    ]
    cut = budgeted(summary)
    if cut:
        notes.append(
            "Scored on fewer images (config quality.method_images, the first ones; a pair of "
            "methods is compared on the images both scored): "
            + ", ".join(f"{method_title(m)} n={n}" for m, n in cut.items())
        )
    return {
        "title": heading,
        "paragraphs": verdict_paragraphs(summary),
        "table": trust_table(summary),
        "notes": notes,
        "figures": [paths.quality_figure("", n) for n in ("metrics", "curves", "sanity")],
        "markdown": shortcut_md,
    }
