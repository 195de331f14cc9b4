"""The daemon against the simulator: restarts, dropped connections, forks across boundaries,
bad input, old servers, a chain that outruns the era-summary horizon."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from indexer import daemon
from indexer.chain.types import DecodeError
from indexer.demo.scenarios import build_demo_chain, demo_network
from indexer.simulator.chain import ChainBuilder, Pool, Wallet, pool_reg_cert, reg_cert
from indexer.simulator.server import Simulator
from indexer.sync.ogmios import ServerTooOld
from tests.harness import (
    NEVER_LIVE,
    Running,
    comparable,
    config,
    sync,
    synced,
    tip_slot,
    views,
    wait_for,
)
from tests.pg import Databases


async def _straight(databases: Databases, chain: list[dict[str, Any]], net: Any
                    ) -> dict[str, list[dict[str, Any]]]:
    dsn = await databases.new()
    async with Simulator(net) as sim:
        sim.extend(*chain)
        await sync(config(sim.url, dsn, batch_max_blocks=500, **NEVER_LIVE), sim)
    return comparable(await views(dsn))


async def test_restart_and_reconnect_equal_a_straight_run(dsn: str, databases: Databases
                                                          ) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:30])
        await sync(config(sim.url, dsn, **NEVER_LIVE), sim)  # first run, then a clean stop
        async with Running(config(sim.url, dsn, **NEVER_LIVE)) as run:  # restart
            sim.extend(*chain[30:60])
            await wait_for(lambda: synced(dsn, sim))
            await sim.drop_connections()  # the node goes away mid-stream
            sim.extend(*chain[60:])
            await wait_for(lambda: synced(dsn, sim))
            assert run.task is not None and not run.task.done()
        assert sim.connections_total >= 4  # 2 runs x (chain-sync + queries) + reconnects
    assert comparable(await views(dsn)) == await _straight(databases, chain, net)


async def test_fork_across_an_epoch_boundary_while_live(dsn: str, databases: Databases) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    cb = ChainBuilder(net)
    # a boundary with a few blocks after it: the fork goes back across it (< k blocks)
    cut = next(i for i in range(40, len(chain))
               if net.epoch_of(chain[i]["slot"]) != net.epoch_of(chain[i - 1]["slot"]))
    async with Simulator(net) as sim:
        sim.extend(*chain[:cut + 4])
        async with Running(config(sim.url, dsn, **NEVER_LIVE)):
            await wait_for(lambda: synced(dsn, sim))
            base = chain[cut - 2]
            w = Wallet("forker")
            fork = [cb.block(base, base["slot"] + 3,
                             [cb.tx(inputs=[cb.genesis_input("fork")],
                                    outputs=[(w.address(net.network_id), 7_000_000)],
                                    certificates=[reg_cert(w)])], salt="fork")]
            fork += cb.blocks(fork[-1], range(fork[-1]["slot"] + 40, fork[-1]["slot"] + 400, 37),
                              salt="fork")
            sim.fork(base["id"], fork)
            await wait_for(lambda: synced(dsn, sim))
        final = list(sim.chain)
    assert comparable(await views(dsn)) == await _straight(databases, final, net)


async def test_chain_beyond_the_era_summary_horizon(dsn: str) -> None:
    """Era summaries only reach a forecast horizon past the tip; the daemon re-queries them
    (or extrapolates) as the chain moves on."""
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:5])  # Byron only: the summaries end early
        async with Running(config(sim.url, dsn)):
            await wait_for(lambda: synced(dsn, sim))
            sim.extend(*chain[5:])
            await wait_for(lambda: synced(dsn, sim))
        v = await views(dsn)
    assert v["chain_tip"][0]["epoch_no"] == net.epoch_of(chain[-1]["slot"])
    assert v["pool_epoch"], "Shelley-era pools were materialized"


async def test_old_ogmios_is_refused_with_a_clear_message(dsn: str) -> None:
    net = demo_network()
    async with Simulator(net, version="v6.11.0 (deadbeef)") as sim:
        with pytest.raises(ServerTooOld, match=r"6\.13"):
            await daemon.run(config(sim.url, dsn))


async def _stops_on(dsn: str, bad: bytes | dict[str, Any], match: str) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:40])
        async with Running(config(sim.url, dsn)) as run:
            await wait_for(lambda: synced(dsn, sim))
            if isinstance(bad, dict):
                sim.extend(bad)
            else:
                sim.inject_raw(bad)
                sim.extend(chain[40])
            assert run.task is not None
            with pytest.raises(BaseExceptionGroup) as info:
                await asyncio.wait_for(run.task, 20)
            run.task = asyncio.create_task(asyncio.sleep(0))  # already ended
        errors = info.value.exceptions
        assert any(isinstance(e, DecodeError) and match in str(e) for e in errors), errors
        assert await tip_slot(dsn) == chain[39]["slot"]  # exactly at the last good block


async def test_frame_that_is_not_json_stops_the_daemon(dsn: str) -> None:
    await _stops_on(dsn, b"this is not json", "JSON")


def _bad_block(mutate: Any) -> dict[str, Any]:
    net = demo_network()
    chain = build_demo_chain(net)
    cb = ChainBuilder(net)
    w, pool = Wallet("bad"), Pool("bad")
    tx = cb.tx(inputs=[cb.genesis_input("bad")], outputs=[(w.address(net.network_id), 5)],
               certificates=[pool_reg_cert(pool, owners=[w], reward=w, pledge=1, cost=1,
                                           margin="1/2", network_id=net.network_id)])
    block = cb.block(chain[39], chain[39]["slot"] + 1, [tx], salt="bad")
    mutate(block["transactions"][0])
    return block


@pytest.mark.parametrize("mutate,match", [
    (lambda t: t["outputs"][0]["value"]["ada"].update(lovelace="5"), "lovelace"),
    (lambda t: t["outputs"][0]["value"]["ada"].update(lovelace=-5), "lovelace"),
    (lambda t: t["certificates"][0]["stakePool"].update(margin="1/0"), "margin"),
])
async def test_malformed_known_field_stops_the_daemon_naming_block_and_slot(
        dsn: str, mutate: Any, match: str) -> None:
    block = _bad_block(mutate)
    await _stops_on(dsn, block, match)


async def test_huge_margin_fraction_is_stored_exactly(dsn: str) -> None:
    """Margins are ratios of integers that can exceed 64 bits; they must not be rounded."""
    num, den = 3 * 10**30 + 1, 7 * 10**30
    block = _bad_block(lambda t: t["certificates"][0]["stakePool"].update(
        margin=f"{num}/{den}"))
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:40], block)
        await sync(config(sim.url, dsn), sim)
    from indexer.db.store import Store
    store = await Store.connect(dsn)
    try:
        rows = await store.fetch("SELECT margin_num, margin_den FROM pool_certificate "
                                 "WHERE margin_den > 1e20")
    finally:
        await store.close()
    assert [(int(r["margin_num"]), int(r["margin_den"])) for r in rows] == [(num, den)]


async def test_start_point_skips_the_chain_before_it(dsn: str) -> None:
    """`[indexer] start = { slot, id }` (mainnet: the last Byron block) begins after it."""
    from indexer.chain.types import Point

    net = demo_network()
    chain = build_demo_chain(net)
    start = chain[9]
    async with Simulator(net) as sim:
        sim.extend(*chain)
        await sync(config(sim.url, dsn, start=Point(start["slot"], start["id"]), **NEVER_LIVE),
                   sim)
    from indexer.db.store import Store
    store = await Store.connect(dsn)
    try:
        first = await store.fetch("SELECT min(slot) AS s, count(*) AS n FROM block")
    finally:
        await store.close()
    assert first[0]["s"] == chain[10]["slot"] and first[0]["n"] == len(chain) - 10


async def test_database_of_another_chain_stops_with_no_intersection(dsn: str) -> None:
    net = demo_network()
    async with Simulator(net) as sim:
        sim.extend(*build_demo_chain(net)[:30])
        await sync(config(sim.url, dsn, **NEVER_LIVE), sim)
    cb = ChainBuilder(net)
    other = cb.blocks(None, range(0, 400, 7), salt="elsewhere")
    async with Simulator(net) as sim:
        sim.extend(*other)
        with pytest.raises(BaseExceptionGroup) as info:
            await asyncio.wait_for(daemon.run(config(sim.url, dsn, **NEVER_LIVE)), 20)
    from indexer.sync.ogmios import IntersectionNotFound
    assert any(isinstance(e, IntersectionNotFound) for e in info.value.exceptions)


async def test_rollback_below_the_pruned_window_is_refused(dsn: str) -> None:
    """A rollback deeper than k (which a node never makes) stops the daemon loudly rather than
    leaving balances that miss outputs already pruned."""
    from indexer.chain.decode import decode_message
    from indexer.chain.epochs import EpochCalendar, parse_era_summaries
    from indexer.db.store import Store
    from indexer.sync.network import Epochs, NetworkInfo
    from indexer.sync.writer import RollbackTooDeep, Writer
    from tests.randomchain import back_frame, frame

    net = demo_network()
    chain = build_demo_chain(net)
    store = await Store.connect(dsn)
    try:
        cal = EpochCalendar(parse_era_summaries(net.era_summaries_json(10**6)))
        writer = Writer(store, Epochs(cal), NetworkInfo(0, net.k, 500_000_000, None),
                        batch_max_blocks=5, prune_every_batches=1)
        for i in range(0, len(chain), 5):
            await writer.apply([decode_message(frame(b, chain[-1])) for b in chain[i:i + 5]])
        assert writer.pruned_slot is not None
        with pytest.raises(RollbackTooDeep, match="pruned"):
            await writer.apply([decode_message(back_frame(chain[50], chain[50]))])
        assert await tip_slot(dsn) == chain[-1]["slot"]  # nothing changed
    finally:
        await store.close()


async def test_waits_for_ogmios_to_come_up(dsn: str) -> None:
    """Started before Ogmios (compose, systemd): it waits and retries, then follows."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    net = demo_network()
    cfg = config(f"ws://127.0.0.1:{port}", dsn, **NEVER_LIVE)
    sim = Simulator(net)
    sim.extend(*build_demo_chain(net)[:20])
    async with Running(cfg) as run:
        await asyncio.sleep(0.5)  # connection refused meanwhile
        assert run.task is not None and not run.task.done()
        await sim.start(port=port)
        try:
            await wait_for(lambda: synced(dsn, sim))
        finally:
            await sim.stop()


