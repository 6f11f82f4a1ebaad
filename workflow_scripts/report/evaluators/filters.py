"""Filter-explanation questions (15, 16) and the model's modules (17)."""

from __future__ import annotations

import numpy as np

from workflow_scripts.core import paths
from workflow_scripts.report.evaluators.base import (
    Answer,
    attribution,
    beyond,
    corr,
    evaluator,
    load,
    minmax,
    substitute_cnn,
    t,
    upsample,
)


@evaluator(caveat=True)
def filter_depth(ctx, q):
    first = attribution(ctx, "filters", ctx["observed"][0])
    pairs = [tuple(p) for p in first["pairs"].tolist()]
    shallow, deep = min(pairs), max(pairs)
    corrs, sharp = [], {shallow: [], deep: []}
    for stem in ctx["observed"]:
        a = attribution(ctx, "filters", stem)
        maps = {}
        for p in (shallow, deep):
            m = minmax(upsample(a[paths.filter_keys(*p)[0]]).astype(np.float64))
            maps[p] = m
            sharp[p].append(
                float(np.abs(np.diff(m, axis=0)).mean() + np.abs(np.diff(m, axis=1)).mean())
            )
        corrs.append(corr(maps[shallow], maps[deep]))
    c = float(np.nanmean(corrs))
    s_sh, s_dp = float(np.mean(sharp[shallow])), float(np.mean(sharp[deep]))
    thr = t(ctx, "positions_corr")
    similar = c >= thr
    # two decisions: the weaker one bounds the answer (detail: relative difference)
    detail_margin = abs(s_dp - s_sh) / max(s_dp, s_sh, 1e-30)
    choice = [
        "output_vaguer" if s_dp < s_sh else "output_clearer",
        "positions_similar" if similar else "positions_different",
    ]
    sizes = {f"cnn[{p[0]}]": list(first[paths.filter_keys(*p)[0]].shape) for p in (shallow, deep)}
    return Answer(
        choice=choice,
        numbers={
            f"detail (mean neighbour difference) cnn[{shallow[0]}]": s_sh,
            f"detail cnn[{deep[0]}]": s_dp,
            f"correlation of cnn[{shallow[0]}] and cnn[{deep[0]}] maps": c,
            "map sizes": sizes,
        },
        figure=paths.filter_figure("", *deep),
        margin=float(min(beyond(c, thr, -1.0, 1.0), detail_margin)),
        caveat=substitute_cnn(ctx),
        rule=f"detail: the deeper map's mean neighbour difference vs the shallower's; positions: "
        f"map correlation {c:.3g} vs positions_corr {thr} (margin: the weaker of the two)",
        why=f"the deeper map has {'less' if s_dp < s_sh else 'more'} fine detail and "
        + (
            "lights up where the shallow one does"
            if similar
            else "lights up elsewhere than the shallow one"
        ),
    )


@evaluator
def filter_mechanism(ctx, q):
    a = attribution(ctx, "filters", ctx["observed"][0])
    layer, filt = a["pairs"][0].tolist()
    act, obj = a[paths.filter_keys(layer, filt)[0]], a[paths.filter_objective_key(layer, filt)]
    numbers = {
        f"cnn[{layer}] activation map shape": list(act.shape),
        "filter objective at the start / end of the optimisation": [float(obj[0]), float(obj[-1])],
    }
    choice = []
    if act.ndim == 2:
        choice.append("positions")
    if obj[-1] > obj[0]:
        choice.append("image_activates_most")
    return Answer(
        choice=choice,
        numbers=numbers,
        figure=paths.filter_figure("", layer, filt),
        margin=1.0,
        basis="definition",
        rule="definition: filter explanation shows a filter's activation map and optimises an "
        "input to raise it (checked: a 2-D map, the objective rose)",
        why=(
            "an activation map over image positions, "
            "and an input optimised to raise the filter's activation"
        ),
    )


@evaluator
def module_type(ctx, q):
    summary = load(ctx, paths.model_summary(""))
    i = q["args"]["index"]
    kind = summary["cnn_modules"][i]
    return Answer(
        choice=[kind],
        numbers={f"type(model.cnn[{i}])": kind, "width": summary.get("width")},
        figure=paths.filter_figure("", i, 0),
        margin=1.0,
        basis="definition",
        rule=f"definition: the architecture (type(model.cnn[{i}]) of the loaded model)",
        why="read from the loaded model",
    )
