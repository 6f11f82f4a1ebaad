"""CNN figures of HW9 (food-11 classifier), rendered from cached per-image artifacts.

One figure per method, in the layout its module declares (`FIGURE` in
workflow_scripts/cnn/methods/<method>.py): a title, optional facts summarised over the images
for the title, and rows, each one of "image" (the observed image with label and prediction),
"rgb" (an H x W x 3 artifact key shown as an image) or "heat" (an H x W key in [0, 1], `hot`);
columns are the images in homework order. The homework's layouts: LIME 1 x N; saliency 2 x N;
SmoothGrad and Integrated Gradients 3 x N; filter explanation (FIGURE `per: pairs`) one 3 x N
figure per (layer, filter): images / filter activation / filter visualisation. Where the observed
image carries a ground-truth mask (offline asset set), it is outlined in cyan on the map panels.

Every input is checked before a figure is drawn: a missing file or key raises UserError
naming the file and the key, and no output is written.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from workflow_scripts.cnn.layers import label as layer_label  # noqa: E402
from workflow_scripts.cnn.methods import registry  # noqa: E402
from workflow_scripts.core.arrays import minmax  # noqa: E402
from workflow_scripts.core.errors import UserError  # noqa: E402
from workflow_scripts.core.homework import CLASS_NAMES  # noqa: E402
from workflow_scripts.core.paths import filter_keys  # noqa: E402
from workflow_scripts.figures.save import save  # noqa: E402

OBSERVED_KEYS = ("image", "label", "name")
COMMON_KEYS = ("image", "label", "prediction")
MASK_STYLE = {"levels": [0.5], "colors": "cyan", "linewidths": 0.8}
PANEL_INCHES = 3.0
# At most this many images side by side: more wrap into further blocks of rows, so that an
# 11-image figure stays legible in a 1,100-px-wide report (two blocks of 6 and 5 columns).
MAX_COLUMNS = 6
TITLE_SIZE = 12


def spec(method: str) -> dict:
    """The method's FIGURE declaration (from the method registry)."""
    reg = registry()
    if method not in reg:
        raise UserError(f"unknown CNN figure method {method!r}; expected one of {sorted(reg)}")
    return reg[method]["FIGURE"]


def layout(method: str, n: int) -> tuple[int, int]:
    """(rows, cols) of the figure for `method` with n images."""
    fig = spec(method)
    return (3 if fig.get("per") == "pairs" else len(fig["rows"])), n


# ---------------------------------------------------------------- loading and checks


def _read(path, keys) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise UserError(
                    f"{path}: missing key {missing[0]!r} (has: {', '.join(sorted(z.files))}); "
                    "re-run the step that wrote it"
                )
            return {k: z[k] for k in z.files}
    except UserError:
        raise
    except Exception as exc:  # zip/npy errors: a truncated or foreign file
        raise UserError(
            f"{path}: not a readable .npz ({type(exc).__name__}: {exc}); delete it and re-run"
        ) from exc


def _load(observed, artifacts, keys) -> list[tuple[dict, dict]]:
    observed, artifacts = [Path(p) for p in observed], [Path(p) for p in artifacts]
    if not artifacts:
        raise UserError("no artifacts given for the CNN figure; check the image list in the config")
    if len(observed) != len(artifacts):
        raise UserError(
            f"{len(observed)} observed images but {len(artifacts)} artifacts "
            f"(first artifact: {artifacts[0]}); the two lists must pair up"
        )
    pairs = []
    for obs_path, art_path in zip(observed, artifacts):
        obs = _read(obs_path, OBSERVED_KEYS)
        art = _read(art_path, tuple(COMMON_KEYS) + tuple(keys))
        img = obs["image"]
        if img.ndim != 3 or img.shape[0] != 3:
            raise UserError(f"{obs_path}: key 'image' has shape {img.shape}, expected 3 x H x W")
        if str(art["image"]) != str(obs["name"]):
            raise UserError(
                f"{art_path}: artifact is for image {str(art['image'])!r} but is paired with "
                f"{obs_path} ({str(obs['name'])!r}); the lists must be in the same order"
            )
        pairs.append((obs, art))
    return pairs


# ---------------------------------------------------------------- panels


def _class(i: int, obs: dict | None = None) -> str:
    """A class's name: the observed image's own class list (a folder set), else food-11's."""
    names = (
        [str(n) for n in obs["classes"]] if obs is not None and "classes" in obs else CLASS_NAMES
    )
    return names[i] if 0 <= i < len(names) else str(i)


