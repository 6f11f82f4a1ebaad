"""LIME for images (Ribeiro et al. 2016), batched, equal to the `lime` package's explain_instance.

The `lime` package perturbs one sample at a time in Python (a deep copy and one mask per
switched-off superpixel per sample); here the perturbed images are built in a vectorised batch
and the classifier is called on `batch_size` images at once. The random draws, the fudged image,
the kernel and the ridge regression are lime's own (its RandomState sequence and LimeBase), so
the superpixel weights equal `LimeImageExplainer(random_state=seed).explain_instance(...)`.

feature_map 'lime' (homework): lime 0.2.0.1 maps feature z to `segments == z`; with SLIC's
start_label=1 feature 0 covers no pixels and the last superpixel is never switched off.
feature_map 'segments' (variant): feature j is the j-th superpixel, so every superpixel is
perturbed.
"""

from __future__ import annotations

import logging

import numpy as np
import sklearn.metrics
from lime import lime_base
from lime.lime_image import ImageExplanation
from skimage.segmentation import slic

log = logging.getLogger("xai")

NAME = "lime"
ORDER = 1
PREPARE = "inference"
VARIANT_KEYS = ("feature_map", "output")
REFERENCE = "lime LimeImageExplainer"  # what benchmarks/bench_methods.py times it against
# Keys where NaN means "lime marked no pixel of that sign" (the run layer lets them through).
ABSENT_AS_NAN = ("overlay_positive_channels", "overlay_negative_channels")
# the classifier runs in float32 (the homework's FloatTensor) and a ridge fit follows it
CHECK = {
    "compared": ("weights",),
    "tolerance": 1e-3,
    "float32_only": True,
    "equality": {"num_samples": 100},
    "dry": {"num_samples": 30},
}
FIGURE = {"title": "LIME", "rows": [{"show": "rgb", "key": "overlay", "titles": True}]}


def segment(
    image: np.ndarray,
    n_segments: int = 200,
    compactness: float = 1,
    sigma: float = 1,
    start_label: int = 1,
) -> np.ndarray:
    """The homework's segmentation: SLIC superpixels."""
    return slic(
        image, n_segments=n_segments, compactness=compactness, sigma=sigma, start_label=start_label
    )


