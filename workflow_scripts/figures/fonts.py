"""A CJK font for matplotlib, so Chinese titles and tick labels render as glyphs, not boxes.

The font comes with the project's setup (Debian `fonts-wqy-microhei`); Latin text keeps DejaVu
Sans and falls back to the CJK font glyph by glyph (matplotlib >= 3.6 font fallback).
"""

from __future__ import annotations

from workflow_scripts.core.errors import UserError

CJK_FAMILIES = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK TC",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans TW",
    "Microsoft JhengHei",
    "PingFang TC",
    "Heiti TC",
)


def cjk_family() -> str:
    """The first installed CJK family, or a one-line error naming the package to install."""
    from matplotlib import font_manager

    for family in CJK_FAMILIES:
        try:
            font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
            return family
        except ValueError:
            continue
    raise UserError(
        "no CJK font for the Chinese figure labels: install one, e.g. "
        "`sudo apt-get install fonts-wqy-microhei` (Debian), then delete ~/.cache/matplotlib"
    )


def use_cjk() -> str:
    import matplotlib

    family = cjk_family()
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", family]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return family
