"""Figures of the quality stage, drawn from its summary (summary.json) and mean curves.

metrics: one panel per metric, each method's mean with its bootstrap 95 % CI and the reference
(chance: the mask area; random: a random pixel order) as a dashed line. curves: the mean
deletion and insertion curves per fill, the random order dashed. sanity: Spearman and SSIM of
each method's map with its intact-model map after each cumulative re-initialisation, top layer
first.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from workflow_scripts.figures.save import save  # noqa: E402

COLOURS = plt.get_cmap("tab10")


def _colour(methods, m):
    return COLOURS(list(methods).index(m) % 10)


def metrics_figure(summary: dict, out) -> None:
    """Methods down the side (named once per row of panels), one panel per metric."""
    metrics = list(summary["metrics"])
    methods = summary["methods"]
    cols = min(4, max(1, len(metrics)))
    rows = max(1, -(-len(metrics) // cols))
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.4 * cols + 1.6, 0.6 + 0.24 * len(methods) * rows + 0.9 * rows),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    y = np.arange(len(methods))
    for ax, metric in zip(axes.flat, metrics):
        e = summary["metrics"][metric]
        for i, m in enumerate(methods):
            v = e["by_method"][m]
            if v["mean"] is None:
                continue
            err = [[v["mean"] - v["low"]], [v["high"] - v["mean"]]]
            ax.errorbar(v["mean"], i, xerr=err, fmt="o", color=_colour(methods, m), capsize=3)
        ref = e.get("reference", {}).get("mean")
        if ref is not None:
            ax.axvline(ref, ls="--", c="grey", lw=1, label=e["reference"]["name"])
            ax.legend(fontsize=8, loc="lower right")
        ax.set_title(metric + ("\n(lower better)" if e["lower_is_better"] else ""), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
    axes[0, 0].set_yticks(y, methods)
    axes[0, 0].set_ylim(len(methods) - 0.5, -0.5)  # first method on top
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle(
        f"Quality scores, mean and bootstrap 95 % CI over {summary.get('images', '?')} images"
    )
    save(fig, out)


def curves_figure(summary: dict, curves: dict, out) -> None:
    methods = summary["methods"]
    fills = list(dict.fromkeys(k.split("/")[1] for k in curves))
    fig, axes = plt.subplots(
        max(1, len(fills)), 2, figsize=(9, 3 * max(1, len(fills))), squeeze=False
    )
    for r, fill in enumerate(fills):
        for c, mode in enumerate(("deletion", "insertion")):
            ax = axes[r, c]
            for m in [*methods, "random"]:
                key = f"{m}/{fill}/{mode}"
                if key not in curves:
                    continue
                y = np.asarray(curves[key])
                x = np.linspace(0, 1, len(y))
                style = {"ls": "--", "c": "grey"} if m == "random" else {"c": _colour(methods, m)}
                ax.plot(x, y, label=m, **style)
            ax.set_title(f"{mode}, {fill} fill", fontsize=9)
            ax.set_xlabel(f"share of pixels {'removed' if mode == 'deletion' else 'inserted'}")
            ax.set_ylabel("P(true label)")
            ax.set_ylim(0, 1)
    axes[0, 1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save(fig, out)


def sanity_figure(summary: dict, out) -> None:
    sanity = summary["sanity"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), squeeze=False, layout="constrained")
    if not sanity:
        for ax in axes.flat:
            ax.axis("off")
        axes[0, 0].text(0, 0.5, "no sanity check (quality.sanity_images: 0)")
        save(fig, out)
        return
    methods = summary["methods"]
    for ax, key in zip(axes.flat, ("spearman", "ssim")):
        ticks = {}
        for m, s in sanity.items():
            mean = [v["mean"] if v["mean"] is not None else np.nan for v in s[key]]
            steps = s.get("steps") or list(range(1, len(mean) + 1))
            ax.plot(steps, mean, marker=".", label=m, c=_colour(methods, m))
            ticks.update(zip(steps, s["layers"]))
        ax.set_xticks(sorted(ticks), [f"{k}: {ticks[k]}" for k in sorted(ticks)], rotation=90)
        ax.set_title("Spearman" if key == "spearman" else "SSIM")
        ax.set_xlabel("cascade step: layers re-initialised from the output down")
        ax.axhline(0, c="grey", lw=0.8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=9)
    fig.suptitle("|map| compared with the intact model's map")
    save(fig, out)


def draw(summary: dict, curves: dict, outs: dict) -> None:
    """outs: {name: path} for metrics, curves, sanity."""
    metrics_figure(summary, outs["metrics"])
    curves_figure(summary, curves, outs["curves"])
    sanity_figure(summary, outs["sanity"])
