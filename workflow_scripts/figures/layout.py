"""Text that a reader cannot read: labels that collide, or that sit on another panel, or that are
too small at the saved resolution. Measured on matplotlib's rendered bounding boxes, so every
figure the pipeline writes is checked when it is saved (figures/save.py logs what it finds)."""

from __future__ import annotations

from matplotlib.text import Text
from matplotlib.transforms import Bbox

MIN_TEXT_PX = 9  # the smallest legible glyph height at the saved DPI (about 6.5 pt at 100 dpi)
# Boxes that merely touch do not count: a text's box spans its whole line (descent and leading),
# so two stacked lines with clear space between their glyphs can share 1-2 px of box (measured:
# 1.1 px for a suptitle over three-line panel titles that do not touch on the page).
TOLERANCE_PX = 2.0


def _drawn_texts(fig) -> list[Text]:
    """The visible, non-empty texts of the figure, tick labels only for the ticks drawn."""
    texts = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.get_visible():
                continue
            for tick in axis._update_ticks():  # the ticks inside the view, as draw() sees them
                texts += [t for t in (tick.label1, tick.label2) if t.get_visible()]
            texts.append(axis.label)
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            texts += list(legend.get_texts())
            texts.append(legend.get_title())
    texts += list(fig.texts)
    if getattr(fig, "_suptitle", None) is not None:
        texts.append(fig._suptitle)
    unique = {id(t): t for t in texts}  # a suptitle is also one of fig.texts
    return [t for t in unique.values() if t.get_visible() and t.get_text().strip()]


def _panels(fig) -> list:
    """Axes that show something (an empty, hidden grid cell is no panel)."""
    return [
        ax
        for ax in fig.axes
        if ax.get_visible() and (ax.axison or ax.images or ax.lines or ax.patches or ax.collections)
    ]


def _overlap(a: Bbox, b: Bbox) -> bool:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width > TOLERANCE_PX and height > TOLERANCE_PX


def _overlapping(texts: list[Text], boxes: dict) -> list[tuple[Text, Text]]:
    """The overlapping pairs, in the order of `texts` (sweep over left edges: a dense scatter has
    thousands of labels, and all pairs would dominate the time to save it)."""
    order = sorted(range(len(texts)), key=lambda i: boxes[id(texts[i])].x0)
    pairs = []
    for k, i in enumerate(order):
        a = boxes[id(texts[i])]
        for j in order[k + 1 :]:
            b = boxes[id(texts[j])]
            if b.x0 >= a.x1 - TOLERANCE_PX:  # this and every later box start right of a
                break
            if _overlap(a, b):
                pairs.append((min(i, j), max(i, j)))
    return [(texts[i], texts[j]) for i, j in sorted(pairs)]


def _name(text: Text) -> str:
    value = text.get_text().replace("\n", " ")
    return repr(value if len(value) <= 40 else value[:37] + "...")


def problems(fig, dpi: float) -> list[str]:
    """One line per problem: two texts that overlap, a text over another panel's area, a text
    under MIN_TEXT_PX tall at `dpi`."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _drawn_texts(fig)
    boxes = {id(t): t.get_window_extent(renderer) for t in texts}
    out = []
    for t in texts:
        px = t.get_fontsize() * dpi / 72
        if px < MIN_TEXT_PX - 1e-9:
            out.append(f"text {_name(t)} is {px:.1f} px tall (< {MIN_TEXT_PX} px)")
    out += [f"texts {_name(a)} and {_name(b)} overlap" for a, b in _overlapping(texts, boxes)]
    panels = [(ax, ax.get_window_extent(renderer)) for ax in _panels(fig)]
    for t in texts:
        for ax, area in panels:
            if ax is not t.axes and _overlap(boxes[id(t)], area):
                out.append(f"text {_name(t)} lies on another panel")
                break
    return out
