"""The Slurm plugin's `scontrol show config` probe, which runs whenever Snakemake loads its
plugins: `./xai run` bounds it for runs that do not use Slurm (core/cli.py bound_slurm_probe)."""

import shutil
import subprocess
import time

import pytest

from workflow_scripts.core import cli

from conftest import ROOT


@pytest.mark.parametrize(
    "args, slurm",
    [
        (["--cores", "2"], False),
        (["--profile", str(ROOT / "profiles/slurm")], True),
        ([f"--profile={ROOT / 'profiles/slurm'}"], True),
        (["--profile", str(ROOT / "profiles/default")], False),
        (["--executor", "slurm"], True),
        (["-e", "slurm"], True),
        (["--executor", "local"], False),
    ],
)
def test_uses_slurm(args, slurm):
    assert cli.uses_slurm(args) is slurm


def test_the_probe_is_bounded_only_for_runs_without_slurm(monkeypatch):
    monkeypatch.setattr(cli, "_which", lambda name: True)  # a Slurm client is installed
    env = {}
    cli.bound_slurm_probe(["--cores", "2"], env)
    assert env == {"SLURM_CONF": str(cli.NO_SLURM_CONF)}
    env = {}
    cli.bound_slurm_probe(["--profile", str(ROOT / "profiles/slurm")], env)
    assert env == {}  # the cluster's own configuration
    env = {"SLURM_CONF": "/etc/mine.conf"}
    cli.bound_slurm_probe(["--cores", "2"], env)
    assert env == {"SLURM_CONF": "/etc/mine.conf"}  # the user's choice stays
    monkeypatch.setattr(cli, "_which", lambda name: False)
    env = {}
    cli.bound_slurm_probe(["--cores", "2"], env)
    assert env == {}  # no Slurm client: nothing to bound


@pytest.mark.skipif(shutil.which("scontrol") is None, reason="no Slurm client here")
def test_scontrol_fails_at_once_with_the_bounding_config():
    start = time.monotonic()
    proc = subprocess.run(
        ["scontrol", "show", "config"],
        env={"SLURM_CONF": str(cli.NO_SLURM_CONF), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode != 0 and time.monotonic() - start < 3
