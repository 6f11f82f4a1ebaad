"""`./xai why PATH [snakemake args]`: would this output rerun, and why.

Snakemake's own dry run for the target decides (its `reason:` for the job that writes PATH);
the job's provenance record (core/provenance.py) adds what ran and which modules on its code
path have changed since.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from workflow_scripts.core import codehash, provenance
from workflow_scripts.core.errors import UserError

_BLOCK = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+?):$")


def job_blocks(dry_run: str) -> list[dict]:
    """The job blocks of a dry run's output (at any indentation: group jobs indent theirs):
    [{rule, output: [...], reason: str, ...}]."""
    blocks, current, indent = [], None, 0
    for line in dry_run.splitlines():
        depth = len(line) - len(line.lstrip())
        m = _BLOCK.match(line.strip())
        if m:
            current, indent = {"rule": m.group(1)}, depth
            blocks.append(current)
        elif current is not None and depth > indent and ": " in line:
            key, _, value = line.strip().partition(": ")
            current[key] = value
        else:
            current = None
    for b in blocks:
        b["output"] = [o.strip() for o in b.get("output", "").split(",") if o.strip()]
    return blocks


def find_record(target: Path) -> dict | None:
    """The provenance record of the job that wrote `target`: in the results folder above it
    (the one holding provenance/), matched by output path."""
    target = Path(os.path.normpath(target.absolute()))
    for folder in target.parents:
        if (folder / "provenance").is_dir():
            for doc in provenance.records(folder):
                outputs = {Path(os.path.normpath(Path(o).absolute())) for o in doc["outputs"]}
                if target in outputs or any(target.is_relative_to(o) for o in outputs):
                    return doc
            return None
    return None


def explain(target: str, dry_run: str, root: Path = codehash.ROOT) -> list[str]:
    """The lines `./xai why` prints for `target`, from Snakemake's dry run for it; `root`: the
    folder of the workflow that runs (its modules are "now")."""
    path = Path(target)
    norm = os.path.normpath(target)
    job = next((b for b in job_blocks(dry_run) if norm in map(os.path.normpath, b["output"])), None)
    doc = find_record(path)
    lines = []
    if job is None:
        state = "is up to date" if path.exists() else "is not an output of this workflow's DAG"
        lines.append(f"{target}: {state}; nothing would rerun for it")
    else:
        lines.append(f"{target}: rule {job['rule']} would rerun")
        lines.append(f"  Snakemake's reason: {job.get('reason', 'not given')}")
    if doc is None:
        lines.append(
            "  no provenance record (never built by this workflow, or built before records)"
        )
        return lines
    code = doc.get("code", {})
    lines.append(
        f"  built by rule {doc['rule']} on {doc.get('finished', '?')} with code "
        f"{code.get('version', '?')} ({len(code.get('modules', {}))} modules)"
    )
    changed = provenance.changed_modules(doc, root)
    if changed:
        lines.append(f"  modules changed since: {', '.join(changed)}")
    else:
        lines.append("  its code path is unchanged since")
    params = json.dumps(doc.get("params", {}), ensure_ascii=False, sort_keys=True)
    lines.append(f"  params it ran with: {params[:2000]}")
    return lines


def main(argv: list[str], snakemake: str, env=None) -> int:
    """Run the dry run for the target and print the explanation."""
    if not argv or argv[0].startswith("-"):
        raise UserError(
            "usage: ./xai why PATH [snakemake args], e.g. ./xai why "
            "results/offline/attributions/saliency/0_0.npz"
        )
    target, rest = argv[0], argv[1:]
    proc = subprocess.run([snakemake, target, "-n", *rest], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        tail = [ln.strip() for ln in lines if ln.strip() and "profile" not in ln][-2:]
        raise UserError(f"snakemake -n {target} failed: {' '.join(tail)}")
    snakefiles = [rest[i + 1] for i, a in enumerate(rest[:-1]) if a in ("-s", "--snakefile")]
    root = Path(snakefiles[-1]).resolve().parent if snakefiles else codehash.ROOT
    print("\n".join(explain(target, proc.stdout + proc.stderr, root)))
    return 0
