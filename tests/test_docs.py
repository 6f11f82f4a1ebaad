"""The README is short and the docs site builds: `mkdocs build --strict` (no broken link, no
missing page), and no link or image of README.md or docs/ points to a file that is not in git."""

import re
import subprocess
import sys

import pytest

from conftest import ROOT

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def tracked() -> set[str]:
    proc = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("not a git checkout: which files are in git is unknown")
    return set(proc.stdout.splitlines())


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300


def test_every_relative_link_and_image_is_a_file_in_git():
    files = tracked()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:|^#", target):
                continue  # a URL or an anchor on the same page
            path = (page.parent / target.split("#")[0]).resolve().relative_to(ROOT)
            assert str(path) in files, f"{page.name}: {target} is not a file in git"
            checked += 1
    assert checked >= 20


def test_the_docs_site_builds_strictly(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    site = tmp_path / "site"
    assert (site / "index.html").is_file()
    for page in ("methods", "quality", "config-reference", "own-model"):
        assert (site / page / "index.html").is_file(), page
