"""Seeded bootstrap confidence intervals for the per-image quality scores."""

from __future__ import annotations

import numpy as np


def _interval(values, seed, n_boot, level) -> dict:
    n = values.size
    if n == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(int(n_boot), n))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": int(n)}


def bootstrap_ci(values, *, seed, n_boot=1000, level=0.95) -> dict:
    """Percentile bootstrap CI of the mean, ignoring nan: {"mean", "low", "high", "n"}.

    n_boot resamples (with replacement, same size) drawn from np.random.default_rng(seed), so
    the same values and seed give the same interval. n = number of non-nan values; none -> nan.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    return _interval(values[~np.isnan(values)], seed, n_boot, level)


def paired_difference_ci(a, b, *, seed, n_boot=1000, level=0.95) -> dict:
    """Bootstrap CI of mean(a - b) over the pairs where neither is nan (images resampled
    jointly, so per-image difficulty cancels): {"mean", "low", "high", "n"}; low > 0 says A
    beats B at this level, high < 0 that B beats A."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} and {b.size}")
    d = a - b
    return _interval(d[~np.isnan(d)], seed, n_boot, level)
