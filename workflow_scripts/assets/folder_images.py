"""A folder set's images: the listing (an ImageFolder tree or a CSV of path,label), its manifest,
and each image and mask loaded with the set's preprocessing. Torch-free (PIL and NumPy): the DAG
lists the images while it is built, and a quality job streams its own images from their files.

Every image gets a stem `<label>_<k>` (k: its position in the sorted listing), the form every
later stage and file name takes; the manifest (assets/images.csv) maps stems back to files.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from workflow_scripts.assets.images import _to_rgb, too_large
from workflow_scripts.core.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
MANIFEST_COLUMNS = ("name", "path", "label", "mask")


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def listing(images: dict) -> tuple[list[dict], list[str]]:
    """([{name, path, label, mask}], class names) of config folder.images, in label order then
    path order. A one-line UserError for an empty or missing folder, a bad CSV row, a label
    without a class name."""
    if images["csv"]:
        rows, classes = _from_csv(Path(images["csv"]), list(images["classes"]))
    else:
        rows, classes = _from_tree(Path(images["root"]), list(images["classes"]))
    rows.sort(key=lambda r: (r["label"], r["path"]))
    masks = Path(images["masks"]) if images["masks"] else None
    by_stem = _mask_files(masks) if masks else {}
    for k, row in enumerate(rows):
        row["name"] = f"{row['label']}_{k}"
        row["mask"] = str(by_stem.get(Path(row["path"]).stem, ""))
    return rows, classes


def _from_tree(root: Path, classes: list[str]) -> tuple[list[dict], list[str]]:
    if not root.is_dir():
        raise UserError(
            f"config key folder.images.root: {root} is not a folder; give an ImageFolder tree "
            "(one sub-folder of images per class)"
        )
    found = sorted(d.name for d in root.iterdir() if d.is_dir())
    names = classes or found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise UserError(
            f"config key folder.images.classes: {root} has class folder(s) {', '.join(unknown)} "
            "not in the list; add them or remove the folders"
        )
    rows = [{"path": str(p), "label": names.index(d)} for d in found for p in _images_in(root / d)]
    if not rows:
        raise UserError(
            f"{root}: no images (looked for {', '.join(IMAGE_SUFFIXES)} in its class "
            "sub-folders); an ImageFolder tree has <root>/<class>/<image>"
        )
    return rows, names


def _from_csv(path: Path, classes: list[str]) -> tuple[list[dict], list[str]]:
    if not path.is_file():
        raise UserError(
            f"config key folder.images.csv: {path} does not exist; give a CSV path,label"
        )
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not {"path", "label"} <= set(reader.fieldnames or ()):
            raise UserError(f"{path}: needs the columns path,label (has: {reader.fieldnames})")
        raw = [(r["path"], r["label"].strip(), i + 2) for i, r in enumerate(reader)]
    if not raw:
        raise UserError(f"{path}: no rows; one row per image: path,label")
    numeric = all(label.isdigit() for _, label, _ in raw)
    names = classes or (
        [str(i) for i in range(max(int(lb) for _, lb, _ in raw) + 1)]
        if numeric
        else sorted({lb for _, lb, _ in raw})
    )
    rows = []
    for file, label, line in raw:
        index = int(label) if numeric else (names.index(label) if label in names else -1)
        if not 0 <= index < len(names):
            raise UserError(
                f"{path} line {line}: label {label!r} is not one of the {len(names)} classes; "
                "fix the row or folder.images.classes"
            )
        p = Path(file) if Path(file).is_absolute() else path.parent / file
        rows.append({"path": str(p), "label": index})
    return rows, names


def _mask_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise UserError(
            f"config key folder.images.masks: {folder} is not a folder; give the folder of "
            "masks (same stems as the images) or leave it empty"
        )
    return {p.stem: p for p in _images_in(folder)}


def observed_rows(rows: list[dict], per_class: int) -> list[dict]:
    """The first `per_class` images of each class: the ones explained and drawn."""
    seen: dict[int, int] = {}
    out = []
    for row in rows:
        if seen.get(row["label"], 0) < per_class:
            seen[row["label"]] = seen.get(row["label"], 0) + 1
            out.append(row)
    return out


def fingerprint(rows: list[dict]) -> str:
    """sha256 over every image's and mask's stem, label and content: a changed pixel reruns."""
    h = hashlib.sha256()
    for row in rows:
        h.update(f"{row['name']}|{row['label']}|".encode())
        for key in ("path", "mask"):
            if row[key]:
                h.update(_file_sha256(row[key]).encode())
    return h.hexdigest()


def _file_sha256(path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise UserError(f"{path}: unreadable ({exc.strerror}); fix its permissions or remove it")
    return h.hexdigest()


def write_manifest(path, rows: list[dict]) -> None:
    from workflow_scripts.core.io import atomic_path

    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, MANIFEST_COLUMNS)
        w.writeheader()
        w.writerows({k: row[k] for k in MANIFEST_COLUMNS} for row in rows)


def read_manifest(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{**r, "label": int(r["label"])} for r in csv.DictReader(fh)]


# ---------------------------------------------------------------- pixels


def _sized(img: Image.Image, prep: dict, resample) -> Image.Image:
    """Resize (an int: the shorter side, aspect kept; [h, w]: exactly) then centre-crop (0: none):
    torchvision's Resize + CenterCrop on PIL images."""
    resize, crop = prep["resize"], prep["crop"]
    if isinstance(resize, list):
        img = img.resize((resize[1], resize[0]), resample)
    elif resize:
        w, h = img.size
        short, long_ = (w, h) if w <= h else (h, w)
        new_long = int(resize * long_ / short)
        img = img.resize((resize, new_long) if w <= h else (new_long, resize), resample)
    if crop:
        w, h = img.size
        if w < crop or h < crop:
            raise ValueError(f"{w}x{h} is smaller than the crop {crop}")
        left, top = int(round((w - crop) / 2.0)), int(round((h - crop) / 2.0))
        img = img.crop((left, top, left + crop, top + crop))
    return img


