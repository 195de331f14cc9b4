"""How the daemon is doing, as operators ask it: ``GET /health`` (JSON), ``/ready`` and the
figures the metrics and the progress bar share (docs/spec.md §9, the product's own).

In the spirit of Ogmios' and Kupo's ``/health`` (docs/ogmios.md §1): the HTTP status is the
readiness probe, the JSON body says why.

* **500** ``disconnected``: Ogmios does not answer, or says it lost its node, or the chain-sync
  connection is down; ``stalled``: the node's tip is ahead and nothing was committed for
  ``stall_after_s``.
* **202** ``syncing``: alive, catching up: more than ``k`` blocks behind the node's tip, or the
  node itself is not synchronized with the network yet (Ogmios answers 202).
* **200** ``synced``: within ``k`` blocks of the node's tip (where the ledger's reward figures
  can still be captured, docs/spec.md §5) and the node is synchronized.

``/ready`` is 200 within ``k`` blocks of the node's tip (whatever the node's own state), 503
otherwise. The node's tip is the newer of what the last chain-sync frame said and what Ogmios'
own ``/health`` says (polled every few seconds off the hot path), so it is known before the
first frame and while frames queue up. Nothing here is a float of money: the ratios are
display figures, floored to 5 decimals as Ogmios and Kupo write them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from indexer.chain.types import BlockHeight, Slot, Tip
from indexer.sync.ogmios import fetch_health
from indexer.sync.state import SyncState

log = structlog.get_logger("indexer.ops.health")

ChainTime = Callable[[int], int]  # slot -> milliseconds since the system start


@dataclass
class NodeView:
    """What Ogmios' ``/health`` said last (``checked_s`` is a ``time.monotonic()`` reading)."""

    reachable: bool = False
    http_status: int | None = None
    connection_status: str | None = None  # Ogmios <-> node: "connected" / "disconnected"
    network_synchronization: float | None = None  # the node against the wall clock
    tip: Tip | None = None
    version: str | None = None
    network: str | None = None
    error: str | None = None
    checked_s: float | None = None

    def update(self, status: int, body: dict[str, Any]) -> None:
        self.reachable, self.http_status, self.error = True, status, None
        self.connection_status = _str(body.get("connectionStatus"))
        sync = body.get("networkSynchronization")
        self.network_synchronization = float(sync) if isinstance(sync, int | float) else None
        self.tip = _tip(body.get("lastKnownTip")) or self.tip
        self.version = _str(body.get("version")) or self.version
        self.network = _str(body.get("network")) or self.network
        self.checked_s = time.monotonic()

    def failed(self, error: BaseException) -> None:
        self.reachable, self.http_status, self.connection_status = False, None, None
        self.error, self.checked_s = type(error).__name__, time.monotonic()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _tip(value: Any) -> Tip | None:
    if not isinstance(value, dict):
        return None
    slot, height, block_id = value.get("slot"), value.get("height"), value.get("id")
    if type(slot) is not int or type(height) is not int or not isinstance(block_id, str):
        return None
    return Tip(Slot(slot), block_id, BlockHeight(height))


async def poll_ogmios(url: str, view: NodeView, interval_s: float,
                      timeout_s: float = 5.0, ssl_context: ssl.SSLContext | None = None
                      ) -> None:
    """Keep ``view`` current: GET Ogmios' /health every ``interval_s`` (logs only changes)."""
    was_reachable: bool | None = None
    while True:
        try:
            status, body = await fetch_health(url, timeout_s=timeout_s,
                                              ssl_context=ssl_context)
            view.update(status, body)
        except (OSError, TimeoutError, ValueError, httpx.HTTPError) as exc:
            view.failed(exc)
        if view.reachable != was_reachable:
            log.info("ogmios.health", reachable=view.reachable, http_status=view.http_status,
                     connection_status=view.connection_status, error=view.error)
            was_reachable = view.reachable
        await asyncio.sleep(interval_s)


def best_tip(state: SyncState, node: NodeView | None) -> Tip | None:
    """The node's tip: the higher of the last frame's and Ogmios' /health's."""
    tips = [t for t in (state.stats.tip, node.tip if node else None) if t is not None]
    return max(tips, key=lambda t: (t.height, t.slot)) if tips else None


