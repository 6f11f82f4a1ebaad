"""Glue between a Snakemake `script:` job and a plain function of this package.

A step function takes the `snakemake` object's parts as plain values. `run` sends its log
lines to the rule's `log:` file, and turns a UserError into one line on stderr (and in the
log) plus a non-zero exit, removing any outputs the step left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from workflow_scripts.core.errors import UserError
from workflow_scripts.core.io import remove_stale_temps

log = logging.getLogger("xai")


def _setup_logging(log_files) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    for f in log_files:
        Path(f).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(f, mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        handlers=handlers,
        force=True,
    )


def _remove(paths) -> None:
    for p in map(Path, paths):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()


@functools.cache
def _speed_keys() -> tuple[str, ...]:
    """The schema's speed-only keys, read once per job process."""
    from workflow_scripts.core.config import load_schema, speed_only_keys
    from workflow_scripts.core.paths import SCHEMA

    return tuple(speed_only_keys(load_schema(SCHEMA)))


def speed(smk, section: str = "") -> dict:
    """The speed-only settings (config/schema.yaml `x-speed-only`: device, threads, batch sizes,
    download retries) directly under a config section, read from the job's config at run time:
    they are never rule params, so changing them reruns nothing."""
    from workflow_scripts.core.overrides import speed_settings

    return speed_settings(smk.config, section, _speed_keys())


def torch_device(smk, seed: int | None = None):
    """A torch job's setup from its speed settings: threads, device (deterministic kernels) and,
    given `seed`, every generator seeded. Returns the device."""
    from workflow_scripts.core.runtime import (
        make_deterministic,
        pick_device,
        seed_everything,
        set_threads,
    )

    job = speed(smk)  # device, threads
    set_threads(job["threads"] or smk.threads)
    device = pick_device(job["device"])
    make_deterministic(device)
    if seed is not None:
        seed_everything(seed)
    return device


def os_error_line(exc: OSError, outputs) -> str | None:
    """One line for the OS errors a user fixes outside the workflow (disk full, no permission,
    read-only file system), naming the path; None for any other OSError."""
    path = exc.filename or (outputs[0] if outputs else "the job's outputs")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the device (or quota exceeded) while writing {path}; "
            "free disk space, or set config key results to a folder on a larger disk, and rerun"
        )
    if exc.errno == errno.EIO:
        return f"{path}: {exc.strerror}; check the disk that holds it and rerun"
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return (
            f"{path}: {exc.strerror or 'permission denied'}; make the results folder writable "
            "(and the inputs readable) for this user, or set config key results to a folder you "
            "can write, and rerun"
        )
    return None


def _fail(smk, line: str, status: int) -> None:
    log.error("ERROR: %s", line)
    try:
        _remove(list(smk.output))
    except OSError as exc:  # e.g. a read-only results folder: say so, still one line each
        log.error("ERROR: could not remove the partial output %s (%s)", exc.filename, exc.strerror)
    sys.exit(status)


# glibc's malloc returns freed blocks above its (dynamic) mmap threshold to the kernel and trims
# the heap after each large free, so every step of a tensor loop pays page faults again: measured
# on the 2-core machine, a LIME job spent 5.1 s in the kernel (0.5 s with these settings) and
# 1.7 s more wall time. The values of MALLOC_MMAP_THRESHOLD_=64MiB MALLOC_TRIM_THRESHOLD_=256MiB,
# set from inside the job (environment variables would have to be set before Python starts).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MALLOC_SETTINGS = {M_MMAP_THRESHOLD: 64 << 20, M_TRIM_THRESHOLD: 256 << 20}


