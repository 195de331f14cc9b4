"""What operators see, put together for the daemon: the node view (Ogmios' /health, polled),
the metrics and health server, the progress bar or lines, the pool-metadata fetcher. The
composition root (``indexer.daemon``) adds ``hooks`` to the writer and runs ``tasks()``."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

from indexer.config import Config
from indexer.db.store import LATEST_VERSION, DatabaseError, Store
from indexer.history.fetch import disagreement_count
from indexer.ops.health import ChainTime, HealthSettings, NodeView, poll_ogmios
from indexer.ops.metrics import REWARD_PROBLEMS, Metrics, MetricsServer
from indexer.ops.names import MetadataFetcher
from indexer.ops.progress import Progress
from indexer.ops.status import indexer_version
from indexer.sync.chainsync import ChainFollower
from indexer.sync.network import NetworkInfo
from indexer.sync.ogmios import client_ssl
from indexer.sync.state import SyncState

log = structlog.get_logger("indexer.ops.kit")

DB_GAUGES_EVERY_S = 30.0


async def reward_problem_counts(store: Store) -> dict[str, int]:
    """How many pool-epochs the views show as ``unreadable`` / ``inconsistent``."""
    return {r["problem"]: r["n"] for r in await store.query("reward_problem_counts")}


def _time(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None


class OpsKit:
    def __init__(self, cfg: Config, store: Store, net: NetworkInfo, state: SyncState,
                 follower: ChainFollower, chain_time: ChainTime, network: dict[str, Any]
                 ) -> None:
        self.cfg, self.store, self.net = cfg, store, net
        self.node = NodeView()
        self.metrics = Metrics(state, settings=HealthSettings(
            k=net.k, stall_after_s=cfg.metrics.stall_after_s, version=indexer_version(),
            schema_version=LATEST_VERSION, started_at=dt.datetime.now(dt.UTC)),
            node=self.node, follower=follower, chain_time=chain_time,
            network=network.get("name"), system_start=_time(network.get("system_start")))
        bar = sys.stderr.isatty() and cfg.log.format == "console"
        self.progress = Progress(state, cfg.indexer.progress_interval_s, k=net.k,
                                 node=self.node, chain_time=chain_time, bar=bar)
        self.server = MetricsServer(cfg.metrics.host, cfg.metrics.port, self.metrics)

    @property
    def hooks(self) -> list[Callable[[], Awaitable[None]]]:
        """The writer's after-commit hooks."""
        return [self.progress.on_commit, self.metrics.on_commit]

    def tasks(self) -> dict[str, Coroutine[Any, Any, None]]:
        cfg = self.cfg
        tls = client_ssl(cfg.ogmios.url, cfg.ogmios.ca_file)
        tasks = {"ogmios-health": poll_ogmios(cfg.ogmios.url, self.node,
                                              cfg.metrics.ogmios_poll_s, ssl_context=tls)}
        if cfg.metrics.port:
            tasks["metrics"] = self.server.serve()
            tasks["db-gauges"] = self._db_gauges()
        if cfg.metadata.fetch:
            tasks["pool-metadata"] = MetadataFetcher(
                self.store, cfg.metadata, self.net.pools,
                f"shared-pool-indexer/{indexer_version()}").run()
        return tasks

    async def _db_gauges(self) -> None:
        """Gauges read from the database, refreshed on a timer (a scrape must not wait on it)."""
        while True:
            try:
                m = self.metrics
                m.reward_disagreements.set(await disagreement_count(self.store))
                counts = await reward_problem_counts(self.store)
                for problem in REWARD_PROBLEMS:
                    m.reward_problems.labels(problem=problem).set(counts.get(problem, 0))
            except DatabaseError as exc:
                log.warning("metrics.db_gauges_failed", error=str(exc))
            await asyncio.sleep(DB_GAUGES_EVERY_S)
