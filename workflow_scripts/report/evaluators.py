"""One evaluator per kind of quiz question: read artifacts, measure, pick option keys.

Every evaluator takes (ctx, question) and returns a dict: `choice` (option keys), `numbers` (the
measurements that decide it), `figure` (results-relative path of the figure that shows it),
`margin` (how clearly the choice won, in the measure's units), `why` (one sentence). It raises
NotAnswerable(reason) when this asset set cannot decide the question (the reason goes in the
report). Answers that follow from a method or an architecture are measured from the code or the
loaded model's description, never written in. Thresholds come from config `report.thresholds`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from workflow_scripts.core.errors import UserError


class NotAnswerable(Exception):
    """This asset set cannot decide the question; the message says why."""


# ---------------------------------------------------------------- context helpers

def load(ctx, rel):
    """An artifact under the results folder (npz as a dict of arrays, json parsed); cached."""
    cache = ctx.setdefault("_cache", {})
    if rel not in cache:
        path = Path(ctx["results"]) / rel
        if not path.exists():
            raise UserError(f"{path}: missing artifact for the quiz report; rerun the pipeline (snakemake --cores all)")
        if path.suffix == ".npz":
            with np.load(path) as z:
                cache[rel] = {k: z[k] for k in z.files}
        else:
            cache[rel] = json.loads(path.read_text(encoding="utf-8"))
    return cache[rel]


def attribution(ctx, method, stem):
    return load(ctx, f"attributions/{method}/{stem}.npz")


def homework_image(ctx, index: int) -> str:
    """Stem of homework image `index` (0-9) when this asset set has it, else NotAnswerable."""
    if ctx["source"] != "hw9":
        raise NotAnswerable(f"it is about homework image {index}; the {ctx['asset_set']} asset set has other "
                            "images (emoji renderings), so only the homework's bundle (config/hw9.yaml) can answer it")
    stem = ctx["hw9_images"][index]
    if stem not in ctx["observed"]:
        raise NotAnswerable(f"homework image {index} ({stem}) is not among the observed images (raise observed.count)")
    return stem


def region(ctx, stem: str, name: str) -> np.ndarray:
    from workflow_scripts.report.regions import region_mask, region_names

    ann = ctx.get("annotations")
    if ann is None:
        raise NotAnswerable("no region annotations of the homework images are configured (report.annotations)")
    entry = (ann.get("images") or {}).get(stem)
    if entry is None or name not in region_names(ann, stem):
        note = (entry or {}).get("note")
        raise NotAnswerable(f"region {name!r} of image {stem} is not annotated" + (f" ({note})" if note else ""))
    return region_mask(ann, stem, name)


def food_mask(ctx, stem: str) -> np.ndarray:
    """The food: the ground-truth mask of the offline set, the annotated `food` region of hw9."""
    obs = load(ctx, f"assets/observed/{stem}.npz")
    if "mask" in obs:
        return obs["mask"].astype(bool)
    return region(ctx, stem, "food")


def upsample(a: np.ndarray, size: int = 128) -> np.ndarray:
    """Nearest-neighbour upsampling of an h x w map to size x size (filter maps are 128/2^k)."""
    h, w = a.shape
    return np.repeat(np.repeat(a, size // h, axis=0), size // w, axis=1)


def figure(ctx, *parts) -> str:
    return "figures/" + "/".join(parts)


def t(ctx, key):
    return ctx["thresholds"][key]


def _mean_in(m: np.ndarray, mask: np.ndarray) -> float:
    return float(m[mask].mean()) if mask.any() else float("nan")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _ranked(scores: dict, pick: str) -> tuple[str, float]:
    """The winning key and its margin over the runner-up."""
    order = sorted(scores, key=scores.get, reverse=(pick == "max"))
    margin = abs(scores[order[0]] - scores[order[1]]) if len(order) > 1 else float("nan")
    return order[0], margin


# ---------------------------------------------------------------- LIME

def lime_object_signs(ctx, q):
    stem = homework_image(ctx, q["image"])
    a = attribution(ctx, "lime", stem)
    numbers, choice = {}, []
    for key, name in q["args"]["objects"].items():
        mean = _mean_in(a["pixel_weights"], region(ctx, stem, name))
        numbers[f"mean LIME weight on {name}"] = mean
        choice.append(f"{key}_{'positive' if mean > 0 else 'negative'}")
    return {"choice": choice, "numbers": numbers, "figure": figure(ctx, "cnn", "lime.png"),
            "margin": min(abs(v) for v in numbers.values()),
            "why": "the sign of the superpixel weights averaged over each object's pixels"}


def lime_colours(ctx, q):
    """Run lime's own get_image_and_mask on a two-superpixel explanation and see which channel it sets."""
    from lime.lime_image import ImageExplanation

    image = np.full((4, 6, 3), 0.25)
    image[:, 4:] = 1.0  # a third, unexplained superpixel holds the image maximum
    segments = np.zeros((4, 6), int)
    segments[:, 2:4] = 1
    segments[:, 4:] = 2
    exp = ImageExplanation(image, segments)
    exp.local_exp = {0: [(0, 1.0), (1, -1.0)]}
    temp, mask = exp.get_image_and_mask(0, positive_only=False, hide_rest=False, num_features=2, min_weight=0.0)
    colour = {0: "red", 1: "green", 2: "blue"}
    pos = colour[int(np.argmax(temp[0, 0]))]
    neg = colour[int(np.argmax(temp[0, 3]))]
    numbers = {"positive superpixel RGB": temp[0, 0].tolist(), "negative superpixel RGB": temp[0, 3].tolist()}
    # the same holds in this run's overlays: positive pixels have the green channel at the image max
    for stem in ctx["observed"]:
        a = attribution(ctx, "lime", stem)
        if a["positive_mask"].any():
            o = a["overlay"]
            numbers[f"{stem}: share of positive pixels with {pos} at max"] = float(
                (o[a["positive_mask"]][:, ["red", "green", "blue"].index(pos)] >= o.max() - 1e-6).mean())
            break
    return {"choice": [f"{pos}_positive", f"{neg}_negative"], "numbers": numbers,
            "figure": figure(ctx, "cnn", "lime.png"), "margin": None,
            "why": f"lime's get_image_and_mask(positive_only=False) sets the {pos} channel of positive and the "
                   f"{neg} channel of negative superpixels to the image maximum"}


