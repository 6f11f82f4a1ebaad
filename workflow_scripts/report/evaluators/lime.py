"""LIME questions (1-4): superpixel weights, the overlay's colours, the perturbation."""

from __future__ import annotations

import numpy as np

from workflow_scripts.core import paths
from workflow_scripts.report.evaluators.base import (
    Answer,
    NotAnswerable,
    attribution,
    beyond,
    evaluator,
    homework_image,
    mean_in,
    on_homework,
    region,
    substitute_cnn,
    t,
)

COLOURS = ("red", "green", "blue")


def _figure() -> str:
    return paths.cnn_figure("", "lime")


@evaluator(caveat=True, noise=on_homework("lime"))
def lime_object_signs(ctx, q):
    stem = homework_image(ctx, q["image"])
    a = attribution(ctx, "lime", stem)
    numbers, choice = {}, []
    for key, name in q["args"]["objects"].items():
        mean = mean_in(a["pixel_weights"], region(ctx, stem, name))
        numbers[f"mean LIME weight on {name}"] = mean
        choice.append(f"{key}_{'positive' if mean > 0 else 'negative'}")
    return Answer(
        choice=choice,
        numbers=numbers,
        figure=_figure(),
        # each mean weight's distance from 0 over the largest |weight| in the image
        margin=float(
            min(
                1.0,
                min(abs(v) for v in numbers.values())
                / max(np.abs(a["pixel_weights"]).max(), 1e-30),
            )
        ),
        caveat=substitute_cnn(ctx),
        rule="the sign of each object's mean LIME weight (margin: the smallest |mean| over the "
        "image's largest |weight|)",
        why="the sign of the superpixel weights averaged over each object's pixels",
    )


@evaluator
def lime_colours(ctx, q):
    """Read from this run's overlays: which channel lime's get_image_and_mask set to the image
    maximum on positive and on negative superpixels (measured when the artifact was computed)."""
    found = {}
    for stem in ctx["observed"]:
        a = attribution(ctx, "lime", stem)
        for sign in ("positive", "negative"):
            share = np.asarray(a[f"overlay_{sign}_channels"], dtype=np.float64)
            if sign not in found and not np.isnan(share).any():
                found[sign] = (stem, share, str(a["overlay_channels_from"]))
        if len(found) == 2:
            break
    missing = [s for s in ("positive", "negative") if s not in found]
    if missing:
        raise NotAnswerable(
            f"no observed image's LIME overlay has {' or '.join(missing)} superpixels"
        )
    numbers, picked = {}, {}
    for sign, (stem, share, source) in found.items():
        c = int(np.argmax(share))
        numbers[f"{stem}: share of {sign} pixels at the image maximum, R/G/B ({source})"] = [
            float(v) for v in share
        ]
        if share[c] < 1:
            raise NotAnswerable(
                f"no channel is at the image maximum on every {sign} pixel "
                f"of {stem}'s overlay: {numbers}"
            )
        picked[sign] = COLOURS[c]
    pos, neg = picked["positive"], picked["negative"]
    return Answer(
        choice=[f"{pos}_positive", f"{neg}_negative"],
        numbers=numbers,
        figure=_figure(),
        margin=1.0,
        basis="definition",
        rule="definition: lime's get_image_and_mask colours (checked on this run's overlays)",
        why=(
            f"lime's get_image_and_mask(positive_only=False) sets the {pos} channel of positive "
            f"and the {neg} channel of negative superpixels to the image maximum"
        ),
    )


@evaluator
def lime_mechanism(ctx, q):
    """Measured on this run's LIME artifact: its superpixels and its own perturbed samples."""
    stem = ctx["observed"][0]
    a = attribution(ctx, "lime", stem)
    n_super = int(len(np.unique(a["segments"])))
    n_off = int(a["perturbation_off_superpixels"])
    kept = bool(a["perturbation_on_unchanged"])
    replaced = bool(a["perturbation_off_mean_colour"]) and n_off > 0
    checked = ", ".join(str(int(s)) for s in np.atleast_1d(a["perturbation_samples"]))
    numbers = {
        "superpixels in image " + stem: n_super,
        "switched-on superpixels unchanged": kept,
        "switched-off superpixels replaced by their mean colour": replaced,
        f"switched-off superpixels checked (samples {checked})": n_off,
        "perturbed samples": int(a["sample_scores"].shape[0]),
    }
    if not (kept and replaced and n_super > 1):
        raise NotAnswerable(f"the perturbation did not behave as superpixel switching: {numbers}")
    return Answer(
        choice=["superpixels_off"],
        numbers=numbers,
        figure=_figure(),
        margin=1.0,
        basis="definition",
        rule="definition: LIME perturbs superpixels (checked on this run's perturbed samples)",
        why="the image is cut into SLIC superpixels; each sample switches some off "
        "(mean colour) and a local linear model weighs them by the output change",
    )


@evaluator(caveat=True, noise=on_homework("lime"))
def lime_region_composition(ctx, q):
    stem = homework_image(ctx, q["image"])
    a = attribution(ctx, "lime", stem)
    m = region(ctx, stem, q["args"]["region"])
    shown = a["mask"][m]
    pos, neg = float((shown > 0).mean()), float((shown < 0).mean())
    s = t(ctx, "region_share")
    if pos >= s and neg >= s:
        key = "partly"
    elif pos >= s:
        key = "entirely_positive"
    elif neg >= s:
        key = "entirely_negative"
    else:
        key = "not_a_basis"
    return Answer(
        choice=[key],
        numbers={"positive share of the region": pos, "negative share": neg, "share threshold": s},
        figure=_figure(),
        margin=min(beyond(pos, s, 0.0, 1.0), beyond(neg, s, 0.0, 1.0)),
        caveat=substitute_cnn(ctx),
        rule=f"each share against region_share {s} (margin: the share nearest to it)",
        why=(
            f"shares of the {q['args']['region']} pixels "
            "that LIME's overlay marks positive / negative"
        ),
    )
