"""Writing a figure: atomically (a PNG appears complete or not at all), then closing it. Its text
is checked first (figures/layout.py): each collision or too-small label is one warning in the
job's log, naming the file."""

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from workflow_scripts.core.io import atomic_path  # noqa: E402
from workflow_scripts.figures.layout import problems  # noqa: E402

LAYOUT = "figure layout"  # the warnings' prefix (tests/test_figure_layout.py reads the logs)


def save(fig, path, dpi=100) -> None:
    for problem in problems(fig, dpi):
        logging.getLogger("xai").warning("%s: %s: %s", LAYOUT, Path(path).name, problem)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
