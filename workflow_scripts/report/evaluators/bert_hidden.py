"""Hidden-state PCA questions of the QA model (25-27)."""

from __future__ import annotations

import numpy as np

from workflow_scripts.core import paths
from workflow_scripts.report.evaluators.base import (
    Answer,
    NotAnswerable,
    evaluator,
    lead,
    load,
    model_caveat,
    spread,
)


def _pca_measure(ctx, measure):
    vals = [
        load(ctx, paths.hidden_pca("", k))["measures"][measure]
        for k in range(1, ctx["qa_items"] + 1)
    ]
    return np.nanmean(np.array(vals, dtype=np.float64), axis=0)  # per hidden state 0..12


def _qa_caveat(ctx):
    s = load(ctx, paths.hidden_pca("", 1))
    if not s.get("qa_finetuned"):
        return f"{s['model']['name']} is not QA-finetuned: the homework's answer may differ"
    return model_caveat(ctx, "qa")


@evaluator(caveat=True)
def answer_separation(ctx, q):
    sep = _pca_measure(ctx, "answer_separation_pca")
    if np.all(np.isnan(sep)):
        raise NotAnswerable("no answer token was found in any item")
    scores = {k: float(sep[int(k)]) for k in q["options"]}
    best, margin = lead(scores, "max", spread(sep))  # no fixed range: its spread over all layers
    return Answer(
        choice=[best],
        numbers={f"answer separation, layer {k}": v for k, v in scores.items()},
        figure=paths.hidden_pca_figure("", 1),
        margin=margin,
        rule="the option layer with the largest answer separation (margin: lead over the "
        "runner-up over the measure's spread across all layers)",
        why=(
            "answer tokens' distance to the other tokens' centroid in the PCA plane, "
            "relative to their spread, averaged over the three items"
        ),
        caveat=_qa_caveat(ctx),
    )


@evaluator(caveat=True)
def layer_phase(ctx, q):
    values = _pca_measure(ctx, q["args"]["measure"])
    scores = {}
    for k in q["options"]:
        a, b = (int(x) for x in k.split("-"))
        scores[k] = float(np.nanmean(values[a : b + 1]))
    best, margin = lead(scores, q["args"]["pick"], 2.0)  # silhouettes lie in [-1, 1]
    return Answer(
        choice=[best],
        numbers={f"mean {q['args']['measure']}, layers {k}": v for k, v in scores.items()},
        figure=paths.hidden_pca_figure("", 3),
        margin=margin,
        rule=f"the layer group with the {'lowest' if q['args']['pick'] == 'min' else 'highest'} "
        f"mean {q['args']['measure']} (margin: lead over the runner-up group, silhouettes in "
        "[-1, 1])",
        why={
            "qc_silhouette": "question and context tokens are most mixed (lowest silhouette) there",
            "relation_silhouette": "context tokens group most by the sentence they belong to there",
        }[q["args"]["measure"]],
        caveat=_qa_caveat(ctx),
    )
