"""Prometheus metrics (`GET /metrics`) and readiness (`GET /ready`) on a small asyncio HTTP
server: no extra dependency for a dozen gauges."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from indexer.sync.state import SyncState

if TYPE_CHECKING:
    from indexer.sync.ogmios import ChainFollower

log = structlog.get_logger("indexer.ops.metrics")


def render(state: SyncState, follower: ChainFollower | None) -> str:
    s, cur, tip = state.stats, state.cursor, state.stats.tip
    uptime = max(time.monotonic() - s.started, 1e-9)
    lines = [
        ("indexer_tip_slot", "gauge", "Slot of the last committed block", cur.slot or 0),
        ("indexer_node_tip_slot", "gauge", "Slot of the node's tip", tip.slot if tip else 0),
        ("indexer_lag_slots", "gauge", "Slots between the node's tip and ours",
         (tip.slot - (cur.slot or 0)) if tip else 0),
        ("indexer_lag_blocks", "gauge", "Blocks between the node's tip and ours",
         (tip.height - (cur.height or 0)) if tip else 0),
        ("indexer_epoch", "gauge", "Epoch of the last committed block", cur.epoch or 0),
        ("indexer_blocks_total", "counter", "Blocks applied since start", s.blocks),
        ("indexer_transactions_total", "counter", "Transactions applied since start", s.txs),
        ("indexer_blocks_per_second", "gauge", "Average blocks/s since start", s.blocks / uptime),
        ("indexer_batch_commit_seconds", "gauge", "Duration of the last batch", s.last_commit_s),
        ("indexer_rollbacks_total", "counter", "Rollbacks applied since start", s.rollbacks),
        ("indexer_reconnects_total", "counter", "Chain-sync connections opened after the first",
         max(0, (follower.connections if follower else 1) - 1)),
        ("indexer_last_materialized_epoch", "gauge", "Newest epoch with pool_epoch rows",
         (cur.epoch + 1) if cur.epoch is not None else 0),
    ]
    out = []
    for name, kind, help_text, value in lines:
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return "\n".join(out) + "\n"


class MetricsServer:
    def __init__(self, host: str, port: int, state: SyncState, k: int,
                 follower: ChainFollower | None) -> None:
        self.host, self.port, self.state, self.k = host, port, state, k
        self.follower = follower
        self.collectors: list[Callable[[], str]] = []  # more text for /metrics (pledge watch)

    def ready(self) -> bool:
        lag = self.state.lag_blocks()
        return lag is not None and lag <= 2 * self.k

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):  # not wait_for: see sync/ogmios.py
                request = await reader.readline()
            path = request.split(b" ")[1].decode() if request.count(b" ") >= 2 else "/"
            if path.startswith("/metrics"):
                status, body = "200 OK", render(self.state, self.follower) + "".join(
                    collect() for collect in self.collectors)
            elif path.startswith("/ready"):
                ok = self.ready()
                status, body = ("200 OK", "ready\n") if ok else ("503 Service Unavailable",
                                                                 "catching up\n")
            else:
                status, body = "404 Not Found", "not found\n"
            payload = body.encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n"
                         f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                         + payload)
            await writer.drain()
        except (TimeoutError, OSError, IndexError):
            pass
        finally:
            writer.close()

    async def serve(self) -> None:
        server = await asyncio.start_server(self._handle, self.host, self.port)
        log.info("metrics.listening", host=self.host, port=self.port)
        async with server:
            await server.serve_forever()
