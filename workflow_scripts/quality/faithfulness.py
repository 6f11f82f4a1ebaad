"""Faithfulness of one map: deletion and insertion curves (pixels removed or put back in
relevance order, most relevant first) and their areas, against a random order of the same pixels.

predict maps an N x C x H x W tensor to N x K probabilities. tests/test_quality_metrics.py checks
the curves against Quantus 0.6.0's PixelFlipping and ROAD on the same model and inputs.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg
import torch

from workflow_scripts.quality.localisation import descending
from workflow_scripts.quality.metrics import FILLS, MODES

# ROAD's neighbour weights (Rong et al. 2022; the same table as Quantus's noisy_linear_imputation)
_ROAD_WEIGHTS = (
    ((1, 1), 1 / 12),
    ((0, 1), 1 / 6),
    ((-1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((0, -1), 1 / 6),
    ((-1, -1), 1 / 12),
    ((1, 0), 1 / 6),
    ((-1, 0), 1 / 6),
)


def road_impute(img, unknown, *, noise=0.01, rng=None) -> np.ndarray:
    """ROAD's noisy linear imputation (Rong et al. 2022): every unknown pixel becomes the
    weighted mean of its 8 neighbours (1/6 edge, 1/12 corner, renormalised at the border), one
    sparse linear system per image, plus gaussian noise of std `noise` on the imputed pixels.

    img: C x H x W; unknown: H x W bool. When every pixel is unknown the system has no anchor;
    the image then becomes its per-channel mean (the "mean" fill) plus the noise.
    """
    img = np.asarray(img, dtype=np.float64)
    c, h, w = img.shape
    flat = img.reshape(c, -1)
    unknown = np.asarray(unknown, dtype=bool).ravel()
    idx = np.flatnonzero(unknown)
    out = flat.copy()
    m = idx.size
    if m == 0:
        return out.reshape(img.shape)
    if m == unknown.size:
        res = np.broadcast_to(flat.mean(axis=1, keepdims=True), (c, m)).copy()
    else:
        var = np.full(unknown.size, -1)
        var[idx] = np.arange(m)
        r, col = np.divmod(idx, w)
        diag = np.zeros(m)
        b = np.zeros((m, c))
        rows, cols, vals = [], [], []
        for (dr, dc), weight in _ROAD_WEIGHTS:
            rr, cc = r + dr, col + dc
            valid = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            i = np.flatnonzero(valid)
            j = rr[valid] * w + cc[valid]
            diag[i] += weight
            inside = unknown[j]
            rows.append(i[inside])
            cols.append(var[j[inside]])
            vals.append(np.full(int(inside.sum()), weight))
            b[i[~inside]] -= weight * flat[:, j[~inside]].T
        rows.append(np.arange(m))
        cols.append(np.arange(m))
        vals.append(-diag)
        lhs = scipy.sparse.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, m)
        )
        res = np.asarray(scipy.sparse.linalg.spsolve(lhs, b)).reshape(m, c).T
    if noise:
        rng = np.random.default_rng(0) if rng is None else rng
        res = res + noise * rng.standard_normal(res.shape)
    out[:, idx] = res
    return out.reshape(img.shape)


def fill_image(x, fill, *, blur_sigma=5.0) -> torch.Tensor:
    """The C x H x W image that replaces removed pixels: "blur" = x blurred by a gaussian of
    blur_sigma px (scipy, reflected borders; RISE's blur baseline), "mean" = per-channel mean."""
    x0 = x[0]
    if fill == "mean":
        return x0.mean(dim=(1, 2), keepdim=True).expand_as(x0)
    if fill == "blur":
        arr = x0.detach().cpu().double().numpy()
        blurred = scipy.ndimage.gaussian_filter(arr, sigma=(0, blur_sigma, blur_sigma))
        return torch.from_numpy(blurred).to(dtype=x0.dtype, device=x0.device)
    raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")


def _step_counts(n, steps) -> np.ndarray:
    """Pixels changed at step k = 0 .. steps: floor(k * n / steps)."""
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return np.arange(steps + 1) * n // steps


def _curve_images(x, order, *, mode, fill, steps, blur_sigma, road_noise, seed, interior=False):
    """Yield the steps + 1 perturbed images (C x H x W tensors) of one curve, in step order;
    `interior`: steps 1 .. steps - 1 only (blur and mean fills: the two end images, the image and
    its fill, do not depend on the order)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    x0 = x[0]
    c, h, w = x0.shape
    n = h * w
    order = np.asarray(order).ravel()
    if order.size != n:
        raise ValueError(f"order has {order.size} entries, the image {n} pixels")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    counts = _step_counts(n, steps)
    if fill == "road":
        rng = np.random.default_rng(seed)
        base = x0.detach().cpu().double().numpy()
        for k in counts:
            changed = (rank < k).reshape(h, w)
            unknown = changed if mode == "deletion" else ~changed
            img = road_impute(base, unknown, noise=road_noise, rng=rng)
            yield torch.from_numpy(img).to(dtype=x0.dtype, device=x0.device)
        return
    filled = fill_image(x, fill, blur_sigma=blur_sigma)
    rank_t = torch.from_numpy(rank.reshape(h, w)).to(x0.device)
    for k in counts[1:-1] if interior else counts:
        changed = rank_t < int(k)
        if mode == "deletion":
            yield torch.where(changed, filled, x0)
        else:
            yield torch.where(changed, x0, filled)


def _predict_curves(predict, target, generators, batch_size) -> list[np.ndarray]:
    """Run every curve's images through predict in shared batches; target probability each."""
    sizes, out, batch = [], [], []

    def flush():
        if batch:
            with torch.inference_mode():
                probs = predict(torch.stack(batch))
            probs = probs.detach().cpu().numpy() if torch.is_tensor(probs) else np.asarray(probs)
            out.append(np.asarray(probs, dtype=np.float64)[:, int(target)])
            batch.clear()

    for gen in generators:
        count = 0
        for img in gen:
            batch.append(img)
            count += 1
            if len(batch) >= batch_size:
                flush()
        sizes.append(count)
    flush()
    values = np.concatenate(out) if out else np.zeros(0)  # (one step: only the ends, known)
    return np.split(values, np.cumsum(sizes)[:-1])


def perturbation_curve(
    predict,
    x,
    a,
    target,
    *,
    mode,
    fill,
    steps,
    order=None,
    blur_sigma=5.0,
    seed=0,
    batch_size=64,
    road_noise=0.01,
) -> np.ndarray:
    """Target probability while pixels are deleted ("deletion") or inserted ("insertion") in
    relevance order, most relevant first; steps + 1 values, step 0 = nothing changed.

    predict: (N x C x H x W tensor) -> N x K probabilities; x: 1 x C x H x W tensor; a: H x W.
    Step k changes the first floor(k * H * W / steps) pixels of `order` (default: a descending,
    ties by flat index), all channels of a pixel together. Deletion replaces them by the fill,
    insertion starts from the fill image and puts them back. fill: "blur", "mean" (see
    fill_image) or "road" (every step's removed pixels imputed from the kept ones by
    road_impute, noise std road_noise seeded by `seed`; nothing kept = per-channel mean).
    All steps go through predict in batches of batch_size.

    Quantus's PixelFlipping with features_in_step = C * H * W / steps and the same fill gives
    curve[1:] (it has no step 0, and its AUC is np.trapz with dx=1 instead of curve_auc).
    """
    a = np.asarray(a)
    if a.shape != tuple(x.shape[-2:]):
        raise ValueError(f"map {a.shape} does not match the image {tuple(x.shape[-2:])}")
    order = descending(a) if order is None else order
    return _curves(
        predict,
        x,
        target,
        [(mode, order)],
        fill=fill,
        steps=steps,
        blur_sigma=blur_sigma,
        road_noise=road_noise,
        seed=seed,
        batch_size=batch_size,
    )[0]


def curve_auc(curve) -> float:
    """Trapezoid area under a curve sampled at equal steps of x over [0, 1]."""
    curve = np.asarray(curve, dtype=np.float64)
    if curve.size < 2:
        raise ValueError("a curve needs at least 2 points")
    return float(np.sum(curve[1:] + curve[:-1]) / (2 * (curve.size - 1)))


def random_order(shape, seed) -> np.ndarray:
    """A seeded random permutation of the flat pixel indices of an array of `shape`."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape)))


def _curves(predict, x, target, specs, *, batch_size, ends=None, **images) -> list[np.ndarray]:
    """The curve of each (mode, pixel order) in `specs`, their images predicted in shared batches;
    `images`: _curve_images' fill, steps, blur_sigma, road_noise, seed. `ends`: {mode: (first,
    last)}, the curve's end values where they are known already (not with road, whose imputation
    noise follows the steps): only the images between them are predicted."""
    interior = ends is not None and images["fill"] != "road"
    gens = [_curve_images(x, o, mode=mode, interior=interior, **images) for mode, o in specs]
    curves = _predict_curves(predict, target, gens, batch_size)
    if not interior:
        return curves
    return [np.concatenate([[ends[m][0]], c, [ends[m][1]]]) for (m, _), c in zip(specs, curves)]


def _curve_set(
    predict, x, target, orders, *, fill, steps, seed, blur_sigma, batch_size, road_noise, ends=None
):
    """Deletion and insertion curves + AUCs for each {suffix: order}, in shared batches (`ends`:
    as _curves')."""
    specs = [(mode, suffix) for suffix in orders for mode in MODES]
    curves = _curves(
        predict,
        x,
        target,
        [(mode, orders[suffix]) for mode, suffix in specs],
        fill=fill,
        steps=steps,
        blur_sigma=blur_sigma,
        road_noise=road_noise,
        seed=seed,
        batch_size=batch_size,
        ends=ends,
    )
    out = {}
    for (mode, suffix), curve in zip(specs, curves):
        out[f"{mode}_curve{suffix}"] = curve
        out[f"{mode}_auc{suffix}"] = curve_auc(curve)
    return out


def random_baseline(
    predict, x, target, *, fill, steps, seed, blur_sigma=5.0, batch_size=64, road_noise=0.01
) -> dict:
    """The random-order half of faithfulness(): deletion_curve_random, insertion_curve_random,
    deletion_auc_random, insertion_auc_random for random_order(image shape, seed). It depends on
    the image, not on the map, so compute it once per image and pass it to faithfulness(...,
    random=...) for every method: that halves the forward passes and makes the methods' normalised
    scores share one baseline (paired)."""
    order = random_order(tuple(x.shape[-2:]), seed)
    return _curve_set(
        predict,
        x,
        target,
        {"_random": order},
        fill=fill,
        steps=steps,
        seed=seed,
        blur_sigma=blur_sigma,
        batch_size=batch_size,
        road_noise=road_noise,
    )


def faithfulness(
    predict,
    x,
    a,
    target,
    *,
    fill,
    steps,
    seed,
    blur_sigma=5.0,
    batch_size=64,
    road_noise=0.01,
    random=None,
) -> dict:
    """Deletion and insertion AUCs of a's order and of a random order of the same pixels.

    deletion_norm = deletion_auc_random - deletion_auc (the method's order makes the
    probability fall faster than random) and insertion_norm = insertion_auc -
    insertion_auc_random: higher is better, 0 = no better than random, range [-1, 1]. The
    random order is random_order(a.shape, seed); road noise is seeded by seed too. Also returns
    the four curves (deletion_curve, insertion_curve, deletion_curve_random,
    insertion_curve_random). The 4 x (steps + 1) images share batches of batch_size; with
    `random` = random_baseline(...) of the same image and settings only the method's 2 x
    (steps - 1) images between the ends are predicted (blur and mean fills; road: 2 x (steps +
    1)): its curves start and end where the random baseline's do, the same images.
    """
    a = np.asarray(a)
    if a.shape != tuple(x.shape[-2:]):
        raise ValueError(f"map {a.shape} does not match the image {tuple(x.shape[-2:])}")
    orders = {"": descending(a)}
    ends = None
    if random is None:
        orders["_random"] = random_order(a.shape, seed)
    else:
        for mode in MODES:
            if len(random[f"{mode}_curve_random"]) != steps + 1:
                n = len(random[f"{mode}_curve_random"])
                raise ValueError(f"random baseline has {n} points, not steps + 1")
        ends = {m: (random[f"{m}_curve_random"][0], random[f"{m}_curve_random"][-1]) for m in MODES}
    out = _curve_set(
        predict,
        x,
        target,
        orders,
        fill=fill,
        steps=steps,
        seed=seed,
        blur_sigma=blur_sigma,
        batch_size=batch_size,
        road_noise=road_noise,
        ends=ends,
    )
    if random is not None:
        for key in ("deletion_curve", "insertion_curve", "deletion_auc", "insertion_auc"):
            out[f"{key}_random"] = random[f"{key}_random"]
    out["deletion_norm"] = out["deletion_auc_random"] - out["deletion_auc"]
    out["insertion_norm"] = out["insertion_auc"] - out["insertion_auc_random"]
    return out
