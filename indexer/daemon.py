"""The composition root: config -> store -> Ogmios clients -> follower, writer, capture (the
materializer of the ledger's reward figures) -> one TaskGroup. SIGINT/SIGTERM set the stop
event; the batch in progress commits; exit 0. If any task dies, the TaskGroup cancels the
others (an open batch aborts) and the error propagates."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import structlog

from indexer.chain.address import network_id_of, pool_hash_from_bech32
from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.chain.types import Point
from indexer.config import Config
from indexer.db.store import Store
from indexer.ops.metrics import MetricsServer
from indexer.sync.capture import RewardCapture
from indexer.sync.ogmios import ChainFollower, LedgerClient, QueryError, check_server
from indexer.sync.writer import Epochs, NetworkInfo, Writer

log = structlog.get_logger("indexer.daemon")

DEFAULT_POOL_DEPOSIT = 500_000_000


class WrongNetwork(Exception):
    pass


def _lovelace(value: Any) -> int | None:
    if isinstance(value, dict):
        inner = value.get("ada", value)
        if isinstance(inner, dict) and isinstance(inner.get("lovelace"), int):
            return int(inner["lovelace"])
    return value if isinstance(value, int) else None


async def _pool_deposit(ledger: LedgerClient, genesis: dict[str, Any]) -> int:
    """The current pool deposit (protocol parameters), else the genesis value."""
    try:
        params = await ledger.request("queryLedgerState/protocolParameters")
        found = _lovelace((params or {}).get("stakePoolDeposit"))
        if found is not None:
            return found
    except QueryError:
        pass
    found = _lovelace(genesis.get("initialParameters", {}).get("stakePoolDeposit"))
    return found if found is not None else DEFAULT_POOL_DEPOSIT


async def discover_network(ledger: LedgerClient, store: Store, cfg: Config
                           ) -> tuple[NetworkInfo, Epochs]:
    genesis = await ledger.shelley_genesis()
    network = str(genesis.get("network", "testnet"))
    magic = genesis.get("networkMagic")
    stored = await store.get_meta("network")
    if stored is not None and stored.get("magic") != magic:
        raise WrongNetwork(f"this database indexes network magic {stored.get('magic')}, "
                           f"Ogmios serves {magic}: use another database")
    summaries = await ledger.era_summaries()
    await store.set_meta("network", {"name": network, "magic": magic,
                                     "k": genesis["securityParameter"],
                                     "system_start": genesis.get("startTime")})
    await store.set_meta("era_summaries", summaries)

    async def refresh() -> EpochCalendar:
        fresh = await ledger.era_summaries()
        await store.set_meta("era_summaries", fresh)
        return EpochCalendar(parse_era_summaries(fresh))

    pools = (tuple(pool_hash_from_bech32(p) for p in cfg.indexer.pools)
             if cfg.indexer.pools else None)
    net = NetworkInfo(network_id=network_id_of(network), k=int(genesis["securityParameter"]),
                      pool_deposit=await _pool_deposit(ledger, genesis), pools=pools)
    log.info("network", name=network, magic=magic, k=net.k, pool_deposit=net.pool_deposit,
             pools="all" if pools is None else len(pools))
    return net, Epochs(EpochCalendar(parse_era_summaries(summaries)), refresh)


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
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=cfg.ogmios.in_flight)
    follower = ChainFollower(cfg.ogmios.url, in_flight=cfg.ogmios.in_flight,
                             max_message_mib=cfg.ogmios.max_message_mib,
                             reconnect_max_s=cfg.ogmios.reconnect_max_s,
                             connect_timeout_s=cfg.ogmios.connect_timeout_s)
    capture = RewardCapture(store, ledger, writer, net,
                            live_distance=(net.k if cfg.indexer.live_distance_blocks is None
                                           else cfg.indexer.live_distance_blocks))
    writer.after_commit.append(capture.notify)
    progress = Progress(writer, cfg.indexer.progress_interval_s)
    writer.after_commit.append(progress.on_commit)
    metrics = MetricsServer(cfg.metrics.host, cfg.metrics.port, writer, follower)

    async def points() -> list[Point | None]:
        pts: list[Point | None] = list(await store.intersection_points(net.k))
        if not pts and writer.cursor.slot is not None and writer.cursor.block_id:
            pts = [Point(writer.cursor.slot, writer.cursor.block_id)]  # type: ignore[arg-type]
        return pts or [cfg.indexer.start]

    log.info("daemon.start", url=cfg.ogmios.url, cursor_slot=writer.cursor.slot,
             in_flight=cfg.ogmios.in_flight)
    async with asyncio.TaskGroup() as tg:
        others = [tg.create_task(follower.run(points, queue), name="follower"),
                  tg.create_task(capture.run(), name="capture")]
        if cfg.metrics.port:
            others.append(tg.create_task(metrics.serve(), name="metrics"))
        await writer.run(queue, stop)
        for task in others:
            task.cancel()
    log.info("daemon.stopped", slot=writer.cursor.slot, blocks=writer.stats.blocks)


class Progress:
    """Progress lines while syncing: slot, epoch, blocks/s, distance to tip, ETA."""

    def __init__(self, writer: Writer, interval_s: float) -> None:
        self.writer, self.interval_s = writer, interval_s
        loop = asyncio.get_running_loop()
        self._last_t, self._last_blocks = loop.time(), 0
        self._last_slot: int | None = None

    async def on_commit(self) -> None:
        now = asyncio.get_running_loop().time()
        elapsed = now - self._last_t
        if elapsed < self.interval_s:
            return
        w = self.writer
        slot, tip = w.cursor.slot or 0, w.stats.tip
        blocks_s = (w.stats.blocks - self._last_blocks) / elapsed
        slots_s = (slot - (self._last_slot or slot)) / elapsed
        distance = (tip.slot - slot) if tip else None
        eta = round(distance / slots_s) if distance and slots_s > 0 else None
        log.info("sync.progress", slot=slot, epoch=w.cursor.epoch, blocks_per_s=round(blocks_s),
                 tx_total=w.stats.txs, distance_slots=distance, eta_s=eta,
                 commit_s=round(w.stats.last_commit_s, 3))
        self._last_t, self._last_blocks, self._last_slot = now, w.stats.blocks, slot
