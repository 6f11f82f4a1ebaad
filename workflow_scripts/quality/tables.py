"""The quality stage's files: score and sanity rows as CSV, curves as npz, merged over chunks."""

from __future__ import annotations

import csv

import numpy as np

SCORE_COLUMNS = ("method", "image", "metric", "value")
SANITY_COLUMNS = ("method", "image", "step", "layer", "spearman", "ssim")


def write_rows(path, columns, rows) -> None:
    from workflow_scripts.core.io import atomic_path

    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([repr(v) if isinstance(v, float) else v for v in r])


def read_rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_curves(path, curves: dict, names) -> None:
    from workflow_scripts.core.io import write_npz

    arrays = {"/".join(k): v for k, v in curves.items()}
    write_npz(path, {**arrays, "images": np.asarray(list(names))})


def merge_chunks(csvs, npzs) -> tuple[list[tuple], list[tuple], dict]:
    """(score rows, agreement rows, curves concatenated over the chunks in order)."""
    scores, agree = [], []
    for path in csvs:
        for r in read_rows(path):
            row = (r["method"], r["image"], r["metric"], float(r["value"]))
            (agree if r["metric"] == "agreement" else scores).append(row)
    curves: dict[str, list] = {}
    for path in npzs:
        with np.load(path) as z:
            for k in z.files:
                if k != "images":
                    curves.setdefault(k, []).append(z[k])
    return scores, agree, {k: np.concatenate(v) for k, v in curves.items()}


def read_sanity(paths) -> list[tuple]:
    rows = []
    for path in paths:
        rows += [
            (
                r["method"],
                r["image"],
                int(r["step"]),
                r["layer"],
                float(r["spearman"]),
                float(r["ssim"]),
            )
            for r in read_rows(path)
        ]
    return rows
