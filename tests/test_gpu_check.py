"""benchmarks/gpu_check.py in its dry mode (CPU, tiny settings): the GPU run's script runs end to
end and writes its table, with a row for every registered method in each part."""

import json
import subprocess
import sys

from workflow_scripts.cnn.methods import names

from conftest import ROOT


def test_gpu_check_dry_run_writes_its_table(tmp_path):
    out = tmp_path / "gpu_check.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "--dry", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "dry run, CPU" in text and "**ok**" in text  # (a): the test config's DAG builds
    data = json.loads(out.with_suffix(".json").read_text())
    bench = {r["method"]: r for r in data["methods"] if "method" in r}
    equal = {r["method"]: r for r in data["equality"]}
    assert sorted(bench) == sorted(names()) == sorted(equal)
    for r in bench.values():
        assert r["measured_s"] > 0 and r["bound_s"] > 0 and r["ratio"] > 0
        assert f"| {r['method']} | " in text
    # CPU against CPU: the same code on the same inputs gives the same numbers
    assert all(r["ok"] and r["max_rel_diff"] == 0.0 for r in equal.values()), equal
