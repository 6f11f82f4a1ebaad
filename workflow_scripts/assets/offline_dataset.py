"""The offline food-11 asset set: emoji food glyphs pasted on varied backgrounds, with masks.

Every image i of split s is drawn from its own generator seeded by (seed, s, i), so the set is
identical whatever the number of worker processes, and one image never depends on another.
The per-pixel mask of the food glyph is kept: it lets the pipeline measure whether an
explanation points at the food.

Optional controlled shortcut (config offline.shortcut, off by default): a small solid square (the
marker) drawn on top of everything at a fixed position in a share of one class's images and in a
few of the others'. Which images carry it comes from its own generator, so the images themselves
(and a build with the shortcut off) are the same pixels as without it, marker aside.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from workflow_scripts.core.errors import UserError

SPLITS = ("train", "val", "test")
FONT_PACKAGE = "fonts-noto-color-emoji"


def load_font(path: str, size: int = 109) -> ImageFont.FreeTypeFont:
    """NotoColorEmoji is a bitmap font: 109 px is the size it renders at."""
    if not Path(path).is_file():
        raise UserError(
            f"{path}: emoji font not found; install the Debian package {FONT_PACKAGE} "
            "(apt-get install fonts-noto-color-emoji) or set offline.font in the config"
        )
    try:
        return ImageFont.truetype(path, size)
    except OSError as exc:
        raise UserError(
            f"{path}: cannot load the emoji font at {size} px ({exc}); "
            f"use NotoColorEmoji.ttf from {FONT_PACKAGE}"
        ) from exc


@functools.lru_cache(maxsize=None)
def render_glyph(font_path: str, size: int, char: str) -> np.ndarray:
    """One colour glyph as a tight RGBA uint8 array (cached per process)."""
    font = load_font(font_path, size)
    canvas = Image.new("RGBA", (size * 2, size * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((size // 4, size // 4), char, font=font, embedded_color=True)
    arr = np.asarray(canvas)
    alpha = arr[..., 3] > 0
    if alpha.sum() < 50:
        raise UserError(
            f"{font_path}: glyph {char!r} (U+{ord(char[0]):04X}) renders empty; "
            "pick another glyph in offline.glyphs or update fonts-noto-color-emoji"
        )
    ys, xs = np.nonzero(alpha)
    return arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].copy()


@functools.lru_cache(maxsize=None)
def _skimage_backgrounds() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled pictures and textures (shipped with the package, no download)."""
    from skimage import data

    out = []
    for name in (
        "astronaut",
        "brick",
        "camera",
        "chelsea",
        "coffee",
        "coins",
        "grass",
        "gravel",
        "horse",
        "rocket",
        "text",
        "colorwheel",
        "page",
        "moon",
    ):
        try:
            img = np.asarray(getattr(data, name)())
        except Exception:  # a name missing from this scikit-image version: use the others
            continue
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        out.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    return tuple(out)


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    kind = rng.integers(3)
    if kind == 0:  # a random crop of a bundled picture
        pics = _skimage_backgrounds()
        pic = pics[rng.integers(len(pics))]
        h, w = pic.shape[:2]
        side = int(rng.integers(min(h, w) // 4, min(h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        img = Image.fromarray(pic[y : y + side, x : x + side]).resize((size, size), Image.BILINEAR)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return img
    if kind == 1:  # smooth procedural noise: low-resolution random field upsampled
        cells = int(rng.integers(2, 9))
        field = rng.uniform(0, 255, size=(cells, cells, 3)).astype(np.uint8)
        return Image.fromarray(field).resize((size, size), Image.BICUBIC)
    # flat colour with fine grain
    colour = rng.uniform(0, 255, size=3)
    grain = rng.normal(0, rng.uniform(2, 20), size=(size, size, 1))
    return Image.fromarray(np.clip(colour + grain, 0, 255).astype(np.uint8))


def _jitter(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness / contrast / per-channel gain on the RGB of an RGBA glyph."""
    rgb = glyph[..., :3].astype(np.float32)
    mean = rgb.mean()
    rgb = (rgb - mean) * rng.uniform(0.8, 1.2) + mean * rng.uniform(0.8, 1.2)
    rgb *= rng.uniform(0.9, 1.1, size=3)
    out = glyph.copy()
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    return out


def _paste(
    canvas: Image.Image, glyph: np.ndarray, rng: np.random.Generator, size_px: int, rotation: float
) -> np.ndarray:
    """Paste a resized, rotated glyph at a random position; return its boolean mask."""
    h, w = glyph.shape[:2]
    scale = size_px / max(h, w)
    img = Image.fromarray(glyph).resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR
    )
    img = img.rotate(float(rng.uniform(-rotation, rotation)), resample=Image.BILINEAR, expand=True)
    gw, gh = img.size
    n = canvas.size[0]
    x = int(rng.integers(min(0, n - gw), max(0, n - gw) + 1))
    y = int(rng.integers(min(0, n - gh), max(0, n - gh) + 1))
    canvas.paste(img, (x, y), img)
    layer = Image.new("L", canvas.size, 0)
    layer.paste(img.getchannel("A"), (x, y))
    return np.asarray(layer) >= 128


def render_image(
    seed: int, split_index: int, index: int, spec: dict
) -> tuple[np.ndarray, np.ndarray, int]:
    """Image `index` of a split: (H x W x 3 uint8, H x W bool food mask, label)."""
    rng = np.random.default_rng([seed, split_index, index])
    n_classes = len(spec["glyphs"])
    label = index % n_classes  # balanced classes; training shuffles the order
    size = spec["image_size"]
    canvas = _background(rng, size).convert("RGB")
    distractors = spec["distractor_glyphs"]
    lo_d, hi_d = spec["distractors"]
    n_before = int(rng.integers(lo_d, hi_d + 1))
    d_lo, d_hi = spec["distractor_scale"]
    for _ in range(n_before):  # distractors go under the food so the mask stays exact
        char = distractors[rng.integers(len(distractors))]
        glyph = render_glyph(spec["font"], spec["glyph_px"], char)
        _paste(
            canvas, _jitter(glyph, rng), rng, int(rng.uniform(d_lo, d_hi) * size), spec["rotation"]
        )
    chars = spec["glyphs"][label]
    char = chars[rng.integers(len(chars))]
    glyph = render_glyph(spec["font"], spec["glyph_px"], char)
    lo, hi = spec["scale"]
    mask = _paste(
        canvas, _jitter(glyph, rng), rng, int(rng.uniform(lo, hi) * size), spec["rotation"]
    )
    return np.asarray(canvas, dtype=np.uint8), mask, label


# ---- the controlled shortcut's marker

# Tag of the marker's own random stream (image streams are (seed, split, index)): choosing which
# images carry the marker draws nothing from an image's stream.
MARKER_STREAM = 0x5C0DE


def marker_mask(marker: dict, size: int) -> np.ndarray:
    """H x W bool: the marker's pixels (a `size` x `size` square with its top-left at (x, y))."""
    m = np.zeros((size, size), dtype=bool)
    m[marker["y"] : marker["y"] + marker["size"], marker["x"] : marker["x"] + marker["size"]] = True
    return m


def paste_marker(image: np.ndarray, marker: dict) -> np.ndarray:
    """A copy of one H x W x 3 uint8 image (or N x H x W x 3 stack) with the marker drawn on top."""
    out = np.array(image, copy=True)
    out[..., marker_mask(marker, image.shape[-2]), :] = np.asarray(marker["colour"], np.uint8)
    return out


def marker_share(shortcut: dict, split: str, label: int) -> float:
    """Share of a split's images of class `label` that carry the marker."""
    if label != shortcut["class"]:
        return shortcut["p_other"]
    return shortcut["test_p"] if split == "test" else shortcut["p"]


def marker_flags(seed: int, split: str, labels: np.ndarray, shortcut: dict) -> np.ndarray:
    """Which images of a split carry the marker: exactly round(share * n_c) of the n_c images of
    each class c, chosen by the marker's own generator (seed, split, MARKER_STREAM)."""
    rng = np.random.default_rng([MARKER_STREAM, seed, SPLITS.index(split)])
    flags = np.zeros(len(labels), dtype=bool)
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        idx = np.flatnonzero(labels == c)
        k = int(round(marker_share(shortcut, split, c) * len(idx)))
        flags[rng.permutation(idx)[:k]] = True
    return flags


def split_labels(count: int, n_classes: int) -> np.ndarray:
    """The labels of a split, known without rendering (image i has label i mod n_classes)."""
    return np.arange(count, dtype=np.int64) % n_classes


def _render_range(args) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed, split_index, start, stop, spec, flags = args
    imgs, masks, labels = [], [], []
    for k, i in enumerate(range(start, stop)):
        img, mask, label = render_image(seed, split_index, i, spec)
        if flags is not None and flags[k]:  # on top of everything: it hides what it covers
            img = paste_marker(img, spec["shortcut"]["marker"])
            mask = mask & ~marker_mask(spec["shortcut"]["marker"], spec["image_size"])
        imgs.append(img)
        masks.append(mask)
        labels.append(label)
    return np.stack(imgs), np.stack(masks), np.asarray(labels, dtype=np.int64)


def render_split(
    seed: int,
    split: str,
    count: int,
    spec: dict,
    workers: int = 1,
    chunk: int = 250,
    flags: np.ndarray | None = None,
):
    """All images of a split, rendered in chunks over `workers` processes (same result for any
    count). `flags`: which images carry the shortcut's marker (spec["shortcut"]), None: none."""
    split_index = SPLITS.index(split)
    jobs = [
        (seed, split_index, s, min(s + chunk, count), spec, None if flags is None else flags[s:e])
        for s in range(0, count, chunk)
        for e in [min(s + chunk, count)]
    ]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_render_range, jobs))
    else:
        parts = [_render_range(j) for j in jobs]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def make_spec(offline: dict) -> dict:
    """The rendering parameters taken from the `offline` config block."""
    k = offline["glyphs_per_class"]
    shortcut = offline.get("shortcut") or {}
    glyphs = [
        list(offline["glyphs"][c])[:k] if k else list(offline["glyphs"][c])
        for c in range(len(offline["glyphs"]))
    ]
    spec = {
        "font": offline["font"],
        "glyph_px": offline["glyph_px"],
        "image_size": offline["image_size"],
        "glyphs": glyphs,
        "scale": list(offline["scale"]),
        "rotation": offline["rotation"],
        "distractors": list(offline["distractors"]),
        "distractor_glyphs": list(offline["distractor_glyphs"]),
        "distractor_scale": list(offline["distractor_scale"]),
    }
    if shortcut.get("enabled"):  # absent when off: the default spec (and dataset) stay as they were
        spec["shortcut"] = {k: shortcut[k] for k in SHORTCUT_RENDER_KEYS}
        check_marker(spec["shortcut"], spec["image_size"], len(glyphs))
    return spec


# The offline.shortcut keys that shape the images (the others configure the measurement only).
SHORTCUT_RENDER_KEYS = ("class", "p", "p_other", "test_p", "marker")


def check_marker(shortcut: dict, size: int, n_classes: int) -> None:
    """One line naming the key when the marker does not fit the image or the class is unknown."""
    m = shortcut["marker"]
    if m["x"] + m["size"] > size or m["y"] + m["size"] > size:
        raise UserError(
            f"config key offline.shortcut.marker: a {m['size']} px square at x={m['x']}, "
            f"y={m['y']} does not fit a {size} px image; make x + size and y + size <= {size}"
        )
    if shortcut["class"] >= n_classes:
        raise UserError(
            f"config key offline.shortcut.class: {shortcut['class']} is not a class; "
            f"use 0..{n_classes - 1}"
        )


def check_font_renders(spec: dict) -> None:
    """Fail early, in the parent process, with one clear line if the font or a glyph is unusable."""
    for chars in spec["glyphs"]:
        for c in chars:
            render_glyph(spec["font"], spec["glyph_px"], c)
    for c in spec["distractor_glyphs"]:
        render_glyph(spec["font"], spec["glyph_px"], c)


def pick_observed(labels: np.ndarray, per_class: int, n_classes: int) -> list[int]:
    """Indices of the first `per_class` test images of each class, in class order."""
    chosen = []
    for c in range(n_classes):
        chosen += [int(i) for i in np.flatnonzero(labels == c)[:per_class]]
    return chosen


def default_workers(threads: int) -> int:
    return max(1, threads or (os.cpu_count() or 1))


def build(
    offline: dict, seed: int, threads: int, split_paths: dict, food_dir, summary_path
) -> dict:
    """Render the three splits, write them as .npz, and the observed test images as
    `<label>_<id>.jpg`.

    The observed images get `<stem>.mask.png` ground-truth masks beside them. All outputs are
    written to temporary names first, so a failure leaves nothing that looks complete.
    """
    import logging
    import shutil
    import time

    from workflow_scripts.core.io import atomic_path, write_json

    log = logging.getLogger("xai")
    spec = make_spec(offline)
    check_font_renders(spec)
    workers = default_workers(threads)
    start = time.perf_counter()
    stats = {}
    rendered = {}
    for split in SPLITS:
        t0 = time.perf_counter()
        count, n_classes = offline["splits"][split], len(spec["glyphs"])
        flags = None
        if "shortcut" in spec:
            flags = marker_flags(seed, split, split_labels(count, n_classes), spec["shortcut"])
        images, masks, labels = render_split(seed, split, count, spec, workers, flags=flags)
        rendered[split] = (images, masks, labels)
        arrays = {"images": images, "masks": masks, "labels": labels}
        if flags is not None:  # per-image marker pixels (all False where it is absent)
            square = marker_mask(spec["shortcut"]["marker"], spec["image_size"])
            arrays.update(has_marker=flags, marker=flags[:, None, None] & square[None])
        with atomic_path(split_paths[split]) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        stats[split] = {
            "count": int(len(labels)),
            "class_counts": np.bincount(labels, minlength=n_classes).tolist(),
            "mask_area_mean": float(masks.mean()),
            "seconds": time.perf_counter() - t0,
        }
        if flags is not None:
            stats[split]["marker_counts"] = np.bincount(labels[flags], minlength=n_classes).tolist()
        log.info(
            "%s: %d images in %.1f s (mean mask area %.1f %%)",
            split,
            len(labels),
            stats[split]["seconds"],
            100 * stats[split]["mask_area_mean"],
        )
    images, masks, labels = rendered["test"]
    chosen = pick_observed(labels, offline["observed_per_class"], len(spec["glyphs"]))
    food_dir = Path(food_dir)
    tmp_dir = food_dir.with_name(f".{food_dir.name}.partial")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    observed = []
    for k, i in enumerate(chosen):  # homework-style names: <label>_<running id>
        stem = f"{labels[i]}_{k}"
        Image.fromarray(images[i]).save(tmp_dir / f"{stem}.jpg", quality=95)
        Image.fromarray(masks[i].astype(np.uint8) * 255).save(tmp_dir / f"{stem}.mask.png")
        observed.append({"name": stem, "label": int(labels[i]), "test_index": int(i)})
    shutil.rmtree(food_dir, ignore_errors=True)
    tmp_dir.rename(food_dir)
    summary = {
        "seed": seed,
        "workers": workers,
        "splits": stats,
        "observed": observed,
        "spec": spec,
        "seconds": time.perf_counter() - start,
    }
    write_json(summary_path, summary)
    log.info(
        "offline asset set: %s images in %.1f s; observed %s",
        sum(s["count"] for s in stats.values()),
        summary["seconds"],
        [o["name"] for o in observed],
    )
    return summary
