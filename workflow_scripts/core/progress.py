"""Progress of a byte transfer that a user can watch, on a terminal and in a log alike.

On a terminal (the stream is a TTY) a tqdm bar; otherwise (a log file, a Snakemake or Slurm job)
one log line per 10 % ("checkpoint.pth: 30 % (51.0 of 170.0 MB, 12.3 MB/s)"), or, when the size
is unknown, one line every `every_mb` MB and a last line with the total. A transfer that resumes
(or restarts) never counts backwards: each percentage is logged once, in order.

`Progress` takes the arguments of tqdm that the downloaders in use pass (total, initial, desc,
unit...), so it also stands in for tqdm where a library lets one choose its progress class.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("xai")

QUIET_BELOW = 1 << 20  # transfers of a known size under 1 MiB report nothing


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


class Progress:
    """Byte progress of one named transfer; use as a context manager, `update(n)` per chunk."""

    def __init__(
        self,
        desc: str = "download",
        total: int | None = None,
        initial: int = 0,
        *,
        stream=None,
        terminal: bool | None = None,
        every_mb: float = 50,
        quiet_below: int | None = None,
        logger: logging.Logger | None = None,
        **_tqdm_kwargs,
    ):
        self.desc, self.total, self.n = desc, (total or None), initial
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = _isatty(self.stream) if terminal is None else terminal
        self.every = max(1, int(every_mb * 1e6))
        self.quiet_below = QUIET_BELOW if quiet_below is None else quiet_below
        self.log = logger or log
        self._start, self._start_n = time.monotonic(), initial
        self._decile = 10 * initial // self.total if self.total else 0  # deciles already passed
        self._next_mark = (initial // self.every + 1) * self.every
        self._bar = None
        self.closed = False

    # -- tqdm-compatible surface ------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(ok=exc_type is None)

    def update(self, n: int = 1) -> None:
        self.moveto(self.n + n)

    def refresh(self) -> None:
        pass

    def set_description(self, desc=None, refresh=True) -> None:
        pass

    def set_postfix_str(self, s="", refresh=True) -> None:
        pass

    # -- our own ---------------------------------------------------------------------------
    @property
    def quiet(self) -> bool:
        return self.total is not None and self.total < self.quiet_below

    def set_total(self, total: int | None) -> None:
        """Learn the size once the server has said it (a no-op when it is already known)."""
        if self.total is None and total:
            self.total = total
            self._decile = 10 * self.n // total
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()

    def moveto(self, n: int) -> None:
        """Set the bytes done (after a resume: the part file's size); never reports backwards."""
        self.n = n
        if self.quiet:
            return
        if self.terminal:
            bar = self._tqdm()
            if n >= bar.n:
                bar.update(n - bar.n)
            else:  # the server restarted the file from its start
                bar.reset(total=self.total)
                bar.update(n)
            return
        if self.total:
            decile = min(10, 10 * n // self.total)
            while self._decile < decile:
                self._decile += 1
                done = self.total * self._decile // 10
                self.log.info(
                    "%s: %d %% (%s of %s MB, %s)",
                    self.desc,
                    10 * self._decile,
                    _mb(done),
                    _mb(self.total),
                    self._rate(),
                )
        else:
            while n >= self._next_mark:
                self.log.info(
                    "%s: %s MB so far (size unknown, %s)",
                    self.desc,
                    _mb(self._next_mark),
                    self._rate(),
                )
                self._next_mark += self.every

    def close(self, ok: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close()
        elif ok and not self.terminal and self.total is None and self.n:
            self.log.info("%s: done, %s MB (%s)", self.desc, _mb(self.n), self._rate())

    def _rate(self) -> str:
        dt = time.monotonic() - self._start
        return f"{(self.n - self._start_n) / 1e6 / dt:.1f} MB/s" if dt > 0 else "- MB/s"

    def _tqdm(self):
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total,
                initial=self.n,
                desc=self.desc,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self.stream,
                leave=True,
                dynamic_ncols=True,
            )
        return self._bar


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Steps:
    """Progress of a job's loop over items, in its log: one line per 10 % passed, with the time
    so far and an estimate of the rest ("quality: 9/22 images (40 %), 31 s, about 45 s left"), so
    no long job is silent. Logged on `xai.progress`, which stays at INFO while a job quiets its
    per-item lines."""

    def __init__(self, desc: str, total: int, unit: str = "images", logger=None):
        self.desc, self.total, self.unit, self.n = desc, total, unit, 0
        self.log = logger or logging.getLogger("xai.progress")
        self.log.setLevel(logging.INFO)
        self._start, self._decile = time.monotonic(), 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.total:
            return
        decile = min(10, 10 * self.n // self.total)
        if decile <= self._decile:
            return
        self._decile = decile
        spent = time.monotonic() - self._start
        left = spent * (self.total - self.n) / self.n
        self.log.info(
            "%s: %d/%d %s (%d %%), %.0f s, about %.0f s left",
            self.desc,
            self.n,
            self.total,
            self.unit,
            100 * self.n // self.total,
            spent,
            left,
        )
