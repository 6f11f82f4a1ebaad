"""benchmarks/bench_methods.py on tiny settings: it prints measured / bound and the reference
library's ratio for every registered method from the registry alone (a method without a
reference library says so), so adding a method needs no benchmark table."""

import subprocess
import sys

from workflow_scripts.cnn.methods import registry

from conftest import ROOT


def test_bench_methods_reports_every_registered_method(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks/bench_methods.py"),
            "--width",
            "0.0625",
            "--images",
            "1",
            "--threads",
            "1",
            "--quick",
            "--config",
            str(ROOT / "tests/data/bench_tiny.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for name, meta in registry().items():
        assert f"| {name} | " in out, name  # the bound table
        row = next(ln for ln in out.splitlines() if ln.startswith(f"{name} "))
        if meta["REFERENCE"]:
            assert meta["REFERENCE"] in row and "ratio" in row, row
        else:
            assert "no reference library" in row, row
