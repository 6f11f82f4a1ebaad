"""The quiz answers' own plots: an answer's deciding series (Answer.plot) as a line chart, in
report/evidence/ (the report links them as the answers' figures)."""

from __future__ import annotations

from pathlib import Path

from workflow_scripts.core import paths
from workflow_scripts.core.io import atomic_dir


def plot_series(plot: dict, out_png) -> None:
    """An answer's deciding series (Answer.plot) as a line chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workflow_scripts.figures.fonts import use_cjk
    from workflow_scripts.figures.save import save

    use_cjk()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, ys in plot["series"].items():
        ax.plot(plot["x"], ys, marker="o", label=label)
    ax.set_xticks(plot["x"])
    ax.set_xlabel(plot.get("xlabel", ""))
    ax.set_ylabel(plot.get("ylabel", ""))
    ax.set_title(plot.get("title", ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out_png)


def write_evidence(doc: dict, out_dir) -> None:
    """One figure per answer that carries its deciding series, in report/evidence/ (atomic)."""
    with atomic_dir(out_dir) as tmp:
        for a in doc["answers"]:
            if a.get("plot"):
                plot_series(a["plot"], tmp / Path(paths.evidence_figure("", a["id"])).name)
