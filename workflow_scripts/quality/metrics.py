"""The quality-metric registry: every metric's function and metadata in one place.

The stage, the summary (direction, reference row), the report, the quiz evaluators and the
shortcut read these tables; adding a localisation metric is one entry here and its function in
localisation.py. Torch-free (the DAG build and the report import it).

Localisation metric entry: label; fn(a, mask[, tolerance]) -> float; chance(mask, tolerance) ->
what a map without information about the mask scores (its reference row, method "chance");
higher_is_better; area_chance: the chance level is an area share, so "k x chance" is a fair bar
whatever the mask's size (the shortcut's rule). All need a ground-truth mask.

Faithfulness metric entry: one deletion and one insertion curve per fill give all four; the row's
metric is f"{name}_{fill}" and its value faithfulness.faithfulness(...)[name]. reference: the
row of the random pixel order (method "random") or, for the normalised scores, a constant.
"""

from __future__ import annotations

from workflow_scripts.quality import localisation as L

CHANCE, RANDOM = "chance", "random"
FILLS = ("blur", "mean", "road")
MODES = ("deletion", "insertion")

LOCALISATION = {
    "relevance_mass": {
        "label": "relevance mass",
        "fn": L.relevance_mass,
        "chance": L.area_share,
        "higher_is_better": True,
        "area_chance": True,
    },
    "relevance_rank": {
        "label": "relevance rank",
        "fn": L.relevance_rank,
        "chance": L.area_share,
        "higher_is_better": True,
        "area_chance": True,
    },
    "pointing_game": {
        "label": "pointing game",
        "fn": L.pointing_game,
        "chance": L.dilated_share,
        "higher_is_better": True,
        "area_chance": True,
        "tolerance": True,  # takes quality.pointing_tolerance
    },
    "roc_auc": {"label": "ROC-AUC", "fn": L.roc_auc, "chance": L.half, "higher_is_better": True},
}

FAITHFULNESS = {
    "deletion_auc": {
        "label": "deletion AUC",
        "curve": "deletion",
        "higher_is_better": False,
        "reference": RANDOM,
    },
    "insertion_auc": {
        "label": "insertion AUC",
        "curve": "insertion",
        "higher_is_better": True,
        "reference": RANDOM,
    },
    # random AUC - method AUC and back: 0 = no better than the random order
    "deletion_norm": {
        "label": "deletion vs random",
        "curve": "deletion",
        "higher_is_better": True,
        "reference": "random order",
        "reference_mean": 0.0,
    },
    "insertion_norm": {
        "label": "insertion vs random",
        "curve": "insertion",
        "higher_is_better": True,
        "reference": "random order",
        "reference_mean": 0.0,
    },
}


def info(metric: str) -> dict:
    """A score row's metric -> its entry plus family, needs_masks, reference (and fill)."""
    if metric in LOCALISATION:
        entry = LOCALISATION[metric]
        return {"family": "localisation", "needs_masks": True, "reference": CHANCE, **entry}
    base, _, fill = metric.rpartition("_")
    if fill in FILLS and base in FAITHFULNESS:
        return {"family": "faithfulness", "needs_masks": False, "fill": fill, **FAITHFULNESS[base]}
    raise KeyError(f"{metric!r} is not a registered quality metric")


def lower_is_better(metric: str) -> bool:
    return not info(metric)["higher_is_better"]


def localisation(a, mask, tolerance=0) -> dict:
    """Every localisation metric of one map, by name."""
    return {
        name: e["fn"](a, mask, tolerance) if e.get("tolerance") else e["fn"](a, mask)
        for name, e in LOCALISATION.items()
    }


def chance(mask, tolerance=0) -> dict:
    """Every localisation metric's chance level for this mask, by name."""
    return {name: float(e["chance"](mask, tolerance)) for name, e in LOCALISATION.items()}