def _title(obs: dict, art: dict) -> str:
    label, pred = int(art["label"]), int(art["prediction"])
    mark = "" if label == pred else " (wrong)"
    return f"{str(obs['name'])}\nlabel: {_class(label, obs)}\npred: {_class(pred, obs)}{mark}"


def _as_rgb(a) -> np.ndarray:
    """An HxWx3 image for imshow: integer images are taken as 0-255, floats clipped to [0, 1]."""
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[-1] != 3:
        a = a.transpose(1, 2, 0)
    if a.dtype.kind in "iub":
        a = a.astype(np.float64) / 255.0
    return np.clip(a.astype(np.float64), 0.0, 1.0)


def _grid(method: str, n: int, title: str):
    return _grid_rows(layout(method, n)[0], n, title)


def _grid_rows(rows: int, n: int, title: str):
    """The figure and its (rows, n) axes: image i's column; with more than MAX_COLUMNS images the
    columns wrap into blocks of rows (block b holds images b*MAX_COLUMNS ...)."""
    cols = min(n, MAX_COLUMNS)
    blocks = -(-n // cols)
    fig, real = plt.subplots(
        rows * blocks,
        cols,
        # square panels are ~0.8 of a column's width; 0.7 in per block for the image titles
        figsize=(PANEL_INCHES * cols, blocks * (0.8 * PANEL_INCHES * rows + 0.7) + 0.9),
        squeeze=False,
        layout="constrained",  # room for the (wrapped) title, the image titles and row labels
    )
    axes = np.empty((rows, n), dtype=object)
    for i in range(n):
        b, c = divmod(i, cols)
        axes[:, i] = real[b * rows : (b + 1) * rows, c]
    for ax in real.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in real[(blocks - 1) * rows :, n - (blocks - 1) * cols :].flat:
        ax.axis("off")  # the last block's empty columns
    # wrapped to the grid's width, so that a long title does not widen a narrow figure
    fig.suptitle(
        textwrap.fill(title, width=max(20, int(PANEL_INCHES * cols * 6))), fontsize=TITLE_SIZE + 2
    )
    return fig, axes


def _outline(ax, obs: dict) -> None:
    """Cyan contour of the ground-truth mask, if the observed image has one (in image pixel
    units)."""
    mask = obs.get("mask")
    if mask is None or not np.any(mask):
        return
    ax.contour(np.asarray(mask, dtype=float), **MASK_STYLE)


def _image_row(axes, pairs, row: int = 0) -> None:
    for col, (obs, art) in enumerate(pairs):
        axes[row, col].imshow(_as_rgb(obs["image"]))
        axes[row, col].set_title(_title(obs, art), fontsize=TITLE_SIZE - 1)


def _map(ax, m, obs, **kw) -> None:
    ax.imshow(np.asarray(m, dtype=np.float64), **kw)
    _outline(ax, obs)


def _row_label(axes, row: int, text: str) -> None:
    """The row's label on its first panel in every block of rows."""
    seen = set()
    for ax in axes[row]:
        if ax.get_subplotspec().colspan.start == 0 and id(ax) not in seen:
            seen.add(id(ax))
            ax.set_ylabel(textwrap.fill(text, 22), fontsize=TITLE_SIZE - 1)


def _variant(art: dict) -> str:
    v = str(art.get("variant", ""))
    return f" ({v})" if v else ""


def _done(fig, axes, out_png) -> tuple[int, int]:
    shape = axes.shape
    save(fig, out_png)
    return shape


# ---------------------------------------------------------------- figures


def _facts(fig: dict, pairs) -> str:
    """', noise std 0.01-0.02': the title's facts, summarised over the images that have them."""
    out = ""
    for fact in fig.get("facts", []):
        vals = [float(a[fact["key"]]) for _, a in pairs if fact["key"] in a]
        vals = [abs(v) for v in vals] if fact.get("abs") else vals
        if vals:
            out += ", " + fact["text"].format(lo=min(vals), hi=max(vals))
    return out


def method_figures(method: str, observed, artifacts, outs) -> list[tuple[int, int]]:
    """The method's figure and its FIGURE `extra` figures (each {name, title, rows}), in the order
    of `outs` (rules/common.smk cnn_figures)."""
    fig_spec = spec(method)
    extras = fig_spec.get("extra", [])
    if len(outs) != 1 + len(extras):
        raise UserError(f"{method}: {1 + len(extras)} figures declared but {len(outs)} outputs")
    shapes = [method_figure(method, observed, artifacts, outs[0])]
    for extra, out in zip(extras, outs[1:]):
        shapes.append(method_figure(method, observed, artifacts, out, extra))
    return shapes


def method_figure(method: str, observed, artifacts, out_png, fig_spec=None) -> tuple[int, int]:
    """The rows x N figure of a method, as its FIGURE declares (or one of its `extra` figures)."""
    fig_spec = fig_spec or spec(method)
    if fig_spec.get("per") == "pairs":
        raise UserError(f"{method} draws one figure per pair: use filters_figures")
    rows = fig_spec["rows"]
    pairs = _load(observed, artifacts, tuple(r["key"] for r in rows if "key" in r))
    fig, axes = _grid_rows(
        len(rows),
        len(pairs),
        fig_spec["title"] + _variant(pairs[0][1]) + _facts(fig_spec, pairs),
    )
    for r, row in enumerate(rows):
        if row["show"] == "image":
            _image_row(axes, pairs, r)
            continue
        for col, (obs, art) in enumerate(pairs):
            ax = axes[r, col]
            if row["show"] == "rgb":
                _map(ax, _as_rgb(art[row["key"]]), obs)
            elif row["show"] == "heat":
                _map(ax, art[row["key"]], obs, cmap="hot", vmin=0.0, vmax=1.0)
            else:
                raise UserError(
                    f"{method}: FIGURE row shows {row['show']!r}; expected image, rgb or heat"
                )
            if row.get("titles"):
                ax.set_title(_title(obs, art), fontsize=TITLE_SIZE - 1)
    for r, row in enumerate(rows):
        if "label" in row:
            _row_label(axes, r, row["label"])
    return _done(fig, axes, out_png)


def _layer(layer):
    """A pair's layer as configured: an index into model.cnn (int, also from a string of digits)
    or a module path."""
    return int(layer) if str(layer).isdigit() else str(layer)


def _filters_pairs(pairs, out_png, layer, filt: int) -> tuple[int, int]:
    act_key, vis_key, mod_key = filter_keys(layer, filt)
    modules = sorted({str(a[mod_key]) for _, a in pairs})
    fig, axes = _grid(
        "filters",
        len(pairs),
        f"Filter explanation: {layer_label(layer)} ({'/'.join(modules)}), "
        f"filter {filt}" + _variant(pairs[0][1]),
    )
    _image_row(axes, pairs)
    for col, (obs, art) in enumerate(pairs):
        h, w = np.asarray(obs["image"]).shape[1:]
        act = minmax(np.asarray(art[act_key], dtype=np.float64))
        # Activations are smaller than the image deeper in the network: stretch onto the
        # image's pixel grid so that the mask outline lines up.
        axes[1, col].imshow(act, extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="nearest")
        _outline(axes[1, col], obs)
        axes[1, col].set_xlim(-0.5, w - 0.5)
        axes[1, col].set_ylim(h - 0.5, -0.5)
        axes[1, col].set_xlabel(
            f"{art[act_key].shape[0]}x{art[act_key].shape[1]}", fontsize=TITLE_SIZE - 2
        )
        vis = np.asarray(art[vis_key])
        vis = vis.transpose(1, 2, 0) if vis.ndim == 3 and vis.shape[0] == 3 else vis
        axes[2, col].imshow(minmax(np.asarray(vis, dtype=np.float64)))
    _row_label(axes, 0, "image")
    _row_label(axes, 1, "activation (normalised)")
    _row_label(axes, 2, "visualisation (normalised)")
    return _done(fig, axes, out_png)


def filters_figure(observed, artifacts, out_png, layer, filt: int) -> tuple[int, int]:
    """3 x N for one (layer, filter): images / filter activation / filter visualisation (min-max
    RGB)."""
    pairs = _load(observed, artifacts, filter_keys(_layer(layer), int(filt)))
    return _filters_pairs(pairs, out_png, _layer(layer), int(filt))


def filters_figures(observed, artifacts, pairs, outs) -> list[Path]:
    """One filters_figure per (layer, filter) in `pairs`, to the matching file of `outs`.

    All keys of all pairs are checked before the first file is written.
    """
    pairs = [(_layer(layer), int(f)) for layer, f in pairs]
    if not pairs:
        raise UserError("no (layer, filter) pairs given for the filter figures; check the config")
    keys = tuple(k for layer, f in pairs for k in filter_keys(layer, f))
    loaded = _load(observed, artifacts, keys)
    if len(outs) != len(pairs):
        raise UserError(f"{len(pairs)} (layer, filter) pairs but {len(outs)} output files")
    for (layer, filt), out in zip(pairs, outs):
        _filters_pairs(loaded, Path(out), layer, filt)
    return [Path(o) for o in outs]
