"""Localisation metrics of one H x W map against a ground-truth H x W bool mask, and what a map
that carries no information about the mask scores on each (its chance level).

Numpy/scipy only (imported when the DAG is built, through the metric registry). Each function
says where it differs from Quantus 0.6.0; tests/test_quality_metrics.py checks the equality (or
the documented difference) on the same maps and masks.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.stats


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


def descending(a) -> np.ndarray:
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
    top = descending(a)[:k]
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


def average_ranks(values) -> np.ndarray:
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
    ranks = average_ranks(a)
    return float((ranks[m].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def area_share(mask, tolerance=0) -> float:
    """Chance of mass and rank: a random map spreads its mass and its top pixels uniformly."""
    return float(np.asarray(mask, dtype=bool).mean())


def dilated_share(mask, tolerance=0) -> float:
    """Chance of the pointing game: the maximum falls on a uniformly random pixel."""
    return float(_dilate(np.asarray(mask, dtype=bool), tolerance).mean())


def half(mask, tolerance=0) -> float:
    """Chance of ROC-AUC: a random score ranks mask and background pixels alike."""
    return 0.5
