"""Building the DAG never imports torch (nor torchvision, transformers): a dry run of the default
and test configs in a subprocess, whose `sys.modules` is read at exit. Every method, source and
check that runs at DAG time reads literals (ast) or torch-free modules; torch costs seconds of
start-up in every Snakemake call and every cluster job's re-parse."""

import os
import subprocess
import sys

import pytest

from conftest import _SESSION, ROOT

PROBE = """
import atexit, sys
heavy = ("torch", "torchvision", "transformers")
atexit.register(lambda: print("HEAVY=" + ",".join(sorted(
    m for m in sys.modules if m.split(".")[0] in heavy))[:300], file=sys.stderr))
from snakemake.cli import main
sys.argv = ["snakemake"] + sys.argv[1:]
main()
"""


@pytest.mark.parametrize(
    "extra", [[], ["--configfile", "config/test.yaml"]], ids=["default", "test"]
)
def test_building_the_dag_imports_no_torch(tmp_path, extra):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["XDG_CACHE_HOME"] = str(_SESSION.get("xdg_cache") or tmp_path / "cache")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "-n", "--cores", "1", "--directory", str(tmp_path), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Job stats:" in out  # the DAG was built, with jobs to run
    line = next(ln for ln in out.splitlines() if ln.startswith("HEAVY="))
    assert line == "HEAVY=", line
