"""The trust section's result in plain words: a verdict (which method to trust for localisation,
for faithfulness, which fail the sanity check) and one method x metric table with readable names
and ranks, from quality/summary.json. Torch-free (the report jobs import it)."""

from __future__ import annotations

from workflow_scripts.quality import metrics as M
from workflow_scripts.quality.summary import pair_difference, verdict

# Spearman of a map with the intact model's after every layer is re-initialised: at or above
# this the map barely depends on the weights (Adebayo et al. 2018 call such methods edge
# detectors), so the method fails the sanity check
SANITY_FAIL = 0.5
SANITY = "sanity: Spearman after randomisation"


def title(method: str) -> str:
    """A method's readable name (its figure title), the code name when it has none."""
    from workflow_scripts.cnn.methods import registry

    meta = registry().get(method)
    return meta["FIGURE"]["title"] if meta else method


def metric_label(metric: str) -> str:
    """'relevance mass', 'deletion vs random (blur)'."""
    meta = M.info(metric)
    if meta["family"] == "localisation":
        return meta["label"]
    base = metric.rsplit("_", 1)[0]
    return f"{M.FAITHFULNESS[base]['label']} ({meta['fill']})"


def leaders(entry: dict) -> tuple[str, list[str]]:
    """(the best method by mean, the methods tied with it: their paired CI holds 0)."""
    best = entry["ranking"][0]["method"]
    lower = entry["lower_is_better"]
    ties = [
        item["method"]
        for item in entry["ranking"][1:]
        if verdict(pair_difference(entry, best, item["method"]), lower) == "≈"
    ]
    return best, ties


def _lead_sentence(what: str, metric: str, entry: dict) -> str:
    best, ties = leaders(entry)
    v = entry["by_method"][best]
    ref = entry.get("reference", {}).get("mean")
    vs = f", chance {ref:.2f}" if ref is not None and entry["reference"]["name"] == M.CHANCE else ""
    text = (
        f"**{what}** ({metric_label(metric)}): trust **{title(best)}** most "
        f"({v['mean']:.2f} [{v['low']:.2f}, {v['high']:.2f}]{vs})"
    )
    if ties:
        return text + f"; tied with {', '.join(title(m) for m in ties)} (paired CIs hold 0)."
    return text + "; every other method is behind it (paired CIs exclude 0)."


def sanity_fails(summary: dict) -> dict[str, float]:
    """{method: its last-step Spearman} of the methods that fail the sanity check."""
    out = {}
    for m, s in (summary.get("sanity") or {}).items():
        last = s["spearman"][-1]["mean"]
        if last is not None and last >= SANITY_FAIL:
            out[m] = last
    return out


def faithfulness_metric(summary: dict) -> str | None:
    """The headline faithfulness metric: deletion vs random, the first fill scored."""
    return next((m for m in summary["metrics"] if m.startswith("deletion_norm_")), None)


def verdict_paragraphs(summary: dict) -> list[str]:
    """The verdict, first in the section: localisation, faithfulness, sanity."""
    out = []
    if "relevance_mass" in summary["metrics"]:
        out.append(
            _lead_sentence("Localisation", "relevance_mass", summary["metrics"]["relevance_mass"])
        )
    faith = faithfulness_metric(summary)
    if faith:
        out.append(_lead_sentence("Faithfulness", faith, summary["metrics"][faith]))
    if summary.get("sanity"):
        fails = sanity_fails(summary)
        named = ", ".join(f"{title(m)} ({v:.2f})" for m, v in fails.items())
        verb = "changes" if len(fails) == 1 else "change"
        out.append(
            "**Sanity check** (cascading randomisation): "
            + (
                f"{named} barely {verb} when every layer is re-initialised (Spearman >= "
                f"{SANITY_FAIL} with the intact model's map): they show the image more than the "
                "model; do not read them as explanations of it."
                if fails
                else "every method's map changes when the layers are re-initialised (Spearman "
                f"< {SANITY_FAIL}): all depend on the model's weights."
            )
        )
    return out


def columns(summary: dict) -> list[str]:
    """The table's metrics: localisation, then deletion/insertion vs random per fill."""
    metrics = summary["metrics"]
    cols = [m for m in M.LOCALISATION if m in metrics]
    cols += [m for m in metrics if m.startswith(("deletion_norm_", "insertion_norm_"))]
    return cols


def _ranks(values: dict[str, float | None], lower: bool) -> dict[str, int]:
    order = sorted((v, m) for m, v in values.items() if v is not None)
    if not lower:
        order.reverse()
    return {m: i + 1 for i, (_, m) in enumerate(order)}


def table(summary: dict) -> dict:
    """One row per method: readable name, then each column's mean with its CI (and n when a
    budget cut it); ranks per column (1 = best) for shading."""
    methods, cols = summary["methods"], columns(summary)
    header = ["method"] + [
        metric_label(c) + (" ↓" if summary["metrics"][c]["lower_is_better"] else " ↑") for c in cols
    ]
    cells = {m: [] for m in methods}
    ranks = {m: [] for m in methods}
    for c in cols:
        e = summary["metrics"][c]
        r = _ranks({m: e["by_method"][m]["mean"] for m in methods}, e["lower_is_better"])
        for m in methods:
            cells[m].append(_cell(e["by_method"][m], summary["images"]))
            ranks[m].append(r.get(m))
    sanity = summary.get("sanity") or {}
    if sanity:
        header.append(SANITY + " ↓")
        last = {m: sanity[m]["spearman"][-1] if m in sanity else {} for m in methods}
        r = _ranks({m: v.get("mean") for m, v in last.items()}, True)
        for m in methods:
            cells[m].append(_cell(last[m], summary.get("sanity_images")))
            ranks[m].append(r.get(m))
    return {
        "header": header,
        "rows": [[title(m), *cells[m]] for m in methods],
        "ranks": [[None, *ranks[m]] for m in methods],
        "count": len(methods),
    }


def budgeted(summary: dict) -> dict[str, int]:
    """{method: images it scored}, of the methods that scored fewer than all (method_images)."""
    seen: dict[str, int] = {}
    for e in summary["metrics"].values():
        for m, v in e["by_method"].items():
            seen[m] = max(seen.get(m, 0), v.get("n") or 0)
    return {m: n for m, n in seen.items() if n < summary["images"]}


def _cell(v: dict, images: int | None) -> str:
    """'mean [low, high]', with 'n=K' when the method scored fewer than all `images` (a budget)."""
    if not v or v.get("mean") is None:
        return "n/a"
    n = f" n={v['n']}" if images is not None and v.get("n", images) < images else ""
    return f"{v['mean']:.3f} [{v['low']:.3f}, {v['high']:.3f}]{n}"
