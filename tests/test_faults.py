"""Faults that used to corrupt or guess, against the real PostgreSQL and the simulator: two
daemons on one database, a daemon overtaken while it runs, a ledger connection that drops
between acquiring a state and querying it, figures the split cannot use, a server too new,
values beyond their columns, and the exit codes of docs/spec.md §9."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from structlog.testing import capture_logs

from indexer import daemon
from indexer.chain.types import (
    Block,
    BlockHeight,
    Checkpoint,
    DecodeError,
    EpochBoundary,
    Point,
    RollBackward,
    RollForward,
    Slot,
)
from indexer.cli import EXIT_FATAL, EXIT_REFUSED, EXIT_USAGE, exit_code
from indexer.config import ConfigError
from indexer.db.store import DatabaseBusy, DatabaseLost, LostLock, Store
from indexer.demo.scenarios import build_demo_chain, demo_network
from indexer.ops.kit import reward_problem_counts
from indexer.ops.metrics import REWARD_PROBLEMS
from indexer.simulator.chain import ChainBuilder, Pool, Wallet, pool_reg_cert, reg_cert
from indexer.simulator.queries import RpcFault
from indexer.simulator.server import Simulator
from indexer.sync.capture import RewardCapture, WrongLedgerState
from indexer.sync.chainsync import FrameTooLarge
from indexer.sync.ogmios import (
    IntersectionNotFound,
    LedgerClient,
    QueryError,
    ServerTooNew,
    TlsRefused,
)
from indexer.sync.state import SyncState
from indexer.sync.writer import check_continuity
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
from tests.reward_scenarios import ALPHA, GAMMA, POOLS, StoryLedger, build_story
from tests.test_rewards_e2e import _captured, epochs_of, follow, pool_rows

# --- one daemon per database -------------------------------------------------------------------


async def test_a_second_daemon_is_refused_and_the_first_goes_on(dsn: str) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:30])
        async with Running(config(sim.url, dsn, **NEVER_LIVE)) as first:
            await wait_for(lambda: synced(dsn, sim))
            with pytest.raises(DatabaseBusy, match="another indexer daemon") as info:
                await daemon.run(config(sim.url, dsn, **NEVER_LIVE))
            assert "pid" in str(info.value)  # names who holds it
            sim.extend(*chain[30:])
            await wait_for(lambda: synced(dsn, sim))
            assert first.task is not None and not first.task.done()
    assert await tip_slot(dsn) == chain[-1]["slot"]


async def test_the_real_second_process_exits_3_with_a_message(dsn: str, tmp_path: Path) -> None:
    net = demo_network()
    async with Simulator(net) as sim:
        sim.extend(*build_demo_chain(net)[:20])
        cfg = tmp_path / "indexer.toml"
        cfg.write_text(f'[ogmios]\nurl = "{sim.url}"\n[database]\ndsn = "{dsn}"\n'
                       '[indexer]\nlive_distance_blocks = -1\n[log]\nlevel = "warning"\n')
        async with Running(config(sim.url, dsn, **NEVER_LIVE)):
            await wait_for(lambda: synced(dsn, sim))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "indexer.cli", "run", "--config", str(cfg),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 3, err
    assert b"another indexer daemon already follows the chain into this database" in err


async def test_an_overtaken_daemon_stops_without_committing(dsn: str, databases: Databases
                                                            ) -> None:
    """The first daemon's lock connection dies (a network cut), a second daemon takes the
    database: the first one's next batch fails (its fencing token was replaced) instead of
    interleaving, and the result equals a straight run."""
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:30])
        async with Running(config(sim.url, dsn, **NEVER_LIVE)) as first:
            await wait_for(lambda: synced(dsn, sim))
            admin = await asyncpg.connect(dsn)
            try:
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'shared-pool-indexer (lock)' "
                    "AND datname = current_database()")
            finally:
                await admin.close()
            assert killed == 1
            async with Running(config(sim.url, dsn, **NEVER_LIVE)) as second:
                sim.extend(*chain[30:])
                assert first.task is not None
                with pytest.raises(BaseExceptionGroup) as info:
                    await asyncio.wait_for(first.task, 20)
                first.task = asyncio.create_task(asyncio.sleep(0))
                assert any(isinstance(e, LostLock) for e in info.value.exceptions)
                await wait_for(lambda: synced(dsn, sim))
                assert second.task is not None and not second.task.done()
    straight = await databases.new()
    async with Simulator(net) as sim:
        sim.extend(*chain)
        await sync(config(sim.url, straight, batch_max_blocks=500, **NEVER_LIVE), sim)
    assert comparable(await views(dsn)) == comparable(await views(straight))


async def test_schema_changes_wait_for_no_daemon(dsn: str) -> None:
    """`indexer db migrate` takes the same lock: never under a running daemon."""
    first = await Store.connect(dsn)
    second = await Store.connect(dsn)
    try:
        await first.lock_daemon()
        with pytest.raises(DatabaseBusy):
            await second.lock_daemon()
    finally:
        await first.close()
    try:
        await second.lock_daemon()  # released with its holder
    finally:
        await second.close()


# --- ledger queries ----------------------------------------------------------------------------


def _first_of_an_epoch(net: Any, chain: list[dict[str, Any]]) -> int:
    return next(i for i in range(20, len(chain))
                if net.epoch_of(chain[i]["slot"]) != net.epoch_of(chain[i - 1]["slot"]))


async def test_a_dropped_ledger_connection_reacquires_the_same_point() -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    b = _first_of_an_epoch(net, chain)
    async with Simulator(net) as sim:
        sim.extend(*chain[:b + 3])
        old = chain[b - 1]  # still acquirable (3 blocks deep), in the previous epoch
        client = LedgerClient(sim.url, reconnect_max_s=0.1)
        try:
            async with client.acquired(Point(old["slot"], old["id"])):
                await sim.drop_connections()
                epoch = await client.request("queryLedgerState/epoch")
            assert epoch == net.epoch_of(old["slot"])  # not the tip's epoch
            assert client.reacquired == 1
            # the point falls out of reach while the connection is down: said, not guessed
            async with client.acquired(Point(old["slot"], old["id"])):
                await sim.drop_connections()
                sim.extend(*chain[b + 3:b + 5 + net.k])
                with pytest.raises(QueryError, match="Failed to acquire"):
                    await client.request("queryLedgerState/epoch")
        finally:
            await client.close()


class _IgnoresAcquire(Simulator):
    """A server that acknowledges acquireLedgerState but answers from its tip."""

    def ledger_block(self, conn: Any) -> Any:
        return self.tip_block


async def test_an_answer_for_another_epoch_is_refused() -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    b = _first_of_an_epoch(net, chain)
    async with _IgnoresAcquire(net) as sim:
        sim.extend(*chain[:b + 3])
        old = chain[b - 1]
        client = LedgerClient(sim.url)
        capture = RewardCapture(None, client, SyncState(), live_distance=net.k)  # type: ignore[arg-type]
        try:
            with pytest.raises(WrongLedgerState, match=f"not {net.epoch_of(old['slot'])}"):
                await capture._query(Point(old["slot"], old["id"]), net.epoch_of(old["slot"]))
        finally:
            await client.close()


class _BadFigures(StoryLedger):
    """alpha's leader reward below c + floor((R - c) * m); gamma's total not an amount."""

    def rewards_provenance(self, epoch: int, tip: Any) -> Any:
        answer = super().rewards_provenance(epoch, tip)
        pools = answer["stakePools"]
        if ALPHA.id in pools:
            pools[ALPHA.id]["leaderReward"] = {"ada": {"lovelace": 1}}
        if GAMMA.id in pools:
            pools[GAMMA.id]["totalRewards"] = {"ada": {"lovelace": "12"}}
        return answer


async def test_unusable_figures_of_one_pool_do_not_stop_the_daemon(dsn: str) -> None:
    story = build_story()
    async with Simulator(story.net) as sim:
        ledger = _BadFigures(sim).install()
        with capture_logs() as logs:
            snaps = await follow(config(sim.url, dsn), sim, epochs_of(story))
        figures = ledger.figures(2)
    final = pool_rows(snaps[story.last_epoch])
    alpha, gamma = final[(ALPHA.id, 2)], final[(GAMMA.id, 2)]
    assert alpha["rewards_status"] == "inconsistent"
    assert (alpha["total_rewards_lovelace"], alpha["leader_reward_lovelace"]) == \
        (figures[ALPHA.id].total, 1)
    assert alpha["operator_fees_lovelace"] is None and alpha["stake_rewards_lovelace"] is None
    assert gamma["rewards_status"] == "unreadable"
    assert gamma["total_rewards_lovelace"] is None
    others = {p.id for p in POOLS} - {ALPHA.id, GAMMA.id}
    assert {final[(p, 2)]["rewards_status"] for p in others} <= {"credited", "lost"}
    owners = [r for r in snaps[story.last_epoch]["pool_owner_epoch"]
              if r["pool_id"] == ALPHA.id and r["epoch_no"] == 2]
    assert owners and all(r["rewards_lovelace"] is None for r in owners)
    assert all(r["rewards_status"] == "inconsistent" for r in owners)
    bad = [e for e in logs if e["event"] == "capture.unusable_figures"]
    assert {(e["pool_id"], e["problem"]) for e in bad if e["epoch"] == 2} == {
        (ALPHA.id, "inconsistent"), (GAMMA.id, "unreadable")}
    assert all(e["log_level"] == "error" for e in bad)
    alpha_bad = next(e for e in bad if e["pool_id"] == ALPHA.id and e["epoch"] == 2)
    assert "exceed the leader reward 1" in alpha_bad["detail"]  # both sides, in one line
    # what the gauge indexer_reward_problems shows: the pool-epochs the views show so
    shown = Counter(r["rewards_status"] for r in snaps[story.last_epoch]["pool_epoch"]
                    if r["rewards_status"] in REWARD_PROBLEMS)
    store = await Store.connect(dsn)
    try:
        assert await reward_problem_counts(store) == dict(shown)
    finally:
        await store.close()
    assert shown["inconsistent"] >= 1 and shown["unreadable"] >= 1


# --- servers, columns, exit codes --------------------------------------------------------------


async def test_an_untested_major_ogmios_version_is_refused(dsn: str) -> None:
    async with Simulator(demo_network(), version="v9.9.0 (future)") as sim:
        with pytest.raises(ServerTooNew, match=r"9\.9\.0"):
            await daemon.run(config(sim.url, dsn))


async def test_a_pledge_beyond_2_63_is_kept_exactly(dsn: str) -> None:
    """A real preview pool pledges 2^63 + 1 lovelace (docs/spec.md §7: numeric(20,0))."""
    net = demo_network()
    chain = build_demo_chain(net)
    cb = ChainBuilder(net)
    w, pool = Wallet("rich"), Pool("rich")
    pledge = 2**63 + 1
    tx = cb.tx(inputs=[cb.genesis_input("rich")], outputs=[(w.address(net.network_id), 5)],
               certificates=[reg_cert(w), pool_reg_cert(pool, owners=[w], reward=w,
                                                        pledge=pledge, cost=2**64 - 1,
                                                        margin="1/2",
                                                        network_id=net.network_id)])
    block = cb.block(chain[39], chain[39]["slot"] + 1, [tx], salt="rich")
    reg_epoch = net.epoch_of(block["slot"])
    rest = cb.blocks(block, range(block["slot"] + 30, net.first_slot(reg_epoch + 3) + 30, 30),
                     salt="rich")
    async with Simulator(net) as sim:
        sim.extend(*chain[:40], block, *rest)
        await sync(config(sim.url, dsn, **NEVER_LIVE), sim)
    v = await views(dsn)
    certs = [c for c in v["pool_certificate"] if c["pool_id"] == pool.id]
    assert [(int(c["pledge_lovelace"]), int(c["cost_lovelace"])) for c in certs] == \
        [(pledge, 2**64 - 1)]
    epochs = [r for r in v["pool_epoch"] if r["pool_id"] == pool.id]
    assert epochs and all(int(r["pledge_lovelace"]) == pledge for r in epochs)
    assert not any(r["pledge_met"] for r in epochs)


async def test_a_slot_beyond_the_column_stops_naming_the_block(dsn: str) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    bad = ChainBuilder(net).block(chain[39], 2**63, [], salt="far")
    async with Simulator(net) as sim:
        sim.extend(*chain[:40])
        async with Running(config(sim.url, dsn, **NEVER_LIVE)) as run:
            await wait_for(lambda: synced(dsn, sim))
            sim.extend(bad)
            assert run.task is not None
            with pytest.raises(BaseExceptionGroup) as info:
                await asyncio.wait_for(run.task, 20)
            run.task = asyncio.create_task(asyncio.sleep(0))
    errors = info.value.exceptions
    assert any(isinstance(e, DecodeError) and bad["id"] in str(e) and "2^63" in str(e)
               for e in errors), errors
    assert await tip_slot(dsn) == chain[39]["slot"]


@pytest.mark.parametrize("exc,code", [
    (DatabaseBusy("x"), EXIT_REFUSED),
    (daemon.WrongNetwork("x"), EXIT_REFUSED),
    (BaseExceptionGroup("g", [IntersectionNotFound("x")]), EXIT_REFUSED),
    (ConfigError("x"), EXIT_USAGE),
    (BaseExceptionGroup("g", [DecodeError("x")]), EXIT_FATAL),
    (LostLock("x"), EXIT_FATAL),
    (BaseExceptionGroup("g", [DatabaseLost("x")]), EXIT_FATAL),
    (BaseExceptionGroup("g", [FrameTooLarge("x")]), EXIT_FATAL),
    (TlsRefused("x"), EXIT_FATAL),
])
def test_exit_codes_follow_spec_9(exc: BaseException, code: int) -> None:
    assert exit_code(exc) == code


class _FailsOnce(StoryLedger):
    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self.failed = 0

    def rewards_provenance(self, epoch: int, tip: Any) -> Any:
        if epoch == 3 and not self.failed:
            self.failed += 1
            raise RpcFault(2001, "Unavailable in current era.")
        return super().rewards_provenance(epoch, tip)


async def test_a_failed_capture_is_retried_on_a_timer(dsn: str) -> None:
    """After one failure the capture comes back by itself, with no new block to wake it."""
    story = build_story()
    async with Simulator(story.net) as sim:
        ledger = _FailsOnce(sim).install()
        sim.extend(*[b for e in range(3) for b in story.by_epoch[e]])
        sim.extend(story.by_epoch[3][0])  # the first block of E3, then silence
        async with Running(config(sim.url, dsn)):
            await wait_for(lambda: synced(dsn, sim))
            await wait_for(lambda: _captured(dsn, 3), 15)
        assert ledger.failed == 1
    v = pool_rows(await views(dsn))
    assert {v[(p.id, 2)]["rewards_status"] for p in POOLS} == {"provisional"}


# --- continuity ----------------------------------------------------------------------------------


def _h(n: int) -> str:
    return f"{n:064x}"


def _blk(n: int, ancestor: int, *, height: int | None = None, slot: int | None = None
         ) -> RollForward:
    return RollForward(Block("shelley", _h(n), _h(ancestor), BlockHeight(height or n),
                             Slot(slot if slot is not None else 10 * n), None, ()), None)


def test_continuity_of_blocks_ebbs_and_rollbacks() -> None:
    cursor = Checkpoint(slot=10, block_id=_h(1), height=1, epoch=0)
    ebb = RollForward(None, None, EpochBoundary(_h(99), _h(2)))
    ok = [_blk(2, 1), ebb, _blk(3, 99, height=3), RollBackward(Point(Slot(20), _h(2)), None),
          _blk(7, 2, height=9, slot=21)]  # after a rollback the height is not known here
    assert check_continuity(cursor, ok) == (len(ok), None)
    for bad, field in [([_blk(3, 2)], "ancestor"),  # block 2 never came
                       ([_blk(2, 1, height=5)], "height"),
                       ([_blk(2, 1, slot=10)], "slot"),  # not after the previous slot
                       ([_blk(2, 1), RollForward(None, None, EpochBoundary(_h(9), _h(1)))],
                        "ancestor")]:
        good, error = check_continuity(cursor, bad)
        assert good == len(bad) - 1 and error is not None and error.field == field, bad


async def test_a_block_that_does_not_follow_stops_the_daemon(dsn: str) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    stray = ChainBuilder(net).block(chain[37], chain[39]["slot"] + 5, [], salt="stray")
    async with Simulator(net) as sim:
        sim.extend(*chain[:40])
        async with Running(config(sim.url, dsn, **NEVER_LIVE)) as run:
            await wait_for(lambda: synced(dsn, sim))
            sim.inject_raw(orjson.dumps({"jsonrpc": "2.0", "method": "nextBlock", "result": {
                "direction": "forward", "block": stray,
                "tip": {"slot": stray["slot"], "id": stray["id"], "height": stray["height"]}}}))
            sim.extend(chain[40])
            assert run.task is not None
            with pytest.raises(BaseExceptionGroup) as info:
                await asyncio.wait_for(run.task, 20)
            run.task = asyncio.create_task(asyncio.sleep(0))
    assert any(isinstance(e, DecodeError) and e.block_id == stray["id"] and e.field == "ancestor"
               for e in info.value.exceptions), info.value.exceptions
    assert await tip_slot(dsn) == chain[39]["slot"]
