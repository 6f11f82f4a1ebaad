"""Quality metrics of one attribution map: localisation, faithfulness, sanity, agreement.

Maps are H x W float numpy arrays, masks H x W bool; torch only where a model is involved.
Each function says where it differs from Quantus 0.6.0; tests/test_quality_metrics.py checks
the equality (or the documented difference) on the same maps, masks and model.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg
import scipy.stats
import skimage.metrics
import torch

# ---------------------------------------------------------------- localisation


def _pair(a, mask):
    a = np.asarray(a, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if a.shape != mask.shape or a.ndim != 2:
        raise ValueError(f"map {a.shape} and mask {mask.shape} must be the same H x W shape")
    return a, mask


def relevance_mass(a, mask) -> float:
    """Share of the positive attribution that lies inside the mask (Arras et al. 2022).

    sum(max(a, 0)[mask]) / sum(max(a, 0)); nan when nothing is positive or the mask is empty.
    Quantus's RelevanceMassAccuracy uses the signed map (sum(a[mask]) / sum(a)), which can leave
    [0, 1] when a has negative values; on non-negative maps the two are equal.
    """
    a, mask = _pair(a, mask)
    pos = np.maximum(a, 0.0)
    total = pos.sum()
    if total <= 0 or not mask.any():
        return float("nan")
    return float(pos[mask].sum() / total)


def _descending(a) -> np.ndarray:
    """Flat pixel indices, largest value first; ties by flat index (stable, so reproducible)."""
    return np.argsort(-np.asarray(a, dtype=np.float64).ravel(), kind="stable")


def relevance_rank(a, mask) -> float:
    """Share of the k highest pixels of a (k = mask area) that lie inside the mask (Arras et al.
    2022); nan for an empty mask. Ties at the k-th value are broken by flat index (Quantus: by
    an unstable argsort), so the two agree whenever the k-th and (k+1)-th values differ."""
    a, mask = _pair(a, mask)
    k = int(mask.sum())
    if k == 0:
        return float("nan")
    top = _descending(a)[:k]
    return float(mask.ravel()[top].mean())


def _dilate(mask, tolerance) -> np.ndarray:
    """The mask grown by `tolerance` px (Euclidean distance to the nearest mask pixel)."""
    if tolerance <= 0 or not mask.any():
        return mask
    return scipy.ndimage.distance_transform_edt(~mask) <= tolerance


def pointing_game(a, mask, tolerance=0) -> float:
    """1.0 if the maximum of a lies inside the mask dilated by `tolerance` px, else 0.0 (Zhang et
    al. 2018, who use 15 px); nan for an empty mask.

    When several pixels share the maximum the score is the share of them inside the (dilated)
    mask, the hit rate of a random tie-break, so a constant map scores the mask's area share.
    Quantus's PointingGame counts a hit if any of them is inside (a constant map scores 1); with
    a single maximum and tolerance 0 the two are equal.
    """
    a, mask = _pair(a, mask)
    if not mask.any():
        return float("nan")
    target = _dilate(mask, tolerance)
    top = a == a.max()
    return float(target[top].mean())


def _average_ranks(values) -> np.ndarray:
    return scipy.stats.rankdata(np.asarray(values, dtype=np.float64).ravel())


def roc_auc(a, mask) -> float:
    """ROC-AUC of a as a detector of mask pixels: the probability that a random mask pixel
    outscores a random background pixel, ties counting half (Mann-Whitney U; equal to Quantus's
    AUC, sklearn's roc_curve + auc). nan for an empty or full mask."""
    a, mask = _pair(a, mask)
    m = mask.ravel()
    n1 = int(m.sum())
    n0 = m.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = _average_ranks(a)
    return float((ranks[m].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def chance(mask, tolerance=0) -> dict:
    """Expected score of a map that carries no information about the mask: the mask's area
    share for mass and rank (a random map spreads mass and top pixels uniformly), the dilated
    mask's area share for pointing (the maximum falls on a uniformly random pixel) and 0.5 for
    ROC-AUC."""
    mask = np.asarray(mask, dtype=bool)
    area = float(mask.mean())
    return {
        "relevance_mass": area,
        "relevance_rank": area,
        "pointing_game": float(_dilate(mask, tolerance).mean()),
        "roc_auc": 0.5,
    }


def localisation(a, mask, tolerance=0) -> dict:
    """All four localisation metrics of one map, by name."""
    return {
        "relevance_mass": relevance_mass(a, mask),
        "relevance_rank": relevance_rank(a, mask),
        "pointing_game": pointing_game(a, mask, tolerance),
        "roc_auc": roc_auc(a, mask),
    }


# ---------------------------------------------------------------- faithfulness

FILLS = ("blur", "mean", "road")
MODES = ("deletion", "insertion")

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


def _curve_images(x, order, *, mode, fill, steps, blur_sigma, road_noise, seed):
    """Yield the steps + 1 perturbed images (C x H x W tensors) of one curve, in step order."""
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
    for k in counts:
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
    values = np.concatenate(out)
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
    order = _descending(a) if order is None else order
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


def _curves(predict, x, target, specs, *, batch_size, **images) -> list[np.ndarray]:
    """The curve of each (mode, pixel order) in `specs`, their images predicted in shared batches;
    `images`: _curve_images' fill, steps, blur_sigma, road_noise, seed."""
    gens = [_curve_images(x, order, mode=mode, **images) for mode, order in specs]
    return _predict_curves(predict, target, gens, batch_size)


def _curve_set(
    predict, x, target, orders, *, fill, steps, seed, blur_sigma, batch_size, road_noise
):
    """Deletion and insertion curves + AUCs for each {suffix: order}, in shared batches."""
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
    (steps + 1) images are predicted.
    """
    a = np.asarray(a)
    if a.shape != tuple(x.shape[-2:]):
        raise ValueError(f"map {a.shape} does not match the image {tuple(x.shape[-2:])}")
    orders = {"": _descending(a)}
    if random is None:
        orders["_random"] = random_order(a.shape, seed)
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
    )
    if random is not None:
        for key in ("deletion_curve", "insertion_curve", "deletion_auc", "insertion_auc"):
            value = random[f"{key}_random"]
            if key.endswith("curve") and len(value) != steps + 1:
                raise ValueError(f"random baseline has {len(value)} points, not steps + 1")
            out[f"{key}_random"] = value
    out["deletion_norm"] = out["deletion_auc_random"] - out["deletion_auc"]
    out["insertion_norm"] = out["insertion_auc"] - out["insertion_auc_random"]
    return out


# ---------------------------------------------------------------- similarity, sanity, agreement


def _pearson(ra, rb) -> float:
    ra = ra - ra.mean()
    rb = rb - rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def spearman(a, b) -> float:
    """Spearman rank correlation of two maps (flattened, average ranks for ties); nan if either
    is constant."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"maps {a.shape} and {b.shape} differ in shape")
    return _pearson(_average_ranks(a), _average_ranks(b))


def _minmax_abs(m) -> np.ndarray:
    m = np.abs(np.asarray(m, dtype=np.float64))
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def ssim(a, b) -> float:
    """SSIM (skimage structural_similarity, 7 x 7 window, data_range=1) of the min-max
    normalised |a| and |b| (a constant map normalises to zeros). Equal to Quantus's ssim on the
    same normalised 2-D maps; Quantus's MPRT would pass flattened 1-D maps instead."""
    a, b = _minmax_abs(a), _minmax_abs(b)
    if a.shape != b.shape:
        raise ValueError(f"maps {a.shape} and {b.shape} differ in shape")
    return float(skimage.metrics.structural_similarity(a, b, data_range=1.0))


def cascade_layers(model) -> list[str]:
    """Names of the modules that own parameters and can re-initialise them (reset_parameters),
    from the output down: the reverse of the registration order, which is the forward order for
    Sequential and torchvision models. Quantus's MPRT "top_down" walks the same list."""
    names = [
        name
        for name, module in model.named_modules()
        if hasattr(module, "reset_parameters") and any(True for _ in module.parameters(False))
    ]
    return names[::-1]


def cascading_randomisation(model, explain_fn, x, target, *, seed, layers=None) -> list[dict]:
    """Adebayo et al. 2018: re-initialise layers from the top down, cumulatively, in a copy.

    After each layer explain_fn(model_copy, x, target) -> H x W map is compared with the map of
    the intact model: [{"layer", "spearman": rho(|m0|, |m|), "ssim": ssim(|m0|, |m|)}, ...].
    Each layer's reset_parameters() runs right after torch.manual_seed(seed) inside
    torch.random.fork_rng, so the result is seeded and the caller's RNG and model are untouched.
    Quantus's MPRT seeds with seed + 1 before each layer: MPRT(seed=s - 1) gives our "spearman"
    (its default abs + normalise_by_max keep the ranks of |m|).
    """
    m0 = np.abs(np.asarray(explain_fn(model, x, target), dtype=np.float64))
    randomised = copy.deepcopy(model)
    modules = dict(randomised.named_modules())
    names = cascade_layers(randomised) if layers is None else list(layers)
    for name in names:
        if not hasattr(modules.get(name), "reset_parameters"):
            raise ValueError(f"layer {name!r} is not a module of the model with reset_parameters")
    out = []
    for name in names:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            modules[name].reset_parameters()
        m = np.abs(np.asarray(explain_fn(randomised, x, target), dtype=np.float64))
        out.append({"layer": name, "spearman": spearman(m0, m), "ssim": ssim(m0, m)})
    return out


def agreement(maps: dict[str, np.ndarray]) -> dict[tuple[str, str], float]:
    """Pairwise Spearman correlation between the methods' maps of one image (as given, no abs),
    keyed (m1, m2) with m1 before m2 in the dict's order; each map is ranked once."""
    names = list(maps)
    ranks = {name: _average_ranks(maps[name]) for name in names}
    return {
        (m1, m2): _pearson(ranks[m1], ranks[m2])
        for i, m1 in enumerate(names)
        for m2 in names[i + 1 :]
    }