def lime_mechanism(ctx, q):
    """Measured on the method's own perturbation code and on this run's LIME artifacts."""
    from workflow_scripts.cnn.methods.lime import fudged_image, perturb, pixel_features

    rng = np.random.default_rng(0)
    image = rng.random((8, 8, 3))
    segments = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 4, 0), 4, 1)
    pix, _ = pixel_features(segments, "segments")
    fudged = fudged_image(image, segments)
    out = perturb(image, fudged, pix, np.array([[1, 0, 1, 0]]))[0]
    off = np.isin(segments, [1, 3])
    kept = bool(np.array_equal(out[~off], image[~off]))
    replaced = bool(np.allclose(out[off], fudged[off]))
    uniform = bool(all(np.ptp(out[segments == s], axis=0).max() == 0 for s in (1, 3)))
    a = attribution(ctx, "lime", ctx["observed"][0])
    n_super = int(len(np.unique(a["segments"])))
    numbers = {"superpixels in image " + ctx["observed"][0]: n_super, "switched-on superpixels unchanged": kept,
               "switched-off superpixels replaced by their mean colour": replaced and uniform,
               "perturbed samples": int(a["sample_scores"].shape[0])}
    if not (kept and replaced and uniform and n_super > 1):
        raise NotAnswerable(f"the perturbation did not behave as superpixel switching: {numbers}")
    return {"choice": ["superpixels_off"], "numbers": numbers, "figure": figure(ctx, "cnn", "lime.png"),
            "margin": None, "why": "the image is cut into SLIC superpixels; each sample switches some off "
                                   "(mean colour) and a local linear model weighs them by the output change"}


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
    return {"choice": [key], "numbers": {"positive share of the region": pos, "negative share": neg,
                                         "share threshold": s},
            "figure": figure(ctx, "cnn", "lime.png"), "margin": min(pos, neg) if key == "partly" else max(pos, neg),
            "why": f"shares of the {q['args']['region']} pixels that LIME's overlay marks positive / negative"}


