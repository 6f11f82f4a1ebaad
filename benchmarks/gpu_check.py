"""The first GPU run, prepared: one script, one table file.

    .venv/bin/python benchmarks/gpu_check.py --out gpu_check.md          # on a CUDA machine
    .venv/bin/python benchmarks/gpu_check.py --dry --out /tmp/dry.md     # CPU, tiny: what CI runs

(a) pipeline: the test config end to end with `device: cuda` (dry: Snakemake's dry run of it with
    `device: cpu`), wall time and status;
(b) methods: every registered method at the default config on a random-initialised checkpoint of
    width 1.0 (the homework's size, saved and loaded in the homework's format): seconds per image,
    its compute bound (benchmarks/bound.py), peak GPU memory, mean/max GPU utilisation (sampled
    from nvidia-smi);
(c) equality: every method on the same inputs on the CPU and on the device, float64 where the
    method allows (LIME's classifier calls are float32 by design), with reduced sample counts;
    tolerances in each method module's CHECK, the largest difference relative to the largest value.

Dry mode (--dry): device cpu, width 1/16, one image, tiny sample counts: it checks that the script
runs and writes its table (tests/test_gpu_check.py); its numbers mean nothing. Budget on one H100:
under 8 minutes (the pipeline part is capped by --pipeline-timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_methods import cnn_settings  # noqa: E402
from bound import BATCHES, bound_seconds, method_seconds, needed, pass_costs  # noqa: E402

from workflow_scripts.assets.models import Classifier, load_checkpoint, save_checkpoint  # noqa: E402
from workflow_scripts.cnn.attribute import explain_images  # noqa: E402
from workflow_scripts.cnn.methods import names, registry  # noqa: E402

# (c): what each method compares, its tolerance and its reduced settings are declared by its
# module (CHECK, workflow_scripts/cnn/methods/__init__.py): float64 methods agree to rounding.


class GpuSampler:
    """Samples nvidia-smi's utilisation.gpu every `period` s while active (None: no nvidia-smi)."""

    def __init__(self, period=0.1):
        self.period, self.samples, self._stop = period, [], threading.Event()
        self.available = torch.cuda.is_available() and _nvidia_smi() is not None

    def __enter__(self):
        if self.available:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            value = _nvidia_smi()
            if value is not None:
                self.samples.append(value)
            self._stop.wait(self.period)

    def __exit__(self, *exc):
        self._stop.set()
        if self.available:
            self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "n/a"
        return f"{np.mean(self.samples):.0f} / {max(self.samples):.0f} %"


