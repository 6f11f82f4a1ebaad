"""The homework's image loading: `<label>_<id>.jpg`, ordered by label*1e6 + id, Resize +
ToTensor."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from workflow_scripts.core.errors import UserError

IMAGE_SIZE = 128
_NAME = re.compile(r"^(\d+)_(\d+)\.jpe?g$", re.IGNORECASE)


def sort_key(name: str) -> int:
    """The homework's `my_key`: label * 1,000,000 + id."""
    label, idx = _parse(name)
    return idx + 1_000_000 * label


def _parse(name: str) -> tuple[int, int]:
    m = _NAME.match(name)
    if not m:
        raise ValueError(name)
    return int(m.group(1)), int(m.group(2))


def get_paths_labels(folder) -> tuple[list[Path], list[int]]:
    """Image paths and labels in the homework's order; other files in the folder are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(
            f"{folder}: image folder not found; "
            "put the homework's food/ images there or fix the config"
        )
    names = [p.name for p in folder.iterdir() if p.is_file() and _NAME.match(p.name)]
    if not names:
        raise UserError(
            f"{folder}: no images named <label>_<id>.jpg; "
            "the homework's food/ folder has 0_0.jpg ... 9_9.jpg"
        )
    names.sort(key=sort_key)
    return [folder / n for n in names], [_parse(n)[0] for n in names]


def load_image_array(path) -> np.ndarray:
    """One image as 3 x 128 x 128 float32 in [0, 1]: the homework's eval transform
    `Compose([Resize((128, 128)), ToTensor()])` (aspect ratio NOT kept, no mean/std
    normalisation), computed with PIL and NumPy so that loading does not need torch.
    Grayscale / RGBA / palette images become RGB."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: image not found; restore it or remove it from observed.names in the config"
        )
    try:
        with Image.open(path) as img:
            img = img.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / np.float32(255)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UserError(
            f"{path}: not a readable image ({type(exc).__name__}); replace the file"
        ) from exc
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def load_image(path):
    """`load_image_array` as a torch tensor."""
    import torch

    return torch.from_numpy(load_image_array(path))


def load_batch(paths):
    import torch

    return torch.stack([load_image(p) for p in paths])
