"""Ctrl-C in a run: every running job stops with its own one `ERROR:` line, jobs that finished
stay finished (Snakemake keeps their outputs and metadata), and the run ends with one line and
exit status 130.

A terminal's Ctrl-C reaches Snakemake and its jobs together; SIGINT sent to Snakemake alone
(`kill -INT`, a shell that does not forward it) would leave its jobs running to the end. The
Snakefile installs `Interrupt` in the Snakemake process: on SIGINT it forwards the signal, after
a grace second, to the job processes still running (a job ignores a second one while it cleans
up), keeps Snakemake's error blocks of the stopped jobs off the terminal (they repeat what each
job said) and, from the `onerror` hook, ends the run with status 130. With no job running it is
Snakemake's own KeyboardInterrupt. A second Ctrl-C is always Snakemake's own.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

EXIT_STATUS = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C
GRACE_SECONDS = 1.0
# Snakemake's records of a job that the interrupt stopped (its own ERROR line said so), of one
# it stopped before Python had started (killed by the signal: this filter says so), and of the
# shutdown it causes
_STOPPED = "returned non-zero exit status 130"
_KILLED = "died with <Signals.SIGINT"
_SHUTDOWN = (
    "Shutting down, this might take some time.",
    "Exiting because a job execution failed. Look above for error messages",
)


def descendants(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """Every process below `pid` (children first), read from /proc ([] without /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [d for d in proc.iterdir() if d.name.isdigit()]
    except OSError:
        return []
    for d in entries:
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += children.get(p, [])
    return out


class Interrupt:
    """The SIGINT handler of the Snakemake process, and what it saw (`received`, `stopped`)."""

    def __init__(self, grace: float = GRACE_SECONDS):
        self.grace = grace
        self.received = False
        self.ended = False
        self.stopped = 0  # jobs that ended with status 130 after the interrupt

    def install(self) -> bool:
        """Take over SIGINT (main thread only; False elsewhere)."""
        try:
            signal.signal(signal.SIGINT, self.handle)
        except ValueError:
            return False
        return True

    def handle(self, signum, frame) -> None:
        if self.received or not descendants(os.getpid()):
            self.received = True
            raise KeyboardInterrupt  # a second Ctrl-C, or no job running: Snakemake's own
        self.received = True
        threading.Thread(target=self._forward, daemon=True).start()

    def _forward(self) -> None:
        """After the grace second, SIGINT once to every job process still running, and to any
        job started later (it stops while starting), until the run ends: the failed jobs make
        Snakemake stop scheduling."""
        time.sleep(self.grace)
        signalled: set[int] = set()
        first_seen: dict[int, float] = {}
        initial = set(descendants(os.getpid()))
        while not self.ended:
            now = time.monotonic()
            for pid in descendants(os.getpid()):
                first_seen.setdefault(pid, now)
                # a job started after the interrupt gets a grace of its own: while Python starts
                # (Snakemake's preamble, before the guard) a SIGINT would print a traceback
                young = pid not in initial and now - first_seen[pid] < self.grace
                if pid not in signalled and not young:
                    signalled.add(pid)
                    try:
                        os.kill(pid, signal.SIGINT)
                    except OSError:
                        pass
            time.sleep(0.2)

    def end(self, log=None) -> None:
        """From the Snakefile's onerror hook: after an interrupt, one line and exit 130."""
        self.ended = True
        if not self.received:
            return
        if isinstance(log, (list, tuple)):
            log = log[0] if log else None
        stopped = f"{self.stopped} job(s) stopped (each said so above); " if self.stopped else ""
        print(
            f"Interrupted: {stopped}jobs that finished are kept; run the same command again "
            f"to continue" + (f" (log: {log})" if log else ""),
            file=sys.stderr,
        )
        raise SystemExit(EXIT_STATUS)


class InterruptedJobs(logging.Filter):
    """Off the terminal after an interrupt: Snakemake's error blocks of the jobs it stopped and
    the failure lines of the shutdown (the run's last line says what happened)."""

    def __init__(self, interrupt: Interrupt):
        super().__init__()
        self.interrupt = interrupt
        self._pending: list[bool] = []  # per stopped job to come: did it say so itself?

    def filter(self, record: logging.LogRecord) -> bool:
        event = getattr(getattr(record, "event", None), "value", None)
        message = str(record.msg)
        # A job's status 130 is its own interrupt guard's (or SIGINT's): filtered even before the
        # handler has run. A Ctrl-C to the process group reaches a job that has just started at
        # once, and Snakemake's job thread can log its failure before the main thread (where
        # Python runs signal handlers) has set `received`.
        if event == "error" and (_STOPPED in message or _KILLED in message):
            self.interrupt.stopped += 1
            self._pending.append(_STOPPED in message)
            return False
        if event == "job_error" and self._pending:
            if self._pending.pop(0):
                return False
            rule = getattr(record, "rule_name", "?")  # the job's own line, which it had no time for
            record.event, record.args = None, ()
            record.msg = f"ERROR: rule {rule}: interrupted while starting; nothing written"
            return True
        if not self.interrupt.received and not self.interrupt.stopped:
            return True
        return message not in _SHUTDOWN
