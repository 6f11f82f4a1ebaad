"""Writing a figure: atomically (a PNG appears complete or not at all), then closing it. Its text
is checked first (figures/layout.py): one warning line per figure with problems, naming the file,
how many and the first ones (a dense scatter can have thousands: the console stays readable)."""

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from workflow_scripts.core.io import atomic_path  # noqa: E402
from workflow_scripts.figures.layout import problems  # noqa: E402

LAYOUT = "figure layout"  # the warnings' prefix (tests/test_figure_layout.py reads the logs)


SHOWN = 2  # problems quoted in the warning line


def save(fig, path, dpi=100) -> None:
    found = problems(fig, dpi)
    if found:
        more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
        logging.getLogger("xai").warning(
            "%s: %s: %s%s", LAYOUT, Path(path).name, "; ".join(found[:SHOWN]), more
        )
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
