"""Named regions of the homework images, from config/hw9_annotations.yaml, as boolean masks.

Coordinates are in the model's 128x128 frame: x = column, y = row, origin top-left (the frame of
the axis ticks in the homework's renderings). A region is one of

- ``polygon: [[x, y], ...]`` or ``polygons: [[[x, y], ...], ...]`` (rasterised with
  ``skimage.draw.polygon``: the pixels whose centres lie inside),
- ``union_of: [name, ...]``: the pixels of any of the named regions,
- ``complement_of: [name, ...]``: every pixel of the image outside the named regions,
- ``band_of: name`` with ``width: px``: the named region's outline (its pixels next to a pixel
  outside it; the image border is not an outline) widened to a band ``width`` pixels thick,

optionally followed by ``minus: [name, ...]`` (pixels of those regions removed). Other keys
(``shape``, ``note``) are carried along and do not change the mask. An image may list option
names that are not visible under ``absent: {name: why}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from workflow_scripts.core.errors import UserError

FRAME = 128
_KINDS = ("polygon", "polygons", "union_of", "complement_of", "band_of")
_EXTRA = {"minus", "width", "shape", "note"}


def load_annotations(path) -> dict:
    """The parsed annotation file, checked: every region well formed, every reference resolvable."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(
            f"{path}: cannot read the region annotations ({e.strerror or e}); "
            "check report.annotations"
        )
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]}); fix the file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), dict) or not data["images"]:
        raise UserError(
            f"{path}: expected a mapping with a non-empty 'images:' mapping "
            "of image stem -> regions"
        )
    data = dict(data)
    data["_path"] = str(path)
    for stem, entry in data["images"].items():
        where = f"{path}: image {stem!r}"
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("regions"), dict)
            or not entry["regions"]
        ):
            raise UserError(f"{where}: expected a 'regions:' mapping of name -> region")
        absent = entry.get("absent") or {}
        if not isinstance(absent, dict):
            raise UserError(
                f"{where}: 'absent:' must map an option name to why it is not annotated"
            )
        for name, spec in entry["regions"].items():
            _check_region(where, entry["regions"], str(name), spec)
        for name in entry["regions"]:
            _no_cycle(where, entry["regions"], str(name), ())
    return data


def _check_region(where: str, regions: dict, name: str, spec) -> None:
    where = f"{where} region {name!r}"
    if not isinstance(spec, dict):
        raise UserError(f"{where}: expected a mapping with one of {', '.join(_KINDS)}")
    kinds = [k for k in _KINDS if k in spec]
    if len(kinds) != 1:
        raise UserError(
            f"{where}: give exactly one of {', '.join(_KINDS)} (found {', '.join(kinds) or 'none'})"
        )
    unknown = set(spec) - set(_KINDS) - _EXTRA
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    kind = kinds[0]
    if kind in ("polygon", "polygons"):
        polys = [spec[kind]] if kind == "polygon" else spec[kind]
        if not isinstance(polys, list) or not polys:
            raise UserError(f"{where}: '{kind}' must be a non-empty list")
        for poly in polys:
            if not (
                isinstance(poly, list)
                and len(poly) >= 3
                and all(
                    isinstance(p, list)
                    and len(p) == 2
                    and all(isinstance(c, (int, float)) for c in p)
                    for p in poly
                )
            ):
                raise UserError(
                    f"{where}: a polygon must be a list of at least 3 [x, y] number pairs"
                )
    refs = []
    if kind in ("union_of", "complement_of"):
        if not isinstance(spec[kind], list) or not spec[kind]:
            raise UserError(f"{where}: '{kind}' must be a non-empty list of region names")
        refs += spec[kind]
    if kind == "band_of":
        refs.append(spec["band_of"])
        w = spec.get("width")
        if not isinstance(w, (int, float)) or isinstance(w, bool) or w <= 0:
            raise UserError(f"{where}: 'band_of' needs 'width:' a positive number of pixels")
    if "minus" in spec:
        if not isinstance(spec["minus"], list):
            raise UserError(f"{where}: 'minus' must be a list of region names")
        refs += spec["minus"]
    for ref in refs:
        if ref not in regions:
            raise UserError(f"{where}: refers to region {ref!r}, which this image does not define")


