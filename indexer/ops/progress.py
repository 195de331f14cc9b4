"""Sync progress while catching up.

* In a terminal (standard error is a TTY and the log format is ``console``): one progress bar,
  redrawn in place at most every ``BAR_EVERY_S``, with the share of the node's chain indexed
  (by chain time), the slot, the epoch, blocks/s and an ETA. A newline ends it once within
  ``k`` blocks of the tip, and again whenever the daemon falls behind and catches up.
* Otherwise (a service: systemd, Docker): structured ``sync.progress`` log lines, at most one
  per ``interval_s``, as before.

It also keeps the progress facts of the shared state (``last_progress_s``, ``last_block_s``)
that ``/health`` reports: it is the writer's after-commit hook that always runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import structlog

from indexer.ops.health import ChainTime, NodeView, best_tip, sync_progress
from indexer.sync.state import SyncState

log = structlog.get_logger("indexer.ops.progress")

BAR_EVERY_S = 0.5
BAR_WIDTH = 30
EMA_WEIGHT = 0.2  # the ETA follows about the last five redraws' speed


def eta_text(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "--"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s"


def bar_line(progress: float, slot: int | None, epoch: int | None, blocks_s: float,
             eta_s: float | None, width: int = BAR_WIDTH) -> str:
    """One redraw of the bar (pure)."""
    filled = int(progress * width)
    bar = "#" * filled + "-" * (width - filled)
    return (f"[{bar}] {progress * 100:6.2f}%  slot {slot if slot is not None else '-':>10}  "
            f"epoch {epoch if epoch is not None else '-':>4}  {blocks_s:7.0f} blk/s  "
            f"ETA {eta_text(eta_s)}")


class Progress:
    def __init__(self, state: SyncState, interval_s: float, *, k: int | None = None,
                 node: NodeView | None = None, chain_time: ChainTime | None = None,
                 stream: TextIO | None = None, bar: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.state, self.interval_s, self.k = state, interval_s, k
        self.node, self.chain_time, self.clock = node, chain_time, clock
        self.stream = stream if stream is not None else sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        now = clock()
        self._last_t, self._last_blocks = now, state.stats.blocks
        self._last_slot: int | None = None
        self._last_cursor, self._facts_blocks = state.cursor, state.stats.blocks
        self._rate_ms: float | None = None  # chain milliseconds indexed per wall second (EMA)
        self._last_chain_ms: int | None = None
        self._drawn = False

    async def on_commit(self) -> None:
        now = self.clock()
        self._facts(now)
        elapsed = now - self._last_t
        if elapsed < (BAR_EVERY_S if self.bar else self.interval_s):
            return
        if self.bar:
            self._draw(now, elapsed)
        else:
            self._log(elapsed)
        self._last_t, self._last_blocks = now, self.state.stats.blocks
        self._last_slot = self.state.cursor.slot

    def _facts(self, now: float) -> None:
        state = self.state
        if state.cursor != self._last_cursor:
            state.last_progress_s = now
        if state.stats.blocks != self._facts_blocks:
            state.last_block_s = now
        self._last_cursor, self._facts_blocks = state.cursor, state.stats.blocks

    def _log(self, elapsed: float) -> None:
        cur, stats = self.state.cursor, self.state.stats
        slot, tip = cur.slot or 0, best_tip(self.state, self.node)
        blocks_s = (stats.blocks - self._last_blocks) / elapsed
        slots_s = (slot - (self._last_slot or slot)) / elapsed
        distance = (tip.slot - slot) if tip else None
        eta = round(distance / slots_s) if distance and slots_s > 0 else None
        log.info("sync.progress", slot=slot, epoch=cur.epoch, blocks_per_s=round(blocks_s),
                 tx_total=stats.txs, distance_slots=distance, eta_s=eta,
                 commit_s=round(stats.last_commit_s, 3))

    def _chain_ms(self, slot: int) -> int:
        if self.chain_time is not None:
            try:
                return self.chain_time(slot)
            except ValueError:
                pass
        return slot * 1000

    def _draw(self, now: float, elapsed: float) -> None:
        state = self.state
        cur, tip = state.cursor, best_tip(state, self.node)
        progress = sync_progress(state, tip, self.chain_time)
        if progress is None or cur.slot is None:
            return
        chain_ms = self._chain_ms(cur.slot)
        if self._last_chain_ms is not None:
            rate = (chain_ms - self._last_chain_ms) / elapsed
            self._rate_ms = rate if self._rate_ms is None else (
                EMA_WEIGHT * rate + (1 - EMA_WEIGHT) * self._rate_ms)
        self._last_chain_ms = chain_ms
        eta = None
        if tip is not None and self._rate_ms:
            eta = (self._chain_ms(tip.slot) - chain_ms) / self._rate_ms
        blocks_s = (state.stats.blocks - self._last_blocks) / elapsed
        caught_up = (self.k is not None and tip is not None and cur.height is not None
                     and tip.height - cur.height <= self.k)
        if caught_up and not self._drawn:
            return  # at the tip already: nothing to show
        line = bar_line(progress, cur.slot, cur.epoch, blocks_s, eta)
        self.stream.write("\r" + line + "\x1b[K" + ("\n" if caught_up else ""))
        self.stream.flush()
        self._drawn = not caught_up
