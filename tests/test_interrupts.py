"""Ctrl-C at any moment (workflow_scripts/core/interrupt.py, steps/_bootstrap.py, core/step.run):
each running job stops with one `ERROR:` line, no traceback, exit status 130, and jobs that
finished are kept (a dry run afterwards lists only what did not finish).

The run recomputes the BERT analyses of a copy of the finished test build (5 jobs, 2 at a time);
a terminal's Ctrl-C is SIGINT to the run's whole process group, `kill -INT` reaches Snakemake
alone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import _SESSION, jobs_of, snakemake, workflow_args

JOBS = {"hidden_pca": ["q1", "q2", "q3"], "embedding_similarity": [None], "exbert_probes": [None]}


def targets(results: Path) -> list[str]:
    return [
        str(results / "bert/hidden_pca/q1.json"),
        str(results / "bert/hidden_pca/q2.json"),
        str(results / "bert/hidden_pca/q3.json"),
        str(results / "bert/similarity.json"),
        str(results / "bert/exbert.json"),
    ]


def logs(results: Path) -> dict[str, Path]:
    return {
        f"{rule}/{job or rule}": results / "logs" / rule / f"{job or rule}.log"
        for rule, names in JOBS.items()
        for job in names
    }


@pytest.fixture
def workspace(test_build, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(test_build.work, work, symlinks=True)
    for log in logs(work / "results/test").values():
        log.unlink()
    return work


def start(test_build, work: Path) -> subprocess.Popen:
    """The run, in a process group of its own (the terminal's foreground group)."""
    wf = test_build.workflow
    rel = [os.path.relpath(t, work) for t in targets(work / "results/test")]
    args = workflow_args(wf, "--cores", "2", "--configfile", wf / "config/test.yaml")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["XDG_CACHE_HOME"] = str(_SESSION["xdg_cache"])
    from workflow_scripts.core.cli import bound_slurm_probe

    bound_slurm_probe([], env)
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", *rel, *map(str, args), "--forcerun", *JOBS],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for(condition, timeout=240):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the run")


def text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def computing(log: Path) -> bool:
    """A job that started its step less than 2 s ago (the BERT steps compute for ~7 s)."""
    body = text(log)
    return "start" in body and "done" not in body and time.time() - log.stat().st_mtime < 2


def job_pids(proc: subprocess.Popen) -> list[int]:
    from workflow_scripts.core.interrupt import descendants

    found = []
    for pid in descendants(proc.pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b".snakemake/scripts/" in cmd and b"python" in cmd.split(b"\0")[0]:
            found.append(pid)
    return found


def importing_torch(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def interrupt(proc: subprocess.Popen, ready, group: bool = True) -> str:
    """SIGINT once `ready()`: to the run's process group (a terminal's Ctrl-C) or to Snakemake
    alone; the run's output. A run still alive at the end is killed."""
    try:
        wait_for(ready)
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return out


def check_interrupted(out: str, status: int, work: Path) -> set[str]:
    """Exit 130, no traceback, one ERROR line per stopped job and the closing line; returns the
    jobs (rule/name) whose log says they finished."""
    assert status == 130, out[-3000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-3000:]
    assert "Error in rule" not in out and "WorkflowError" not in out, out[-3000:]
    errors = [line for line in out.splitlines() if "ERROR: rule" in line]
    assert errors, out[-3000:]
    # one line per stopped job (not repeated from its log): as many as the closing line counts
    stopped = out.strip().splitlines()[-1].split("Interrupted: ")[-1].split(" job(s)")[0]
    assert not stopped.isdigit() or len(errors) == int(stopped), out[-3000:]
    assert out.strip().splitlines()[-1].startswith("Interrupted: "), out[-1000:]
    results = work / "results/test"
    return {job for job, log in logs(results).items() if "done in" in text(log)}


def left_to_do(test_build, work: Path) -> dict[str, int]:
    wf = test_build.workflow
    rel = [os.path.relpath(t, work) for t in targets(work / "results/test")]
    args = workflow_args(wf, "-n", "--configfile", wf / "config/test.yaml")
    return jobs_of(snakemake(*rel, *args, cwd=work).stdout)


def stopped_jobs(work: Path, finished: set[str]) -> dict[str, int]:
    """{rule: count} of the jobs that started (their log exists) and did not finish: what a
    rerun must do (jobs that never started kept their outputs)."""
    left: dict[str, int] = {}
    for job, log in logs(work / "results/test").items():
        if log.exists() and job not in finished:
            rule = job.split("/")[0]
            left[rule] = left.get(rule, 0) + 1
    return left


@pytest.mark.parametrize("whom", ["group", "snakemake"])
def test_ctrl_c_during_computation_keeps_finished_jobs(test_build, workspace, whom):
    """Ctrl-C once a job has finished and another computes: the running ones stop with one line
    each; the finished one is not redone."""
    results = workspace / "results/test"
    proc = start(test_build, workspace)
    out = interrupt(
        proc,
        lambda: (
            any("done in" in text(p) for p in logs(results).values())
            and any(computing(p) for p in logs(results).values())
        ),
        group=whom == "group",
    )
    finished = check_interrupted(out, proc.returncode, workspace)
    assert finished and len(finished) < len(logs(results))
    assert "interrupted; partial outputs removed" in out
    assert left_to_do(test_build, workspace) == stopped_jobs(workspace, finished)


def test_ctrl_c_during_a_jobs_imports_is_one_line(test_build, workspace):
    """Ctrl-C while the first jobs still import torch: 'interrupted while starting', 130."""
    proc = start(test_build, workspace)
    out = interrupt(proc, lambda: any(importing_torch(p) for p in job_pids(proc)))
    finished = check_interrupted(out, proc.returncode, workspace)
    assert "interrupted while starting; nothing written" in out, out[-3000:]
    assert finished == set()
    assert left_to_do(test_build, workspace) == stopped_jobs(workspace, finished) != {}


def test_a_stopped_jobs_error_block_is_filtered_before_the_handler_runs():
    """A group Ctrl-C reaches a job that has just started at once; Snakemake's job thread may log
    its status-130 failure before the main thread's handler sets `received`: still filtered, still
    counted, and a failure of another status still shown."""
    import logging
    from types import SimpleNamespace

    from workflow_scripts.core.interrupt import Interrupt, InterruptedJobs

    def record(event, msg, **extra):
        r = logging.LogRecord("snakemake", logging.ERROR, "", 0, msg, (), None)
        r.event = SimpleNamespace(value=event)
        for k, v in extra.items():
            setattr(r, k, v)
        return r

    interrupt = Interrupt()
    jobs = InterruptedJobs(interrupt)
    stopped = "Command 'python x.py' returned non-zero exit status 130."
    assert not jobs.filter(record("error", stopped))
    assert not jobs.filter(record("job_error", "Error in rule", rule_name="embedding_similarity"))
    assert interrupt.stopped == 1 and not interrupt.received
    assert jobs.filter(record("error", "Command 'python y.py' returned non-zero exit status 1."))
    assert jobs.filter(record("job_error", "Error in rule", rule_name="other"))
