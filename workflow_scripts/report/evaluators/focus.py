"""Where a map looks: the region it favours (6, 13, 14, 20) and where LIME and saliency disagree
(9)."""

from __future__ import annotations

import numpy as np

from workflow_scripts.core import paths
from workflow_scripts.report.evaluators.base import (
    Answer,
    NotAnswerable,
    attribution,
    evaluator,
    homework_image,
    lead,
    mean_in,
    minmax,
    on_homework,
    region,
    substitute_cnn,
    upsample,
)


def _noisy_method(q, source, quality=False):
    """Only SmoothGrad and LIME maps change with the seed (filter activations do not)."""
    method = q["args"]["method"]
    return (method,) if source == "hw9" and method in ("smoothgrad", "lime") else ()


@evaluator(caveat=True, noise=_noisy_method)
def region_focus(ctx, q):
    """Mean map value per option region; the highest (pick max) or lowest (pick min)."""
    stem = homework_image(ctx, q["image"])
    args = q["args"]
    a = attribution(ctx, args["method"], stem)
    if args["method"] == "filters":
        key = paths.filter_keys(args["layer"], args["filter"])[0]
        if key not in a:
            raise NotAnswerable(
                f"cnn[{args['layer']}] filter {args['filter']} is not among cnn.filters.pairs"
            )
        m = upsample(a[key])
        fig = paths.filter_figure("", args["layer"], args["filter"])
    else:
        m = a["map"]
        fig = paths.cnn_figure("", args["method"])
    m = minmax(m)
    scores = {k: mean_in(m, region(ctx, stem, k)) for k in q["options"]}
    best, margin = lead(scores, args["pick"], 1.0)  # normalised maps: values in [0, 1]
    return Answer(
        choice=[best],
        numbers={f"mean normalised value on {k}": v for k, v in scores.items()},
        figure=fig,
        margin=margin,
        caveat=substitute_cnn(ctx),
        rule=f"the region with the {'highest' if args['pick'] == 'max' else 'lowest'} mean "
        "normalised map value (margin: lead over the runner-up, values in [0, 1])",
        why=(
            f"the {'highest' if args['pick'] == 'max' else 'lowest'} mean {args['method']} value "
            "among the regions"
        ),
    )


@evaluator(caveat=True, noise=on_homework("lime"))
def lime_saliency_disagreement(ctx, q):
    scores = {}
    for key in q["options"]:
        stem = homework_image(ctx, int(key))
        lime_pos = attribution(ctx, "lime", stem)["positive_mask"]
        m = attribution(ctx, "saliency", stem)["map"]
        k = max(int(lime_pos.sum()), 1)
        top = np.zeros(m.size, bool)
        top[np.argsort(m.ravel())[-k:]] = True
        top = top.reshape(m.shape)
        union = (lime_pos | top).sum()
        scores[key] = float((lime_pos & top).sum() / union) if union else float("nan")
    best, margin = lead(scores, "min", 1.0)  # IoU in [0, 1]
    return Answer(
        choice=[best],
        numbers={f"IoU(LIME positive, top saliency) image {k}": v for k, v in scores.items()},
        figure=paths.cnn_figure("", "saliency"),
        margin=margin,
        caveat=substitute_cnn(ctx),
        rule="the image with the lowest IoU (margin: lead over the runner-up, IoU in [0, 1])",
        why=(
            "the lowest overlap between LIME's positive superpixels and as many top saliency pixels"
        ),
    )
