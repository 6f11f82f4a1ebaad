"""exBERT-style attention and masked-word questions (21-24)."""

from __future__ import annotations

import numpy as np

from workflow_scripts.core import paths
from workflow_scripts.report.evaluators.base import (
    Answer,
    NotAnswerable,
    beyond,
    evaluator,
    lead,
    load,
    model_caveat,
    t,
)


def _exbert(ctx) -> dict:
    return load(ctx, paths.exbert(""))


def _probe_caveat(ctx) -> str | None:
    """The caveat of the model the probes ran on (config: the MLM when there is one)."""
    return model_caveat(ctx, ctx["probe_role"])


def _masked(ctx):
    e = _exbert(ctx)
    if not e.get("masked"):
        raise NotAnswerable(e.get("masked_unavailable") or "no masked-word probes were run")
    return e["masked"]


@evaluator(caveat=True)
def head_behaviours(ctx, q):
    e = _exbert(ctx)
    shares = np.array(e["mean_shares"])  # [L, H, C]
    h = q["args"]["head"] - 1
    if h >= shares.shape[1]:
        raise NotAnswerable(f"the model has {shares.shape[1]} heads")
    cats = e["categories"]
    peak = {c: float(shares[:, h, cats.index(c)].max()) for c in q["options"]}
    choice = [c for c, v in peak.items() if v >= t(ctx, "head_share")]
    return Answer(
        choice=choice,
        numbers={f"largest share over layers, head {h + 1}: {c}": v for c, v in peak.items()},
        figure=paths.attention_figure(""),
        margin=min((beyond(v, t(ctx, "head_share"), 0.0, 1.0) for v in peak.values()), default=0.0),
        rule=f"each behaviour's largest share over the layers vs head_share {t(ctx, 'head_share')} "
        "(margin: the behaviour nearest to it)",
        why=f"a behaviour occurs when, in some layer, head {h + 1} gives it at least "
        f"{t(ctx, 'head_share'):.0%} of a token's attention on average",
        caveat=_probe_caveat(ctx),
    )


@evaluator(caveat=True)
def masked_layer_probe(ctx, q):
    m = _masked(ctx)
    layers = m["antecedent_by_layer"]
    final = {p["token"] for p in layers[-1]["top"]}
    top1 = [layer["top"][0]["token"] for layer in layers]
    stable = next(
        i for i in range(len(layers)) if all(top1[k] in final for k in range(i, len(layers)))
    )
    options = sorted(int(k) for k in q["options"])
    key = str(min(options, key=lambda o: abs(o - stable)))
    return Answer(
        choice=[key],
        numbers={
            "top-1 prediction by layer": top1,
            "first layer from which the top-1 stays among the final top-k": stable,
        },
        figure=paths.attention_figure(""),
        margin=float(max(0.0, 1.0 - abs(int(key) - stable))),  # 1: the option is that layer
        rule="the option nearest to the first layer from which the probe's top-1 stays among the "
        "final top-k (margin: 1 - distance in layers)",
        why=(
            "the MLM head applied to each layer's hidden state "
            "(a local stand-in for exBERT's corpus search)"
        ),
        caveat=(
            "exBERT decides this from the POS of nearest corpus neighbours; "
            "this run uses the layer at which the masked-word prediction settles"
        ),
    )


@evaluator(caveat=True)
def masked_pronoun(ctx, q):
    m = _masked(ctx)
    p = m["pronoun_masked"]["p"]
    word = max(("she", "he", "it"), key=lambda w: p[w])
    drop = m["p_he_drop"]
    values = [k for k in q["options"] if k.replace(".", "").isdigit()]
    dist = sorted(abs(float(k) - drop) for k in values)
    near = min(values, key=lambda k: abs(float(k) - drop))
    _, word_lead = lead({w: p[w] for w in ("she", "he", "it")}, "max", 1.0)
    near_lead = (dist[1] - dist[0]) / max(dist[1] + dist[0], 1e-30) if len(dist) > 1 else 1.0
    return Answer(
        choice=[word, near],
        numbers={
            "P(she/he/it | she masked)": p,
            "P(he | she and officer masked)": m["both_masked"]["p"]["he"],
            "drop of P(he)": drop,
        },
        figure=paths.attention_figure(""),
        margin=float(min(word_lead, near_lead)),
        caveat=_probe_caveat(ctx),
        rule="(a) the most probable pronoun (lead over the runner-up); (b) the option nearest to "
        "the drop (lead: (second - nearest distance) / their sum); margin: the weaker",
        why="the MLM's probabilities at the masked pronoun, with and without 'officer' visible",
    )


@evaluator(caveat=True)
def coreference_head(ctx, q):
    coref = np.array(_exbert(ctx)["coreference"])
    h = q["args"]["head"] - 1
    scores = {k: float(coref[int(k) - 1, h]) for k in q["options"] if int(k) - 1 < coref.shape[0]}
    best, margin = lead(scores, "max", 1.0)  # attention weights in [0, 1]
    return Answer(
        choice=[best],
        rule="the option's head with the largest she -> officer attention (margin: lead over "
        "the runner-up, attention in [0, 1])",
        numbers={f"attention she -> officer, layer {k} head {h + 1}": v for k, v in scores.items()},
        figure=paths.attention_figure(""),
        margin=margin,
        why="the head among the options whose 'she' attends most to 'officer'",
        caveat=_probe_caveat(ctx),
    )
