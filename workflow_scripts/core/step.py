"""Glue between a Snakemake `script:` job and a plain function of this package.

A step function takes the `snakemake` object's parts as plain values. `run` sends its log
lines to the rule's `log:` file, and turns a UserError into one line on stderr (and in the
log) plus a non-zero exit, removing any outputs the step left behind.
"""

from __future__ import annotations

import logging
import shutil
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


def speed(smk, section: str = "") -> dict:
    """The speed-only settings (config/schema.yaml `x-speed-only`: device, threads, batch sizes,
    download retries) directly under a config section, read from the job's config at run time:
    they are never rule params, so changing them reruns nothing."""
    from workflow_scripts.core.config import load_schema, speed_only_keys
    from workflow_scripts.core.overrides import speed_settings
    from workflow_scripts.core.paths import SCHEMA

    schema = load_schema(SCHEMA)
    return speed_settings(smk.config, section, speed_only_keys(schema))


def run(smk, fn) -> None:
    """Call fn(smk) with logging set up; on UserError print one line, clean outputs, exit 1."""
    _setup_logging(list(smk.log))
    remove_stale_temps(list(smk.output))  # temporaries of an interrupted run of this job
    start = time.perf_counter()
    log.info("rule %s: start (threads=%s)", smk.rule, smk.threads)
    try:
        fn(smk)
    except UserError as exc:
        log.error("ERROR: %s", exc)
        _remove(list(smk.output))
        sys.exit(1)
    except BaseException:
        log.exception("rule %s failed", smk.rule)
        _remove(list(smk.output))
        raise
    log.info("rule %s: done in %.1f s", smk.rule, time.perf_counter() - start)
