"""CNN explanation methods, one module per method, each behind one small function.

Every function takes a model and a batch `x` (N x 3 x H x W, values in [0, 1]) plus targets and
returns numpy arrays; none of them moves the model or knows about files. `normalize` is the
homework's per-image min-max scaling.
"""
from __future__ import annotations

import numpy as np

METHODS = ("lime", "saliency", "smoothgrad", "filters", "integrated_gradients")


def normalize(a: np.ndarray) -> np.ndarray:
    """The homework's normalize: (a - min) / (max - min) over the whole array (one image)."""
    a = np.asarray(a, dtype=np.float64)
    span = a.max() - a.min()
    return ((a - a.min()) / span if span > 0 else np.zeros_like(a)).astype(np.float32)