def _nvidia_smi():
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return float(out.stdout.split()[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def pipeline_part(dry: bool, device: str, timeout: int) -> dict:
    """(a) the test config through Snakemake (dry: its dry run)."""
    results = tempfile.mkdtemp(prefix="xai-gpu-check-")
    cmd = [
        str(Path(sys.executable).with_name("snakemake")),
        "--cores",
        str(os.cpu_count() or 1),
        "--configfile",
        str(ROOT / "config/test.yaml"),
        "--config",
        f"results={results}",
        f"device={device}",
        "-s",
        str(ROOT / "Snakefile"),
    ] + (["-n"] if dry else [])
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=results, capture_output=True, text=True, timeout=timeout)
        status = "ok" if proc.returncode == 0 else f"failed ({proc.returncode})"
        tail = (proc.stdout + proc.stderr)[-1500:]
    except subprocess.TimeoutExpired:
        status, tail = f"timed out after {timeout} s", ""
    done = Path(results) / "test" / "report" / "quiz.html"
    return {
        "command": " ".join(cmd[1:]),
        "status": status,
        "wall_s": time.perf_counter() - start,
        "quiz_html": done.is_file(),
        "tail": tail if status != "ok" else "",
    }


def checkpoint(width: float, folder: Path) -> Path:
    """A random-initialised Classifier saved in the homework's format."""
    torch.manual_seed(0)
    path = folder / f"random_width{width:g}.pth"
    save_checkpoint(path, Classifier(width).eval())
    return path


def images(n: int):
    g = torch.Generator().manual_seed(1)
    return [(torch.rand(3, 128, 128, generator=g), i % 11, f"{i % 11}_{i}") for i in range(n)]


def methods_part(model, items, cnn, device, repeat, batches=BATCHES) -> list[dict]:
    """(b) per method: s/img, bound, ratio, peak memory, GPU utilisation."""
    dev = torch.device(device)
    x1 = items[0][0][None].to(dev)
    kinds = [k for m in names() for k in needed(m, cnn[m], model)]
    costs = pass_costs(model.to(dev).eval(), x1, dev, kinds, batches, repeat)
    rows = []
    for method in names():
        cfg = dict(cnn[method])
        method_seconds(method, model, items[:1], cfg, device)  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        with GpuSampler() as gpu:
            seconds, _ = method_seconds(method, model, items, cfg, device)
        peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else float("nan")
        bound = bound_seconds(method, cfg, costs, model)
        rows.append(
            {
                "method": method,
                "measured_s": seconds,
                "bound_s": bound,
                "ratio": seconds / bound,
                "peak_mib": peak,
                "gpu_util": gpu.summary(),
            }
        )
    rows.append({"costs_ms": {k: (1000 * v[0], v[1]) for k, v in costs.items()}})
    return rows


def _compared(method, arrays) -> dict:
    keys = registry()[method]["CHECK"]["compared"]
    return {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items() if k.startswith(keys)}


def equality_part(model, items, cnn, device, settings) -> list[dict]:
    """(c) every method on the CPU and on `device`, same inputs; largest relative difference."""
    rows = []
    for method in names():
        check = registry()[method]["CHECK"]
        cfg = {**cnn[method], **check[settings]}
        dtype = torch.float32 if check["float32_only"] else torch.float64
        m = model.to(dtype)
        its = [(im.to(dtype), label, name) for im, label, name in items]
        cpu = explain_images(method, m, its, cfg, torch.device("cpu"))
        dev = explain_images(method, m, its, cfg, torch.device(device))
        worst, worst_key = 0.0, ""
        for a, b in zip(cpu, dev):
            ca, cb = _compared(method, a), _compared(method, b)
            assert sorted(ca) == sorted(cb) and ca, (method, sorted(ca), sorted(cb))
            for k in ca:
                scale = max(np.abs(ca[k]).max(), 1e-30)
                diff = float(np.abs(ca[k] - cb[k]).max() / scale)
                if diff >= worst:
                    worst, worst_key = diff, k
        tol = check["tolerance"]
        rows.append(
            {
                "method": method,
                "dtype": str(dtype).replace("torch.", ""),
                "key": worst_key,
                "max_rel_diff": worst,
                "tolerance": tol,
                "ok": worst <= tol,
            }
        )
    model.float()
    return rows


def table(args, device_name, pipeline, bench, equal) -> str:
    costs = bench[-1]["costs_ms"]
    lines = [
        f"# GPU check ({'dry run, CPU' if args.dry else 'CUDA'})",
        "",
        f"device: {device_name}; torch {torch.__version__}; width {args.width:g}; "
        f"{args.images} image(s); threads {torch.get_num_threads()}",
        "",
        "## (a) pipeline",
        "",
        f"`snakemake {pipeline['command']}`: **{pipeline['status']}** in "
        f"{pipeline['wall_s']:.0f} s; quiz.html written: {pipeline['quiz_html']}",
        "",
        "## (b) methods (default config; bound = same passes at the best batch size)",
        "",
        "| method | measured (s/img) | bound (s/img) | measured / bound | peak memory (MiB) "
        "| GPU util mean / max |",
        "|---|---|---|---|---|---|",
    ]
    for r in bench[:-1]:
        lines.append(
            f"| {r['method']} | {r['measured_s']:.4f} | {r['bound_s']:.4f} | {r['ratio']:.2f}x "
            f"| {r['peak_mib']:.0f} | {r['gpu_util']} |"
        )
    lines += [
        "",
        "pass costs (ms per image, best batch): "
        + ", ".join(f"{k} {ms:.3f} (batch {b})" for k, (ms, b) in costs.items()),
        "",
        "## (c) CPU vs device, same inputs",
        "",
        "| method | dtype | worst key | max relative difference | tolerance | ok |",
        "|---|---|---|---|---|---|",
    ]
    for r in equal:
        lines.append(
            f"| {r['method']} | {r['dtype']} | {r['key']} | {r['max_rel_diff']:.2e} "
            f"| {r['tolerance']:.0e} | {'ok' if r['ok'] else 'FAILED'} |"
        )
    if pipeline["tail"]:
        lines += ["", "pipeline output (tail):", "", "```", pipeline["tail"], "```"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dry", action="store_true", help="CPU, tiny settings (CI)")
    ap.add_argument("--out", default="gpu_check.md", help="the table file")
    ap.add_argument("--width", type=float, help="model width (default 1.0; dry 0.0625)")
    ap.add_argument("--images", type=int, help="images per method (default 4; dry 1)")
    ap.add_argument("--pipeline-timeout", type=int, default=300)
    ap.add_argument("--skip-pipeline", action="store_true")
    args = ap.parse_args(argv)
    args.width = args.width or (0.0625 if args.dry else 1.0)
    args.images = args.images or (1 if args.dry else 4)
    device = "cpu" if args.dry else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device; use --dry for the CPU dry run", file=sys.stderr)
        return 2
    device_name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    cnn = cnn_settings(None)
    if args.dry:
        cnn = {
            m: {**c, **registry()[m]["CHECK"]["dry"]} if m in registry() else c
            for m, c in cnn.items()
        }
    t0 = time.perf_counter()
    if args.skip_pipeline:
        pipeline = {
            "command": "(skipped)",
            "status": "skipped",
            "wall_s": 0.0,
            "quiz_html": False,
            "tail": "",
        }
    else:
        pipeline = pipeline_part(args.dry, device, args.pipeline_timeout)
    print(f"(a) pipeline: {pipeline['status']} ({pipeline['wall_s']:.0f} s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_checkpoint(checkpoint(args.width, Path(tmp)))
    items = images(args.images)
    if args.dry:
        bench = methods_part(model, items, cnn, device, 1, batches=(1, 4))
    else:
        bench = methods_part(model, items, cnn, device, 3)
    print(f"(b) methods done ({time.perf_counter() - t0:.0f} s)", flush=True)
    equal = equality_part(model, items[:1], cnn, device, "dry" if args.dry else "equality")
    print(f"(c) equality done ({time.perf_counter() - t0:.0f} s)", flush=True)
    text = table(args, device_name, pipeline, bench, equal)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    Path(args.out).with_suffix(".json").write_text(
        json.dumps(
            {"pipeline": pipeline, "methods": bench, "equality": equal}, indent=1, default=str
        ),
        encoding="utf-8",
    )
    print(text)
    ok = pipeline["status"] in ("ok", "skipped") and all(r["ok"] for r in equal)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
