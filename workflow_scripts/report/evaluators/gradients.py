"""Gradient-map questions: saliency (5, 7, 8), SmoothGrad (10-12), Integrated Gradients (18, 19)."""

from __future__ import annotations

import numpy as np

from workflow_scripts.core import paths
from workflow_scripts.report.evaluators.base import (
    Answer,
    NotAnswerable,
    attribution,
    beyond,
    corr,
    evaluator,
    food_mask,
    homework_image,
    lead,
    load,
    observed,
    params,
    region,
    substitute_cnn,
    t,
)

# ---------------------------------------------------------------- saliency


@evaluator(caveat=True)
def saliency_scale_spread(ctx, q):
    scales = {s: float(attribution(ctx, "saliency", s)["grad_abs_max"]) for s in ctx["observed"]}
    spread = max(scales.values()) / max(min(scales.values()), 1e-30)
    thr = t(ctx, "scale_spread")
    key = "remove_scale" if spread >= thr else "no_effect"
    definition = key == "remove_scale"
    return Answer(
        choice=[key],
        numbers={"max |gradient| per image": scales, "largest / smallest": spread},
        figure=paths.cnn_figure("", "saliency"),
        # measured branch: log(spread) between 0 (equal scales) and log(threshold)
        margin=1.0 if definition else beyond(np.log(spread), np.log(thr), 0.0, 2 * np.log(thr)),
        basis="definition" if definition else "measured",
        caveat=None if definition else substitute_cnn(ctx),
        rule=(
            "definition: per-image min-max normalisation divides out each map's own scale "
            f"(checked: the scales differ {spread:.3g}x >= scale_spread {thr})"
            if definition
            else f"largest / smallest gradient scale {spread:.3g} < scale_spread {thr}"
        ),
        why=f"gradient scales differ {spread:.1f}x between images: "
        + (
            "one shared scale would hide the weaker maps"
            if key == "remove_scale"
            else (
                f"below the {t(ctx, 'scale_spread')}x "
                "at which per-image normalisation changes the picture"
            )
        ),
    )


@evaluator
def saliency_quantity(ctx, q):
    stem = ctx["observed"][0]
    a = attribution(ctx, "saliency", stem)
    image = observed(ctx, stem)["image"]
    p = params(a)
    numbers = {
        "attribution shape": list(a["attribution"].shape),
        "input image shape": list(image.shape),
        "differentiated quantity": p.get("objective"),
    }
    if tuple(a["attribution"].shape) != tuple(image.shape):
        raise NotAnswerable("the saliency artifact is not shaped like the input")
    if p.get("objective") != "loss":
        raise NotAnswerable(
            "cnn.saliency.objective is 'logit': the map is d(logit)/d(input), not an option"
        )
    return Answer(
        choice=["dloss_dinput"],
        numbers=numbers,
        figure=paths.cnn_figure("", "saliency"),
        margin=1.0,
        basis="definition",
        rule="definition: saliency is the input gradient of the loss (checked: one value per "
        "input pixel and channel, objective 'loss')",
        why="one value per input pixel and channel, of the gradient of the CE loss",
    )


@evaluator(caveat=True)
def saliency_shape(ctx, q):
    from workflow_scripts.report.regions import region_names

    stem = homework_image(ctx, q["image"])
    m = attribution(ctx, "saliency", stem)["map"]
    top = m >= np.quantile(m, 1 - t(ctx, "top_fraction"))
    best, share = None, -1.0
    shares = {}
    for name in region_names(ctx["annotations"], stem):
        spec = ctx["annotations"]["images"][stem]["regions"][name]
        if "shape" in spec:
            shares[name] = float((top & region(ctx, stem, name)).sum() / top.sum())
            if shares[name] > share:
                best, share = name, shares[name]
    if best is None:
        raise NotAnswerable(f"no annotated region of image {stem} has a shape")
    shape = ctx["annotations"]["images"][stem]["regions"][best]["shape"]
    return Answer(
        choice=[shape],
        numbers={
            f"share of the top {t(ctx, 'top_fraction'):.0%} pixels on {k}": v
            for k, v in shares.items()
        },
        figure=paths.cnn_figure("", "saliency"),
        margin=lead(shares, "max", 1.0)[1],
        caveat=substitute_cnn(ctx),
        rule="the shaped region holding the largest share of the top saliency pixels "
        "(margin: lead over the runner-up region, shares in [0, 1])",
        why=f"the brightest saliency pixels lie on the {best}, which is a {shape}",
    )


