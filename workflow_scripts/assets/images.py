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


def too_large(shown, exc: Exception) -> str:
    """The one line for an image PIL refuses to decode (a decompression bomb), naming it."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)):,} pixels, " if found else ""
    return (
        f"{shown}: image too large to load safely ({size}PIL's limit is "
        f"{2 * Image.MAX_IMAGE_PIXELS:,}); resize it (the Classifier reads "
        f"{IMAGE_SIZE}x{IMAGE_SIZE}) or replace the file"
    )


def load_image_array(path) -> np.ndarray:
    """One image as 3 x 128 x 128 float32 in [0, 1]: the homework's eval transform
    `Compose([Resize((128, 128)), ToTensor()])` (aspect ratio NOT kept, no mean/std
    normalisation), computed with PIL and NumPy so that loading does not need torch.
    Grayscale / RGBA / palette images become RGB; 16-bit grayscale is scaled to 8 bit first."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: image not found; restore it or remove it from observed.names in the config"
        )
    try:
        with Image.open(path) as img:
            img = _to_rgb(img, path).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / np.float32(255)
    except Image.DecompressionBombError as exc:
        raise UserError(too_large(path, exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UserError(
            f"{path}: not a readable image ({type(exc).__name__}); replace the file"
        ) from exc
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _to_rgb(img: Image.Image, path: Path) -> Image.Image:
    """`img` as 8-bit RGB. 16-bit grayscale (a PNG's I;16 / I) is scaled to 8 bit (65535 -> 255):
    PIL's own convert("RGB") clips it, so almost every pixel would become white. Float images are
    refused."""
    if img.mode.startswith("I;16") or img.mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise UserError(
                f"{path}: 32-bit integer image with values outside 0-65535; "
                "save it as an 8-bit RGB JPEG"
            )
        eight = np.round(arr / 257.0).astype(np.uint8)
        return Image.fromarray(eight, mode="L").convert("RGB")
    if img.mode == "F":
        raise UserError(f"{path}: 32-bit float image; save it as an 8-bit RGB JPEG")
    return img.convert("RGB")


def load_image(path):
    """`load_image_array` as a torch tensor."""
    import torch

    return torch.from_numpy(load_image_array(path))


def load_batch(paths):
    import torch

    return torch.stack([load_image(p) for p in paths])
