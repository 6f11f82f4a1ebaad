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
    of the figure that shows it; margin: how clearly the choice won, in the measure's units (None:
    not a contest); why: one sentence; caveat: what makes the answer provisional (e.g. a substitute
    model), None when nothing does. Only evaluators registered with caveat=True have the caveat
    key in answers.json."""

    choice: list[str]
    numbers: dict = field(default_factory=dict)
    figure: str | None = None
    margin: float | None = None
    why: str = ""
    caveat: str | None = None


@dataclass(frozen=True)
class Evaluator:
    name: str
    fn: Callable[[dict, dict], Answer]
    caveat: bool  # its answers can carry a caveat (answers.json has the key, null when none)

    def __call__(self, ctx: dict, q: dict) -> Answer:
        return self.fn(ctx, q)


# name -> Evaluator, filled by @evaluator when the topic modules are imported (the package does)
EVALUATORS: dict[str, Evaluator] = {}


def evaluator(fn=None, *, caveat: bool = False):
    """Register an evaluator under its function name: `@evaluator` or `@evaluator(caveat=True)`."""

    def register(f):
        if f.__name__ in EVALUATORS:
            raise ValueError(f"evaluator {f.__name__!r} is registered twice")
        EVALUATORS[f.__name__] = Evaluator(f.__name__, f, caveat)
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
    return load(ctx, paths.attribution("", method, stem))


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