# ---------------------------------------------------------------- SmoothGrad


@evaluator
def smoothgrad_mechanism(ctx, q):
    stem = ctx["observed"][0]
    sg = attribution(ctx, "smoothgrad", stem)
    sal = attribution(ctx, "saliency", stem)
    p = params(sg)
    numbers = {
        "noise std": float(sg["noise_std"]),
        "noisy copies": p["samples"],
        "correlation with the plain saliency map": corr(sg["map"], sal["map"]),
    }
    if not (float(sg["noise_std"]) > 0 and p["samples"] > 1):
        raise NotAnswerable("SmoothGrad ran without noise or with one sample")
    return Answer(
        choice=["noise_average_saliency"],
        numbers=numbers,
        figure=paths.cnn_figure("", "smoothgrad"),
        margin=1.0,
        basis="definition",
        rule="definition: SmoothGrad averages saliency maps of noisy copies (checked: noise std "
        "> 0, more than one sample)",
        why="it averages |gradient| maps of noisy copies of one image",
    )


def food_concentration(ctx, q):
    """Quiz 11 on the observed images: the fallback of quality.food_mass_quality when the quality
    stage is off or has no masks."""
    shares = {"saliency": [], "smoothgrad": []}
    for stem in ctx["observed"]:
        mask = food_mask(ctx, stem)
        for method in shares:
            m = attribution(ctx, method, stem)["map"].astype(np.float64)
            shares[method].append(float(m[mask].sum() / max(m.sum(), 1e-30)))
    mean = {k: float(np.mean(v)) for k, v in shares.items()}
    area = float(np.mean([food_mask(ctx, s).mean() for s in ctx["observed"]]))
    key = "smoothgrad_clearer" if mean["smoothgrad"] > mean["saliency"] else "saliency_clearer"
    return Answer(
        choice=[key],
        numbers={
            "share of map mass on the food, saliency": mean["saliency"],
            "share of map mass on the food, SmoothGrad": mean["smoothgrad"],
            "food share of the image (chance)": area,
        },
        figure=paths.cnn_figure("", "smoothgrad"),
        # the difference over the room between chance (the food's area) and all mass on the food
        margin=float(min(1.0, abs(mean["smoothgrad"] - mean["saliency"]) / max(1 - area, 1e-9))),
        caveat=substitute_cnn(ctx),
        rule="the method with the larger mean share of map mass on the food",
        why="the map that puts more of its mass on the food region shows the food more clearly",
    )


@evaluator(caveat=True)
def smoothgrad_unnormalised(ctx, q):
    """Render `smooth / epoch` the way the homework's imshow does (RGB floats clipped to [0, 1])."""
    level = t(ctx, "bright_level")
    raw, norm = [], []
    for stem in ctx["observed"]:
        a = attribution(ctx, "smoothgrad", stem)
        shown = np.clip(np.transpose(a["attribution"], (1, 2, 0)), 0, 1).max(-1)
        raw.append(float((shown >= level).mean()))
        norm.append(float((a["rgb"].max(-1) >= level).mean()))
    r, n = float(np.mean(raw)), float(np.mean(norm))
    none = t(ctx, "bright_share_none")
    if r < none:
        key = "no_bright_spots"
    else:
        key = "same" if abs(r - n) < none else "different_areas"
    definition = key == "no_bright_spots"
    largest = float(
        max(attribution(ctx, "smoothgrad", s)["attribution"].max() for s in ctx["observed"])
    )
    return Answer(
        choice=[key],
        numbers={
            "bright pixels without normalisation": r,
            "bright pixels normalised": n,
            "brightness level": level,
            "largest un-normalised value": largest,
        },
        figure=paths.cnn_figure("", "smoothgrad_unnormalised"),
        margin=1.0 if definition else beyond(abs(r - n), none, 0.0, 1.0),
        basis="definition" if definition else "measured",
        caveat=None if definition else substitute_cnn(ctx),
        rule=(
            "definition: SmoothGrad averages |gradient|, values far below the [0, 1] an RGB "
            f"imshow shows (checked: {r:.3g} of the pixels reach {level} < bright_share_none "
            f"{none})"
            if definition
            else f"share of bright pixels with and without normalisation vs bright_share_none "
            f"{none}"
        ),
        why=(
            "mean |gradient| values are far below 1, so an RGB imshow of them is almost black"
            if key == "no_bright_spots"
            else "the un-normalised values reach the visible range"
        ),
    )


