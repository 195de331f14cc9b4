"""End to end: the real daemon follows the simulator over a real WebSocket into Postgres."""

from __future__ import annotations

import asyncio
from fractions import Fraction

from indexer.demo.scenarios import build_demo_chain, demo_network
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


async def test_pools_filter_restricts_materialization_only(dsn: str, databases: object) -> None:
    """`[indexer] pools` limits pool_epoch/pool_owner_epoch; the chain capture stays whole."""
    from tests.bigchain import big_chain, big_network
    from tests.pg import Databases

    assert isinstance(databases, Databases)
    net = big_network()
    chain = big_chain(net, 120, 3)
    everything = await databases.new()
    async with Simulator(net) as sim:
        sim.extend(*chain)
        await sync(config(sim.url, everything, live_distance_blocks=-1), sim)
        full = await views(everything)
        chosen = full["pool_epoch"][0]["pool_id"]
        await sync(config(sim.url, dsn, live_distance_blocks=-1, pools=(chosen,)), sim)
        only = await views(dsn)
    assert {r["pool_id"] for r in full["pool_epoch"]} > {chosen}
    assert only["pool_epoch"] == [r for r in full["pool_epoch"] if r["pool_id"] == chosen]
    assert only["pool_owner_epoch"] == [r for r in full["pool_owner_epoch"]
                                        if r["pool_id"] == chosen]
    assert only["pool_certificate"] == full["pool_certificate"]


async def test_status_and_export_commands(dsn: str, tmp_path: object) -> None:
    from pathlib import Path

    from indexer.cli import main

    assert isinstance(tmp_path, Path)
    net = demo_network()
    async with Simulator(net) as sim:
        sim.extend(*build_demo_chain(net))
        await sync(config(sim.url, dsn), sim)
        v = await views(dsn)
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[ogmios]\nurl = "{sim.url}"\n[database]\ndsn = "{dsn}"\n')
        pool = v["pool_epoch"][0]["pool_id"]
        out = tmp_path / "x.csv"
        code = await asyncio.to_thread(main, ["export", "--config", str(cfg), "--pool", pool,
                                              "--format", "adastry-multiowner", "-o", str(out)])
        assert code == 0
        lines = out.read_text().splitlines()
        assert lines[0].startswith("Date,Epoch,Rewards,MIR")
        assert len(lines) == 1 + len(v["pool_owner_epoch"])
        from indexer.config import load_config
        from indexer.ops.status import render, status
        report = await status(load_config(cfg))
        text = render(report)
    assert f"tip slot:                {v['chain_tip'][0]['slot']}" in text
    assert "0 slots, 0 blocks behind the node" in text
    assert report["exit_code"] == 0 and report["balances_complete"] is None