def load_image(path, prep: dict) -> np.ndarray:
    """One image as 3 x H x W float32 in [0, 1] after resize and crop (mean/std is the model's
    first step: figures show these pixels, every method explains them)."""
    try:
        with Image.open(path) as im:
            img = _sized(_to_rgb(im, Path(path)), prep, Image.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / np.float32(255)
    except Image.DecompressionBombError as exc:
        raise UserError(too_large(path, exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{path}: not a readable image ({type(exc).__name__}); replace the file")
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def load_mask(path, prep: dict, image_path, image_hw) -> np.ndarray:
    """A ground-truth mask (any binary image, >= 128 is the object) resized and cropped like its
    image; a size different from the image's, or no positive pixel, is a UserError."""
    try:
        with Image.open(path) as im, Image.open(image_path) as src:
            if im.size != src.size:
                raise UserError(
                    f"{path}: mask is {im.size[0]}x{im.size[1]} but its image {image_path} is "
                    f"{src.size[0]}x{src.size[1]}; a mask has its image's size"
                )
            mask = np.asarray(_sized(im.convert("L"), prep, Image.NEAREST)) >= 128
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UserError(f"{path}: not a readable mask image ({type(exc).__name__})") from None
    if not mask.any():
        raise UserError(
            f"{path}: mask has no positive pixel (>= 128) after resize and crop; fix the mask "
            "or remove it"
        )
    return mask


def load_row(row: dict, prep: dict, classes: list[str]) -> dict:
    """The observed-image arrays of one manifest row (image, label, name, classes, mask)."""
    image = load_image(row["path"], prep)
    arrays = {
        "image": image,
        "label": np.int64(row["label"]),
        "name": np.asarray(row["name"]),
        "classes": np.asarray(classes),
    }
    if row["mask"]:
        arrays["mask"] = load_mask(row["mask"], prep, row["path"], image.shape[1:])
    return arrays
