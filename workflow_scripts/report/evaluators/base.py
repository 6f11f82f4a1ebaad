"""What every evaluator shares: the Answer it returns, the registry it joins, the context helpers.

An evaluator takes (ctx, question) and returns an `Answer`, or raises `NotAnswerable(reason)` when
this asset set cannot decide the question (the reason goes in the report). It reads artifacts
only, through `workflow_scripts.core.paths`: whatever a method or a model did is measured when the
artifact is computed and stored there, never rerun here. Thresholds come from config
`report.thresholds` (`t`).

ctx (built by the quiz_answers step): results (the asset set's results folder), asset_set, source,
observed (image stems), hw9_images, annotations (or None), thresholds, qa_items, methods (the
registered CNN methods), bert_roles (the BERT roles configured), probe_role (the role the exBERT
probes ran on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workflow_scripts.core import paths
from workflow_scripts.core.arrays import minmax
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.homework import HOMEWORK_MODELS


class NotAnswerable(Exception):
    """This asset set cannot decide the question; the message says why."""


@dataclass(kw_only=True)
class Answer:
    """One evaluator's answer; its fields are the keys it adds to the question's answers.json entry.

    choice: option keys; numbers: the measurements that decide it; figure: results-relative path
    of the figure that shows it; margin: how clearly the choice won, normalised to [0, 1] (the
    deciding statistic's distance from its threshold or runner-up over the statistic's range or
    spread: see `beyond` and `lead`; 1.0 for `definition` answers); why: one sentence; caveat:
    what makes the answer provisional (e.g. a substitute model), None when nothing does (only
    evaluators registered with caveat=True have the caveat key in answers.json); rule: the rule
    that decided it, with its threshold; basis: `definition` (follows from the method's code or
    the architecture; the run's numbers only check it) or `measured` (quiz.py turns a measured
    answer with a caveat into `substitute`); plot: the series that decided it, drawn by the report
    as this question's figure ({"x", "xlabel", "ylabel", "series": {label: values}, "title"})."""

    choice: list[str]
    numbers: dict = field(default_factory=dict)
    figure: str | None = None
    margin: float | None = None
    why: str = ""
    caveat: str | None = None
    rule: str = ""
    basis: str = "measured"
    plot: dict | None = None


@dataclass(frozen=True)
class Evaluator:
    name: str
    fn: Callable[[dict, dict], Answer]
    caveat: bool  # its answers can carry a caveat (answers.json has the key, null when none)
    # (question, source) -> the seeded CNN methods whose noise the answer depends on (stability)
    noise: Callable[..., tuple] = lambda q, source, quality=False: ()

    def __call__(self, ctx: dict, q: dict) -> Answer:
        return self.fn(ctx, q)


# name -> Evaluator, filled by @evaluator when the topic modules are imported (the package does)
EVALUATORS: dict[str, Evaluator] = {}


def evaluator(fn=None, *, caveat: bool = False, noise=None):
    """Register an evaluator under its function name: `@evaluator` or `@evaluator(caveat=True)`.

    noise: (question, source, quality=False) -> the seeded CNN methods (smoothgrad, lime) whose
    artifacts decide the answer on that asset source (quality: the quality stage scores maps
    against ground-truth masks, so answers it decides need no observed-image reruns); the report
    reruns them for `report.stability_seeds` extra
    seeds (rules/stability.smk) and counts the seeds that agree."""

    def register(f):
        if f.__name__ in EVALUATORS:
            raise ValueError(f"evaluator {f.__name__!r} is registered twice")
        EVALUATORS[f.__name__] = Evaluator(
            f.__name__, f, caveat, noise or (lambda q, source, quality=False: ())
        )
        return f

    return register(fn) if fn is not None else register


# ---------------------------------------------------------------- context helpers


def load(ctx, rel):
    """An artifact under the results folder (npz as a dict of arrays, json parsed); cached.
    `rel` is a results-relative path: a paths function called with root ""."""
    cache = ctx.setdefault("_cache", {})
    if rel not in cache:
        path = Path(ctx["results"]) / rel
        if not path.exists():
            raise UserError(
                f"{path}: missing artifact for the quiz report; "
                "rerun the pipeline (snakemake --cores all)"
            )
        if path.suffix == ".npz":
            with np.load(path) as z:
                cache[rel] = {k: z[k] for k in z.files}
        else:
            cache[rel] = json.loads(path.read_text(encoding="utf-8"))
    return cache[rel]


def attribution(ctx, method, stem):
    """The method's artifact of an image; under a stability rerun (ctx `seed_offset` k, the method
    in ctx `swap`) the one computed with the method's seed + k."""
    k = ctx.get("seed_offset")
    if k and method in ctx.get("swap", ()):
        return load(ctx, paths.stability_attribution("", method, k, stem))
    return load(ctx, paths.attribution("", method, stem))


def on_homework(*methods):
    """noise= for evaluators about homework images: the methods, on the hw9 source only (other
    sources refuse those questions)."""
    return lambda q, source, quality=False: methods if source == "hw9" else ()