# ---------------------------------------------------------------- saliency

def saliency_scale_spread(ctx, q):
    scales = {s: float(attribution(ctx, "saliency", s)["grad_abs_max"]) for s in ctx["observed"]}
    spread = max(scales.values()) / max(min(scales.values()), 1e-30)
    key = "remove_scale" if spread >= t(ctx, "scale_spread") else "no_effect"
    return {"choice": [key], "numbers": {"max |gradient| per image": scales, "largest / smallest": spread},
            "figure": figure(ctx, "cnn", "saliency.png"), "margin": spread / t(ctx, "scale_spread"),
            "why": f"gradient scales differ {spread:.1f}x between images: "
                   + ("one shared scale would hide the weaker maps" if key == "remove_scale"
                      else f"below the {t(ctx, 'scale_spread')}x at which per-image normalisation changes the picture")}


def region_focus(ctx, q):
    """Mean map value per option region; the highest (pick max) or lowest (pick min)."""
    stem = homework_image(ctx, q["image"])
    args = q["args"]
    a = attribution(ctx, args["method"], stem)
    if args["method"] == "filters":
        key = f"activation_{args['layer']}_{args['filter']}"
        if key not in a:
            raise NotAnswerable(f"cnn[{args['layer']}] filter {args['filter']} is not among cnn.filters.pairs")
        m = upsample(a[key])
        fig = figure(ctx, "cnn", f"filters_cnn{args['layer']}_f{args['filter']}.png")
    else:
        m = a["map"]
        fig = figure(ctx, "cnn", f"{args['method']}.png")
    m = (m - m.min()) / max(float(np.ptp(m)), 1e-30)
    scores = {k: _mean_in(m, region(ctx, stem, k)) for k in q["options"]}
    best, margin = _ranked(scores, args["pick"])
    return {"choice": [best], "numbers": {f"mean normalised value on {k}": v for k, v in scores.items()},
            "figure": fig, "margin": margin,
            "why": f"the {'highest' if args['pick'] == 'max' else 'lowest'} mean {args['method']} value among the regions"}


def saliency_quantity(ctx, q):
    stem = ctx["observed"][0]
    a = attribution(ctx, "saliency", stem)
    image = load(ctx, f"assets/observed/{stem}.npz")["image"]
    params = json.loads(str(a["params"]))
    numbers = {"attribution shape": list(a["attribution"].shape), "input image shape": list(image.shape),
               "differentiated quantity": params.get("objective")}
    if tuple(a["attribution"].shape) != tuple(image.shape):
        raise NotAnswerable("the saliency artifact is not shaped like the input")
    if params.get("objective") != "loss":
        raise NotAnswerable("cnn.saliency.objective is 'logit': the map is d(logit)/d(input), not an option")
    return {"choice": ["dloss_dinput"], "numbers": numbers, "figure": figure(ctx, "cnn", "saliency.png"),
            "margin": None, "why": "one value per input pixel and channel, of the gradient of the CE loss"}


def saliency_shape(ctx, q):
    stem = homework_image(ctx, q["image"])
    m = attribution(ctx, "saliency", stem)["map"]
    top = m >= np.quantile(m, 1 - t(ctx, "top_fraction"))
    from workflow_scripts.report.regions import region_names

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
    return {"choice": [shape], "numbers": {f"share of the top {t(ctx, 'top_fraction'):.0%} pixels on {k}": v
                                           for k, v in shares.items()},
            "figure": figure(ctx, "cnn", "saliency.png"), "margin": share,
            "why": f"the brightest saliency pixels lie on the {best}, which is a {shape}"}


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
    best, margin = _ranked(scores, "min")
    return {"choice": [best], "numbers": {f"IoU(LIME positive, top saliency) image {k}": v for k, v in scores.items()},
            "figure": figure(ctx, "cnn", "saliency.png"), "margin": margin,
            "why": "the lowest overlap between LIME's positive superpixels and as many top saliency pixels"}


# ---------------------------------------------------------------- SmoothGrad

