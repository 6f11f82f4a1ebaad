"""The terminal of a run: Snakemake's scheduling chatter off it, so that the pipeline's own lines
and Snakemake's "N of M steps" are what a user reads. The log file (.snakemake/log/) keeps
everything; `--verbose` keeps everything on the terminal too."""

from __future__ import annotations

import logging
import re

# "Select jobs to execute...", "Execute 2 jobs..." before every batch, and the timestamped
# "Finished jobid: 12 (Rule: lime)" before every "N of M steps" line
CHATTER = re.compile(r"^(Select jobs to execute\.\.\.|Execute \d+ jobs\.\.\.)$")


class SchedulerChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(getattr(record, "event", None), "value", None) == "job_finished":
            return False
        return not CHATTER.match(str(record.msg))


def quiet_scheduler(logger: logging.Logger | None = None) -> None:
    """Add the filter to the logger's terminal handlers (not to its file handler); nothing with
    --verbose (the logger then logs DEBUG)."""
    logger = logger or logging.getLogger("snakemake.logging")
    if logger.isEnabledFor(logging.DEBUG):
        return
    for h in logger.handlers:
        terminal = isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        if terminal and not any(isinstance(f, SchedulerChatter) for f in h.filters):
            h.addFilter(SchedulerChatter())
