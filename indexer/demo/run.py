"""``indexer demo``: index the bundled scripted chain and show one shared pool's accounting.

Nothing needs to be installed or running beforehand: without ``--dsn`` an embedded PostgreSQL
is started (``indexer.demo.postgres``), the bundled Ogmios simulator serves the demo chain
(``indexer.demo.scenarios``: owners alice and bob, later frank, rewards to carol), and the
real daemon follows it into a fresh database ``indexer_demo``.

The chain is served an epoch at a time, as a node would produce it, and the daemon is let to
catch up each time: it captures each epoch's reward figures from the ledger while it is live
(docs/spec.md §5), exactly as in production. The simulator has no ledger, so ``DemoLedger``
(``indexer.demo.ledger``) stands in for Ogmios' ``rewardsProvenance`` and
``rewardAccountSummaries``: it counts the demo pool's blocks on the simulated chain and applies
the ledger's reward formulas to the stake snapshot replayed from that chain. The amounts are
made up (a fixed reward per block); the way they are split is the product's.

This module drives the run (simulator, daemon, database); the printed report and the psql help
are in ``indexer.demo.report``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import structlog

from indexer import daemon
from indexer import log as logsetup
from indexer.config import (
    Config,
    DatabaseConfig,
    IndexerConfig,
    LogConfig,
    MetadataConfig,
    OgmiosConfig,
)
from indexer.db.dsn import mask_text, without_password
from indexer.db.store import DatabaseError, Store, recreate_database
from indexer.demo.ledger import DemoLedger
from indexer.demo.postgres import EmbeddedPostgres
from indexer.demo.report import (
    _psql,
    _wrap,
    build_report,
    connect_help,
)
from indexer.demo.scenarios import DEMO_POOL, build_demo_chain, demo_aliases, demo_network
from indexer.simulator.network import Network
from indexer.simulator.server import Simulator

__all__ = ["DEFAULT_DATABASE", "fresh_database", "index_demo_chain", "run_demo"]

Json = dict[str, Any]
DEFAULT_DATABASE = "indexer_demo"
LIVE_DISTANCE = 5  # blocks from the tip within which the daemon asks the ledger (see _steps)
STEP_TIMEOUT_S = 60.0


class DemoError(RuntimeError):
    pass


# --- driving the daemon -------------------------------------------------------------------------


def _steps(net: Network, chain: list[Json]) -> list[list[Json]]:
    """The chain in the order a node would make it: everything up to the end of the first
    Praos epoch at once (the Byron blocks have no ledger rewards to ask for), then one epoch at
    a time. Served that way, the daemon is live (within LIVE_DISTANCE blocks of the tip) in
    every Praos epoch and asks the ledger for the previous epoch's rewards."""
    first_praos = net.first_praos_era
    assert first_praos is not None
    steps: list[list[Json]] = [[]]
    for block in chain:
        epoch = net.epoch_of(block["slot"])
        if epoch > first_praos.start_epoch and steps[-1] and \
                net.epoch_of(steps[-1][-1]["slot"]) != epoch:
            steps.append([])
        steps[-1].append(block)
    return steps


def demo_config(url: str, dsn: str, net: Network | None = None) -> Config:
    return Config(ogmios=OgmiosConfig(url=url, reconnect_max_s=1.0),
                  database=DatabaseConfig(dsn),
                  indexer=IndexerConfig(live_distance_blocks=LIVE_DISTANCE,
                                        progress_interval_s=3600.0),
                  log=LogConfig(level="warning"),
                  # the demo pool's metadata URL is made up (example.com): never fetched
                  metadata=MetadataConfig(fetch=False),
                  aliases=demo_aliases(net))


async def _wait_step(store: Store, task: asyncio.Task[None], tip: Json, epoch: int,
                     praos: bool) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        if task.done():
            task.result()  # the daemon's error
            raise DemoError("the indexer stopped unexpectedly")
        rows = await store.query("demo_tip")
        at_tip = bool(rows) and rows[0]["block_hash"] == tip["id"]
        if at_tip and (not praos or (await store.query("demo_captured", epoch))[0]["n"]):
            return
        if time.monotonic() > deadline:
            if at_tip:
                raise DemoError(f"the indexer reached the tip of epoch {epoch} but did not "
                                f"capture the rewards of epoch {epoch - 1} from the simulated "
                                f"ledger within {STEP_TIMEOUT_S:.0f} s")
            raise DemoError(f"the indexer did not reach the simulator's tip (slot {tip['slot']}"
                            f", epoch {epoch}) within {STEP_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.02)


async def index_demo_chain(dsn: str, net: Network | None = None) -> Simulator:
    """Serve the demo chain step by step and let the real daemon index it into ``dsn``."""
    net = net or demo_network()
    chain = build_demo_chain(net)
    sim = Simulator(net)
    DemoLedger(sim).install()
    await sim.start()
    stop = asyncio.Event()
    store = await Store.connect(dsn, max_size=1)
    task: asyncio.Task[None] | None = None
    try:
        await store.migrate()  # the daemon would; done first so that progress can be polled
        for step in _steps(net, chain):
            sim.extend(*step)
            if task is None:
                task = asyncio.create_task(daemon.run(demo_config(sim.url or "", dsn, net), stop))
            tip = step[-1]
            epoch = net.epoch_of(tip["slot"])
            await _wait_step(store, task, tip, epoch, net.era_of(tip["slot"]) != "byron")
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 30)  # the daemon commits and exits
    finally:
        stop.set()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await store.close()
        await sim.stop()
    return sim


