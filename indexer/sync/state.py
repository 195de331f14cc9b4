"""The sync state shared by the writer, the chain follower and their readers (the reward
capture, the metrics, the progress lines, the health checks). Plain data; nothing here does
I/O. Who writes what is said per field: each field has exactly one writer.

Times are ``time.monotonic()`` seconds (compare them with ``time.monotonic()``, never with the
wall clock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from indexer.chain.types import Checkpoint, Tip


@dataclass
class SyncStats:
    """Written by the writer."""

    blocks: int = 0  # applied since start
    txs: int = 0
    batches: int = 0
    rollbacks: int = 0
    last_commit_s: float = 0.0  # duration of the last batch
    tip: Tip | None = None  # the node's tip, as the last committed frame said
    started: float = field(default_factory=time.monotonic)


@dataclass
class LinkState:
    """The chain-sync connection to Ogmios. Written by the chain follower."""

    connected: bool = False  # a chain-sync session is open and intersected
    connections: int = 0  # sessions opened (intersected) since start
    stalls: int = 0  # sessions given up because Ogmios stalled (see ``stall_timeout_s``)
    last_frame: float | None = None  # a chain-sync frame arrived
    # Ogmios showed it is alive *and* that we are not missing blocks: a frame, or an answer
    # to the follower's tip probe saying our last frame is the node's tip (at the tip no block
    # may come for minutes). An answer saying the tip is ahead does not count: Ogmios is
    # alive but not sending.
    last_alive: float | None = None
    # the last probe said our last frame is the node's tip (None: not asked since that frame)
    at_tip: bool | None = None


@dataclass
class SyncState:
    cursor: Checkpoint = field(default_factory=Checkpoint)  # the last committed block (writer)
    stats: SyncStats = field(default_factory=SyncStats)
    link: LinkState = field(default_factory=LinkState)
    # Written by the writer: when the batch being applied began (None while it waits for
    # frames), and when a batch last committed.
    batch_started: float | None = None
    last_commit: float | None = None
    # Set once by the daemon from [ogmios] stall_timeout_s: how long without progress counts
    # as stalled (for the follower's reconnects and for health).
    stall_timeout_s: float = 60.0
    # Written by the operator's kit after commits (indexer/ops/progress.py), for /health and
    # the metrics: the last commit that moved the cursor, the last that applied a block (not a
    # rollback); None until the first commit of this process.
    last_progress_s: float | None = None
    last_block_s: float | None = None

    @property
    def connected(self) -> bool | None:
        """Whether the chain-sync session is open; None before the first one (not known)."""
        return self.link.connected if self.link.connections else None

    def lag_blocks(self) -> int | None:
        """Blocks between the node's tip and the cursor; None while either is unknown. The tip
        is the one the last committed frame carried: while stalled it is stale, so read it
        together with ``seconds_since_progress``."""
        tip, height = self.stats.tip, self.cursor.height
        return None if tip is None or height is None else tip.height - height

    def seconds_since_progress(self, now: float | None = None) -> float:
        """Seconds since the daemon last showed it is keeping up: while a batch is being
        applied, since the batch began (a database that stopped answering shows here); while
        the writer waits for frames, since Ogmios last showed it is alive and not holding back
        blocks (``LinkState.last_alive``, or the last commit if later). Small when healthy:
        at most a batch's duration, or about ``stall_timeout_s / 4`` at the tip (the
        follower asks Ogmios for the node's tip that often when no frame comes)."""
        now = time.monotonic() if now is None else now
        if self.batch_started is not None:
            since = self.batch_started
        else:
            marks = [t for t in (self.last_commit, self.link.last_alive) if t is not None]
            since = max(marks) if marks else self.stats.started
        return max(0.0, now - since)

    def stalled(self, now: float | None = None) -> bool:
        """No progress for ``stall_timeout_s``: a database or a node that stopped answering,
        a chain-sync connection that is down. Health checks say "not ready" then."""
        return self.seconds_since_progress(now) > self.stall_timeout_s