def _refs(spec: dict) -> list:
    out = (
        list(spec.get("union_of") or [])
        + list(spec.get("complement_of") or [])
        + list(spec.get("minus") or [])
    )
    if "band_of" in spec:
        out.append(spec["band_of"])
    return out


def _no_cycle(where: str, regions: dict, name: str, seen: tuple) -> None:
    if name in seen:
        raise UserError(
            f"{where}: regions refer to each other in a cycle ({' -> '.join(seen + (name,))})"
        )
    for ref in _refs(regions[name]):
        _no_cycle(where, regions, ref, seen + (name,))


def _image_entry(annotations: dict, image) -> tuple[str, dict]:
    """The (stem, entry) of `image`: a stem such as '1_2', or the image index 2 (the stem's
    suffix)."""
    images = annotations.get("images") or {}
    path = annotations.get("_path", "region annotations")
    if isinstance(image, str) and image in images:
        return image, images[image]
    if isinstance(image, (int, np.integer)) or (isinstance(image, str) and image.isdigit()):
        for stem, entry in images.items():
            if entry.get("index", str(stem).rsplit("_", 1)[-1]) in (int(image), str(int(image))):
                return stem, entry
    raise UserError(f"{path}: no image {image!r} (annotated: {', '.join(map(str, images))})")


def region_names(annotations: dict, image) -> list[str]:
    """The names of the regions annotated on `image`, in file order."""
    return [str(n) for n in _image_entry(annotations, image)[1]["regions"]]


def region_mask(annotations: dict, image, name: str, size: int = FRAME) -> np.ndarray:
    """Boolean size x size mask of region `name` of `image` (coordinates scaled from the 128
    frame)."""
    stem, entry = _image_entry(annotations, image)
    path = annotations.get("_path", "region annotations")
    if name not in entry["regions"]:
        absent = (entry.get("absent") or {}).get(name)
        why = f" ({absent})" if absent else ""
        raise UserError(
            f"{path}: image {stem!r} has no region {name!r}{why}; "
            f"annotated: {', '.join(map(str, entry['regions']))}"
        )
    return _mask(entry["regions"], name, int(size), {})


def _mask(regions: dict, name: str, size: int, cache: dict) -> np.ndarray:
    if name in cache:
        return cache[name]
    from skimage.draw import polygon as fill

    spec = regions[name]
    scale = size / FRAME
    m = np.zeros((size, size), dtype=bool)
    if "polygon" in spec or "polygons" in spec:
        for poly in [spec["polygon"]] if "polygon" in spec else spec["polygons"]:
            xy = np.asarray(poly, dtype=np.float64) * scale
            rr, cc = fill(xy[:, 1], xy[:, 0], shape=(size, size))
            m[rr, cc] = True
    elif "union_of" in spec:
        for ref in spec["union_of"]:
            m |= _mask(regions, ref, size, cache)
    elif "complement_of" in spec:
        m[:] = True
        for ref in spec["complement_of"]:
            m &= ~_mask(regions, ref, size, cache)
    else:
        m = _band(_mask(regions, spec["band_of"], size, cache), float(spec["width"]) * scale)
    for ref in spec.get("minus") or []:
        m &= ~_mask(regions, ref, size, cache)
    cache[name] = m
    return m


def _band(m: np.ndarray, width: float) -> np.ndarray:
    """Pixels within width/2 of the outline of `m` (pixels of m with a 4-neighbour outside m)."""
    from scipy.ndimage import binary_erosion, distance_transform_edt

    outline = m & ~binary_erosion(m, border_value=1)
    if not outline.any():
        return outline
    return distance_transform_edt(~outline) <= max(width / 2.0, 0.5)
