"""Progress of ``indexer rewards fetch``: a bar on a terminal (stderr is a tty), else
``history.progress`` log lines at most once per interval (and one at the end)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import structlog

log = structlog.get_logger("indexer.history.progress")

BAR_WIDTH = 30
REDRAW_S = 0.1


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class FetchProgress:
    def __init__(self, total: int, *, interval_s: float = 10.0, stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.total, self.done, self.interval_s = total, 0, interval_s
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.started = self._shown = time.monotonic()
        self.pool_id: str | None = None
        self.epoch: int | None = None

    def _eta_s(self) -> float | None:
        elapsed = time.monotonic() - self.started
        if not self.done or self.done >= self.total:
            return None
        return elapsed / self.done * (self.total - self.done)

    def advance(self, pool_id: str, epoch: int, requests: int) -> None:
        self.done += 1
        self.pool_id, self.epoch = pool_id, epoch
        now = time.monotonic()
        if self.tty:
            if now - self._shown >= REDRAW_S or self.done == self.total:
                self._shown = now
                self._draw()
        elif now - self._shown >= self.interval_s:
            self._shown = now
            self._line(requests)

    def _draw(self) -> None:
        filled = BAR_WIDTH * self.done // max(self.total, 1)
        eta = self._eta_s()
        text = (f"\rrewards fetch [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                f"{self.done}/{self.total} pool-epochs  {(self.pool_id or '')[:16]}… "
                f"epoch {self.epoch}" + (f"  ETA {_duration(eta)}" if eta is not None else ""))
        self.stream.write(text + "\x1b[K")
        self.stream.flush()

    def _line(self, requests: int) -> None:
        eta = self._eta_s()
        log.info("history.progress", done=self.done, total=self.total, pool_id=self.pool_id,
                 epoch=self.epoch, requests=requests,
                 eta_s=round(eta) if eta is not None else None)

    def close(self, requests: int) -> None:
        if self.tty:
            if self.total:
                self._draw()
                self.stream.write("\n")
                self.stream.flush()
        else:
            self._line(requests)