def smoothgrad_mechanism(ctx, q):
    stem = ctx["observed"][0]
    sg = attribution(ctx, "smoothgrad", stem)
    sal = attribution(ctx, "saliency", stem)
    params = json.loads(str(sg["params"]))
    corr = _corr(sg["map"], sal["map"])
    numbers = {"noise std": float(sg["noise_std"]), "noisy copies": params["samples"],
               "correlation with the plain saliency map": corr}
    if not (float(sg["noise_std"]) > 0 and params["samples"] > 1):
        raise NotAnswerable("SmoothGrad ran without noise or with one sample")
    return {"choice": ["noise_average_saliency"], "numbers": numbers, "figure": figure(ctx, "cnn", "smoothgrad.png"),
            "margin": None, "why": "it averages |gradient| maps of noisy copies of one image"}


def food_concentration(ctx, q):
    shares = {"saliency": [], "smoothgrad": []}
    for stem in ctx["observed"]:
        mask = food_mask(ctx, stem)
        for method in shares:
            m = attribution(ctx, method, stem)["map"].astype(np.float64)
            shares[method].append(float(m[mask].sum() / max(m.sum(), 1e-30)))
    mean = {k: float(np.mean(v)) for k, v in shares.items()}
    area = float(np.mean([food_mask(ctx, s).mean() for s in ctx["observed"]]))
    key = "smoothgrad_clearer" if mean["smoothgrad"] > mean["saliency"] else "saliency_clearer"
    return {"choice": [key], "numbers": {"share of map mass on the food, saliency": mean["saliency"],
                                         "share of map mass on the food, SmoothGrad": mean["smoothgrad"],
                                         "food share of the image (chance)": area},
            "figure": figure(ctx, "cnn", "smoothgrad.png"), "margin": abs(mean["smoothgrad"] - mean["saliency"]),
            "why": "the map that puts more of its mass on the food region shows the food more clearly"}


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
    if r < t(ctx, "bright_share_none"):
        key = "no_bright_spots"
    else:
        key = "same" if abs(r - n) < t(ctx, "bright_share_none") else "different_areas"
    return {"choice": [key], "numbers": {"bright pixels without normalisation": r, "bright pixels normalised": n,
                                         "brightness level": level,
                                         "largest un-normalised value": float(max(attribution(ctx, "smoothgrad", s)["attribution"].max() for s in ctx["observed"]))},
            "figure": figure(ctx, "cnn", "smoothgrad.png"), "margin": n - r,
            "why": ("mean |gradient| values are far below 1, so an RGB imshow of them is almost black"
                    if key == "no_bright_spots" else "the un-normalised values reach the visible range")}


# ---------------------------------------------------------------- filters

def filter_depth(ctx, q):
    pairs = [tuple(p) for p in attribution(ctx, "filters", ctx["observed"][0])["pairs"].tolist()]
    shallow, deep = min(pairs), max(pairs)
    corrs, sharp = [], {shallow: [], deep: []}
    for stem in ctx["observed"]:
        a = attribution(ctx, "filters", stem)
        maps = {}
        for p in (shallow, deep):
            m = upsample(a[f"activation_{p[0]}_{p[1]}"]).astype(np.float64)
            m = (m - m.min()) / max(np.ptp(m), 1e-30)
            maps[p] = m
            sharp[p].append(float(np.abs(np.diff(m, axis=0)).mean() + np.abs(np.diff(m, axis=1)).mean()))
        corrs.append(_corr(maps[shallow], maps[deep]))
    corr = float(np.nanmean(corrs))
    s_sh, s_dp = float(np.mean(sharp[shallow])), float(np.mean(sharp[deep]))
    choice = ["output_vaguer" if s_dp < s_sh else "output_clearer",
              "positions_similar" if corr >= t(ctx, "positions_corr") else "positions_different"]
    return {"choice": choice, "numbers": {f"detail (mean neighbour difference) cnn[{shallow[0]}]": s_sh,
                                          f"detail cnn[{deep[0]}]": s_dp,
                                          f"correlation of cnn[{shallow[0]}] and cnn[{deep[0]}] maps": corr,
                                          "map sizes": {f"cnn[{p[0]}]": list(attribution(ctx, 'filters', ctx['observed'][0])[f'activation_{p[0]}_{p[1]}'].shape) for p in (shallow, deep)}},
            "figure": figure(ctx, "cnn", f"filters_cnn{deep[0]}_f{deep[1]}.png"), "margin": abs(corr - t(ctx, "positions_corr")),
            "why": f"the deeper map has {'less' if s_dp < s_sh else 'more'} fine detail and "
                   + ("lights up where the shallow one does" if corr >= t(ctx, "positions_corr")
                      else "lights up elsewhere than the shallow one")}