def floor5(value: float) -> float:
    """A ratio floored to 5 decimals (1.0 only when it is 1), clamped to [0, 1]."""
    return min(1.0, max(0.0, math.floor(value * 100_000) / 100_000))


def sync_progress(state: SyncState, tip: Tip | None, chain_time: ChainTime | None
                  ) -> float | None:
    """How much of the node's chain is indexed, by chain time (a Byron slot lasts 20 s, a
    later one 1 s, so slots alone would overstate Byron); None while the tip is unknown."""
    cur = state.cursor
    if tip is None:
        return None
    if cur.slot is None:
        return 0.0
    if (cur.height is not None and cur.height >= tip.height) or cur.slot >= tip.slot:
        return 1.0
    done, whole = int(cur.slot), int(tip.slot)
    if chain_time is not None:
        with contextlib.suppress(ValueError):  # beyond the summaries: slots will do
            done, whole = chain_time(cur.slot), chain_time(tip.slot)
    return floor5(done / whole) if whole > 0 else 1.0


@dataclass(frozen=True)
class HealthSettings:
    k: int  # ready within this many blocks of the node's tip
    stall_after_s: float
    version: str
    schema_version: int
    started_at: dt.datetime


def health(state: SyncState, node: NodeView | None, settings: HealthSettings,
           chain_time: ChainTime | None = None, now_s: float | None = None
           ) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of ``GET /health``. Pure: every input is passed in."""
    now_s = time.monotonic() if now_s is None else now_s
    cur, tip = state.cursor, best_tip(state, node)
    distance = (None if tip is None or cur.height is None
                else {"blocks": max(0, tip.height - cur.height),
                      "slots": max(0, tip.slot - (cur.slot or 0))})
    if tip is not None and cur.slot is None:  # nothing indexed yet: the whole chain is ahead
        distance = {"blocks": tip.height + 1, "slots": tip.slot}
    progress = sync_progress(state, tip, chain_time)
    node_sync = node.network_synchronization if node else None
    since_progress = now_s - (state.last_progress_s or state.stats.started)
    connected = (node is not None and node.reachable and node.connection_status == "connected"
                 and state.connected is not False)
    ready = distance is not None and distance["blocks"] <= settings.k
    behind = distance is None or distance["blocks"] > 0
    # behind with nothing committed for stall_after_s, or no progress at all for the
    # follower's stall_timeout_s (a database or a node that stopped answering: sync/state.py)
    stalled = connected and ((behind and since_progress > settings.stall_after_s)
                             or state.stalled(now_s))
    if not connected:
        code, status = 500, "disconnected"
    elif stalled:
        code, status = 500, "stalled"
    elif ready and node_sync is not None and node_sync >= 1.0:
        code, status = 200, "synced"
    else:
        code, status = 202, "syncing"
    body = {
        "status": status,
        "connection_status": "connected" if connected else "disconnected",
        "network_synchronization": (None if progress is None or node_sync is None
                                    else floor5(node_sync * progress)),
        "sync_progress": progress,
        "most_recent_checkpoint": (None if cur.slot is None else {
            "slot": cur.slot, "id": cur.block_id, "height": cur.height, "epoch": cur.epoch}),
        "most_recent_node_tip": (None if tip is None else {
            "slot": tip.slot, "id": tip.id, "height": tip.height}),
        "distance_to_node_tip": distance,
        "seconds_since_last_block": (None if state.last_block_s is None
                                     else int(now_s - state.last_block_s)),
        "seconds_since_last_progress": int(since_progress),
        "ready": ready,
        "ready_within_blocks": settings.k,
        "stall_after_s": settings.stall_after_s,
        "started_at": settings.started_at.isoformat().replace("+00:00", "Z"),
        "version": settings.version,
        "schema_version": settings.schema_version,
        "ogmios": None if node is None else {
            "reachable": node.reachable, "http_status": node.http_status,
            "connection_status": node.connection_status,
            "network_synchronization": node.network_synchronization,
            "version": node.version, "network": node.network, "error": node.error},
    }
    return code, body


def ready(state: SyncState, node: NodeView | None, k: int) -> bool:
    """Within ``k`` blocks of the node's tip (``/ready``), and not stalled (progress decides,
    not the last frame: sync/state.py)."""
    tip = best_tip(state, node)
    height = state.cursor.height
    return (tip is not None and height is not None and tip.height - height <= k
            and not state.stalled())
