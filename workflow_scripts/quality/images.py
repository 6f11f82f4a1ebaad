"""The quality stage's images: held-out test images of the offline set, or the observed images.

Both give (images N x 3 x H x W float tensor in [0, 1], masks N x H x W bool or None, labels,
names) for one job's positions in the stage's image list.
"""

from __future__ import annotations

import numpy as np

from workflow_scripts.quality.plan import image_name, select_indices


def from_dataset(test_npz, per_class: int, count: int, positions) -> tuple:
    """offline: the test split's images at `positions` of the stage's selection."""
    import torch

    with np.load(test_npz) as z:
        labels = z["labels"]
        selection = select_indices(labels, per_class, count)
        chosen = [selection[p] for p in positions]
        images = z["images"][chosen]
        masks = z["masks"][chosen].astype(bool)
        labels = labels[chosen]
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float() / 255.0
    return x, masks, labels.astype(np.int64), [image_name(i) for i in chosen]


def from_observed(npz_files) -> tuple:
    """hw9 (or any set without a dataset): the observed images; masks when every one has one."""
    import torch

    from workflow_scripts.assets.observed import load_observed

    loaded = [load_observed(f) for f in npz_files]
    x = torch.stack([image for image, _, _, _ in loaded])
    masks = [mask for _, _, _, mask in loaded]
    masks = None if any(m is None for m in masks) else np.stack(masks).astype(bool)
    labels = np.asarray([label for _, label, _, _ in loaded], dtype=np.int64)
    return x, masks, labels, [name for _, _, name, _ in loaded]