def filter_mechanism(ctx, q):
    a = attribution(ctx, "filters", ctx["observed"][0])
    layer, filt = a["pairs"][0].tolist()
    act, obj = a[f"activation_{layer}_{filt}"], a[f"objective_{layer}_{filt}"]
    numbers = {f"cnn[{layer}] activation map shape": list(act.shape),
               "filter objective at the start / end of the optimisation": [float(obj[0]), float(obj[-1])]}
    choice = []
    if act.ndim == 2:
        choice.append("positions")
    if obj[-1] > obj[0]:
        choice.append("image_activates_most")
    return {"choice": choice, "numbers": numbers, "figure": figure(ctx, "cnn", f"filters_cnn{layer}_f{filt}.png"),
            "margin": float(obj[-1] - obj[0]),
            "why": "an activation map over image positions, and an input optimised to raise the filter's activation"}


def module_type(ctx, q):
    summary = load(ctx, "assets/model.json")
    i = q["args"]["index"]
    kind = summary["cnn_modules"][i]
    return {"choice": [kind], "numbers": {f"type(model.cnn[{i}])": kind, "width": summary.get("width")},
            "figure": figure(ctx, "cnn", f"filters_cnn{i}_f0.png"), "margin": None,
            "why": "read from the loaded model"}


# ---------------------------------------------------------------- Integrated Gradients

def ig_steps(ctx, q):
    corr, peak = {}, {}
    for stem in ctx["observed"]:
        z = load(ctx, f"evidence/ig_steps/{stem}.npz")
        steps = z["steps"].tolist()
        base = z["maps"][steps.index(min(steps))]
        for s, m in zip(steps, z["maps"]):
            corr.setdefault(s, []).append(_corr(base, m))
            peak.setdefault(s, []).append(float(m.max()))
    c = {s: float(np.nanmean(v)) for s, v in corr.items()}
    most = max(c)
    if c[most] >= t(ctx, "same_corr"):
        key = "no_difference"
    elif c[most] <= -0.5:
        key = "swapped"
    else:
        key = "random_spots"
    return {"choice": [key], "numbers": {f"correlation of the {min(c)}-step map with {s} steps": v for s, v in c.items()},
            "figure": figure(ctx, "cnn", "integrated_gradients.png"), "margin": c[most] - t(ctx, "same_corr"),
            "why": {"no_difference": "maps with more path steps are nearly identical after normalisation",
                    "swapped": "the map with more steps is the negative of the 10-step map",
                    "random_spots": "the map with more steps correlates only weakly with the 10-step map"}[key]}


def ig_path(ctx, q):
    import torch

    from workflow_scripts.cnn.methods.integrated_gradients import homework_path

    params = json.loads(str(attribution(ctx, "integrated_gradients", ctx["observed"][0])["params"]))
    steps = int(params["steps"])
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)) + 0.1
    path = homework_path(x, steps).numpy().astype(np.float64)
    xv = x.numpy().astype(np.float64)
    alphas = (path.reshape(steps, -1) @ xv.ravel()) / (xv.ravel() @ xv.ravel())
    off_line = float(np.abs(path - alphas[:, None, None, None] * xv).max())
    numbers = {"images generated": steps, "interpolation factors": [round(float(a), 6) for a in alphas],
               "largest distance from the baseline-to-image line": off_line}
    if not (off_line < 1e-6 and np.all(np.diff(alphas) > 0) and 0 <= alphas.min() and alphas.max() <= 1):
        raise NotAnswerable(f"the path generator's images are not on the line: {numbers}")
    return {"choice": ["path_images"], "numbers": numbers, "figure": figure(ctx, "cnn", "integrated_gradients.png"),
            "margin": None, "why": "every generated image is alpha * image with increasing alpha in [0, 1): the "
                                   "straight path from the black baseline to the image"}


