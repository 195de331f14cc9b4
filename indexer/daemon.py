"""The composition root: config -> store (locked: one daemon per database) -> Ogmios clients ->
network facts -> follower, writer, capture (the materializer of the ledger's reward figures),
the lock's watch, the operator's kit (metrics, health, progress, pool names: ``indexer.ops.kit``)
-> one TaskGroup.

SIGINT/SIGTERM set the stop event. While starting (PostgreSQL or Ogmios not answering yet, the
lock, the migration, the network facts) the stop event cancels the start and the daemon returns
at once; while following, the batch in progress commits first. Either way: exit 0. If any task
dies, the TaskGroup cancels the others (an open batch aborts) and the error propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Awaitable, Iterator
from functools import partial
from typing import TypeVar

import structlog

from indexer.accounting.splits import share_basis_at_start
from indexer.chain.types import Point
from indexer.config import Config
from indexer.db.dsn import mask
from indexer.db.store import DatabaseUnavailable, Store, Timeouts
from indexer.ops.kit import OpsKit
from indexer.ops.names import store_aliases
from indexer.ops.sizing import log_server_settings
from indexer.sync.capture import RewardCapture
from indexer.sync.chainsync import ChainFollower
from indexer.sync.network import Epochs, NetworkInfo, WrongNetwork, discover_network
from indexer.sync.ogmios import Backoff, LedgerClient, check_server, client_ssl
from indexer.sync.pledge import GAUGES as PLEDGE_GAUGES
from indexer.sync.pledge import PledgeWatch
from indexer.sync.start import record_start
from indexer.sync.state import SyncState
from indexer.sync.writer import Writer

__all__ = ["WrongNetwork", "install_signal_handlers", "run"]

log = structlog.get_logger("indexer.daemon")

T = TypeVar("T")


class _Stopped(Exception):
    """The stop event was set while starting."""


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _unless_stopped(stop: asyncio.Event, aw: Awaitable[T]) -> T:
    """``aw``'s result; if ``stop`` is set first, ``aw`` is cancelled and _Stopped raised."""
    task = asyncio.ensure_future(aw)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})  # let it clean up (close what it opened)
    if task.cancelled():
        raise _Stopped
    return task.result()


def store_timeouts(cfg: Config) -> Timeouts:
    db = cfg.database
    return Timeouts(connect_s=db.connect_timeout_s, query_s=db.query_timeout_s,
                    batch_s=db.batch_timeout_s, keepalive_s=db.keepalive_s)


async def open_store(cfg: Config) -> Store:
    """Connect, waiting with capped backoff while PostgreSQL does not answer (refused, timed
    out, starting up); an error that waiting cannot cure (authentication, no such database)
    is raised."""
    backoff = Backoff(cfg.ogmios.reconnect_max_s)
    while True:
        try:
            return await Store.connect(cfg.database.dsn, timeouts=store_timeouts(cfg))
        except DatabaseUnavailable as exc:
            await backoff.wait("db.unreachable", exc)


# Decoding and building rows allocate some 60 small objects per block, which live until their
# batch commits (so they reach the oldest generation) and never form cycles. At CPython's
# default thresholds (700, 10, 10) a full collection, which traverses the whole heap (the
# address cache included), ran every ~800 blocks: 1.3 s of a 10.5 s CPU run over 20,000 blocks,
# against 0.7 s for all the young collections. The young generations keep their thresholds
# (frequent, cheap); full collections run 10x less often, so cyclic garbage (exceptions with
# their tracebacks) still goes within seconds while syncing.
GC_FULL_THRESHOLD = 100
_gc_runs: list[tuple[int, ...]] = []  # per daemon running in this process (tests run several):
# the thresholds before the first of them, restored when the last one returns


@contextlib.contextmanager
def _collector_tuned() -> Iterator[None]:
    before = _gc_runs[0] if _gc_runs else gc.get_threshold()
    _gc_runs.append(before)
    gc.set_threshold(before[0], before[1], max(before[2], GC_FULL_THRESHOLD))
    try:
        yield
    finally:
        _gc_runs.pop()
        if not _gc_runs:
            gc.set_threshold(*before)


