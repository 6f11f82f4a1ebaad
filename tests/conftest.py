"""Shared fixtures: the repository root, a Snakemake runner, small image folders."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))


def snakemake(*args, cwd=ROOT, check=True, timeout=1800) -> subprocess.CompletedProcess:
    """Run Snakemake from this environment; return the completed process (stdout+stderr text)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "snakemake", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def run_snakemake():
    return snakemake


@pytest.fixture(scope="session")
def test_build(tmp_path_factory):
    """The test config built end to end once per session (offline dataset + training + assets)."""
    results = tmp_path_factory.mktemp("results")
    proc = snakemake("--cores", "2", "--configfile", "config/test.yaml", "--config", f"results={results}")
    return results / "test", proc
