"""Running the real daemon against the simulator, and reading the public views back."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

from indexer import daemon
from indexer.chain.decode import decode_block
from indexer.chain.types import Block
from indexer.config import (
    Config,
    DatabaseConfig,
    IndexerConfig,
    LogConfig,
    MetadataConfig,
    OgmiosConfig,
)
from indexer.db.store import Store
from indexer.simulator.server import Simulator
from tests.model import Model


def config(url: str, dsn: str, **indexer: Any) -> Config:
    return Config(ogmios=OgmiosConfig(url=url, in_flight=indexer.pop("in_flight", 20),
                                      reconnect_max_s=0.2),
                  database=DatabaseConfig(dsn),
                  indexer=IndexerConfig(batch_max_blocks=indexer.pop("batch_max_blocks", 7),
                                        prune_every_batches=indexer.pop("prune", 3),
                                        **indexer),
                  log=LogConfig(level="warning"),
                  # the chains' metadata URLs are made up: no daemon test reaches out for them
                  metadata=MetadataConfig(fetch=False))


async def wait_for(cond: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def tip_slot(dsn: str) -> int | None:
    store = await Store.connect(dsn)
    try:
        rows = await store.fetch("SELECT slot, block_hash FROM chain_tip")
        return rows[0]["slot"]
    finally:
        await store.close()


async def synced(dsn: str, sim: Simulator) -> bool:
    tip = sim.tip_block
    if tip is None:
        return True
    store = await Store.connect(dsn)
    try:
        rows = await store.fetch("SELECT block_hash FROM chain_tip")
        return bool(rows[0]["block_hash"] == tip["id"])
    finally:
        await store.close()


class Running:
    """The daemon in a task of this event loop."""

    def __init__(self, cfg: Config) -> None:
        self.cfg, self.stop = cfg, asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(daemon.run(self.cfg, self.stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)

    async def failure(self, timeout_s: float = 30.0) -> BaseExceptionGroup[BaseException]:
        """The error the daemon stops with (its TaskGroup's), within ``timeout_s``."""
        assert self.task is not None
        try:
            await asyncio.wait_for(self.task, timeout_s)
        except BaseExceptionGroup as exc:
            return exc
        finally:
            self.task = asyncio.create_task(asyncio.sleep(0))  # ended: nothing to stop
        raise AssertionError("the daemon stopped without an error")


async def sync(cfg: Config, sim: Simulator, timeout_s: float = 60.0) -> None:
    async with Running(cfg) as run:
        async def done() -> bool:
            if run.task is not None and run.task.done():
                run.task.result()  # raise the daemon's error
            return await synced(cfg.database.dsn or "", sim)
        await wait_for(done, timeout_s)


VIEWS = {
    "chain_tip": "SELECT slot, block_height, block_hash, epoch_no FROM chain_tip",
    "pool_certificate": "SELECT * FROM pool_certificate ORDER BY slot, tx_index, cert_index",
    "withdrawal": "SELECT * FROM withdrawal ORDER BY slot, tx_id, stake_address",
    "reward_event": "SELECT * FROM reward_event ORDER BY spendable_epoch, kind, stake_address,"
                    " pool_id, amount_lovelace",
    "pool_epoch": "SELECT * FROM pool_epoch ORDER BY pool_id, epoch_no",
    "pool_owner_epoch": "SELECT * FROM pool_owner_epoch ORDER BY pool_id, epoch_no,"
                        " stake_address",
    "reward_reconciliation": "SELECT * FROM reward_reconciliation ORDER BY pool_id, epoch_no,"
                             " source_b",
    "owner_payout": "SELECT * FROM owner_payout ORDER BY kind, pool_id, stake_address, slot,"
                    " amount_lovelace",
    "owner_settlement": "SELECT * FROM owner_settlement ORDER BY pool_id, stake_address",
    # seconds_to_snapshot follows the wall clock
    "pledge_watch": "SELECT pool_id, epoch_no, snapshot_epoch_no, pledge_lovelace,"
                    " owners_delegated_balance_lovelace, owners_reward_balance_lovelace,"
                    " shortfall_lovelace, snapshot_slot, at_risk, undelegated_owners"
                    " FROM pledge_watch ORDER BY pool_id",
}


# Ledger captures depend on when the daemon is live, which differs between runs: tests that
# compare chain-derived data with a straight run keep the daemon from asking the ledger.
NEVER_LIVE = {"live_distance_blocks": -1}


def comparable(v: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """``views`` without what differs between two runs of the same chain (wall-clock times)."""
    v = copy.deepcopy(v)
    for r in v["chain_tip"]:
        r.pop("updated_at", None)
    return v


async def views(dsn: str, queries: dict[str, str] | None = None
                ) -> dict[str, list[dict[str, Any]]]:
    """The rows of each of ``queries`` (the public views by default), by name."""
    store = await Store.connect(dsn)
    try:
        return {name: [dict(r) for r in await store.fetch(sql)]
                for name, sql in (queries or VIEWS).items()}
    finally:
        await store.close()


def decoded_chain(sim: Simulator) -> list[Block]:
    return [b for b in (decode_block(j) for j in sim.chain) if b is not None]


def model_of(sim: Simulator, **kw: Any) -> Model:
    net = sim.network
    model = Model(network_id=net.network_id, epoch_of=net.epoch_of, **kw)
    for block in decoded_chain(sim):
        model.apply(block)
    return model


def owner_rows(v: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, int, str], dict[str, Any]]:
    return {(r["pool_id"], r["epoch_no"], r["stake_address"]): {
        "is_owner": r["is_owner"], "is_reward_account": r["is_reward_account"],
        "delegated_to_pool": r["delegated_to_pool"], "balance_lovelace": r["balance_lovelace"],
        "stake_share": Fraction(r["stake_share"])} for r in v["pool_owner_epoch"]}
