"""Per-job overhead of the CNN jobs of a finished run: Snakemake's benchmark wall time of each
job against the compute seconds its artifacts record (the method calls), and the share of the
run's summed job time that the difference (Python start, imports, model loading and preparation,
writing, exit) takes.

    .venv/bin/python benchmarks/overhead.py results/offline
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow_scripts.cnn.methods import names  # noqa: E402


def job_seconds(root: Path) -> dict[str, float]:
    """{benchmark file relative to benchmarks/: wall seconds} of every job of the run."""
    out = {}
    for tsv in sorted((root / "benchmarks").glob("*/*.tsv")):
        with open(tsv, newline="") as f:
            out[f"{tsv.parent.name}/{tsv.name}"] = sum(
                float(r["s"]) for r in csv.DictReader(f, delimiter="\t")
            )
    return out


def compute_seconds(root: Path, folder: str) -> float:
    """Sum of the artifacts' `seconds` in attributions/<method>/ (or evidence/ig_steps)."""
    total = 0.0
    for npz in (root / folder).glob("*.npz"):
        with np.load(npz) as z:
            total += float(z["seconds"]) if "seconds" in z.files else float("nan")
    return total


def overhead(root: Path) -> dict:
    jobs = job_seconds(root)
    rules = defaultdict(lambda: [0, 0.0])
    for key, s in jobs.items():
        rules[key.split("/")[0]][0] += 1
        rules[key.split("/")[0]][1] += s
    rows = []
    for rule, folder in [(m, f"attributions/{m}") for m in names()] + [
        ("ig_steps", "evidence/ig_steps")
    ]:
        count, wall = rules.get(rule, (0, 0.0))
        compute = compute_seconds(root, folder)
        rows.append({"rule": rule, "jobs": count, "wall": wall, "compute": compute})
    total = sum(jobs.values())
    # a run whose artifacts lack `seconds` (ig_steps before they recorded it): left out
    cnn_overhead = sum(r["wall"] - r["compute"] for r in rows if r["compute"] == r["compute"])
    return {"rows": rows, "total": total, "overhead": cnn_overhead, "jobs": len(jobs)}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    for root in map(Path, argv):
        o = overhead(root)
        print(f"{root}: {o['jobs']} jobs, summed job time {o['total']:.1f} s")
        print("| rule | jobs | job wall (s) | in-job compute (s) | overhead (s) |")
        print("|---|---|---|---|---|")
        for r in o["rows"]:
            print(
                f"| {r['rule']} | {r['jobs']} | {r['wall']:.1f} | {r['compute']:.1f} "
                f"| {r['wall'] - r['compute']:.1f} |"
            )
        share = 100 * o["overhead"] / o["total"] if o["total"] else float("nan")
        print(f"CNN job overhead: {o['overhead']:.1f} s = {share:.1f} % of summed job time\n")


if __name__ == "__main__":
    main()
