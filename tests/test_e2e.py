"""End to end: the real daemon follows the simulator over a real WebSocket into Postgres."""

from __future__ import annotations

from fractions import Fraction

from indexer.simulator.scenarios import build_demo_chain, demo_network
from indexer.simulator.server import Simulator
from tests.harness import config, model_of, owner_rows, sync, views


async def test_demo_chain_end_to_end_matches_the_model(dsn: str) -> None:
    net = demo_network()
    async with Simulator(net) as sim:
        sim.extend(*build_demo_chain(net))
        await sync(config(sim.url, dsn), sim)
        v = await views(dsn)
        model = model_of(sim)
    tip = sim.chain[-1]
    assert v["chain_tip"][0]["block_hash"] == tip["id"]
    assert v["chain_tip"][0]["slot"] == tip["slot"]
    got = owner_rows(v)
    assert got, "the demo pool has owner rows"
    # shares are exact fractions in the model; the view keeps ≥ 16 significant digits
    for key, want in model.owner_epoch.items():
        row = got.pop(key)
        assert abs(row.pop("stake_share") - want["stake_share"]) < Fraction(1, 10**12), key
        assert row == {k: want[k] for k in row}, key
    assert not got
    assert len(v["pool_epoch"]) == len(model.pool_epoch)
    for r in v["pool_epoch"]:
        want = model.pool_epoch[(r["pool_id"], r["epoch_no"])]
        assert r["accounts_balance_lovelace"] == want["accounts_balance_lovelace"]
        assert r["owners_balance_lovelace"] == want["owners_balance_lovelace"]
        assert r["owners"] == want["owners"] and r["reward_account"] == want["reward_account"]
        assert r["pledge_met"] == want["pledge_met"]
    assert [(w["stake_address"], w["amount_lovelace"]) for w in v["withdrawal"]] == \
        [(w[3], w[4]) for w in model.withdrawals]
    mir = [(r["stake_address"], r["earned_epoch"], r["spendable_epoch"], r["amount_lovelace"])
           for r in v["reward_event"] if r["kind"] == "mir"]
    assert sorted(mir) == sorted((c[0], c[3], c[4], c[5]) for c in model.credits
                                 if c[2] == "mir")
    assert mir, "the demo chain credits an MIR"