# ---------------------------------------------------------------- BERT

HOMEWORK_MODELS = {"embedding": "bert-base-chinese", "mlm": "bert-base-cased", "qa": "hw9_bert"}


def _model_caveat(ctx, role: str) -> str | None:
    """None when the role is played by the homework's model, else what the substitute is."""
    desc = load(ctx, f"assets/bert/{role}.json")
    if desc["name"] == HOMEWORK_MODELS[role]:
        return None
    return (f"measured on {desc['name']} instead of the homework's {HOMEWORK_MODELS[role]}: "
            "the homework's answer may differ")


def _probe_role(ctx):
    return "mlm" if (Path(ctx["results"]) / "assets/bert/mlm.json").exists() else "embedding"


def head_behaviours(ctx, q):
    e = load(ctx, "bert/exbert.json")
    shares = np.array(e["mean_shares"])  # [L, H, C]
    h = q["args"]["head"] - 1
    if h >= shares.shape[1]:
        raise NotAnswerable(f"the model has {shares.shape[1]} heads")
    cats = e["categories"]
    peak = {c: float(shares[:, h, cats.index(c)].max()) for c in q["options"]}
    choice = [c for c, v in peak.items() if v >= t(ctx, "head_share")]
    return {"choice": choice, "numbers": {f"largest share over layers, head {h + 1}: {c}": v for c, v in peak.items()},
            "figure": figure(ctx, "bert", "attention_heads.png"),
            "margin": min((abs(v - t(ctx, "head_share")) for v in peak.values()), default=None),
            "why": f"a behaviour occurs when, in some layer, head {h + 1} gives it at least "
                   f"{t(ctx, 'head_share'):.0%} of a token's attention on average",
            "caveat": _model_caveat(ctx, _probe_role(ctx))}


def _masked(ctx):
    e = load(ctx, "bert/exbert.json")
    if not e.get("masked"):
        raise NotAnswerable(e.get("masked_unavailable") or "no masked-word probes were run")
    return e["masked"]


def masked_layer_probe(ctx, q):
    m = _masked(ctx)
    layers = m["antecedent_by_layer"]
    final = {p["token"] for p in layers[-1]["top"]}
    top1 = [layer["top"][0]["token"] for layer in layers]
    stable = next(l for l in range(len(layers)) if all(top1[k] in final for k in range(l, len(layers))))
    options = sorted(int(k) for k in q["options"])
    key = str(min(options, key=lambda o: abs(o - stable)))
    return {"choice": [key], "numbers": {"top-1 prediction by layer": top1,
                                         "first layer from which the top-1 stays among the final top-k": stable},
            "figure": figure(ctx, "bert", "attention_heads.png"), "margin": None,
            "why": "the MLM head applied to each layer's hidden state (a local stand-in for exBERT's corpus search)",
            "caveat": "exBERT decides this from the POS of nearest corpus neighbours; this run uses the layer at "
                      "which the masked-word prediction settles"}


def masked_pronoun(ctx, q):
    m = _masked(ctx)
    p = m["pronoun_masked"]["p"]
    word = max(("she", "he", "it"), key=lambda w: p[w])
    drop = m["p_he_drop"]
    values = [k for k in q["options"] if k.replace(".", "").isdigit()]
    near = min(values, key=lambda k: abs(float(k) - drop))
    return {"choice": [word, near], "numbers": {"P(she/he/it | she masked)": p,
                                                "P(he | she and officer masked)": m["both_masked"]["p"]["he"],
                                                "drop of P(he)": drop},
            "figure": figure(ctx, "bert", "attention_heads.png"), "margin": abs(float(near) - drop),
            "why": "the MLM's probabilities at the masked pronoun, with and without 'officer' visible"}


def coreference_head(ctx, q):
    e = load(ctx, "bert/exbert.json")
    coref = np.array(e["coreference"])
    h = q["args"]["head"] - 1
    scores = {k: float(coref[int(k) - 1, h]) for k in q["options"] if int(k) - 1 < coref.shape[0]}
    best, margin = _ranked(scores, "max")
    return {"choice": [best], "numbers": {f"attention she -> officer, layer {k} head {h + 1}": v for k, v in scores.items()},
            "figure": figure(ctx, "bert", "attention_heads.png"), "margin": margin,
            "why": "the head among the options whose 'she' attends most to 'officer'",
            "caveat": _model_caveat(ctx, _probe_role(ctx))}


