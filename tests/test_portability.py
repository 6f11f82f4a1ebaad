"""A fresh clone on any machine: no file outside the repository, the workflow runs from any
working directory (-s, --directory, module import) and never writes into its own folder."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, copy_workflow, jobs_of, snakemake

# Where the project's own files live (tests included): none may point outside the repository.
PROJECT = [
    "Snakefile",
    "xai",
    ".ci",
    "rules",
    "workflow_scripts",
    "tests",
    "config",
    "scripts",
    "benchmarks",
    "profiles",
    "envs",
    "report",
]
OUTSIDE = re.compile(r"\.\./" + "shared" + r"|parents?\[\d\]\s*/\s*[\"']" + "shared")


def test_no_file_refers_to_a_folder_beside_the_clone():
    hits = []
    for name in PROJECT:
        path = ROOT / name
        for f in [path] if path.is_file() else path.rglob("*"):
            if (
                f.is_file()
                and "__pycache__" not in f.parts
                and f.suffix not in (".png", ".pth", ".npz")
            ):
                text = f.read_text(encoding="utf-8", errors="replace")
                hits += [
                    f"{f.relative_to(ROOT)}:{n}"
                    for n, line in enumerate(text.splitlines(), 1)
                    if OUTSIDE.search(line)
                ]
    assert hits == []


def test_the_build_ran_from_its_own_working_directory_and_left_the_workflow_untouched(test_build):
    assert (test_build.work / "results/test/report/quiz.html").is_file()
    assert not (test_build.workflow / "results").exists()
    assert test_build.written == []


def _default_jobs(out: str, prefix: str = "") -> dict[str, int]:
    return {k.removeprefix(prefix): v for k, v in jobs_of(out).items()}


@pytest.fixture(scope="module")
def default_jobs(tmp_path_factory):
    """The default DAG from a fresh checkout: a private copy of the workflow, dry-run in its own
    folder (never the checkout itself, whose results/ a user's run fills)."""
    wf = copy_workflow(tmp_path_factory.mktemp("fresh-checkout"))
    return jobs_of(snakemake("-n", cwd=wf).stdout)


def test_directory_flag_gives_the_same_dag(default_jobs, tmp_path):
    work = tmp_path / "elsewhere"
    out = snakemake("-s", ROOT / "Snakefile", "--directory", work, "-n", cwd=tmp_path).stdout
    assert jobs_of(out) == default_jobs
    assert (
        "results/offline/assets/checkpoint.pth" in out
    )  # user data stays relative to the working dir


def test_module_import_from_a_project_of_your_own(default_jobs, tmp_path):
    """The docs/own-project.md: config copied, rules imported with a prefix."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_bytes((ROOT / "config/config.yaml").read_bytes())
    (tmp_path / "Snakefile").write_text(
        'configfile: "config/config.yaml"\n\n\nmodule xai:\n    snakefile:\n'
        f'        "{ROOT / "Snakefile"}"\n    config:\n        config\n\n\n'
        "use rule * from xai as xai_*\n"
    )
    out = snakemake("-n", cwd=tmp_path).stdout
    assert _default_jobs(out, "xai_") == default_jobs