# ---------------------------------------------------------------- normalised margins


def beyond(value: float, threshold: float, lo: float, hi: float) -> float:
    """How far `value` lies past `threshold`, as a share of the room on its side of the range
    [lo, hi]: 0 at the threshold, 1 at the end of the range (clipped to [0, 1])."""
    room = (hi - threshold) if value >= threshold else (threshold - lo)
    if not np.isfinite(value) or room <= 0:
        return 0.0
    return float(np.clip(abs(value - threshold) / room, 0.0, 1.0))


def lead(scores: dict, pick: str, scale: float) -> tuple[str, float]:
    """The winning key and its lead over the runner-up divided by `scale` (the statistic's range,
    or its spread when it has no fixed range), clipped to [0, 1]."""
    best, diff = ranked(scores, pick)
    if not np.isfinite(diff) or scale <= 0:
        return best, 0.0
    return best, float(np.clip(diff / scale, 0.0, 1.0))


def spread(values) -> float:
    """max - min of the finite values: the scale of a statistic with no fixed range."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    return float(v.max() - v.min()) if v.size else 0.0


def substitute_cnn(ctx) -> str | None:
    """None on the homework's images and checkpoint; else what stands in for them."""
    if ctx["source"] == "hw9":
        return None
    return (
        f"measured on the {ctx['asset_set']} asset set's images and the CNN trained on them, not "
        "the homework's images and checkpoint: the homework's answer may differ"
    )


def observed(ctx, stem):
    return load(ctx, paths.observed("", stem))


def params(a) -> dict:
    """The method's config block stored in an attribution artifact."""
    return json.loads(str(a["params"]))


def homework_image(ctx, index: int) -> str:
    """Stem of homework image `index` (0-9) when this asset set has it, else NotAnswerable."""
    if ctx["source"] != "hw9":
        raise NotAnswerable(
            f"it is about homework image {index}; the {ctx['asset_set']} asset set has other "
            "images (emoji renderings), so only the homework's bundle (config/hw9.yaml) "
            "can answer it"
        )
    stem = ctx["hw9_images"][index]
    if stem not in ctx["observed"]:
        raise NotAnswerable(
            f"homework image {index} ({stem}) is not among the observed images "
            "(raise observed.count)"
        )
    return stem


def region(ctx, stem: str, name: str) -> np.ndarray:
    from workflow_scripts.report.regions import region_mask, region_names

    ann = ctx.get("annotations")
    if ann is None:
        raise NotAnswerable(
            "no region annotations of the homework images are configured (report.annotations)"
        )
    entry = (ann.get("images") or {}).get(stem)
    if entry is None or name not in region_names(ann, stem):
        note = (entry or {}).get("note")
        raise NotAnswerable(
            f"region {name!r} of image {stem} is not annotated" + (f" ({note})" if note else "")
        )
    return region_mask(ann, stem, name)


def food_mask(ctx, stem: str) -> np.ndarray:
    """The food: the ground-truth mask of the offline set, the annotated `food` region of hw9."""
    obs = observed(ctx, stem)
    if "mask" in obs:
        return obs["mask"].astype(bool)
    return region(ctx, stem, "food")


def upsample(a: np.ndarray, size: int = 128) -> np.ndarray:
    """Nearest-neighbour upsampling of an h x w map to size x size (filter maps are 128/2^k)."""
    h, w = a.shape
    return np.repeat(np.repeat(a, size // h, axis=0), size // w, axis=1)


def t(ctx, key):
    return ctx["thresholds"][key]


def mean_in(m: np.ndarray, mask: np.ndarray) -> float:
    return float(m[mask].mean()) if mask.any() else float("nan")


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def ranked(scores: dict, pick: str) -> tuple[str, float]:
    """The winning key and its margin over the runner-up."""
    order = sorted(scores, key=scores.get, reverse=(pick == "max"))
    margin = abs(scores[order[0]] - scores[order[1]]) if len(order) > 1 else float("nan")
    return order[0], margin


def model_caveat(ctx, role: str) -> str | None:
    """None when the BERT role is played by the homework's model, else what the substitute is."""
    if role not in ctx["bert_roles"]:
        raise NotAnswerable(f"no model plays the BERT {role} role (config bert.{role}: none)")
    desc = load(ctx, paths.bert_role("", role))
    if desc["name"] == HOMEWORK_MODELS[role]:
        return None
    return (
        f"measured on {desc['name']} instead of the homework's {HOMEWORK_MODELS[role]}: "
        "the homework's answer may differ"
    )


__all__ = [
    "Answer",
    "beyond",
    "lead",
    "on_homework",
    "spread",
    "substitute_cnn",
    "EVALUATORS",
    "Evaluator",
    "NotAnswerable",
    "attribution",
    "corr",
    "evaluator",
    "food_mask",
    "homework_image",
    "load",
    "mean_in",
    "minmax",
    "model_caveat",
    "observed",
    "params",
    "ranked",
    "region",
    "t",
    "upsample",
]