async def test_a_server_without_rewards_provenance_is_no_reason_to_stop(dsn: str) -> None:
    """The daemon follows on; the failure is warned once per epoch, then retried with backoff."""
    from structlog.testing import capture_logs

    from indexer.simulator.queries import RpcFault

    def unsupported(epoch: int, block: dict[str, Any]) -> dict[str, Any]:
        raise RpcFault(-32601, "Unsupported method")

    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.rewards_provenance = unsupported
        sim.extend(*chain[:60])
        with capture_logs() as logs:
            async with Running(config(sim.url, dsn)) as run:
                await wait_for(lambda: synced(dsn, sim))
                for block in chain[60:70]:  # live: a batch per block, each wakes the capture
                    sim.extend(block)
                    await wait_for(lambda: synced(dsn, sim))
                assert run.task is not None and not run.task.done()
    warned = [e for e in logs if e["event"] == "capture.query_failed"
              and e["log_level"] == "warning"]
    epochs = {e["epoch"] for e in warned}
    assert warned and len(warned) == len(epochs)  # once per epoch, not once per batch
    statuses = {r["rewards_status"] for r in (await views(dsn))["pool_epoch"]}
    assert "provisional" not in statuses


def test_the_collector_threshold_is_raised_while_daemons_run_and_restored_after() -> None:
    """Overlapping daemons in one process (as in these tests): the first raises the threshold
    of full collections, the last to return restores what was there before, in any order."""
    import gc

    before = gc.get_threshold()
    a, b = daemon._collector_tuned(), daemon._collector_tuned()
    a.__enter__()
    assert gc.get_threshold()[2] >= daemon.GC_FULL_THRESHOLD
    b.__enter__()
    a.__exit__(None, None, None)  # the first one returns first
    assert gc.get_threshold()[2] >= daemon.GC_FULL_THRESHOLD
    b.__exit__(None, None, None)
    assert gc.get_threshold() == before
