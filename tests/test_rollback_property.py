"""Random forward / rollback (up to k deep, across epoch boundaries) / restart sequences,
applied through the real decoder and writer to PostgreSQL, leave the database equal to a
straight run over the final chain, and its materialized rows equal a from-scratch model."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

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
        out = {}
        for name, sql in VIEWS.items():
            out[name] = [dict(r) for r in await store.fetch(sql)]
        return out
    finally:
        await store.close()


async def _run(ops: list[tuple[str, Any]], chain: RandomChain, databases: Databases) -> None:
    dsn, straight = await databases.new(), await databases.new()
    store = await Store.connect(dsn)
    try:
        writer = _writer(store, 5)
        await writer.load()
        for op, arg in ops:
            if op == "apply":
                frames, batch = arg
                await _apply_frames(writer, frames, batch)
            else:  # restart: a new writer that knows only what the database says
                writer = _writer(store, 5)
                await writer.load()
    finally:
        await store.close()
    store = await Store.connect(straight)
    try:
        writer = _writer(store, 50)
        await _apply_frames(writer, [frame(b, chain.blocks[-1]) for b in chain.blocks], 50)
    finally:
        await store.close()
    got, want = await _views(dsn), await _views(straight)
    for rows in (got["chain_tip"], want["chain_tip"]):
        for r in rows:
            r.pop("updated_at", None)
    assert got == want
    _check_model(got, chain)


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
    credits = list((r["stake_address"], r["pool_id"], r["kind"], r["earned_epoch"],
                      r["spendable_epoch"], r["amount_lovelace"])
                     for r in v["reward_event"] if r["kind"] in ("mir", "pool_deposit_refund"))
    def key(c: tuple[Any, ...]) -> tuple[Any, ...]:
        return (c[0], c[1] or "", *c[2:])

    assert sorted(credits, key=key) == sorted(model.credits, key=key)


@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_forks_and_restarts_equal_a_straight_run(data: st.DataObject,
                                                        databases: Databases) -> None:
    chain = RandomChain(NET)
    ops: list[tuple[str, Any]] = []
    for _ in range(data.draw(st.integers(2, 8), label="steps")):
        kind = data.draw(st.sampled_from(["forward", "forward", "rollback", "restart"]))
        if kind == "forward":
            blocks = chain.forward(data, data.draw(st.integers(1, 25)))
            ops.append(("apply", ([frame(b, blocks[-1]) for b in blocks],
                                  data.draw(st.integers(1, 12)))))
        elif kind == "rollback" and chain.blocks:
            depth = data.draw(st.integers(1, min(NET.k, len(chain.blocks))))
            chain.rollback(depth)
            tip = chain.blocks[-1] if chain.blocks else None
            new = chain.forward(data, data.draw(st.integers(0, NET.k)))
            tip_json = new[-1] if new else (tip or {"slot": 0, "id": "00" * 32, "height": 0})
            frames = [back_frame(tip, tip_json)] + [frame(b, tip_json) for b in new]
            ops.append(("apply", (frames, data.draw(st.integers(1, 12)))))
        elif kind == "restart":
            ops.append(("restart", None))
    asyncio.run(_run(ops, chain, databases))
