"""The cache follows content: an edit to a module reruns exactly the rules whose code path holds
it; formatting, comments, docstrings, touch, a moved or copied workspace and a restated default
rerun nothing (docs/reruns.md).

The expected rule sets come from outside the mechanism under test (workflow_scripts/core/
codehash.py): each rule's entry modules as its jobs recorded them (provenance), closed over
imports by the standard library's modulefinder; the observed sets are Snakemake's own
`--summary` ("params changed") after the edit.
"""

from __future__ import annotations

import json
import modulefinder
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_workflow, jobs_of, snakemake, workflow_args, xai_run

PACKAGE = ROOT / "workflow_scripts"
MODULES = sorted(
    str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts
)
PROBE = "\n_CACHE_PROBE = 1  # an edit the tests make\n"


def dotted(rel: str) -> str:
    parts = list(Path(rel).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def provenance_docs(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "provenance").rglob("*.json"))]


def oracle_closure(workflow: Path, entries: list[str]) -> set[str]:
    """The project modules a rule's entries import, by modulefinder (bytecode scan, function
    bodies included), restricted to the workflow folder."""
    steps = workflow / "workflow_scripts" / "steps"
    found = set()
    for entry in entries:
        finder = modulefinder.ModuleFinder(path=[str(workflow), str(steps)])
        if entry.startswith("workflow_scripts.steps."):
            finder.run_script(str(steps / f"{entry.rsplit('.', 1)[1]}.py"))
            found.add(entry)
        else:
            finder.import_hook(entry)
        for name in finder.modules:
            if name == "_bootstrap":
                found.add("workflow_scripts.steps._bootstrap")
            elif name.split(".")[0] == "workflow_scripts":
                found.add(name)
    return found


def changed_rules(workflow: Path, work: Path) -> set[str]:
    """The rules of the outputs whose recorded params differ from the current ones, by
    Snakemake's own comparison (`--summary` status "params changed", rule by rule: an upstream
    change does not hide a downstream one, as it does in a dry run's reasons)."""
    out = snakemake(
        *workflow_args(workflow, "--summary"),
        "--configfile",
        workflow / "config/test.yaml",
        cwd=work,
    ).stdout
    rows = [line.split("\t") for line in out.splitlines() if line.startswith("results/")]
    assert rows, out[-2000:]
    return {row[2] for row in rows if row[4] == "params changed"}


@pytest.fixture(scope="module")
def closures(test_build) -> dict[str, set[str]]:
    """{rule: its code path by the oracle} of every rule of the test build: the union over its
    jobs (one rule's jobs may load different modules: quality_sanity runs one method per job)."""
    out: dict[str, set[str]] = {}
    for doc in provenance_docs(test_build.out):
        closure = oracle_closure(test_build.workflow, doc["code"]["entries"])
        out.setdefault(doc["rule"], set()).update(closure)
    assert len(out) >= 30, "every job writes a provenance record"
    return out


@pytest.fixture(scope="module")
def module_edits(test_build, tmp_path_factory) -> dict[str, set[str]]:
    """{module: rules with changed params} after an edit of each module (alone), measured on
    two private copies of the workflow in parallel against the build's working directory."""
    copies = [copy_workflow(tmp_path_factory.mktemp(f"edit{i}")) for i in range(2)]

    def measure(copy: Path, modules: list[str]) -> dict[str, set[str]]:
        found = {}
        for rel in modules:
            path = copy / rel
            text = path.read_bytes()
            path.write_bytes(text + PROBE.encode())
            try:
                found[rel] = changed_rules(copy, test_build.work)
            finally:
                path.write_bytes(text)
        return found

    with ThreadPoolExecutor(2) as pool:
        parts = pool.map(measure, copies, [MODULES[0::2], MODULES[1::2]])
    return {k: v for part in parts for k, v in part.items()}


def test_the_oracle_sees_the_step_scripts_and_their_methods(closures):
    by_rule = closures
    assert "workflow_scripts.cnn.methods.saliency" in by_rule["saliency_0"]
    assert "workflow_scripts.cnn.methods.lime" not in by_rule["saliency_0"]
    assert "workflow_scripts.core.step" in by_rule["quiz_report"]
    assert "workflow_scripts.steps._bootstrap" in by_rule["quiz_report"]


def test_a_template_a_module_names_is_part_of_its_code(tmp_path):
    """report/html.py reads templates/page.html.j2 (its DATA_FILES): editing the template alone
    changes the code version of the report rule, and of no rule that does not render pages."""
    from workflow_scripts.core import codehash

    shutil.copytree(ROOT / "workflow_scripts", tmp_path / "workflow_scripts")
    rules = {
        "quiz_report": ("quiz_report",),
        "saliency": ("attribute", "cnn.methods.saliency"),
    }
    before = {r: codehash.rule_code(*a, root=tmp_path)["version"] for r, a in rules.items()}
    template = tmp_path / "workflow_scripts/report/templates/page.html.j2"
    template.write_text(template.read_text() + "<!-- edited -->\n")
    after = {r: codehash.rule_code(*a, root=tmp_path)["version"] for r, a in rules.items()}
    assert after["quiz_report"] != before["quiz_report"]
    assert after["saliency"] == before["saliency"]


