"""The composition root: config -> store (locked: one daemon per database) -> Ogmios clients ->
network facts -> follower, writer, capture (the materializer of the ledger's reward figures),
metrics -> one TaskGroup. SIGINT/SIGTERM set the stop event; the batch in progress commits;
exit 0. If any task dies, the TaskGroup cancels the others (an open batch aborts) and the error
propagates."""

from __future__ import annotations

import asyncio
import signal

import structlog

from indexer.accounting.splits import share_basis_at_start
from indexer.chain.types import Point
from indexer.config import Config
from indexer.db.store import Store
from indexer.ops.metrics import MetricsServer
from indexer.ops.progress import Progress
from indexer.sync.capture import RewardCapture
from indexer.sync.network import Epochs, NetworkInfo, WrongNetwork, discover_network
from indexer.sync.ogmios import ChainFollower, LedgerClient, check_server
from indexer.sync.pledge import PledgeWatch
from indexer.sync.writer import Writer

__all__ = ["WrongNetwork", "install_signal_handlers", "run"]

log = structlog.get_logger("indexer.daemon")


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run(cfg: Config, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    store = await Store.connect(cfg.database.dsn)
    ledger = LedgerClient(cfg.ogmios.url, timeout_s=cfg.ogmios.query_timeout_s,
                          reconnect_max_s=cfg.ogmios.reconnect_max_s)
    try:
        await store.lock_daemon()  # one daemon per database, before touching the schema
        applied = await store.migrate()
        if applied:
            log.info("db.migrated", versions=applied)
        await store.claim_writer()
        await check_server(cfg.ogmios.url, reconnect_max_s=cfg.ogmios.reconnect_max_s)
        net, epochs = await discover_network(ledger, store, cfg)
        await share_basis_at_start(store, net.share_accounts)
        await _follow(cfg, store, ledger, net, epochs, stop)
    finally:
        await ledger.close()
        await store.close()


async def _follow(cfg: Config, store: Store, ledger: LedgerClient, net: NetworkInfo,
                  epochs: Epochs, stop: asyncio.Event) -> None:
    writer = Writer(store, epochs, net, batch_max_blocks=cfg.indexer.batch_max_blocks,
                    batch_max_bytes=cfg.indexer.batch_max_mib << 20,
                    prune_every_batches=cfg.indexer.prune_every_batches)
    await writer.load()
    state = writer.state
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=cfg.ogmios.in_flight)
    follower = ChainFollower(cfg.ogmios.url, in_flight=cfg.ogmios.in_flight,
                             max_message_mib=cfg.ogmios.max_message_mib,
                             reconnect_max_s=cfg.ogmios.reconnect_max_s,
                             connect_timeout_s=cfg.ogmios.connect_timeout_s)
    live = net.k if cfg.indexer.live_distance_blocks is None else cfg.indexer.live_distance_blocks
    capture = RewardCapture(store, ledger, state, live_distance=live)
    pledge = PledgeWatch(store, state, live_distance=live,
                         interval_s=cfg.indexer.pledge_check_interval_s)
    writer.after_commit.append(capture.notify)
    writer.after_commit.append(Progress(state, cfg.indexer.progress_interval_s).on_commit)
    writer.after_commit.append(pledge.on_commit)
    metrics = MetricsServer(cfg.metrics.host, cfg.metrics.port, state, net.k, follower)
    metrics.collectors.append(pledge.metrics_text)

    async def points() -> list[Point | None]:
        pts: list[Point | None] = list(await store.intersection_points(net.k))
        if not pts and state.cursor.point is not None:
            pts = [state.cursor.point]
        return pts or [cfg.indexer.start]

    log.info("daemon.start", url=cfg.ogmios.url, cursor_slot=state.cursor.slot,
             in_flight=cfg.ogmios.in_flight)
    async with asyncio.TaskGroup() as tg:
        others = [tg.create_task(follower.run(points, queue), name="follower"),
                  tg.create_task(capture.run(), name="capture")]
        if cfg.metrics.port:
            others.append(tg.create_task(metrics.serve(), name="metrics"))
        await writer.run(queue, stop)
        for task in others:
            task.cancel()
    log.info("daemon.stopped", slot=state.cursor.slot, blocks=state.stats.blocks)
