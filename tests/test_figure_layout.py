"""Figures without collisions: the layout check on figures built to fail it (and one built to
pass), and no layout warning in any figure job's log of the test build (every figure of the
DAG goes through figures/save.py, which logs the check's findings)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from workflow_scripts.figures import layout  # noqa: E402
from workflow_scripts.figures.save import LAYOUT, save  # noqa: E402


def test_a_clean_figure_has_no_problem():
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set_title("a title")
        ax.set_xlabel("x")
    fig.tight_layout()
    assert layout.problems(fig, 100) == []
    plt.close(fig)


def test_overlapping_titles_are_found():
    fig, axes = plt.subplots(1, 2, figsize=(4, 2))
    for ax in axes:
        ax.set_title("a very long title that runs into the next panel's title")
    found = layout.problems(fig, 100)
    plt.close(fig)
    assert any("overlap" in p for p in found), found


def test_text_on_another_panel_is_found():
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[1].imshow(np.zeros((4, 4)))
    axes[0].text(1.3, 0.5, "label", transform=axes[0].transAxes)  # drawn inside axes[1]
    found = layout.problems(fig, 100)
    plt.close(fig)
    assert found == ["text 'label' lies on another panel"]


def test_small_text_is_found_at_the_saved_dpi():
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.set_title("six points", fontsize=6)  # 8.3 px at 100 dpi, 9.2 px at 110
    small = layout.problems(fig, 100)
    assert small == ["text 'six points' is 8.3 px tall (< 9 px)"]
    assert layout.problems(fig, 110) == []
    plt.close(fig)


def test_the_sweep_finds_the_same_pairs_as_all_pairs():
    from itertools import combinations

    from matplotlib.transforms import Bbox

    rng = np.random.default_rng(0)
    texts = [plt.Text(text=str(i)) for i in range(300)]
    boxes = {}
    for t in texts:
        x, y = rng.uniform(0, 400, 2)
        w, h = rng.uniform(1, 60, 2)
        boxes[id(t)] = Bbox.from_bounds(x, y, w, h)
    brute = [
        (a, b) for a, b in combinations(texts, 2) if layout._overlap(boxes[id(a)], boxes[id(b)])
    ]
    assert len(brute) > 100  # dense enough to matter
    assert layout._overlapping(texts, boxes) == brute


def test_save_logs_one_line_per_figure_with_the_file_name(tmp_path, caplog):
    fig, ax = plt.subplots(figsize=(3, 3))
    for size in (5, 5.5, 6):
        ax.text(0.1, size / 10, f"tiny {size}", fontsize=size)
    with caplog.at_level("WARNING", logger="xai"):
        save(fig, tmp_path / "f.png")
        fine, ax = plt.subplots(figsize=(3, 3))
        ax.set_title("readable")
        save(fine, tmp_path / "g.png")
    assert (tmp_path / "f.png").is_file() and (tmp_path / "g.png").is_file()
    assert [r.getMessage() for r in caplog.records] == [
        f"{LAYOUT}: f.png: text 'tiny 5' is 6.9 px tall (< 9 px); text 'tiny 5.5' is 7.6 px "
        "tall (< 9 px) (and 1 more)"
    ]


@pytest.mark.workflow
def test_no_figure_of_the_test_build_has_a_layout_problem(test_build):
    logs = sorted((test_build.out / "logs").rglob("*.log"))
    assert logs, "the test build wrote no job logs"
    found = [line for f in logs for line in f.read_text().splitlines() if LAYOUT in line]
    assert found == []
