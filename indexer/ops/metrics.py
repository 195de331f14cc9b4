"""Prometheus metrics (``GET /metrics``), health (``GET /health``, JSON) and readiness
(``GET /ready``) on one small asyncio HTTP server (docs/spec.md §9; the health rules are in
``indexer.ops.health``).

Metrics come from ``prometheus_client`` with a registry of our own (``Metrics.registry``):
process and platform metrics, a histogram of batch commit times, ``indexer_build_info`` with
the versions, and the sync figures read from the shared ``SyncState`` at scrape time, so they
are never stale: a lag is NaN while the node's tip is unknown, never a made-up 0.

Other parts of the daemon add their own series without touching this module's internals:
``metrics.gauge(name, doc, labels)`` / ``metrics.counter(...)`` return a prometheus_client
metric registered here (set it from your own task), and ``metrics.register_gauge(name, doc,
labels, read)`` calls ``read()`` at each scrape for ``(label values, value)`` pairs, e.g. the
per-pool ``indexer_pledge_shortfall_lovelace{pool_id=…}``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import platform
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import orjson
import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from indexer.ops.health import ChainTime, HealthSettings, NodeView, best_tip, health, ready
from indexer.ops.health import sync_progress as progress_of
from indexer.sync.state import SyncState

if TYPE_CHECKING:
    from indexer.sync.chainsync import ChainFollower

log = structlog.get_logger("indexer.ops.metrics")

NAN = float("nan")
# Batch commit times: a few ms for a block at the tip, seconds for a large catch-up batch or
# an epoch boundary on mainnet (README "Measured").
COMMIT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RATE_WINDOW_S = 60.0  # indexer_blocks_per_second: over about the last minute
Read = Callable[[], Iterable[tuple[Sequence[str], float]]]


class _Callback(Collector):
    """A gauge family whose samples ``read()`` returns at scrape time."""

    def __init__(self, name: str, doc: str, labels: Sequence[str], read: Read) -> None:
        self.name, self.doc, self.labels, self.read = name, doc, list(labels), read

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.doc, labels=self.labels)
        for values, value in self.read():
            family.add_metric(list(values), value)
        yield family


# The values of pool_reward.problem (schema.sql), each a rewards_status of the views.
REWARD_PROBLEMS = ("unreadable", "inconsistent")


class Metrics:
    """The daemon's registry, its own sync series, and the hooks to add more."""

    def __init__(self, state: SyncState, *, settings: HealthSettings,
                 node: NodeView | None = None, follower: ChainFollower | None = None,
                 chain_time: ChainTime | None = None, network: str | None = None,
                 system_start: dt.datetime | None = None) -> None:
        self.state, self.settings, self.node, self.follower = state, settings, node, follower
        self.chain_time, self.network, self.system_start = chain_time, network, system_start
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.commit_seconds = Histogram(
            "indexer_batch_commit_seconds", "Duration of a batch: decode, write, commit",
            buckets=COMMIT_BUCKETS_S, registry=self.registry)
        self._rate: deque[tuple[float, int]] = deque()
        self.registry.register(_SyncCollector(self))
        # read from the database on a timer by the ops kit (a scrape must not wait on it)
        self.reward_disagreements = self.gauge(
            "indexer_reward_disagreements",
            "Live pool-epochs a fetched figure contradicts beyond its uncertainty")
        self.reward_problems = self.gauge(
            "indexer_reward_problems",
            "Pool-epochs whose ledger figures the split cannot use (rewards_status "
            "unreadable or inconsistent)", labels=("problem",))
        for problem in REWARD_PROBLEMS:
            self.reward_problems.labels(problem=problem).set(0)

    # --- for other parts of the daemon ---------------------------------------------------

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, doc, labelnames=labels, registry=self.registry)

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, doc, labelnames=labels, registry=self.registry)

    def register_gauge(self, name: str, doc: str, labels: Sequence[str], read: Read) -> None:
        """A gauge computed at each scrape: ``read()`` yields (label values, value)."""
        self.registry.register(_Callback(name, doc, labels, read))

    # --- fed by the writer's after-commit hook -------------------------------------------

    async def on_commit(self) -> None:
        self.commit_seconds.observe(self.state.stats.last_commit_s)
        now = time.monotonic()
        self._rate.append((now, self.state.stats.blocks))
        while len(self._rate) > 2 and now - self._rate[1][0] > RATE_WINDOW_S:
            self._rate.popleft()

    def blocks_per_second(self) -> float:
        if len(self._rate) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._rate[0], self._rate[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def chain_lag_s(self) -> float | None:
        """Wall-clock seconds between now and the start of the last committed slot: how far
        behind the world the indexed chain is (days during an initial sync)."""
        slot = self.state.cursor.slot
        if slot is None or self.system_start is None or self.chain_time is None:
            return None
        try:
            at = self.system_start + dt.timedelta(milliseconds=self.chain_time(slot))
        except ValueError:
            return None
        return max(0.0, (dt.datetime.now(dt.UTC) - at).total_seconds())

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def health(self) -> tuple[int, dict[str, object]]:
        return health(self.state, self.node, self.settings, self.chain_time)


def _nan_if_none(value: float | None) -> float:
    return NAN if value is None else float(value)


class _SyncCollector(Collector):
    """The sync figures, read from the shared state at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m, state = self.m, self.m.state
        cur, stats = state.cursor, state.stats
        tip = best_tip(state, m.node)
        code, body = m.health()
        since_block = body["seconds_since_last_block"]
        info = InfoMetricFamily("indexer_build", "Versions of the indexer and what it talks to")
        info.add_metric([], {
            "version": m.settings.version, "schema_version": str(m.settings.schema_version),
            "python": platform.python_version(), "network": m.network or "",
            "ogmios_version": (m.node.version if m.node and m.node.version else "")})
        yield info
        gauges: list[tuple[str, str, float]] = [
            ("indexer_tip_slot", "Slot of the last committed block", _nan_if_none(cur.slot)),
            ("indexer_tip_height", "Height of the last committed block",
             _nan_if_none(cur.height)),
            ("indexer_epoch", "Epoch of the last committed block", _nan_if_none(cur.epoch)),
            ("indexer_last_materialized_epoch", "Newest epoch with pool_epoch rows",
             _nan_if_none(None if cur.epoch is None else cur.epoch + 1)),
            ("indexer_node_tip_slot", "Slot of the node's tip (NaN: unknown)",
             _nan_if_none(tip.slot if tip else None)),
            ("indexer_node_tip_height", "Height of the node's tip (NaN: unknown)",
             _nan_if_none(tip.height if tip else None)),
            ("indexer_lag_slots", "Slots between the node's tip and ours (NaN: tip unknown)",
             _nan_if_none(None if tip is None else tip.slot - (cur.slot or 0))),
            ("indexer_lag_blocks", "Blocks between the node's tip and ours (NaN: tip unknown)",
             _nan_if_none(None if tip is None else tip.height + 1 - (
                 0 if cur.height is None else cur.height + 1))),
            ("indexer_sync_progress", "Share of the node's chain indexed, by chain time, 0-1",
             _nan_if_none(progress_of(state, tip, m.chain_time))),
            ("indexer_network_synchronization",
             "Like Ogmios' networkSynchronization, for the indexer: node sync x progress",
             _nan_if_none(body["network_synchronization"])),  # type: ignore[arg-type]
            ("indexer_chain_lag_seconds",
             "Seconds between now and the last committed slot (NaN: unknown)",
             _nan_if_none(m.chain_lag_s())),
            ("indexer_blocks_per_second", "Blocks applied per second over the last minute",
             m.blocks_per_second()),
            ("indexer_batch_last_commit_seconds", "Duration of the last batch",
             stats.last_commit_s),
            ("indexer_seconds_since_last_block", "Seconds since a block was last committed",
             _nan_if_none(since_block)),  # type: ignore[arg-type]
            ("indexer_seconds_since_progress", "Seconds since the cursor last moved",
             float(body["seconds_since_last_progress"])),  # type: ignore[arg-type]
            ("indexer_connected", "1 when Ogmios answers and is connected to its node",
             1.0 if body["connection_status"] == "connected" else 0.0),
            ("indexer_ready", "1 within k blocks of the node's tip (/ready)",
             1.0 if body["ready"] else 0.0),
            ("indexer_synced", "1 when /health answers 200 (synced)", float(code == 200)),
            ("indexer_stalled", "1 when /health says stalled", float(body["status"] == "stalled")),
        ]
        for name, doc, value in gauges:
            yield GaugeMetricFamily(name, doc, value=value)
        reconnects = max(0, (m.follower.connections if m.follower else 1) - 1)
        for name, doc, count in (
                ("indexer_blocks", "Blocks applied since start", stats.blocks),
                ("indexer_transactions", "Transactions applied since start", stats.txs),
                ("indexer_rollbacks", "Rollbacks applied since start", stats.rollbacks),
                ("indexer_reconnects", "Chain-sync connections opened after the first",
                 reconnects)):
            yield CounterMetricFamily(name, doc, value=count)


def _parse_request(head: bytes) -> tuple[str, str]:
    parts = head.split(b" ")
    if len(parts) < 3:
        raise ValueError("not an HTTP request line")
    return parts[0].decode("ascii", "replace"), parts[1].decode("ascii", "replace")


REASONS = {200: "OK", 202: "Accepted", 404: "Not Found", 405: "Method Not Allowed",
           500: "Internal Server Error", 503: "Service Unavailable"}


class MetricsServer:
    """``/metrics``, ``/health`` and ``/ready`` over plain HTTP/1.1 (one request a
    connection): a dozen lines of asyncio rather than a web framework or a thread."""

    def __init__(self, host: str, port: int, metrics: Metrics) -> None:
        self.host, self.port, self.metrics = host, port, metrics
        self.bound_port: int | None = None

    def answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"GET only\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, self.metrics.render()
        if path == "/health":
            code, body = self.metrics.health()
            return code, "application/json", orjson.dumps(body) + b"\n"
        if path == "/ready":
            m = self.metrics
            if ready(m.state, m.node, m.settings.k):
                return 200, "text/plain; charset=utf-8", b"ready\n"
            return 503, "text/plain; charset=utf-8", b"catching up\n"
        return 404, "text/plain; charset=utf-8", b"not found: /metrics /health /ready\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):  # not wait_for: see sync/ogmios.py
                method, path = _parse_request(await reader.readline())
                while (await reader.readline()).strip():  # the headers: not needed
                    pass
            code, ctype, payload = self.answer(method, path)
            head = (f"HTTP/1.1 {code} {REASONS.get(code, '')}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(payload)}\r\nCache-Control: no-store\r\n"
                    "Connection: close\r\n\r\n").encode()
            writer.write(head + (b"" if method == "HEAD" else payload))
            await writer.drain()
        except (TimeoutError, OSError, ValueError):
            pass
        finally:
            writer.close()

    async def serve(self) -> None:
        server = await asyncio.start_server(self._handle, self.host, self.port)
        self.bound_port = server.sockets[0].getsockname()[1]
        log.info("metrics.listening", host=self.host, port=self.bound_port,
                 paths=["/metrics", "/health", "/ready"])
        async with server:
            await server.serve_forever()
