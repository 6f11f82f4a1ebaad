"""Style is enforced, not remembered: ruff (lint and format, line length 100) on every Python
file and snakefmt on the Snakefile and rules, with the settings in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BIN = Path(sys.executable).parent


def _run(*cmd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / cmd[0]), *cmd[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "cmd",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("snakefmt", "--check", "Snakefile", "rules"),
    ],
    ids=" ".join,
)
def test_style_is_clean(cmd):
    proc = _run(*cmd)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} failed; run it without --check to fix:\n"
        f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    )


def test_the_style_check_can_fail(tmp_path):
    """The same ruff settings refuse a line over 100 characters (the check is not a no-op)."""
    bad = tmp_path / "long.py"
    bad.write_text("X = '" + "x" * 120 + "'\n")
    proc = subprocess.run(
        [str(BIN / "ruff"), "check", "--config", str(ROOT / "pyproject.toml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "E501" in proc.stdout