def fudged_image(image: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """lime's hide_color=None replacement: each superpixel filled with its mean colour (lime's
    loop)."""
    fudged = image.copy()
    for s in np.unique(segments):
        sel = segments == s
        fudged[sel] = (
            np.mean(image[sel][:, 0]),
            np.mean(image[sel][:, 1]),
            np.mean(image[sel][:, 2]),
        )
    return fudged


def pixel_features(segments: np.ndarray, feature_map: str) -> tuple[np.ndarray, int]:
    """Feature index of every pixel (n_features = never perturbed) and the number of features."""
    values = np.unique(segments)
    n = len(values)
    if feature_map == "lime":
        return np.where((segments >= 0) & (segments < n), segments, n), n
    if feature_map == "segments":
        return np.searchsorted(values, segments), n
    raise ValueError(f"lime feature_map must be 'lime' or 'segments', not {feature_map!r}")


def perturb(image, fudged, pix_feat, rows: np.ndarray) -> np.ndarray:
    """Images for a batch of on/off rows: switched-off features take the fudged colours."""
    off = np.concatenate([rows == 0, np.zeros((len(rows), 1), bool)], axis=1)
    mask = off[:, pix_feat]  # B x H x W
    return np.where(mask[..., None], fudged[None], image[None])


def lime_image(
    image: np.ndarray,
    classifier_fn,
    segments: np.ndarray,
    seed: int,
    num_samples: int = 1000,
    batch_size: int = 1000,
    top_labels: int = 5,
    feature_map: str = "lime",
    kernel_width: float = 0.25,
) -> tuple[ImageExplanation, dict]:
    """LIME on one H x W x 3 float image; returns lime's ImageExplanation and the raw arrays.

    classifier_fn maps a B x H x W x 3 float array to B x K scores (logits or probabilities).
    """
    random_state = np.random.RandomState(seed)
    random_state.randint(0, high=1000)  # lime draws a segmentation seed here when random_seed=None
    fudged = fudged_image(image, segments)
    pix_feat, n_features = pixel_features(segments, feature_map)
    data = random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
    data[0, :] = 1
    # Perturbed images are built in float32: the same values lime's float64 images have once the
    # classifier casts them to float32 (as the homework's torch.FloatTensor does), at half the
    # memory.
    image32, fudged32 = image.astype(np.float32), fudged.astype(np.float32)
    preds = []
    for s in range(0, num_samples, batch_size):
        preds.append(
            np.asarray(
                classifier_fn(perturb(image32, fudged32, pix_feat, data[s : s + batch_size]))
            )
        )
    labels = np.concatenate(preds)
    distances = sklearn.metrics.pairwise_distances(
        data, data[0].reshape(1, -1), metric="cosine"
    ).ravel()

    def kernel(d):
        return np.sqrt(np.exp(-(d**2) / kernel_width**2))

    base = lime_base.LimeBase(kernel, False, random_state=random_state)
    # get_image_and_mask colours `segments == f`: give it the feature index map in the variant
    exp = ImageExplanation(image, segments if feature_map == "lime" else pix_feat)
    top = np.argsort(labels[0])[-top_labels:]
    exp.top_labels = list(top)[::-1]
    exp.scores, exp.local_preds = {}, {}  # per label (lime itself keeps only the last label's)
    for label in top:
        (exp.intercept[label], exp.local_exp[label], exp.scores[label], exp.local_preds[label]) = (
            base.explain_instance_with_data(
                data, labels, distances, label, 100000, feature_selection="auto"
            )
        )
        exp.score, exp.local_pred = exp.scores[label], exp.local_preds[label]
    return exp, {"data": data, "scores": labels, "distances": distances, "n_features": n_features}


def weight_vector(exp: ImageExplanation, label: int, n_features: int) -> np.ndarray:
    """All superpixel weights of `label` as a dense vector indexed by feature."""
    w = np.zeros(n_features)
    for f, v in exp.local_exp[label]:
        w[f] = v
    return w


def feature_pixels(segments: np.ndarray, feature_map: str) -> np.ndarray:
    """H x W map from pixel to the feature whose weight colours it (-1: none)."""
    pix, n = pixel_features(segments, feature_map)
    return np.where(pix < n, pix, -1)


def perturbation_facts(
    image: np.ndarray, segments: np.ndarray, feature_map: str, data: np.ndarray, samples=(1, 2)
) -> dict:
    """What the perturbation did to this image, measured on perturbed samples `samples` (rows of
    `data`, as the classifier got them; row 0 is the unperturbed image): whether switched-on
    superpixels kept their pixels, and whether every switched-off superpixel shows one colour,
    its own mean colour (lime's hide_color=None)."""
    samples = [s for s in samples if s < len(data)]
    image32 = image.astype(np.float32)
    pix, _ = pixel_features(segments, feature_map)
    rows = data[samples]
    out = perturb(image32, fudged_image(image, segments).astype(np.float32), pix, rows)
    on = np.concatenate([rows == 1, np.ones((len(rows), 1), bool)], axis=1)[:, pix]  # B x H x W
    kept, mean_colour, n_off = True, True, 0
    for img, on_i in zip(out, on):
        kept &= bool(np.array_equal(img[on_i], image32[on_i]))
        for s in np.unique(segments[~on_i]):
            sel = segments == s
            n_off += 1
            mean_colour &= bool(
                np.ptp(img[sel], axis=0).max() == 0
                and np.allclose(img[sel], image[sel].mean(axis=0), atol=1e-6)
            )
    return {
        "perturbation_samples": np.asarray(samples, dtype=np.int64),
        "perturbation_on_unchanged": kept,
        "perturbation_off_mean_colour": mean_colour,
        "perturbation_off_superpixels": n_off,
    }


def overlay_channels(image: np.ndarray, overlay: np.ndarray, mask_image: np.ndarray) -> dict:
    """Which channel get_image_and_mask set for positive / negative superpixels, read from an
    overlay: per sign, the share of its pixels whose R, G, B value is the image maximum."""
    top = np.max(image)
    out = {}
    for sign, sel in (("positive", mask_image > 0), ("negative", mask_image < 0)):
        px = overlay[sel]
        out[sign] = (px == top).mean(axis=0) if len(px) else np.full(3, np.nan)
    return out


def explain(
    model,
    x,
    target,
    *,
    image: str,
    device,
    seed: int,
    num_samples: int,
    batch_size: int,
    top_labels: int,
    feature_map: str,
    output: str,
    segmentation: dict,
    mask: dict,
) -> dict:
    """The artifact arrays of one image: lime's explanation of the true label (or of its top label
    when the true one is not among the `top_labels`), its mask image and per-pixel weights."""
    import torch

    label = int(target[0])
    hwc = x[0].permute(1, 2, 0).cpu().numpy().astype(np.float64)  # the homework's HWC double image
    segments = segment(
        hwc,
        segmentation["n_segments"],
        segmentation["compactness"],
        segmentation["sigma"],
        segmentation["start_label"],
    )

    @torch.no_grad()
    def classifier_fn(batch: np.ndarray) -> np.ndarray:
        out = model(torch.as_tensor(batch, dtype=torch.float32).permute(0, 3, 1, 2).to(device))
        return (out.softmax(1) if output == "probabilities" else out).cpu().numpy()

    exp, raw = lime_image(
        hwc, classifier_fn, segments, seed, num_samples, batch_size, top_labels, feature_map
    )
    if label not in exp.local_exp:
        label_used = int(exp.top_labels[0])
        log.warning(
            "%s: true label %d is not among LIME's top %d labels; explaining %d",
            image,
            label,
            top_labels,
            label_used,
        )
    else:
        label_used = label
    overlay, mask_image = exp.get_image_and_mask(
        label_used,
        positive_only=mask["positive_only"],
        hide_rest=mask["hide_rest"],
        num_features=mask["num_features"],
        min_weight=mask["min_weight"],
    )
    weights = weight_vector(exp, label_used, raw["n_features"])
    feat = feature_pixels(segments, feature_map)
    pixel_weights = np.where(feat >= 0, weights[np.maximum(feat, 0)], 0.0)
    channels, channel_source = overlay_channels(hwc, overlay, mask_image), "overlay"
    if np.isnan(channels["positive"]).any() or np.isnan(channels["negative"]).any():
        # this overlay lacks one sign: read both from lime's overlay of every feature of the same
        # explanation
        full, full_mask = exp.get_image_and_mask(
            label_used,
            positive_only=False,
            hide_rest=False,
            num_features=raw["n_features"],
            min_weight=0.0,
        )
        channels, channel_source = (
            overlay_channels(hwc, full, full_mask),
            "overlay of every feature",
        )
    return {
        "segments": segments,
        "feature_of_pixel": feat,
        "weights": weights,
        "intercept": float(exp.intercept[label_used]),
        "score": float(exp.scores[label_used]),
        "local_pred": np.asarray(exp.local_preds[label_used]).ravel(),
        "explained_label": label_used,
        "top_labels": np.asarray(exp.top_labels),
        "overlay": overlay.astype(np.float32),
        "mask": mask_image,
        "positive_mask": mask_image > 0,
        "negative_mask": mask_image < 0,
        "pixel_weights": pixel_weights.astype(np.float32),
        "sample_scores": raw["scores"].astype(np.float32),
        "overlay_positive_channels": channels["positive"],
        "overlay_negative_channels": channels["negative"],
        "overlay_channels_from": channel_source,
        **perturbation_facts(hwc, segments, feature_map, raw["data"]),
    }


def passes(cfg: dict, model=None) -> dict:
    return {"forward": cfg["num_samples"]}


def reference(model, x, target, cfg: dict):
    """The lime package's explain_instance with the same samples and segmentation."""
    import contextlib
    import io

    import torch
    from lime.lime_image import LimeImageExplainer

    @torch.no_grad()
    def predict(batch):
        return model(torch.FloatTensor(batch).permute(0, 3, 1, 2)).numpy()

    out = []
    with contextlib.redirect_stderr(io.StringIO()):  # lime's progress bar
        for im in x.permute(0, 2, 3, 1).double().numpy():
            seg = segment(im, **cfg["segmentation"])
            out.append(
                LimeImageExplainer(random_state=cfg["seed"]).explain_instance(
                    im,
                    predict,
                    segmentation_fn=lambda a, s=seg: s,
                    num_samples=cfg["num_samples"],
                    top_labels=cfg["top_labels"],
                )
            )
    return out
