"""The quality stage's scoring: every method's map of each image, then its rows of scores
(localisation, faithfulness, agreement) and of the sanity cascade. Torch is imported when called.

Tidy rows are (method, image, metric, value). Besides the scored methods, two reference rows
share the table: method "chance" (localisation of a map that carries no information: the mask
area, 0.5 for ROC-AUC) and method "random" (deletion/insertion AUCs of a random pixel order).
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from workflow_scripts.core.errors import UserError
from workflow_scripts.quality import metrics as M
from workflow_scripts.quality.metrics import CHANCE, MODES, RANDOM
from workflow_scripts.quality.plan import scored_here

# Where a method's per-pixel map lives in its artifact, first found wins: the gradient methods'
# and Grad-CAM's unnormalised map, LIME's superpixel weights painted on the pixels (signed; the
# localisation metrics use its positive part, the rank metrics its order).
MAP_KEYS = ("map_raw", "pixel_weights")


def quality_map(method: str, arrays: dict) -> np.ndarray:
    """The per-pixel map of an artifact (MAP_KEYS), as float64."""
    for key in MAP_KEYS:
        if key in arrays and np.ndim(arrays[key]) == 2:
            return np.asarray(arrays[key], dtype=np.float64)
    raise UserError(
        f"method {method} produces no per-pixel map (none of {', '.join(MAP_KEYS)}); add it to "
        "config key quality.exclude, or give its artifact a map_raw"
    )


def predictor(model, device):
    """predict(N x C x H x W tensor) -> N x K probabilities (numpy), on the inference model."""
    import torch

    from workflow_scripts.cnn.fastpath import for_inference

    fast = for_inference(model, device)

    @torch.no_grad()
    def predict(batch):
        try:
            return fast(batch.to(device)).softmax(1).cpu().numpy()
        except torch.cuda.OutOfMemoryError:
            if len(batch) == 1:
                raise
            # the same probabilities (eval mode: images are independent), in two smaller calls
            half = len(batch) // 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            logging.getLogger("xai").warning(
                "CUDA out of memory at a batch of %d images: retrying with %d (set quality."
                "batch_size to skip the retry)",
                len(batch),
                half,
            )
            return np.concatenate([predict(batch[:half]), predict(batch[half:])])

    return predict


def faithfulness_rows(predict, x, maps: dict, target: int, name: str, f: dict, seed: int, batch):
    """Deletion/insertion of every map against one random order per image and fill (the
    library's random_baseline, shared by the methods: paired, and half the forward passes)."""
    from workflow_scripts.cnn.methods import image_seed
    from workflow_scripts.quality import faithfulness as F

    rows, curves = [], {}
    order_seed = image_seed(seed, name) % (2**32)
    for fill in f["fills"]:
        common = dict(
            fill=fill,
            steps=f["steps"],
            blur_sigma=f["blur_sigma"],
            seed=order_seed,
            batch_size=batch,
        )
        rand = F.random_baseline(predict, x, target, **common)
        for key, meta in M.FAITHFULNESS.items():
            if meta["reference"] == RANDOM:
                rows.append((RANDOM, name, f"{key}_{fill}", float(rand[f"{key}_random"])))
        for mode in MODES:
            curves[(RANDOM, fill, mode)] = rand[f"{mode}_curve_random"]
        for method, a in maps.items():
            r = F.faithfulness(predict, x, a, target, random=rand, **common)
            for mode in MODES:
                curves[(method, fill, mode)] = r[f"{mode}_curve"]
            rows += [(method, name, f"{key}_{fill}", float(r[key])) for key in M.FAITHFULNESS]
    return rows, curves


def localisation_rows(maps: dict, mask, name: str, tolerance: int):
    rows = [(CHANCE, name, k, float(v)) for k, v in M.chance(mask, tolerance).items()]
    for method, a in maps.items():
        rows += [(method, name, k, float(v)) for k, v in M.localisation(a, mask, tolerance).items()]
    return rows


def agreement_rows(maps: dict, name: str):
    from workflow_scripts.quality.randomisation import agreement

    return [(f"{a}|{b}", name, "agreement", float(v)) for (a, b), v in agreement(maps).items()]


@contextlib.contextmanager
def _one_line_per_image(what: str, count: int):
    """The run layer's line per (method, image) would be hundreds of lines per job (and LIME's
    "true label not among the top labels", expected of a randomised model): keep errors only, and
    say what the job did in one line at the end."""
    import time

    xai = logging.getLogger("xai")
    level, start = xai.level, time.perf_counter()
    xai.setLevel(logging.ERROR)
    try:
        yield
    finally:
        xai.setLevel(level)
    xai.info("%s: %d images in %.1f s", what, count, time.perf_counter() - start)


def within_budget(params: dict, position: int, budgets: dict | None) -> dict:
    """The methods (and settings) that score the image at this quality position."""
    return {m: p for m, p in params.items() if scored_here(m, position, budgets or {})}


def score_images(
    model, images, masks, labels, names, params: dict, q: dict, device, batch, budget=None
):
    """Every method's map of each image, then its scores: (rows, curves {key: [n, steps+1]}).

    images: N x 3 x H x W float tensor in [0, 1]; masks: N x H x W bool or None (hw9).
    budget: (positions of the images, {method: image budget}) -- a method scores only the
    images before its budget (quality.method_images); None: every method every image."""
    with _one_line_per_image(f"quality: {len(params)} methods scored", len(names)):
        return _score_images(model, images, masks, labels, names, params, q, device, batch, budget)


def _score_images(model, images, masks, labels, names, params, q, device, batch, budget):
    from workflow_scripts.cnn.attribute import explain_image
    from workflow_scripts.core.progress import Steps

    predict = predictor(model, device)
    positions, budgets = budget or (range(len(names)), {})
    rows, curves = [], {}
    prepared: dict = {}  # each method's prepared model, shared by the job's images
    steps = Steps(f"quality ({names[0]} to {names[-1]})" if names else "quality", len(names))
    for i, name in enumerate(names):
        label = int(labels[i])
        maps = {
            m: quality_map(m, explain_image(m, model, images[i], label, name, p, device, prepared))
            for m, p in within_budget(params, positions[i], budgets).items()
        }
        if masks is not None:
            rows += localisation_rows(
                maps, np.asarray(masks[i], bool), name, q["pointing_tolerance"]
            )
        f_rows, f_curves = faithfulness_rows(
            predict, images[i][None], maps, label, name, q["faithfulness"], q["seed"], batch
        )
        rows += f_rows + agreement_rows(maps, name)
        for key, c in f_curves.items():
            curves.setdefault(key, []).append(np.asarray(c, dtype=np.float64))
        steps.update()
    return rows, {k: np.stack(v) for k, v in curves.items()}


def sanity_layers(model, which: str) -> list[str]:
    """The cascade, output layer first: every module with parameters ("all"), or only the Conv2d
    and Linear ones ("conv_linear": BatchNorm keeps its parameters; about half the steps)."""
    from torch import nn

    from workflow_scripts.quality.randomisation import cascade_layers

    names = cascade_layers(model)
    if which == "all":
        return names
    modules = dict(model.named_modules())
    return [n for n in names if isinstance(modules[n], (nn.Conv2d, nn.Linear))]


def sanity_images(
    model, images, labels, names, params: dict, seed: int, device, which="all", budget=None, steps=0
):
    """Cascading randomisation of every method on each image: rows (method, image, step, layer,
    spearman, ssim); step 1 = the output layer re-initialised. budget: as score_images'; steps:
    how many evenly spaced steps are explained (quality.sanity_steps; 0 = every one)."""
    import torch

    from workflow_scripts.cnn.attribute import explain_image
    from workflow_scripts.cnn.methods import image_seed
    from workflow_scripts.core.progress import Steps
    from workflow_scripts.quality.randomisation import cascading_randomisation, evaluated_steps

    out = []
    positions, budgets = budget or (range(len(names)), {})
    layers = sanity_layers(model, which)
    at = evaluated_steps(len(layers), steps)
    with _one_line_per_image(
        f"quality sanity: {len(params)} methods x {len(layers)} randomised layers "
        f"({len(at)} explained)",
        len(names),
    ):
        progress = Steps(f"quality sanity ({', '.join(params)})", len(names))
        for i, name in enumerate(names):
            label = int(labels[i])
            for m, p in within_budget(params, positions[i], budgets).items():

                def explain(net, x, target, m=m, p=p, name=name):
                    arrays = explain_image(m, net, x[0].cpu(), int(target), name, p, device)
                    return quality_map(m, arrays)

                cascade = cascading_randomisation(
                    model,
                    explain,
                    images[i][None].to(device),
                    torch.tensor(label),
                    seed=image_seed(seed, name) % (2**32),
                    layers=layers,
                    steps=at,
                )
                out += [
                    (m, name, s["step"], s["layer"], float(s["spearman"]), float(s["ssim"]))
                    for s in cascade
                ]
            progress.update()
    return out