# ---------------------------------------------------------------- Integrated Gradients


@evaluator(caveat=True)
def ig_steps(ctx, q):
    by_corr, peak = {}, {}
    for stem in ctx["observed"]:
        z = load(ctx, paths.ig_steps("", stem))
        steps = z["steps"].tolist()
        base = z["maps"][steps.index(min(steps))]
        for s, m in zip(steps, z["maps"]):
            by_corr.setdefault(s, []).append(corr(base, m))
            peak.setdefault(s, []).append(float(m.max()))
    c = {s: float(np.nanmean(v)) for s, v in by_corr.items()}
    most = max(c)
    same = t(ctx, "same_corr")
    if c[most] >= same:
        key, margin = "no_difference", beyond(c[most], same, -1.0, 1.0)
        rule = f"correlation {c[most]:.3g} >= same_corr {same}"
    elif c[most] <= -0.5:
        key, margin = "swapped", beyond(c[most], -0.5, -1.0, 1.0)
        rule = f"correlation {c[most]:.3g} <= -0.5"
    else:
        key = "random_spots"
        margin = min(beyond(c[most], same, -1.0, 1.0), beyond(c[most], -0.5, -1.0, 1.0))
        rule = f"correlation {c[most]:.3g} between -0.5 and same_corr {same}"
    return Answer(
        choice=[key],
        numbers={f"correlation of the {min(c)}-step map with {s} steps": v for s, v in c.items()},
        figure=paths.cnn_figure("", "integrated_gradients"),
        margin=margin,
        caveat=substitute_cnn(ctx),
        rule=f"{rule} (the {min(c)}-step map vs the {most}-step map, mean over the images)",
        why={
            "no_difference": "maps with more path steps are nearly identical after normalisation",
            "swapped": "the map with more steps is the negative of the 10-step map",
            "random_spots": "the map with more steps correlates only weakly with the 10-step map",
        }[key],
    )


@evaluator
def ig_path(ctx, q):
    """Read from the IG artifact: where the images of the path it actually used lie (each one's
    projection on the baseline-to-image line, and its largest distance from that line)."""
    a = attribution(ctx, "integrated_gradients", ctx["observed"][0])
    alphas = np.asarray(a["path_factors"], dtype=np.float64)
    off_line = float(a["path_off_line"])
    numbers = {
        "images generated": int(len(alphas)),
        "interpolation factors": [round(float(x), 6) for x in alphas],
        "largest distance from the baseline-to-image line": off_line,
    }
    if not (
        off_line < 1e-6 and np.all(np.diff(alphas) > 0) and 0 <= alphas.min() and alphas.max() <= 1
    ):
        raise NotAnswerable(f"the path generator's images are not on the line: {numbers}")
    return Answer(
        choice=["path_images"],
        numbers=numbers,
        figure=paths.cnn_figure("", "integrated_gradients"),
        margin=1.0,
        basis="definition",
        rule="definition: IG integrates along the straight path from the baseline (checked on "
        "the path this run used)",
        why="every generated image is alpha * image with increasing alpha in [0, 1): the "
        "straight path from the black baseline to the image",
    )