def _pca_measure(ctx, measure):
    vals = []
    for k in range(1, ctx["qa_items"] + 1):
        vals.append(load(ctx, f"bert/hidden_pca/q{k}.json")["measures"][measure])
    return np.nanmean(np.array(vals, dtype=np.float64), axis=0)  # per hidden state 0..12


def _qa_caveat(ctx):
    s = load(ctx, "bert/hidden_pca/q1.json")
    if not s.get("qa_finetuned"):
        return f"{s['model']['name']} is not QA-finetuned: the homework's answer may differ"
    return _model_caveat(ctx, "qa")


def answer_separation(ctx, q):
    sep = _pca_measure(ctx, "answer_separation_pca")
    if np.all(np.isnan(sep)):
        raise NotAnswerable("no answer token was found in any item")
    scores = {k: float(sep[int(k)]) for k in q["options"]}
    best, margin = _ranked(scores, "max")
    return {"choice": [best], "numbers": {f"answer separation, layer {k}": v for k, v in scores.items()},
            "figure": figure(ctx, "bert", "hidden_pca_q1.png"), "margin": margin,
            "why": "answer tokens' distance to the other tokens' centroid in the PCA plane, relative to their spread, "
                   "averaged over the three items", "caveat": _qa_caveat(ctx)}


def layer_phase(ctx, q):
    values = _pca_measure(ctx, q["args"]["measure"])
    scores = {}
    for k in q["options"]:
        a, b = (int(x) for x in k.split("-"))
        scores[k] = float(np.nanmean(values[a:b + 1]))
    best, margin = _ranked(scores, q["args"]["pick"])
    return {"choice": [best], "numbers": {f"mean {q['args']['measure']}, layers {k}": v for k, v in scores.items()},
            "figure": figure(ctx, "bert", "hidden_pca_q3.png"), "margin": margin,
            "why": {"qc_silhouette": "question and context tokens are most mixed (lowest silhouette) there",
                    "relation_silhouette": "context tokens group most by the sentence they belong to there"}[
                        q["args"]["measure"]], "caveat": _qa_caveat(ctx)}


def _similarity(ctx):
    s = load(ctx, "bert/similarity.json")
    z = load(ctx, "bert/similarity.npz")
    return s, z


def slide_match(ctx, q):
    slide = (ctx.get("annotations") or {}).get("slide_similarity") or {}

    def matrix(key):
        return np.array([[np.nan if v is None else v for v in row] for row in slide.get(key) or []], dtype=float)

    # printed values when the slide has them, else each cell's position on the colour map: an affine
    # function of the value under matplotlib's default scaling, so correlations are the same
    ref, source = matrix("values"), "printed values"
    if ref.size == 0 or np.isnan(ref).all():
        ref, source = matrix("colour_fraction"), "cell colours (position on viridis)"
    if ref.size == 0 or np.isnan(ref).all():
        raise NotAnswerable("the slide's matrix is not in report.annotations (slide_similarity: values or colour_fraction)")
    from workflow_scripts.bert.similarity import cosine_similarity, euclidean_distance

    s, z = _similarity(ctx)
    layer = t(ctx, "slide_layer")
    chars = {c: v["key"] for c, v in s["characters"].items()}
    vectors = {c: z[f"vectors_{k}"][:, layer].astype(np.float64) for c, k in chars.items()}
    if len(vectors) == 2:
        vectors["".join(chars)] = np.mean([vectors[c] for c in chars], axis=0)  # the word: mean of its characters
    off = ~np.eye(ref.shape[0], dtype=bool) & ~np.isnan(ref)
    scores = {}
    for name, v in vectors.items():
        for metric, fn in (("cosine", cosine_similarity), ("euclidean", euclidean_distance)):
            m = fn(v, v)
            # Euclidean distance falls as similarity rises: compare with its negative
            scores[(metric, name)] = _corr(ref[off], (m if metric == "cosine" else -m)[off])
    (metric, token), best = max(scores.items(), key=lambda kv: kv[1])
    numbers = {f"correlation with the slide, {m}, {c}": v for (m, c), v in scores.items()}
    numbers["slide reference"] = source
    choice, caveat = [metric, token], _model_caveat(ctx, "embedding")
    merged = all(np.array_equal(v, vectors[token]) for v in vectors.values())
    if merged:  # e.g. XLM-R's one piece for 蘋果: the three candidates are the same vector
        choice = [metric]
        caveat = "; ".join(filter(None, [caveat, "this tokenizer keeps 蘋果 as one token, so (b) cannot be decided"]))
        runner = max(v for (m, _), v in scores.items() if m != metric)
    else:
        runner = sorted(scores.values())[-2]
    return {"choice": choice, "numbers": numbers,
            "figure": figure(ctx, "bert", f"similarity_cosine_char0_layer{layer}.png"), "margin": best - runner,
            "why": f"the layer-{layer} matrix (the notebook's LAYER) whose off-diagonal values correlate best with the slide's",
            "caveat": caveat}


