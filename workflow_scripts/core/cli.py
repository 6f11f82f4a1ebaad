"""`./xai run`: Snakemake with `--set key.path=value` overrides and checked config files.

    ./xai run --set cnn.smoothgrad.samples=10 --set observed.names=[3_7]
    ./xai run --configfile config/test.yaml --set seed=1 -n

Everything else passes to Snakemake unchanged (after `--cores all`). `--set` values are typed
through config/schema.yaml and merged over the config files like `--config` (Snakemake's own
`--config` keeps working; a dotted key given to it is treated as `--set`). Problems are one line
on stderr and exit status 2, before Snakemake starts.

A lock left in <working dir>/.snakemake/locks/ by a killed run is removed first (`snakemake
--unlock` with the run's -s/--directory/--config* arguments) when no live Snakemake process works
in that directory (recover_stale_lock); a live one keeps its lock, so a second run is refused.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from workflow_scripts.core.errors import UserError

_LIST_OPTIONS = ("--config", "-C", "--configfile", "--configfiles")


def _take_values(argv: list[str], i: int) -> tuple[list[str], int]:
    """The values of a list option starting at argv[i] (up to the next option)."""
    values = []
    while i < len(argv) and not argv[i].startswith("-"):
        values.append(argv[i])
        i += 1
    return values, i


def split_args(argv: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """(other args, --set assignments, --config entries, config files) of a command line."""
    rest, sets, entries, files = [], [], [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if name == "--set":
            if eq:
                sets.append(inline)
                i += 1
            elif i + 1 < len(argv):
                sets.append(argv[i + 1])
                i += 2
            else:
                raise UserError("--set needs key.path=value, e.g. --set cnn.smoothgrad.samples=10")
            continue
        if arg in _LIST_OPTIONS:
            values, i = _take_values(argv, i + 1)
            if arg in ("--config", "-C"):
                entries += values
            else:
                files += values
                rest += [arg, *values]
            continue
        rest.append(arg)
        i += 1
    return rest, sets, entries, files


def config_entries(sets: list[str], entries: list[str], schema: dict) -> list[str]:
    """Snakemake `--config` entries for plain entries and `--set` assignments, in order."""
    from workflow_scripts.core.overrides import config_entry, parse_set

    out = []
    for entry in entries:
        key = entry.partition("=")[0]
        out.append(config_entry(*parse_set(entry, schema)) if "." in key else entry)
    return out + [config_entry(*parse_set(s, schema)) for s in sets]


def check_files(files: list[str]) -> None:
    for f in files:
        if not Path(f).is_file():
            raise UserError(
                f"config file {f} not found (looked in {Path.cwd()}); give the path of a "
                "YAML file, e.g. --configfile config/test.yaml"
            )


def snakemake_argv(argv: list[str]) -> list[str]:
    from workflow_scripts.core.config import load_schema
    from workflow_scripts.core.paths import SCHEMA

    rest, sets, entries, files = split_args(argv)
    check_files(files)
    extra = config_entries(sets, entries, load_schema(SCHEMA))
    return ["--cores", "all", *rest, *(["--config", *extra] if extra else [])]


# ---- stale locks
#
# Snakemake (file persistence backend) locks a working directory by writing
# .snakemake/locks/<n>.input.lock and <n>.output.lock (the files of the run, one a line) and
# deletes the folder when it ends; a SIGKILL leaves them, and every later run that touches those
# files stops with LockException until `snakemake --unlock`.

LOCK_FILE = re.compile(r"\d+\.(?:input|output)\.lock")
# Options `snakemake --unlock` needs to see the same workflow, working directory and config.
_ONE_VALUE = ("-s", "--snakefile", "-d", "--directory", "--profile", "--workflow-profile")
_UNLOCK_SKIP = ("--unlock", "--nolock")


def _values_of(args: list[str], names: tuple[str, ...]) -> list[str]:
    """The values given to options `names` (`--opt value` or `--opt=value`), in order."""
    out = []
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in names:
            if eq:
                out.append(value)
            elif i + 1 < len(args):
                out.append(args[i + 1])
    return out


def workdir_of(args: list[str]) -> Path:
    """Snakemake's working directory for these arguments: the last --directory, else the cwd."""
    dirs = _values_of(args, ("-d", "--directory"))
    return Path(dirs[-1] if dirs else ".").resolve()


def lock_files(workdir: Path) -> list[Path]:
    folder = workdir / ".snakemake" / "locks"
    try:
        return sorted(p for p in folder.iterdir() if LOCK_FILE.fullmatch(p.name))
    except OSError:
        return []


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _may_be_a_run(cmdline: list[str]) -> bool:
    """A Snakemake process, one of its jobs (.snakemake/scripts/...), or another `./xai run`:
    deliberately broad, a false positive only keeps a lock."""
    return any("snakemake" in a.lower() or "workflow_scripts.core.cli" in a for a in cmdline)


