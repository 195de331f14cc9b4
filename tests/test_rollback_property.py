"""A Hypothesis state machine: random forward blocks, rollbacks (up to k deep, across epoch
boundaries) and restarts, applied through the real decoder and writer to PostgreSQL, leave the
database equal to a straight run over the final chain, and its materialized rows equal a
from-scratch model (tests/model.py).

Reward figures join the dance: live captures (timely or late, some of them unreadable or
inconsistent), imports (before or after their epoch is materialized) and fetches from an API
(whose figures are derived from the materialized P_e, so undone and derived again when a
rollback re-materializes the epoch) happen between the other events; the straight run applies
the surviving ones only after the whole chain. The rewards status and amounts must come out
the same (docs/spec.md §5: a function of what is stored, not of the order of events)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from indexer.accounting.fetched import FetchedEpoch, write_fetched
from indexer.accounting.importer import ImportedReward, import_rewards
from indexer.chain.decode import decode_block, decode_message
from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.chain.types import EpochNo, Point
from indexer.db.store import Store
from indexer.sync.capture import write_capture
from indexer.sync.network import Epochs, NetworkInfo
from indexer.sync.writer import Writer
from tests.harness import VIEWS, owner_rows
from tests.model import Model
from tests.pg import Databases
from tests.randomchain import POOLS, WALLETS, RandomChain, back_frame, frame, small_network

NET = small_network(k=6)


def _writer(store: Store, batch: int) -> Writer:
    cal = EpochCalendar(parse_era_summaries(NET.era_summaries_json(10**6)))
    info = NetworkInfo(network_id=NET.network_id, k=NET.k, pool_deposit=500_000_000, pools=None)
    return Writer(store, Epochs(cal), info, batch_max_blocks=batch, prune_every_batches=2)


async def _apply_frames(writer: Writer, frames: list[bytes], batch: int) -> None:
    for i in range(0, len(frames), batch):
        await writer.apply([decode_message(f) for f in frames[i:i + batch]])


async def _views(dsn: str) -> dict[str, list[dict[str, Any]]]:
    store = await Store.connect(dsn)
    try:
        out = {name: [dict(r) for r in await store.fetch(sql)] for name, sql in VIEWS.items()}
    finally:
        await store.close()
    for r in out["chain_tip"]:
        r.pop("updated_at", None)
    return out


def _figure(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def _provenance(epoch: int, pool_ids: list[str]) -> dict[str, Any]:
    """What a ledger would answer during ``epoch``: a pure function of the epoch and the pools,
    with some pools unreadable and some leader rewards below the operator fees."""
    pools: dict[str, Any] = {}
    for pool_id in pool_ids:
        h = _figure(epoch, pool_id)
        total = h % 5_000_000_000
        leader = {0: 0, 1: total // 3}.get(h % 7, total)  # 0 and 1: likely inconsistent
        pools[pool_id] = {"blocksMade": 1 + h % 3, "delegators": [],
                          "totalRewards": {"ada": {"lovelace": "x" if h % 11 == 0 else total}},
                          "leaderReward": {"ada": {"lovelace": leader}}}
    return {"stakePools": pools}


async def _capture(store: Store, epoch: int) -> bool:
    """The capture of ``epoch`` at its latest stored block, as the daemon writes it."""
    found = await store.query("last_block_of_epoch", epoch)
    if not found:
        return False
    point = Point(found[0]["slot"], bytes(found[0]["hash"]).hex())
    pool_ids = [r["pool_id"] for r in await store.query("pools_of_epoch", epoch - 1, None)]
    async with store.transaction() as tx:
        return await write_capture(tx, epoch, point, _provenance(epoch, pool_ids)) is not None


def _import(pool_id: str, epoch: int) -> ImportedReward:
    total = _figure("import", pool_id, epoch) % 5_000_000_000
    return ImportedReward(pool_id, EpochNo(epoch), total, total, 1, None, "property")


def _fetched(pool_id: str, epoch: int) -> FetchedEpoch:
    """What an API would say: a pure function of the pool and epoch, with every wallet's stake
    (so that o follows whichever owners P_e names), some leader rewards without a block
    (inconsistent) and some API fees that break a tie."""
    h = _figure("fetch", pool_id, epoch)
    blocks = h % 3
    sigma = 10**12 + h % 10**12
    leader = (h >> 8) % 3_000_000_000 if blocks or h % 5 == 0 else 0
    stakes = {bytes(w.cred).hex(): (pool_id if (h >> i) & 1 else None, (h >> 3 * i) % (sigma // 6))
              for i, w in enumerate(WALLETS)}
    return FetchedEpoch(pool_id, epoch, "koios", leader, sigma, blocks,
                        leader // 20 if h % 4 == 0 else None, None, stakes,
                        (f"https://api.koios.rest/api/v1/pool_history?e={epoch}",),
                        datetime(2026, 1, 1, tzinfo=UTC))


async def _fetch(store: Store, item: FetchedEpoch) -> None:
    async with store.transaction() as tx:
        await write_fetched(tx, item)


class ForkMachine(RuleBasedStateMachine):
    databases: Databases  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.chain = RandomChain(NET)
        self.dsn = self.run(self.databases.new())
        self.store = self.run(Store.connect(self.dsn))
        self.writer = self._fresh_writer()
        self.captures: set[int] = set()  # epochs whose capture is stored
        self.imports: list[ImportedReward] = []
        self.fetches: dict[tuple[str, int], FetchedEpoch] = {}

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def _fresh_writer(self) -> Writer:
        writer = _writer(self.store, 5)
        self.run(writer.load())
        return writer

    @rule(data=st.data(), n=st.integers(1, 25), batch=st.integers(1, 12))
    def forward(self, data: st.DataObject, n: int, batch: int) -> None:
        blocks = self.chain.forward(data, n)
        self.run(_apply_frames(self.writer, [frame(b, blocks[-1]) for b in blocks], batch))

    @precondition(lambda self: self.chain.max_rollback() > 0)
    @rule(data=st.data(), batch=st.integers(1, 12))
    def rollback(self, data: st.DataObject, batch: int) -> None:
        depth = data.draw(st.integers(1, self.chain.max_rollback()), label="depth")
        self.chain.rollback(depth)
        base = self.chain.blocks[-1] if self.chain.blocks else None
        kept = NET.epoch_of(base["slot"]) if base else -1  # boundaries after it are undone
        self.captures = {x for x in self.captures if x <= kept}
        new = self.chain.forward(data, data.draw(st.integers(0, NET.k), label="new blocks"))
        tip = new[-1] if new else (base or {"slot": 0, "id": "00" * 32, "height": 0})
        frames = [back_frame(base, tip)] + [frame(b, tip) for b in new]
        self.run(_apply_frames(self.writer, frames, batch))

    @precondition(lambda self: bool(self.chain.blocks))
    @rule(data=st.data())
    def capture(self, data: st.DataObject) -> None:
        """A capture of a recent epoch: timely (the current one) or late (an earlier one)."""
        now = NET.epoch_of(self.chain.blocks[-1]["slot"])
        epoch = data.draw(st.integers(max(1, now - 3), max(1, now)), label="capture epoch")
        if self.run(_capture(self.store, epoch)):
            self.captures.add(epoch)

    @precondition(lambda self: bool(self.chain.blocks))
    @rule(data=st.data())
    def import_figures(self, data: st.DataObject) -> None:
        """An import for an epoch already materialized, or not yet."""
        now = NET.epoch_of(self.chain.blocks[-1]["slot"])
        pool = data.draw(st.sampled_from(POOLS), label="import pool")
        item = _import(pool.id, data.draw(st.integers(max(0, now - 3), now + 2), label="epoch"))
        self.run(import_rewards(self.store, (item,)))
        self.imports.append(item)

    @precondition(lambda self: bool(self.chain.blocks))
    @rule(data=st.data())
    def fetch_figures(self, data: st.DataObject) -> None:
        """A fetch for an epoch materialized or not (the command asks only for final epochs;
        here any epoch, so that rollbacks reach fetched ones)."""
        now = NET.epoch_of(self.chain.blocks[-1]["slot"])
        pool = data.draw(st.sampled_from(POOLS), label="fetch pool")
        item = _fetched(pool.id, data.draw(st.integers(max(0, now - 3), now + 1), label="e"))
        self.run(_fetch(self.store, item))
        self.fetches[(item.pool_id, item.epoch)] = item

    @rule()
    def restart(self) -> None:
        """A new writer that knows only what the database says (as after a crash)."""
        self.writer = self._fresh_writer()

    def teardown(self) -> None:
        try:
            self.run(self._check())
        finally:
            self.run(self.store.close())
            self.loop.close()

    async def _check(self) -> None:
        straight = await self.databases.new()
        store = await Store.connect(straight)
        try:
            writer = _writer(store, 50)
            if self.chain.blocks:
                tip = self.chain.blocks[-1]
                await _apply_frames(writer, [frame(b, tip) for b in self.chain.blocks], 50)
            for epoch in sorted(self.captures):  # late, all of them
                assert await _capture(store, epoch)
            if self.imports:
                await import_rewards(store, tuple(self.imports))
            for item in self.fetches.values():
                await _fetch(store, item)
        finally:
            await store.close()
        got = await _views(self.dsn)
        if not self.chain.blocks:  # rolled back to origin: nothing at all
            assert all(not rows for name, rows in got.items() if name != "chain_tip")
            return
        assert got == await _views(straight)
        _check_model(got, self.chain)


def _check_model(v: dict[str, list[dict[str, Any]]], chain: RandomChain) -> None:
    model = Model(network_id=NET.network_id, epoch_of=NET.epoch_of)
    for b in chain.blocks:
        decoded = decode_block(b)
        if decoded is not None:
            model.apply(decoded)
    got = owner_rows(v)
    assert set(got) == set(model.owner_epoch)
    for key, want in model.owner_epoch.items():
        row = got[key]
        assert abs(row.pop("stake_share") - want["stake_share"]) < Fraction(1, 10**12), key
        assert row == {k: want[k] for k in row}, key
    pe = {(r["pool_id"], r["epoch_no"]): r for r in v["pool_epoch"]}
    assert set(pe) == set(model.pool_epoch)
    for key, want in model.pool_epoch.items():
        r = pe[key]
        # pledge_met is the chain estimate unless ledger figures (a capture) say otherwise
        chain_estimate = r["rewards_status"] in ("pending", "unavailable", "imported") \
            and r["rewards_source"] != "koios"  # a fetch gives the API's owner stake
        assert (r["accounts_balance_lovelace"], r["owners_balance_lovelace"], r["owners"],
                r["reward_account"], r["pledge_met"] if chain_estimate else None) == (
            want["accounts_balance_lovelace"], want["owners_balance_lovelace"], want["owners"],
            want["reward_account"], want["pledge_met"] if chain_estimate else None), key
        assert abs(Fraction(r["margin"]) - want["margin"]) < Fraction(1, 10**15), key
    credits = [(r["stake_address"], r["pool_id"], r["kind"], r["earned_epoch"],
                r["spendable_epoch"], r["amount_lovelace"])
               for r in v["reward_event"] if r["kind"] in ("mir", "pool_deposit_refund")]

    def key(c: tuple[Any, ...]) -> tuple[Any, ...]:
        return (c[0], c[1] or "", *c[2:])

    assert sorted(credits, key=key) == sorted(model.credits, key=key)


EXAMPLES = int(os.environ.get("INDEXER_PROPERTY_EXAMPLES", "25"))  # more: a longer bug hunt


def test_random_forks_and_restarts_equal_a_straight_run(databases: Databases) -> None:
    ForkMachine.databases = databases
    run_state_machine_as_test(ForkMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=10, deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking DB runs is slow
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
