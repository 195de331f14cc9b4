"""The sync state shared by the writer (which alone changes it) and its readers: the reward
capture, the metrics and the progress lines. Plain data; nothing here does I/O."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from indexer.chain.types import Checkpoint, Tip


@dataclass
class SyncStats:
    blocks: int = 0  # applied since start
    txs: int = 0
    batches: int = 0
    rollbacks: int = 0
    last_commit_s: float = 0.0  # duration of the last batch
    tip: Tip | None = None  # the node's tip, as the last frame said
    started: float = field(default_factory=time.monotonic)


@dataclass
class SyncState:
    cursor: Checkpoint = field(default_factory=Checkpoint)  # the last committed block
    stats: SyncStats = field(default_factory=SyncStats)

    def lag_blocks(self) -> int | None:
        """Blocks between the node's tip and the cursor; None while either is unknown."""
        tip, height = self.stats.tip, self.cursor.height
        return None if tip is None or height is None else tip.height - height