def tune_malloc() -> bool:
    """Apply MALLOC_SETTINGS through glibc's mallopt; False where there is no glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return all(libc.mallopt(k, v) == 1 for k, v in MALLOC_SETTINGS.items())
    except (OSError, AttributeError):  # musl, macOS: their allocators, left alone
        return False


def _record_provenance(smk) -> None:
    """The job's provenance record (core/provenance.py), for jobs of the workflow (a rule with a
    log and a `code` param)."""
    params = getattr(smk, "params", None)
    logs = list(getattr(smk, "log", None) or [])
    if not logs or not hasattr(params, "items") or "code" not in dict(params.items()):
        return
    from workflow_scripts.core import provenance

    wildcards = dict(smk.wildcards.items()) if hasattr(smk.wildcards, "items") else {}
    provenance.record(smk.rule, wildcards, list(smk.output), dict(params.items()), logs[0])


def _exit_now() -> None:
    """End the job process at once after a success (outputs written, logs flushed): skips the
    interpreter's teardown of torch and its libraries, 0.4-0.75 s per job measured."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _stop_job(smk):
    """A job's SIGINT handler while its step runs: one ERROR line, the outputs and their
    temporaries removed, exit 130 at once. Cleaning up from the handler (no KeyboardInterrupt
    unwinding the step) leaves nothing to chance: an exception raised inside a __del__ or a
    callback would be printed and swallowed, and the step would go on."""

    def handler(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        log.error("ERROR: rule %s: interrupted; partial outputs removed", job_name(smk))
        with contextlib.suppress(OSError):
            _remove(list(smk.output))
            remove_stale_temps(list(smk.output))
        logging.shutdown()
        sys.stderr.flush()
        os._exit(130)

    return handler


@contextlib.contextmanager
def _interrupts(smk):
    """Ctrl-C while the step runs: in a job (its SIGINT handler is still steps/_bootstrap.py's
    guard of the imports) _stop_job, and ignored afterwards, so that a Ctrl-C during the
    process's teardown cannot turn a finished job into a failed one; in-process (tests) a
    KeyboardInterrupt, the caller's handler afterwards. Main thread only."""
    previous = signal.getsignal(signal.SIGINT)
    job = getattr(previous, "__module__", None) == "_bootstrap"
    try:
        signal.signal(signal.SIGINT, _stop_job(smk) if job else signal.default_int_handler)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN if job else previous)


def run(smk, fn, exit_now: bool = False) -> None:
    """Call fn(smk) with logging set up; a problem the user fixes (UserError, Ctrl-C, disk full,
    no permission) is one `ERROR:` line (stderr and log), the outputs removed, a non-zero exit:
    1, or 130 for Ctrl-C. Anything else keeps its traceback (a bug). On success the job's
    provenance record is written (core/provenance.py). exit_now: a job script's process ends
    right after a success (never set it where run() is called in-process)."""
    tune_malloc()
    with _interrupts(smk):  # before: steps/_bootstrap.py's guard
        _run(smk, fn)
    if exit_now:
        _exit_now()


def job_name(smk) -> str:
    """'hidden_pca (item=2)': the rule and its wildcards, so a start line says which item."""
    wildcards = getattr(smk, "wildcards", None)
    items = list(wildcards.items()) if hasattr(wildcards, "items") else []
    named = ", ".join(f"{k}={v}" for k, v in items)
    return f"{smk.rule} ({named})" if named else smk.rule


def _run(smk, fn) -> None:
    try:
        _setup_logging(list(smk.log))
    except OSError as exc:  # the log folder itself cannot be written
        _setup_logging([])
        _fail(smk, os_error_line(exc, list(smk.log)) or f"{exc.filename}: {exc.strerror}", 1)
    remove_stale_temps(list(smk.output))  # temporaries of an interrupted run of this job
    start = time.perf_counter()
    log.info("rule %s: start (threads=%s)", job_name(smk), smk.threads)
    try:
        fn(smk)
        _record_provenance(smk)
    except UserError as exc:
        _fail(smk, str(exc), 1)
    except KeyboardInterrupt:  # in-process callers; a job stops in _stop_job
        _fail(smk, f"rule {job_name(smk)}: interrupted; partial outputs removed", 130)
    except OSError as exc:
        line = os_error_line(exc, list(smk.output))
        if line is None:
            log.exception("rule %s failed", smk.rule)
            _remove(list(smk.output))
            raise
        _fail(smk, line, 1)
    except BaseException:
        log.exception("rule %s failed", smk.rule)
        _remove(list(smk.output))
        raise
    log.info("rule %s: done in %.1f s", job_name(smk), time.perf_counter() - start)
