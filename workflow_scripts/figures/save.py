"""Writing a figure: atomically (a PNG appears complete or not at all), then closing it."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from workflow_scripts.core.io import atomic_path  # noqa: E402


def save(fig, path, dpi=100) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
