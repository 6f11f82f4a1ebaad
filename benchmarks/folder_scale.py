"""A folder set at scale: a generated ImageFolder of N images (10 classes, with masks) and a
random ResNet-18, run to the report for each N; prints, per stage, the jobs, the summed wall
time, the cost per image and the peak RSS of its jobs (Snakemake's benchmark files), and the
ratio of peak RSS between the largest and the smallest N: a job holds only its own images, so
that ratio stays near 1 while the wall time grows with N.

    .venv/bin/python benchmarks/folder_scale.py                 # N = 1000 and 2000
    .venv/bin/python benchmarks/folder_scale.py --sizes 60 120  # a quick look
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLASSES = 10
SETTINGS = {  # cheap per image: the benchmark is about scale, not about the methods' cost
    "cnn": {
        "lime": {"num_samples": 20},
        "smoothgrad": {"samples": 2},
        "filters": {"iterations": 2},
    },
    "quality": {
        "images_per_job": 100,
        "methods": {"lime": {"num_samples": 10}, "smoothgrad": {"samples": 2}},
        "faithfulness": {"steps": 4, "fills": ["mean"]},
        "sanity_images": 2,
        "sanity_methods": {"lime": {"num_samples": 5}, "smoothgrad": {"samples": 2}},
        "bootstrap": {"n": 200},
    },
}


def make_set(folder: Path, n: int) -> None:
    """n images (32 x 32, a coloured square per class on noise) and their masks; a ResNet-18."""
    import torch
    import torchvision
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        c = i % CLASSES
        img = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
        mask = np.zeros((32, 32), np.uint8)
        mask[8:24, 8:24] = 255
        img[mask > 0] = (np.array([c * 25, 255 - c * 25, (c * 70) % 256])).astype(np.uint8)
        (folder / "images" / f"c{c}").mkdir(parents=True, exist_ok=True)
        (folder / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / "images" / f"c{c}" / f"{i}.png")
        Image.fromarray(mask).save(folder / "masks" / f"{i}.png")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=CLASSES).state_dict(), folder / "w.pth")


def run(folder: Path, n: int, cores: int) -> float:
    cfg = {
        "asset_set": f"scale{n}",
        "source": "folder",
        "results": str(folder / "results"),
        "folder": {
            "model": {"arch": "resnet18", "weights": str(folder / "w.pth")},
            "images": {"root": str(folder / "images"), "masks": str(folder / "masks")},
            "preprocess": {"resize": 32, "crop": 32},
        },
        **SETTINGS,
    }
    cfg["quality"] = {**cfg["quality"], "images": n, "images_per_class": n // CLASSES}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(ROOT / "Snakefile"),
            "--cores",
            str(cores),
            "--configfile",
            str(folder / "config.yaml"),
            "--directory",
            str(folder),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start


def stages(results: Path) -> dict[str, dict]:
    """Per rule: jobs, summed seconds, peak max_rss (MB) over its jobs."""
    out: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "s": 0.0, "rss": 0.0})
    for tsv in sorted((results / "benchmarks").glob("*/*.tsv")):
        rule = tsv.parent.name
        with open(tsv, newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                out[rule]["jobs"] += 1
                out[rule]["s"] += float(row["s"])
                out[rule]["rss"] = max(out[rule]["rss"], float(row["max_rss"]))
    return dict(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/xai-folder-scale"))
    args = ap.parse_args()
    table = {}
    for n in args.sizes:
        folder = args.workdir / f"n{n}"
        if not (folder / "w.pth").exists():
            make_set(folder, n)
        wall = run(folder, n, args.cores)
        table[n] = stages(folder / "results" / f"scale{n}")
        print(f"\nN = {n} images: {wall:.0f} s wall on {args.cores} cores")
        print(f"{'stage':24} {'jobs':>5} {'seconds':>9} {'ms/image':>9} {'peak RSS MB':>12}")
        for rule, st in sorted(table[n].items(), key=lambda kv: -kv[1]["s"]):
            per = 1000 * st["s"] / n
            print(f"{rule:24} {st['jobs']:5d} {st['s']:9.1f} {per:9.1f} {st['rss']:12.0f}")
    lo, hi = min(args.sizes), max(args.sizes)
    if lo != hi:
        print(f"\npeak RSS at N={hi} / at N={lo} (baseline: the same stage at N={lo}):")
        for rule in sorted(table[hi]):
            if rule in table[lo] and table[lo][rule]["rss"]:
                ratio = table[hi][rule]["rss"] / table[lo][rule]["rss"]
                time_ratio = table[hi][rule]["s"] / max(table[lo][rule]["s"], 1e-9)
                print(f"  {rule:24} RSS x{ratio:.2f}   wall x{time_ratio:.2f}")


if __name__ == "__main__":
    main()
