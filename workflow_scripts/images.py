"""The homework's image loading: `<label>_<id>.jpg`, ordered by label*1e6 + id, Resize + ToTensor."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision import transforms

from .errors import UserError

IMAGE_SIZE = 128
_NAME = re.compile(r"^(\d+)_(\d+)\.jpe?g$", re.IGNORECASE)

# The homework's eval transform: aspect ratio is NOT kept, values 0..1, no mean/std normalisation.
EVAL_TRANSFORM = transforms.Compose([transforms.Resize((IMAGE_SIZE, IMAGE_SIZE)), transforms.ToTensor()])


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
        raise UserError(f"{folder}: image folder not found; put the homework's food/ images there or fix the config")
    names = [p.name for p in folder.iterdir() if p.is_file() and _NAME.match(p.name)]
    if not names:
        raise UserError(f"{folder}: no images named <label>_<id>.jpg; the homework's food/ folder has 0_0.jpg ... 9_9.jpg")
    names.sort(key=sort_key)
    return [folder / n for n in names], [_parse(n)[0] for n in names]


def load_image(path) -> torch.Tensor:
    """One image as a 3 x 128 x 128 float tensor in [0, 1]; grayscale/RGBA/palette become RGB."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: image not found; restore it or remove it from observed.names in the config")
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            return EVAL_TRANSFORM(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UserError(f"{path}: not a readable image ({type(exc).__name__}); replace the file") from exc


def select_observed(paths: list[Path], labels: list[int], count: int, names: list[str]) -> tuple[list[Path], list[int]]:
    """The observed images: the named stems (in the given order) or else the first `count`."""
    if names:
        by_stem = {p.stem: (p, l) for p, l in zip(paths, labels)}
        unknown = [n for n in names if n not in by_stem]
        if unknown:
            folder = paths[0].parent if paths else "?"
            raise UserError(f"config observed.names: {unknown} not found in {folder}; use stems like '0_0'")
        chosen = [by_stem[n] for n in names]
        return [c[0] for c in chosen], [c[1] for c in chosen]
    if count > len(paths):
        raise UserError(f"config observed.count: {count} requested but {paths[0].parent} holds {len(paths)} images")
    return paths[:count], labels[:count]


def load_batch(paths) -> torch.Tensor:
    return torch.stack([load_image(p) for p in paths])


def to_uint8_hwc(images: torch.Tensor) -> np.ndarray:
    """N x 3 x H x W floats in [0, 1] -> N x H x W x 3 uint8 (for figures and LIME)."""
    return (images.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
