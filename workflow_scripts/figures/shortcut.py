"""Figures of the controlled shortcut: each method's marker mass against chance, and one
marker-bearing image with every method's map (the marker outlined)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from workflow_scripts.figures.save import save  # noqa: E402

OUTLINE = {"levels": [0.5], "colors": "cyan", "linewidths": 1.0}


def mass_figure(data: dict, path) -> None:
    """Horizontal bars: mean share of positive attribution on the marker per method, 95 % CI as
    error bars, chance (the marker's area share) and the reveal threshold as vertical lines."""
    methods = list(data["methods"])
    rows = [data["methods"][m] for m in methods]
    mean = np.array([r["mean"] for r in rows])
    err = np.array([[r["mean"] - r["low"] for r in rows], [r["high"] - r["mean"] for r in rows]])
    shade = {"reveals": "tab:red", "split": "tab:orange", "hides": "tab:grey"}
    colours = [shade[r["verdict"]] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(methods) + 1.6))
    y = np.arange(len(methods))[::-1]
    ax.barh(y, mean, xerr=err, color=colours, capsize=3)
    chance, k = data["chance"], data["reveal_factor"]
    ax.axvline(chance, color="black", linestyle="--", linewidth=1, label=f"chance ({chance:.2%})")
    ax.axvline(k * chance, color="black", linestyle=":", linewidth=1, label=f"{k:g} x chance")
    ax.set_yticks(y, methods)
    ax.set_xlabel("share of positive attribution on the marker (mean, 95 % CI)")
    rel = data["reliance"]
    ax.set_title(
        f"class {data['class']} ({data['class_name']}): accuracy {rel['accuracy_with_marker']:.0%} "
        f"with marker, {rel['accuracy_without_marker']:.0%} without; flip rate "
        f"{rel['flip_rate']:.1%}\nred: every statistic reveals the shortcut; orange: they "
        "disagree; grey: none does",
        fontsize=9,
    )
    ax.legend(loc="lower right", fontsize=8)
    save(fig, path)


def examples_figure(data: dict, examples: dict, path) -> None:
    """The first explained image with the marker, and each method's map (positive part, scaled to
    its maximum) with the marker outlined."""
    methods = [m for m in data["methods"] if f"map_{m}" in examples]
    fig, axes = plt.subplots(1, len(methods) + 1, figsize=(2.2 * (len(methods) + 1), 2.6))
    mask = examples["marker_mask"].astype(float)
    axes[0].imshow(examples["image_marked"])
    axes[0].set_title("image + marker", fontsize=8)
    for ax, m in zip(axes[1:], methods):
        a = np.maximum(examples[f"map_{m}"], 0)
        ax.imshow(a / a.max() if a.max() > 0 else a, cmap="hot", vmin=0, vmax=1)
        ax.contour(mask, **OUTLINE)
        ax.set_title(f"{m}\nmass {data['methods'][m]['per_image'][0]:.1%}", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    save(fig, path)
