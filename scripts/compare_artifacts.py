"""Compare two results folders of the same config, e.g. before and after a refactoring.

    python scripts/compare_artifacts.py results_before/offline results/offline

Every .npz under attributions/ and evidence/ must hold the same keys with byte-identical arrays,
except the wall-time key `seconds` (keys only the second run has are listed, not errors);
figures (.png) must be byte-identical; answers.json must give the same choice and status per
question. Prints one line per difference and a summary; exit status 1 when anything differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

IGNORED_KEYS = {"seconds"}  # wall time of the method call


def compare_npz(a: Path, b: Path) -> tuple[list[str], list[str]]:
    problems, added = [], []
    with np.load(a) as za, np.load(b) as zb:
        for k in za.files:
            if k in IGNORED_KEYS:
                continue
            if k not in zb.files:
                problems.append(f"{b}: key {k!r} missing")
            elif (
                za[k].dtype != zb[k].dtype
                or za[k].shape != zb[k].shape
                or za[k].tobytes() != zb[k].tobytes()
            ):
                problems.append(f"{b}: key {k!r} differs")
        added = [f"{b.name}:{k}" for k in zb.files if k not in za.files]
    return problems, added


def main(before: Path, after: Path) -> int:
    problems, added, counted = [], [], {"npz": 0, "png": 0}
    for a in sorted(before.rglob("*.npz")):
        rel = a.relative_to(before)
        if rel.parts[0] not in ("attributions", "evidence"):
            continue
        b = after / rel
        counted["npz"] += 1
        if not b.exists():
            problems.append(f"{b}: missing")
            continue
        p, n = compare_npz(a, b)
        problems += p
        added += n
    for a in sorted((before / "figures").rglob("*.png")):
        b = after / a.relative_to(before)
        counted["png"] += 1
        if not b.exists() or a.read_bytes() != b.read_bytes():
            problems.append(f"{b}: {'missing' if not b.exists() else 'bytes differ'}")
    qa, qb = (
        json.loads((r / "report/answers.json").read_text(encoding="utf-8"))["answers"]
        for r in (before, after)
    )
    for x, y in zip(qa, qb, strict=True):
        if (x["choice"], x["status"]) != (y["choice"], y["status"]):
            problems.append(
                f"quiz {x['id']}: {x['status']} {x['choice']} -> {y['status']} {y['choice']}"
            )
    for line in problems:
        print(line)
    print(
        f"compared {counted['npz']} artifacts, {counted['png']} figures, {len(qa)} answers: "
        f"{len(problems)} differences; keys only in {after}: {len(added)}"
        + (f" ({', '.join(sorted({k.split(':')[1] for k in added}))})" if added else "")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
