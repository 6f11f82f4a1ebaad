"""Array helpers shared by the method, figure and report layers (numpy only)."""

from __future__ import annotations

import numpy as np


def minmax(a) -> np.ndarray:
    """(a - min) / (max - min) over the whole array, NaNs ignored; all zeros when it is constant.

    Floating arrays keep their dtype (a float32 map stays float32); others become float64. Callers
    that want float64 arithmetic pass a float64 array."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    lo, hi = np.nanmin(a), np.nanmax(a)
    span = hi - lo
    return (a - lo) / span if span > 0 else np.zeros_like(a)