def test_a_relocated_workflow_copy_has_nothing_to_do(test_build, tmp_path):
    """Code is tracked by content, not path or mtime: another copy of the workflow (new paths,
    new modification times, as a fresh clone has) against the finished workspace."""
    wf = copy_workflow(tmp_path / "clone")
    for p in wf.rglob("*"):
        os.utime(p)
    assert changed_rules(wf, test_build.work) == set()
    args = workflow_args(wf, "-n", "--configfile", wf / "config/test.yaml")
    assert jobs_of(snakemake(*args, cwd=test_build.work).stdout) == {}


@pytest.mark.parametrize("module", MODULES)
def test_an_edit_reruns_exactly_the_rules_whose_code_path_holds_it(closures, module_edits, module):
    expected = {rule for rule, closure in closures.items() if dotted(module) in closure}
    assert module_edits[module] == expected


def test_formatting_comments_docstrings_and_touch_rerun_nothing(test_build, tmp_path):
    """Every module reformatted (ruff format at another line length and quote style), its
    docstrings rewritten, comments added, every file touched: nothing to do."""
    wf = copy_workflow(tmp_path / "formatted")
    package = wf / "workflow_scripts"
    before = {p: p.read_text() for p in package.rglob("*.py")}
    ruff = Path(sys.executable).with_name("ruff")
    subprocess.run(
        [ruff, "format", "--isolated", "--line-length", "60", "--config",
         "format.quote-style='single'", str(package)],
        check=True, capture_output=True,
    )  # fmt: skip
    for p in package.rglob("*.py"):
        text = p.read_text().replace('"""', '"""Reworded. ', 1)
        p.write_text("# a comment added by the test\n" + text + "\n# and another\n")
    changed = [p for p, text in before.items() if p.read_text() != text]
    assert len(changed) == len(before)  # the test changes every module's text
    assert changed_rules(wf, test_build.work) == set()


def _reversed(node):
    """Every mapping with its keys in reverse order; integral floats written as integers."""
    if isinstance(node, dict):
        return {k: _reversed(node[k]) for k in reversed(list(node))}
    if isinstance(node, list):
        return [_reversed(v) for v in node]
    if isinstance(node, float) and node.is_integer():
        return int(node)
    return node


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def test_restating_every_default_in_reversed_order_reruns_nothing(test_build, tmp_path):
    wf = test_build.workflow
    config = _merged(
        yaml.safe_load((wf / "config/config.yaml").read_text()),
        yaml.safe_load((wf / "config/test.yaml").read_text()),
    )
    restated = tmp_path / "restated.yaml"
    restated.write_text(yaml.safe_dump(_reversed(config), allow_unicode=True, sort_keys=False))
    args = workflow_args(wf, "-n", "--configfile", wf / "config/test.yaml", restated)
    assert jobs_of(snakemake(*args, cwd=test_build.work).stdout) == {}


def test_a_restated_default_through_set_reruns_nothing(test_build):
    """The issue's case: `--set` of the value in force (merged into the config in another key
    order), and an integer for a float key."""
    wf = test_build.workflow
    config = _merged(
        yaml.safe_load((wf / "config/config.yaml").read_text()),
        yaml.safe_load((wf / "config/test.yaml").read_text()),
    )
    smoothgrad = config["cnn"]["smoothgrad"]
    assert float(smoothgrad["multiplier"]) != 0  # the test restates a nonzero float as given
    sets = [f"cnn.smoothgrad.samples={smoothgrad['samples']}",
            f"quality.faithfulness.blur_sigma={int(config['quality']['faithfulness']['blur_sigma'])}",
            f"cnn.smoothgrad.multiplier={smoothgrad['multiplier']}"]  # fmt: skip
    args = ["-s", wf / "Snakefile", "-n", "--configfile", wf / "config/test.yaml"]
    proc = xai_run(*args, *[x for s in sets for x in ("--set", s)], cwd=test_build.work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert jobs_of(proc.stdout) == {}


def test_a_copied_workspace_has_nothing_to_do(test_build, tmp_path):
    """A finished workspace copied to another path (cp -a: results/ and .snakemake/ with their
    times), run with a fresh copy of the workflow."""
    work = tmp_path / "moved"
    shutil.copytree(test_build.work, work, symlinks=True)
    wf = copy_workflow(tmp_path / "clone")
    args = workflow_args(wf, "-n", "--configfile", wf / "config/test.yaml")
    assert jobs_of(snakemake(*args, cwd=work).stdout) == {}
