"""What made each artifact: one record per finished job, and the checks that read them.

Every job (core/step.run) writes `provenance/<rule>/<job>.json` beside its log folder: the rule,
its wildcards and outputs, the canonical params it ran with, and its code (the entry modules,
the version and every module's digest on its code path, workflow_scripts/core/codehash.py). The
report flags an artifact whose modules differ from the current code, and `./xai why` says why an
output would rerun. Torch-free.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from workflow_scripts.core import codehash
from workflow_scripts.core.config import canonical
from workflow_scripts.core.io import write_json


def record_path(log_file) -> Path:
    """The provenance record of the job whose log is `log_file` (logs/<rule>/<job>.log ->
    provenance/<rule>/<job>.json)."""
    log = Path(log_file)
    parts = list(log.parts)
    i = len(parts) - 1 - parts[::-1].index("logs")
    return Path(*parts[:i], "provenance", *parts[i + 1 :]).with_suffix(".json")


def _plain(value):
    return json.loads(json.dumps(canonical(value), default=str, ensure_ascii=False))


def record(rule: str, wildcards: dict, outputs, params: dict, log_file) -> Path:
    """Write the record of a job that just finished."""
    code = params.get("code") or {}
    entries = code.get("entries", [])
    modules = codehash.closure(entries)
    doc = {
        "rule": rule,
        "wildcards": _plain(wildcards),
        "outputs": [str(o) for o in outputs],
        "params": _plain({k: v for k, v in params.items() if k != "code"}),
        "code": {
            "entries": entries,
            "version": codehash.version_of(modules),
            "modules": modules,
            "imported": imported_modules(),
        },
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = record_path(log_file)
    write_json(path, doc)
    return path


def imported_modules() -> list[str]:
    """The project modules this process has imported: what the job's code path really held (a
    module loaded by name that the rule's `code` entries do not declare shows up here)."""
    names = [m for m in sys.modules if m.split(".")[0] == codehash.PACKAGE]
    if "_bootstrap" in sys.modules:
        names.append(f"{codehash.STEPS}._bootstrap")
    return sorted(names)


def changed_modules(doc: dict, root: Path = codehash.ROOT) -> list[str]:
    """The modules of a record's code path whose current source differs from what ran (a module
    gone counts), plus modules now on the path that were not."""
    recorded = doc.get("code", {}).get("modules", {})
    try:
        now = codehash.closure(doc.get("code", {}).get("entries", []), root)
    except FileNotFoundError:
        now = {}
    return sorted(m for m in set(recorded) | set(now) if recorded.get(m) != now.get(m))


def records(results_root) -> list[dict]:
    """Every provenance record under an asset set's results folder, by path."""
    folder = Path(results_root) / "provenance"
    out = []
    for path in sorted(folder.rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        doc["record"] = str(path.relative_to(folder).with_suffix(""))
        out.append(doc)
    return out


def stale(results_root) -> list[dict]:
    """[{job, modules}] of the records built by code other than the current one."""
    found = []
    for doc in records(results_root):
        modules = changed_modules(doc)
        if modules:
            found.append({"job": doc["record"], "modules": modules})
    return found


def git_version(folder: Path = codehash.ROOT) -> str:
    """`git describe --always --dirty` of the workflow's checkout, or why there is none."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(folder), "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    return proc.stdout.strip() if proc.returncode == 0 else "unknown (not a git checkout)"


def code_header(results_root) -> dict:
    """The report header's code entry: the checkout's version and the stale artifacts."""
    return {"version": git_version(), "stale": stale(results_root)}