def pair_trend(ctx, q):
    s, z = _similarity(ctx)
    char = q["args"]["character"]
    if char not in s["characters"]:
        raise NotAnswerable(f"bert.similarity.characters has no {char}")
    key = s["characters"][char]["key"]
    i, j = q["args"]["sentences"]
    lo, hi = q["args"]["layers"]
    series = z[f"cosine_{key}"][lo:hi + 1, i, j].astype(np.float64)
    from scipy.stats import spearmanr

    rho = float(spearmanr(np.arange(len(series)), series).statistic)
    k_max, k_min = int(np.argmax(series)), int(np.argmin(series))
    tol = t(ctx, "trend_tolerance")
    if rho >= t(ctx, "trend_rho"):
        key_ = "increases"
    elif rho <= -t(ctx, "trend_rho"):
        key_ = "decreases"
    elif 0 < k_max < len(series) - 1 and series[k_max] - max(series[0], series[-1]) > tol:
        key_ = "rises_then_falls"
    elif 0 < k_min < len(series) - 1 and min(series[0], series[-1]) - series[k_min] > tol:
        key_ = "falls_then_rises"
    else:
        key_ = "increases" if series[-1] > series[0] else "decreases"
    return {"choice": [key_], "numbers": {f"cosine, layers {lo}-{hi}": [round(float(x), 4) for x in series],
                                          "Spearman rho with layer": rho},
            "figure": figure(ctx, "bert", "similarity_by_layer.png"), "margin": abs(rho),
            "why": "the trend of the pair's cosine similarity over the layers",
            "caveat": _model_caveat(ctx, "embedding")}


def layer0_factors(ctx, q):
    s, _ = _similarity(ctx)
    char = q["args"]["character"]
    exp = s["characters"][char]["layer0"]
    mapping = {"frequency": "more_occurrences", "meaning": "other_context", "length": "longer_sentence",
               "position": "position_shift_3"}
    eps = t(ctx, "layer0_eps")
    choice = [k for k, v in mapping.items() if exp[v]["euclidean"] > eps]
    return {"choice": choice, "numbers": {f"layer-0 distance when only {k} changes": exp[v]["euclidean"]
                                          for k, v in mapping.items()},
            "figure": figure(ctx, "bert", f"similarity_euclidean_char{s['characters'][char]['key']}_layer0.png"),
            "margin": None, "why": "layer-0 vectors are token + position (+ segment) embeddings: only a change "
                                   "of position moves them"}


EVALUATORS = {fn.__name__: fn for fn in (
    lime_object_signs, lime_colours, lime_mechanism, lime_region_composition, saliency_scale_spread, region_focus,
    saliency_quantity, saliency_shape, lime_saliency_disagreement, smoothgrad_mechanism, food_concentration,
    smoothgrad_unnormalised, filter_depth, filter_mechanism, module_type, ig_steps, ig_path, head_behaviours,
    masked_layer_probe, masked_pronoun, coreference_head, answer_separation, layer_phase, slide_match, pair_trend,
    layer0_factors)}
