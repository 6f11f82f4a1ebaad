"""What made each artifact (workflow_scripts/core/provenance.py): every job's record, the report's
code version and its flag on artifacts built by other code, and `./xai why`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from workflow_scripts.core import codehash, provenance

from conftest import copy_workflow, snakemake, workflow_args, xai_cli

EDITED = "workflow_scripts/cnn/methods/saliency.py"


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "provenance").rglob("*.json"))]


def test_every_job_records_rule_params_and_code(test_build):
    docs = records(test_build.out)
    recorded = {o for d in docs for o in d["outputs"]}
    for d in docs:
        modules = d["code"]["modules"]
        assert d["rule"] and d["outputs"] and "code" not in d["params"]
        assert d["code"]["version"] == codehash.version_of(modules)
        assert set(d["code"]["entries"]) <= set(modules)
        assert provenance.changed_modules(d, test_build.workflow) == []
        # what the job imported is on its declared code path (a module loaded by name and not
        # declared in the rule's code entries would be missing there)
        assert set(d["code"]["imported"]) - set(modules) == set(), d["rule"]
    # every artifact of the run is some job's output (logs, benchmarks, records aside)
    skip = ("logs", "benchmarks", "provenance")
    made = {
        str(p.relative_to(test_build.work))
        for p in test_build.out.rglob("*")
        if p.is_file() and p.relative_to(test_build.out).parts[0] not in skip
    }
    assert {m for m in made if not any(m == o or m.startswith(o + "/") for o in recorded)} == set()


def test_records_name_the_params_the_job_ran_with(test_build):
    doc = json.loads((test_build.out / "provenance/saliency/chunk0.json").read_text())
    assert doc["rule"] == "saliency_0"
    assert doc["params"]["method"] == "saliency"
    assert set(doc["params"]["cfg"]) == {"objective"}
    assert "workflow_scripts.cnn.methods.saliency" in doc["code"]["modules"]


def test_the_report_header_has_the_code_version_and_no_stale_artifact(test_build):
    header = json.loads((test_build.out / "report/answers.json").read_text())["header"]
    assert header["code"]["stale"] == []
    assert header["code"]["version"].startswith("unknown")  # the build's copy is no git checkout
    md = (test_build.out / "report/quiz.md").read_text()
    assert "| code version |" in md and "all by the current code" in md


def test_changed_modules_follow_content_not_form(tmp_path):
    pkg = tmp_path / "workflow_scripts"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text('"""A."""\nfrom workflow_scripts import b\n\nX = b.Y\n')
    (pkg / "b.py").write_text("Y = 1\n")
    modules = codehash.closure(["workflow_scripts.a"], tmp_path)
    doc = {"code": {"entries": ["workflow_scripts.a"], "modules": modules}}
    assert sorted(modules) == ["workflow_scripts", "workflow_scripts.a", "workflow_scripts.b"]
    reformatted = '"""Reworded."""\n# a comment\nfrom workflow_scripts import (\n b)\nX = (b.Y)\n'
    (pkg / "a.py").write_text(reformatted)
    assert provenance.changed_modules(doc, tmp_path) == []
    (pkg / "b.py").write_text("Y = 2\n")
    assert provenance.changed_modules(doc, tmp_path) == ["workflow_scripts.b"]


def _edited_copy(tmp_path: Path) -> Path:
    wf = copy_workflow(tmp_path / "workflow")
    with (wf / EDITED).open("a") as fh:
        fh.write("\n_EDITED = True\n")
    return wf


def _workspace(test_build, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(test_build.work, work, symlinks=True)
    return work


def test_the_report_flags_artifacts_built_by_other_code(test_build, tmp_path):
    """Only the report reruns (mtime trigger alone, forced): the saliency maps are now older
    code than the checkout's, and the header says which and why."""
    wf, work = _edited_copy(tmp_path), _workspace(test_build, tmp_path)
    args = workflow_args(wf, "--cores", "1", "--configfile", wf / "config/test.yaml")
    target = "results/test/report/quiz.md"
    snakemake(target, *args, "--rerun-triggers", "mtime", "--forcerun", "quiz_answers", cwd=work)
    header = json.loads((work / "results/test/report/answers.json").read_text())["header"]
    stale = {s["job"]: s["modules"] for s in header["code"]["stale"]}
    assert stale["saliency/chunk0"] == ["workflow_scripts.cnn.methods.saliency"]
    assert "smoothgrad/chunk0" in stale  # SmoothGrad wraps saliency's gradient
    assert not any(job.startswith(("lime/", "gradcam/", "hidden_pca/")) for job in stale)
    assert (
        "saliency/chunk0 (changed since: workflow_scripts.cnn.methods.saliency)"
        in (work / "results/test/report/quiz.md").read_text()
    )


def why(*args, cwd: Path) -> subprocess.CompletedProcess:
    return xai_cli("why", *args, cwd=cwd, timeout=300)


def test_why_names_snakemakes_reason_and_the_changed_modules(test_build, tmp_path):
    wf, work = _edited_copy(tmp_path), _workspace(test_build, tmp_path)
    args = ["-s", wf / "Snakefile", "--configfile", wf / "config/test.yaml"]
    proc = why("results/test/attributions/saliency/0_0.npz", *args, cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rule saliency_0 would rerun" in proc.stdout
    assert "Params have changed since last execution" in proc.stdout
    assert "modules changed since: workflow_scripts.cnn.methods.saliency" in proc.stdout
    unchanged = why("results/test/attributions/lime/0_0.npz", *args, cwd=work)
    assert "is up to date; nothing would rerun" in unchanged.stdout, unchanged.stderr[-2000:]
    assert "its code path is unchanged since" in unchanged.stdout


def test_why_refuses_a_path_that_is_no_output_in_one_line(test_build, tmp_path):
    work = _workspace(test_build, tmp_path)
    wf = test_build.workflow
    proc = why("results/test/nothing.txt", "-s", wf / "Snakefile", cwd=work)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "xai: ERROR:" in proc.stderr
