"""The sync state shared by the writer (which alone moves the cursor) and its readers: the reward
capture, the metrics, the health answer and the progress lines. Plain data; nothing here does
I/O."""

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
    # Facts for /health and the metrics (docs/spec.md §9, the product's own). Both are
    # ``time.monotonic()`` readings; None until the first commit of this process.
    last_progress_s: float | None = None  # the last commit that moved the cursor
    last_block_s: float | None = None  # the last commit that applied a block (not a rollback)
    # Whether the chain-sync connection to Ogmios is open; None = not known (nobody reports it).
    connected: bool | None = None

    def lag_blocks(self) -> int | None:
        """Blocks between the node's tip and the cursor; None while either is unknown."""
        tip, height = self.stats.tip, self.cursor.height
        return None if tip is None or height is None else tip.height - height