async def run(cfg: Config, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    with _collector_tuned():
        try:
            await _run(cfg, stop)
        except _Stopped:
            log.info("daemon.stopped", during="start")


async def _run(cfg: Config, stop: asyncio.Event) -> None:
    tls = client_ssl(cfg.ogmios.url, cfg.ogmios.ca_file)
    store = await _unless_stopped(stop, open_store(cfg))
    ledger = LedgerClient(cfg.ogmios.url, timeout_s=cfg.ogmios.query_timeout_s,
                          reconnect_max_s=cfg.ogmios.reconnect_max_s,
                          connect_timeout_s=cfg.ogmios.connect_timeout_s,
                          max_query_mib=cfg.ogmios.max_query_mib,
                          quick_timeout_s=cfg.ogmios.stall_timeout_s, ssl_context=tls)
    try:
        await _unless_stopped(stop, _claim(store))
        await _unless_stopped(stop, check_server(
            cfg.ogmios.url, reconnect_max_s=cfg.ogmios.reconnect_max_s, ssl_context=tls))
        net, epochs = await _unless_stopped(stop, discover_network(ledger, store, cfg))
        await log_server_settings(store, net.network_id)
        await record_start(store, cfg, await store.checkpoint(), epochs.calendar)
        await store_aliases(store, cfg.aliases)
        await share_basis_at_start(store, net.share_accounts)
        await _follow(cfg, store, ledger, net, epochs, stop)
    finally:
        await ledger.close()
        await store.close()


async def _claim(store: Store) -> None:
    await store.lock_daemon()  # one daemon per database, before touching the schema
    applied = await store.migrate()
    if applied:
        log.info("db.migrated", versions=applied)
    await store.claim_writer()


async def _follow(cfg: Config, store: Store, ledger: LedgerClient, net: NetworkInfo,
                  epochs: Epochs, stop: asyncio.Event) -> None:
    state = SyncState(stall_timeout_s=cfg.ogmios.stall_timeout_s)
    writer = Writer(store, epochs, net, batch_max_blocks=cfg.indexer.batch_max_blocks,
                    batch_max_bytes=cfg.indexer.batch_max_mib << 20,
                    prune_every_batches=cfg.indexer.prune_every_batches, state=state)
    await _unless_stopped(stop, writer.load())
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=cfg.ogmios.in_flight)
    follower = ChainFollower(cfg.ogmios.url, in_flight=cfg.ogmios.in_flight,
                             max_message_mib=cfg.ogmios.max_message_mib,
                             reconnect_max_s=cfg.ogmios.reconnect_max_s,
                             connect_timeout_s=cfg.ogmios.connect_timeout_s,
                             stall_timeout_s=cfg.ogmios.stall_timeout_s,
                             ssl_context=client_ssl(cfg.ogmios.url, cfg.ogmios.ca_file),
                             link=state.link)
    live = net.k if cfg.indexer.live_distance_blocks is None else cfg.indexer.live_distance_blocks
    capture = RewardCapture(store, ledger, state, live_distance=live)
    pledge = PledgeWatch(store, state, live_distance=live,
                         interval_s=cfg.indexer.pledge_check_interval_s)
    writer.after_commit.append(capture.notify)
    writer.after_commit.append(pledge.on_commit)
    ops = OpsKit(cfg, store, net, state, follower,
                 lambda slot: writer.epochs.calendar.slot_time_ms(slot),
                 (await store.get_meta("network")) or {})
    writer.after_commit += ops.hooks
    for name, _, help_text in PLEDGE_GAUGES:  # per pool, read at each scrape
        ops.metrics.register_gauge(name, help_text, ["pool_id"], partial(pledge.series, name))

    async def points() -> list[Point | None]:
        pts: list[Point | None] = list(await store.intersection_points(net.k))
        if not pts and state.cursor.point is not None:
            pts = [state.cursor.point]
        return pts or [cfg.indexer.start]

    log.info("daemon.start", url=mask(cfg.ogmios.url), cursor_slot=state.cursor.slot,
             in_flight=cfg.ogmios.in_flight)
    async with asyncio.TaskGroup() as tg:
        others = [tg.create_task(follower.run(points, queue), name="follower"),
                  tg.create_task(capture.run(), name="capture"),
                  tg.create_task(store.watch_lock(), name="lock")]
        others += [tg.create_task(coro, name=name) for name, coro in ops.tasks().items()]
        await writer.run(queue, stop)
        for task in others:
            task.cancel()
    log.info("daemon.stopped", slot=state.cursor.slot, blocks=state.stats.blocks,
             overlapped_batches=writer.overlapped_batches)