def live_runs(workdir: Path, proc: Path = Path("/proc")) -> list[int] | None:
    """Other processes that may be Snakemake runs working in `workdir` (their cwd, as Snakemake
    and its jobs chdir there); a process whose cwd cannot be read counts. None when this system
    cannot tell (no /proc)."""
    if not (proc / "self" / "cmdline").exists():
        return None
    skip, found = _ancestors(), []
    for d in proc.iterdir():
        if not d.name.isdigit() or int(d.name) in skip:
            continue
        try:
            cmdline = [
                a.decode(errors="replace") for a in (d / "cmdline").read_bytes().split(b"\0")
            ]
        except OSError:
            continue  # ended meanwhile
        if not _may_be_a_run(cmdline):  # a zombie's cmdline is empty
            continue
        try:
            cwd = Path(os.readlink(d / "cwd"))
        except (FileNotFoundError, ProcessLookupError):
            continue
        except OSError:  # another user's process: cannot tell, so assume it is a run here
            found.append(int(d.name))
            continue
        if cwd == workdir:
            found.append(int(d.name))
    return sorted(found)


def unlock_argv(args: list[str]) -> list[str]:
    """The arguments of `snakemake --unlock` for a run with `args`: its workflow, working
    directory, profiles and config (as Snakemake parses the Snakefile to unlock)."""
    out = []
    for i, arg in enumerate(args):
        name = arg.partition("=")[0]
        if name in _ONE_VALUE:
            out += [arg] if "=" in arg else args[i : i + 2]
        elif name in _LIST_OPTIONS:
            values, _ = _take_values(args, i + 1)
            out += [arg, *values]
    return [*out, "--unlock"]


def recover_stale_lock(snakemake: str, args: list[str]) -> None:
    """Unlock the working directory of `args` when a killed run left its lock and no live run
    works there; print one line when it did. A live run's lock is left alone (Snakemake then
    refuses the second run, as it should)."""
    if any(a in _UNLOCK_SKIP for a in args):
        return
    workdir = workdir_of(args)
    if not lock_files(workdir):
        return
    live = live_runs(workdir)
    if live is None:
        print(
            f"xai: {workdir}/.snakemake/locks exists and this system has no /proc to check for "
            "a live run; if none runs there, add --unlock once",
            file=sys.stderr,
        )
        return
    if live:
        print(
            f"xai: a Snakemake run (pid {', '.join(map(str, live))}) works in {workdir}; "
            "keeping its lock",
            file=sys.stderr,
        )
        return
    proc = subprocess.run([snakemake, *unlock_argv(args)], capture_output=True, text=True)
    if proc.returncode != 0 or lock_files(workdir):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"xai: could not remove a stale lock in {workdir}: {tail[0]}", file=sys.stderr)
        return
    print("xai: removed a stale lock left by an interrupted run", file=sys.stderr)


# A Slurm client config that fails at once (profiles/default/no-slurm.conf): see uses_slurm.
NO_SLURM_CONF = Path(__file__).resolve().parents[2] / "profiles" / "default" / "no-slurm.conf"


def uses_slurm(args: list[str]) -> bool:
    """Does this run submit to Slurm: `--executor slurm` / `-e slurm`, or a --profile whose
    config.yaml names the slurm executor?"""
    for i, a in enumerate(args):
        value = args[i + 1] if i + 1 < len(args) else ""
        if a in ("--executor", "-e") and value == "slurm" or a == "--executor=slurm":
            return True
        if a == "--profile" or a.startswith("--profile="):
            folder = Path(a.split("=", 1)[1] if "=" in a else value)
            conf = folder / "config.yaml"
            if conf.is_file() and re.search(r"^executor:\s*slurm\b", conf.read_text(), re.M):
                return True
    return False


def bound_slurm_probe(args: list[str], env=os.environ) -> None:
    """snakemake-executor-plugin-slurm runs `scontrol show config` (timeout 10 s) whenever
    Snakemake loads its plugins, i.e. on every command, whatever the executor; with a Slurm
    client installed but no reachable controller that costs ~9 s per command. For a run that
    does not use Slurm, point SLURM_CONF at a config that fails at once."""
    if not uses_slurm(args) and "SLURM_CONF" not in env and _which("sinfo"):
        env["SLURM_CONF"] = str(NO_SLURM_CONF)


def _which(name: str) -> bool:
    import shutil

    return shutil.which(name) is not None


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "why"):
        print(
            "usage: python -m workflow_scripts.core.cli run|why "
            "[PATH] [--set key.path=value ...] [snakemake args]",
            file=sys.stderr,
        )
        return 2
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    try:
        if argv[0] == "why":
            from workflow_scripts.core import why

            target, *rest = argv[1:] or [""]
            args = snakemake_argv(rest)
            env = dict(os.environ)
            bound_slurm_probe(args, env)
            return why.main([target, *args] if target else [], snakemake, env)
        args = snakemake_argv(argv[1:])
    except UserError as exc:
        print(f"xai: ERROR: {exc}", file=sys.stderr)
        return 2
    bound_slurm_probe(args)
    recover_stale_lock(snakemake, args)
    os.execv(snakemake, [snakemake, *args])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
