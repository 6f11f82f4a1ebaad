"""The terminal of a run: Snakemake's scheduling chatter off it, so that the pipeline's own lines
and Snakemake's "N of M steps" are what a user reads. The log file (.snakemake/log/) keeps
everything; `--verbose` keeps everything on the terminal too."""

from __future__ import annotations

import logging
import re

# "Select jobs to execute...", "Execute 2 jobs..." before every batch, and the timestamped
# "Finished jobid: 12 (Rule: lime)" before every "N of M steps" line
CHATTER = re.compile(r"^(Select jobs to execute\.\.\.|Execute \d+ jobs\.\.\.)$")


# the per-job blocks (rule, input, output, reason, "Shell command: None" for script rules) of a
# real run; a dry run keeps them: they are what a dry run is for
JOB_BLOCKS = ("job_info", "group_info", "shellcmd")


class SchedulerChatter(logging.Filter):
    def __init__(self, is_dryrun=lambda: False):
        super().__init__()
        self.is_dryrun = is_dryrun  # known only once Snakemake executes, so asked per record

    def filter(self, record: logging.LogRecord) -> bool:
        event = getattr(getattr(record, "event", None), "value", None)
        if event in JOB_BLOCKS:
            return self.is_dryrun()
        if event == "job_finished":
            return False
        return not CHATTER.match(str(record.msg))


def _terminal_handlers(logger: logging.Logger) -> list[logging.Handler]:
    return [
        h
        for h in logger.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


def quiet_scheduler(is_dryrun=lambda: False, logger: logging.Logger | None = None) -> None:
    """Add the filter to the logger's terminal handlers (not to its file handler); nothing with
    --verbose (the logger then logs DEBUG). `is_dryrun`: a dry run keeps its job blocks."""
    logger = logger or logging.getLogger("snakemake.logging")
    if logger.isEnabledFor(logging.DEBUG):
        return
    for h in _terminal_handlers(logger):
        if not any(isinstance(f, SchedulerChatter) for f in h.filters):
            h.addFilter(SchedulerChatter(is_dryrun))


def handle_interrupts(logger: logging.Logger | None = None):
    """Ctrl-C in this Snakemake process (core/interrupt.py): install the handler, tidy the
    terminal after an interrupt; returns the Interrupt for the Snakefile's onerror hook."""
    from workflow_scripts.core.interrupt import Interrupt, InterruptedJobs

    interrupt = Interrupt()
    interrupt.install()
    logger = logger or logging.getLogger("snakemake.logging")
    handlers = _terminal_handlers(logger)
    if handlers:  # one filter instance, so each stopped job is counted once
        tidy = InterruptedJobs(interrupt)
        for h in handlers:
            h.addFilter(tidy)
    return interrupt