# --- the database ---------------------------------------------------------------------------------


async def fresh_database(admin_dsn: str, name: str) -> str:
    """Drop and create database ``name`` on the server of ``admin_dsn``; returns its DSN."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise DemoError(f"invalid database name {name!r}")
    try:  # first see that the server answers, so that only that failure is worded as such
        probe = await asyncio.wait_for(Store.connect(admin_dsn, max_size=1), 15)
    except DatabaseError as exc:
        raise DemoError(f"cannot connect to PostgreSQL ({without_password(admin_dsn)[0]}): "
                        f"{mask_text(str(exc))}") from exc
    await probe.close()
    return await recreate_database(admin_dsn, name)


# --- the command ----------------------------------------------------------------------------------


async def _wait_for_ctrl_c() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _start_embedded(stack: AsyncExitStack, print_fn: Callable[[str], None]
                          ) -> tuple[EmbeddedPostgres, str]:
    embedded = EmbeddedPostgres()
    print_fn("Starting an embedded PostgreSQL (no --dsn given)…")
    dsn = await stack.enter_async_context(embedded)
    assert embedded.binaries is not None
    print_fn(_wrap(f"PostgreSQL {embedded.binaries.version()} from the "
                   f"{embedded.binaries.source} on port {embedded.port}, data in "
                   f"{embedded.data_dir} (started in {embedded.start_s:.1f} s)", indent="  "))
    return embedded, dsn


async def _closing(embedded: EmbeddedPostgres | None, keep: bool, name: str, demo_dsn: str,
                   pool_id: str, last: int, print_fn: Callable[[str], None]) -> None:
    """How to explore the views: on the user's server, after the embedded one stops, or
    while it keeps running (--keep) until Ctrl-C."""
    psql = _psql(embedded)
    if embedded is None:
        if keep:
            print_fn("(--keep only matters for the embedded PostgreSQL.)")
        print_fn(f"Database {name} stays on your server. Explore the views with")
        print_fn(connect_help(demo_dsn, pool_id, last, psql))
        return
    if not keep:
        print_fn("The embedded PostgreSQL stops now and its data is deleted. To explore "
                 "the views, run")
        print_fn("`indexer demo --keep`: the database then keeps running until Ctrl-C, "
                 "and you connect with")
        placeholder = embedded.dsn_for(name).replace(f":{embedded.port}/", ":PORT/")
        print_fn(connect_help(placeholder, pool_id, last, psql,
                              "PORT: the port that `indexer demo --keep` prints"))
        return
    print_fn("The embedded PostgreSQL keeps running until you press Ctrl-C (its data "
             "is then deleted).")
    print_fn("Connect from another terminal with")
    print_fn(connect_help(embedded.dsn_for(name), pool_id, last, psql))
    sys.stdout.flush()
    with contextlib.suppress(asyncio.CancelledError):
        await _wait_for_ctrl_c()
    print_fn("\nStopping the embedded PostgreSQL.")


async def run_demo(args: Any, *, print_fn: Callable[[str], None] = print) -> int:
    """``indexer demo``. ``args``: ``dsn`` (None = embedded PostgreSQL), ``keep`` (keep the
    embedded cluster running until Ctrl-C), optional ``database`` (default indexer_demo)."""
    dsn: str | None = getattr(args, "dsn", None)
    keep = bool(getattr(args, "keep", False))
    name = getattr(args, "database", None) or DEFAULT_DATABASE
    saved_logging = structlog.get_config()
    logsetup.configure("console", "warning")
    started = time.monotonic()
    try:
        async with AsyncExitStack() as stack:
            embedded: EmbeddedPostgres | None = None
            if dsn is None:
                embedded, dsn = await _start_embedded(stack, print_fn)
            demo_dsn = await fresh_database(dsn, name)
            print_fn(f"Indexing the demo chain into database {name}…")
            print_fn("")
            index_started = time.monotonic()
            sim = await index_demo_chain(demo_dsn)
            index_s = time.monotonic() - index_started
            report = await build_report(demo_dsn, sim, DEMO_POOL.id, index_s)
            print_fn(report.render())
            last = max((p["epoch_no"] for p in report.pool_epochs
                        if p["rewards_status"] in ("credited", "provisional")), default=0)
            print_fn(f"The demo took {time.monotonic() - started:.1f} s in all.")
            print_fn("")
            await _closing(embedded, keep, name, demo_dsn, DEMO_POOL.id, last, print_fn)
            return 0
    finally:
        structlog.configure(**saved_logging)
