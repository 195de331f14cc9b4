"""Progress lines while syncing (``sync.progress``): slot, epoch, blocks/s, distance to the tip,
ETA. Reads the sync state; written after commits, at most once per interval."""

from __future__ import annotations

import asyncio

import structlog

from indexer.sync.state import SyncState

log = structlog.get_logger("indexer.ops.progress")


class Progress:
    def __init__(self, state: SyncState, interval_s: float) -> None:
        self.state, self.interval_s = state, interval_s
        loop = asyncio.get_running_loop()
        self._last_t, self._last_blocks = loop.time(), 0
        self._last_slot: int | None = None

    async def on_commit(self) -> None:
        now = asyncio.get_running_loop().time()
        elapsed = now - self._last_t
        if elapsed < self.interval_s:
            return
        cur, stats = self.state.cursor, self.state.stats
        slot, tip = cur.slot or 0, stats.tip
        blocks_s = (stats.blocks - self._last_blocks) / elapsed
        slots_s = (slot - (self._last_slot or slot)) / elapsed
        distance = (tip.slot - slot) if tip else None
        eta = round(distance / slots_s) if distance and slots_s > 0 else None
        log.info("sync.progress", slot=slot, epoch=cur.epoch, blocks_per_s=round(blocks_s),
                 tx_total=stats.txs, distance_slots=distance, eta_s=eta,
                 commit_s=round(stats.last_commit_s, 3))
        self._last_t, self._last_blocks, self._last_slot = now, stats.blocks, slot
