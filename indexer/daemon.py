"""The composition root: config -> store (locked: one daemon per database) -> Ogmios clients ->
network facts -> follower, writer, capture (the materializer of the ledger's reward figures),
the operator's kit (metrics, health, progress, pool names: ``indexer.ops.kit``) -> one
TaskGroup. SIGINT/SIGTERM set the stop event; the batch in progress commits;
exit 0. If any task dies, the TaskGroup cancels the others (an open batch aborts) and the error
propagates."""

from __future__ import annotations

import asyncio
import signal

import structlog

from indexer.chain.types import Point
from indexer.config import Config
from indexer.db.dsn import mask
from indexer.db.store import Store
from indexer.ops.kit import OpsKit
from indexer.ops.names import store_aliases
from indexer.sync.capture import RewardCapture
from indexer.sync.network import Epochs, NetworkInfo, WrongNetwork, discover_network
from indexer.sync.ogmios import ChainFollower, LedgerClient, check_server
from indexer.sync.start import record_start
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
        await record_start(store, cfg, await store.checkpoint(), epochs.calendar)
        await store_aliases(store, cfg.aliases)
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
    capture = RewardCapture(store, ledger, state,
                            live_distance=(net.k if cfg.indexer.live_distance_blocks is None
                                           else cfg.indexer.live_distance_blocks))
    writer.after_commit.append(capture.notify)
    ops = OpsKit(cfg, store, net, state, follower,
                 lambda slot: writer.epochs.calendar.slot_time_ms(slot),
                 (await store.get_meta("network")) or {})
    writer.after_commit += ops.hooks

    async def points() -> list[Point | None]:
        pts: list[Point | None] = list(await store.intersection_points(net.k))
        if not pts and state.cursor.point is not None:
            pts = [state.cursor.point]
        return pts or [cfg.indexer.start]

    log.info("daemon.start", url=mask(cfg.ogmios.url), cursor_slot=state.cursor.slot,
             in_flight=cfg.ogmios.in_flight)
    async with asyncio.TaskGroup() as tg:
        others = [tg.create_task(follower.run(points, queue), name="follower"),
                  tg.create_task(capture.run(), name="capture")]
        others += [tg.create_task(coro, name=name) for name, coro in ops.tasks().items()]
        await writer.run(queue, stop)
        for task in others:
            task.cancel()
    log.info("daemon.stopped", slot=state.cursor.slot, blocks=state.stats.blocks)
