"""A Hypothesis state machine: random forward blocks, rollbacks (up to k deep, across epoch
boundaries) and restarts, applied through the real decoder and writer to PostgreSQL, leave the
database equal to a straight run over the final chain, and its materialized rows equal a
from-scratch model (tests/model.py)."""

from __future__ import annotations

import asyncio
import os
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from indexer.decode import decode_block, decode_message
from indexer.epochs import EpochCalendar, parse_era_summaries
from indexer.store import Store
from indexer.writer import Epochs, NetworkInfo, Writer
from tests.harness import VIEWS, owner_rows
from tests.model import Model
from tests.pg import Databases
from tests.randomchain import RandomChain, back_frame, frame, small_network

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


class ForkMachine(RuleBasedStateMachine):
    databases: Databases  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.chain = RandomChain(NET)
        self.dsn = self.run(self.databases.new())
        self.store = self.run(Store.connect(self.dsn))
        self.writer = self._fresh_writer()

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
        new = self.chain.forward(data, data.draw(st.integers(0, NET.k), label="new blocks"))
        tip = new[-1] if new else (base or {"slot": 0, "id": "00" * 32, "height": 0})
        frames = [back_frame(base, tip)] + [frame(b, tip) for b in new]
        self.run(_apply_frames(self.writer, frames, batch))

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
        assert (r["accounts_balance_lovelace"], r["owners_balance_lovelace"], r["owners"],
                r["reward_account"], r["pledge_met"]) == (
            want["accounts_balance_lovelace"], want["owners_balance_lovelace"], want["owners"],
            want["reward_account"], want["pledge_met"]), key
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
