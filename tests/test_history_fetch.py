"""``indexer rewards fetch`` end to end: the product's client, a local API server in the real
shapes (tests/fake_api.py, tests/history_data.py) and a real PostgreSQL.

- The 11 real db-sync pool-epochs, through Koios and through Blockfrost: every figure within
  what docs/spec.md §5 "History" allows of the true one.
- The reward story synced with live capture turned off: every final epoch filled, every owner
  row split, Σ op = F and Σ stake = S; a second run asks for nothing; an interrupted run
  leaves no half epoch and the next asks only for what is missing.
- With live capture on: never overwritten, reconciled; a disagreement is loud (log, count,
  exit status).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest
from structlog.testing import capture_logs

from indexer.accounting.inversion import fee_candidates
from indexer.accounting.rewards import operator_split
from indexer.config import Config, DatabaseConfig, HistoryConfig, IndexerConfig, LogConfig
from indexer.db.store import Store
from indexer.history.fetch import FetchOptions, disagreement_count, fetch_rewards
from indexer.history.http import ApiUnavailable
from indexer.simulator.server import Simulator
from tests.fake_api import FakeApi, Fault
from tests.harness import config, sync, views
from tests.history_data import (
    MAINNET_MAGIC,
    Chain,
    dbsync_cases,
    dbsync_chain,
    dbsync_cred,
    dbsync_pool_id,
    dbsync_stake_address,
    serve_blockfrost,
    serve_koios,
    story_chain,
)
from tests.reward_scenarios import DELTA, POOLS, StoryLedger, build_story
from tests.test_inversion import REAL
from tests.test_rewards_e2e import epochs_of, follow

Views = dict[str, list[dict[str, Any]]]
KEY = "preprodTESTKEY42"


def fetch_config(dsn: str, url: str, source: str = "koios", **history: Any) -> Config:
    return Config(database=DatabaseConfig(dsn), indexer=IndexerConfig(),
                  history=HistoryConfig(source=source, url=url, backoff_first_s=0.01,
                                        backoff_max_s=0.02, rate_per_s=1000.0, burst=1000,
                                        **history),
                  log=LogConfig(level="warning"))


def pool_rows(v: Views) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["pool_id"], r["epoch_no"]): r for r in v["pool_epoch"]}


def check_split(v: Views, pool_id: str, epoch: int) -> None:
    """Every owner row split, Σ op = F, Σ stake = S, the pool's source and uncertainty."""
    row = pool_rows(v)[(pool_id, epoch)]
    owners = [r for r in v["pool_owner_epoch"]
              if r["pool_id"] == pool_id and r["epoch_no"] == epoch]
    assert owners
    for r in owners:
        assert (r["rewards_status"], r["rewards_source"], r["fee_uncertainty_lovelace"]) == (
            row["rewards_status"], row["rewards_source"], row["fee_uncertainty_lovelace"])
        assert r["op_rewards_lovelace"] is not None and r["stake_rewards_lovelace"] is not None
    if row["rewards_status"] == "lost":
        assert all(r["rewards_lovelace"] == 0 for r in owners)
        return
    assert sum(r["op_rewards_lovelace"] for r in owners) == row["operator_fees_lovelace"]
    assert sum(r["stake_rewards_lovelace"] for r in owners) == row["stake_rewards_lovelace"]
    assert row["operator_fees_lovelace"] + row["stake_rewards_lovelace"] == \
        row["leader_reward_lovelace"]


# --- the real db-sync pool-epochs ---------------------------------------------------------------


async def seed_dbsync(dsn: str, cases: list[dict[str, Any]]) -> None:
    """A database holding these pool-epochs as if the daemon had materialized them (P_e from
    the case, each account's stake as its balance), their blocks, and B(e+2) with RA(e)
    registered. Only what the fetch reads; the stand-in ids are those of history_data."""
    store = await Store.connect(dsn)
    try:
        await store.set_meta("network", {"name": "mainnet", "magic": MAINNET_MAGIC, "k": 2160})
        await store.execute("UPDATE checkpoint SET epoch_no = 507")
        for case in cases:
            e, ra, owners = case["epoch"], case["reward_address_id"], case["owner_ids"]
            pool = dbsync_pool_id(case["dbsync_pool_id"])
            pool_hash = bytes.fromhex(_hex_of_pool(pool))
            stake = dict(case["epoch_stake"])
            margin = Fraction(case["margin"])
            accounts = list(dict.fromkeys([*owners, ra]))
            total = sum(stake.get(a, 0) for a in accounts)
            await store.execute(
                "INSERT INTO pool_epoch_row VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                "$11, $12, $13, $14)", e - 1, pool, pool_hash, e, dbsync_stake_address(ra),
                dbsync_cred(ra), [dbsync_stake_address(o) for o in owners], case["pledge"],
                case["cost"], margin.numerator, margin.denominator, total,
                sum(stake.get(o, 0) for o in owners), sum(stake.get(o, 0) for o in owners))
            for a in accounts:
                share = Fraction(stake.get(a, 0), total) if total else Fraction(1, len(accounts))
                await store.execute(
                    "INSERT INTO pool_owner_epoch_row (boundary_epoch, pool_id, epoch_no, cred, "
                    "stake_address, is_owner, is_reward_account, delegated_to_pool, "
                    "balance_lovelace, stake_share, share_weight) VALUES ($1, $2, $3, $4, $5, "
                    "$6, $7, true, $8, $9::numeric / $10::numeric, $8)", e - 1, pool, e,
                    dbsync_cred(a), dbsync_stake_address(a), a in owners, a == ra,
                    stake.get(a, 0), share.numerator, share.denominator)
            for i in range(case["blocks_by_pool"] or 1):
                slot = case["dbsync_pool_id"] * 10_000 + e * 100 + i
                await store.execute("INSERT INTO block VALUES ($1, $1, $2, $3, 'shelley', $4, 0)",
                                    slot, slot.to_bytes(32, "big"), e, pool_hash)
            await store.execute("INSERT INTO reward_settlement VALUES ($1, $2, $3, true)",
                                e + 2, pool, e)
    finally:
        await store.close()


def _hex_of_pool(pool_id: str) -> str:
    from indexer.chain.address import pool_hash_from_bech32
    return bytes(pool_hash_from_bech32(pool_id)).hex()


@pytest.mark.parametrize("source", ["koios", "blockfrost"])
async def test_the_real_dbsync_cases_through_each_api(dsn: str, source: str) -> None:
    cases = dbsync_cases()
    await seed_dbsync(dsn, cases)
    chain = dbsync_chain(cases)
    with FakeApi(project_id=KEY) as api:
        (serve_koios if source == "koios" else serve_blockfrost)(api, chain)
        url = api.koios_url if source == "koios" else api.blockfrost_url
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("BLOCKFROST_PROJECT_ID", KEY)
            summary = await fetch_rewards(fetch_config(dsn, url, source), FetchOptions())
    assert (summary.pool_epochs, summary.imported, summary.unusable) == (11, 11, 0)
    v = await views(dsn)
    truth = {(dbsync_pool_id(c["dbsync_pool_id"]), c["epoch"]): t for c, t in
             zip(cases, REAL, strict=True)}
    exact = 0
    for (pool_id, epoch), row in pool_rows(v).items():
        t = truth[(pool_id, epoch)]
        assert (row["rewards_status"], row["rewards_source"]) == ("imported", source)
        assert row["leader_reward_lovelace"] == t["leader"]  # L is exact
        fees, u = row["operator_fees_lovelace"], row["fee_uncertainty_lovelace"]
        assert fees <= t["true_fees"] <= fees + u  # the true F, within what is stated
        if u == 0:
            exact += 1
            assert fees == t["true_fees"]
        assert row["total_rewards_lovelace"] <= t["true_total"]
        assert operator_split(row["total_rewards_lovelace"], t["leader"], t["cost"],
                              t["margin"])[0] == fees
        assert row["pledge_met"]  # from the API's owner stake: o >= pledge in every case
        check_split(v, pool_id, epoch)
    singles = sum(len(fee_candidates(t["leader"], t["cost"], t["margin"], t["o"],
                                     t["sigma"])) == 1 for t in REAL)
    assert exact >= singles  # and the API's fee settles a tie now and then (test_inversion)
    assert summary.uncertain == 11 - exact
    # the leader credits come from the fetch too (B(e+2) passed with RA(e) registered)
    credits = {(r["pool_id"], r["earned_epoch"]): (r["amount_lovelace"], r["source"])
               for r in v["reward_event"] if r["kind"] == "leader"}
    assert credits == {k: (t["leader"], source) for k, t in truth.items()}


# --- the reward story, synced without live capture ------------------------------------------------


async def synced_story(dsn: str, *, live: bool = False) -> tuple[Chain, dict[int, Any], int]:
    story = build_story()
    async with Simulator(story.net) as sim:
        ledger = StoryLedger(sim).install()
        if live:  # epoch by epoch, within reach of the tip: every epoch captured
            await follow(config(sim.url, dsn), sim, epochs_of(story))
        else:
            sim.extend(*story.blocks)
            await sync(config(sim.url, dsn, live_distance_blocks=-1), sim)
        truth = {e: ledger.figures(e) for e in range(2, story.last_epoch)}
        return story_chain(sim, ledger, story.last_epoch), truth, story.last_epoch


def check_against_the_ledger(v: Views, truth: dict[int, Any], last: int) -> None:
    rows = pool_rows(v)
    for (pool_id, e), row in rows.items():
        if e > last - 2:  # not final: nothing fetched
            assert row["rewards_status"] == "pending" and row["rewards_source"] is None
            continue
        f = truth[e].get(pool_id)
        total, leader = (f.total, f.leader) if f else (0, 0)
        if pool_id == DELTA.id:
            # RA(e) deregistered: lost to the treasury; db-sync, hence the APIs, record no
            # credit, so the fetched L is 0 (the live capture would show the ledger's L)
            assert (row["rewards_status"], row["leader_reward_lovelace"]) == ("lost", 0)
            check_split(v, pool_id, e)
            continue
        assert (row["rewards_status"], row["rewards_source"]) == ("imported", "koios"), row
        assert row["leader_reward_lovelace"] == leader
        fees = operator_split(total, leader, int(row["cost_lovelace"]),
                              Fraction(row["margin"]))[0]
        assert row["operator_fees_lovelace"] <= fees <= row["operator_fees_lovelace"] + \
            row["fee_uncertainty_lovelace"]
        assert row["total_rewards_lovelace"] <= total
        check_split(v, pool_id, e)


async def test_story_without_live_capture_is_filled_by_a_fetch(dsn: str) -> None:
    chain, truth, last = await synced_story(dsn)
    before = pool_rows(await views(dsn))
    assert {r["rewards_status"] for (_, e), r in before.items() if e <= last - 2} == \
        {"unavailable"}
    with FakeApi() as api:
        serve_koios(api, chain)
        cfg = fetch_config(dsn, api.koios_url)
        summary = await fetch_rewards(cfg, FetchOptions())
        first = len(api.requests())
        again = await fetch_rewards(cfg, FetchOptions())
        second = [r.path for r in api.requests()[first:]]
    final = sum(1 for (_, e) in before if e <= last - 2)
    assert (summary.pool_epochs, summary.unusable, summary.disagreements) == (final, 0, 0)
    assert (again.pool_epochs, second) == (0, ["/genesis", "/tip"])  # nothing left to ask
    v = await views(dsn)
    check_against_the_ledger(v, truth, last)
    assert not {r["rewards_status"] for r in v["pool_epoch"]} & {"unavailable"}
    leader = {(r["pool_id"], r["earned_epoch"]): r["source"] for r in v["reward_event"]
              if r["kind"] == "leader"}
    assert leader and set(leader.values()) == {"koios"}


async def test_an_interrupted_fetch_resumes_with_what_is_missing(dsn: str) -> None:
    chain, truth, last = await synced_story(dsn)
    alpha = POOLS[0].id
    with FakeApi() as api:
        serve_koios(api, chain)
        cfg = fetch_config(dsn, api.koios_url, epochs_per_request=1, max_attempts=2)
        # the server fails for good on alpha's epoch 3: the run stops there
        api.faults = [Fault("/pool_history", times=10, status=503, match=lambda r: (
            r.param("_pool_bech32") == [alpha] and r.param("epoch_no")[0] == "gte.3"))]
        with pytest.raises(ApiUnavailable):
            await fetch_rewards(cfg, FetchOptions())
        store = await Store.connect(dsn)
        try:
            done = {(r["pool_id"], r["epoch_no"]) for r in await store.fetch(
                "SELECT pool_id, epoch_no FROM reward_fetch")}
            # no half epoch: every stored fetch has its figures and split
            derived = {(r["pool_id"], r["epoch_no"]) for r in await store.fetch(
                "SELECT DISTINCT pool_id, epoch_no FROM owner_reward WHERE source = 'koios'")}
            assert done == derived
        finally:
            await store.close()
        wanted = {(p, e) for (p, e) in pool_rows(await views(dsn)) if e <= last - 2}
        missing = wanted - done
        assert done and missing and (alpha, 3) in missing
        api.faults.clear()
        start = len(api.requests())
        await fetch_rewards(cfg, FetchOptions())
        resumed = api.requests()[start:]
    asked = {(r.param("_pool_bech32")[0], int(r.param("epoch_no")[0][4:]))
             for r in resumed if r.path == "/pool_history"}
    assert asked == missing
    # per missing pool-epoch: its history, its reward account's rewards, its owners' stakes
    assert len(resumed) == 2 + 3 * len(missing)
    check_against_the_ledger(await views(dsn), truth, last)


# --- with live capture: reconciled, never overwritten -------------------------------------------


async def test_live_figures_are_reconciled_never_overwritten(dsn: str) -> None:
    chain, _, last = await synced_story(dsn, live=True)
    live = pool_rows(await views(dsn))
    captured = {k for k, r in live.items() if r["rewards_source"] == "ledger"}
    assert captured
    with FakeApi() as api:
        serve_koios(api, chain)
        cfg = fetch_config(dsn, api.koios_url)
        plain = await fetch_rewards(cfg, FetchOptions())
        assert plain.pool_epochs == sum(1 for k, r in live.items()
                                        if k[1] <= last - 2 and k not in captured)
        summary = await fetch_rewards(cfg, FetchOptions(refresh=True))
        v = await views(dsn)
        assert summary.disagreements == 0
        for key in captured:  # the live row is the one shown
            assert pool_rows(v)[key] == live[key]
        store = await Store.connect(dsn)
        try:
            rec = [dict(r) for r in await store.fetch("SELECT * FROM reward_reconciliation")]
            assert rec and {(r["pool_id"], r["epoch_no"]) for r in rec} == \
                {k for k in captured if k[1] <= last - 2}
            for r in rec:
                if r["pool_id"] == DELTA.id and r["leader_reward_a"]:
                    assert r["agrees"] is None  # lost: the API cannot show it
                else:
                    assert r["agrees"] is True, r
                    assert r["leader_reward_a"] == r["leader_reward_b"]
            # an API that disagrees: loud, counted, and still not shown
            bad = next(pe for pe in chain.pool_epochs if pe.rewards and pe.epoch <= last - 2
                       and (pe.pool_id, pe.epoch) in captured and pe.pool_id != DELTA.id)
            addr, kind, amount = bad.rewards[0]
            bad.rewards[0] = (addr, kind, amount + 5_000)
            serve_koios(api, chain)
            with capture_logs() as logs:
                noisy = await fetch_rewards(cfg, FetchOptions(refresh=True, pool=bad.pool_id))
            assert noisy.disagreements == 1 and noisy.findings
            loud = [e for e in logs if e["event"] == "history.disagreement"]
            assert [(e["log_level"], e["pool_id"], e["epoch"]) for e in loud] == [
                ("error", bad.pool_id, bad.epoch)]
            assert loud[0]["fetched_leader_reward_lovelace"] == amount + 5_000
            assert await disagreement_count(store) == 1
            assert pool_rows(await views(dsn))[(bad.pool_id, bad.epoch)] == \
                live[(bad.pool_id, bad.epoch)]
        finally:
            await store.close()


async def test_blockfrost_on_the_story(dsn: str) -> None:
    chain, truth, last = await synced_story(dsn)
    with FakeApi(project_id=KEY) as api, pytest.MonkeyPatch.context() as mp:
        serve_blockfrost(api, chain)
        mp.setenv("BLOCKFROST_PROJECT_ID", KEY)
        cfg = fetch_config(dsn, api.blockfrost_url, "blockfrost")
        summary = await fetch_rewards(cfg, FetchOptions())
        assert all(r.headers["project_id"] == KEY for r in api.requests())
    assert summary.unusable == 0
    v = await views(dsn)
    v["pool_epoch"] = [dict(r, rewards_source="koios") if r["rewards_source"] == "blockfrost"
                       else r for r in v["pool_epoch"]]
    v["pool_owner_epoch"] = [dict(r, rewards_source="koios")
                             if r["rewards_source"] == "blockfrost" else r
                             for r in v["pool_owner_epoch"]]
    check_against_the_ledger(v, truth, last)


async def test_blocks_that_differ_from_the_chain_are_not_stored(dsn: str) -> None:
    chain, _, last = await synced_story(dsn)
    victim = next(pe for pe in chain.pool_epochs if pe.blocks and pe.epoch <= last - 2)
    victim.blocks += 1
    with FakeApi() as api:
        serve_koios(api, chain)
        with capture_logs() as logs:
            summary = await fetch_rewards(fetch_config(dsn, api.koios_url), FetchOptions())
    assert summary.unusable == 1 and summary.findings
    assert [(e["pool_id"], e["epoch"], e["api_blocks"]) for e in logs
            if e["event"] == "history.blocks_differ"] == [
        (victim.pool_id, victim.epoch, victim.blocks)]
    row = pool_rows(await views(dsn))[(victim.pool_id, victim.epoch)]
    assert row["rewards_status"] == "unavailable"  # asked again next time


async def test_options(dsn: str) -> None:
    chain, _, _ = await synced_story(dsn)
    with FakeApi() as api:
        serve_koios(api, chain)
        cfg = fetch_config(dsn, api.koios_url)
        got = await fetch_rewards(cfg, FetchOptions(pool=POOLS[0].id, from_epoch=3,
                                                    to_epoch=3))
        assert got.pool_epochs == 1
        assert {r.param("_pool_bech32")[0] for r in api.requests("/pool_history")} == \
            {POOLS[0].id}
        from indexer.config import ConfigError
        with pytest.raises(ConfigError, match="no epoch of that pool"):
            await fetch_rewards(cfg, FetchOptions(
                pool="pool1pu5jlj4q9w9jlxeu370a3c9myx47md5j5m2str0naunn2q3lkdy"))
        with pytest.raises(ConfigError, match="not a pool id"):
            await fetch_rewards(cfg, FetchOptions(pool="pool1notapool"))
        with pytest.raises(ConfigError, match="after --to-epoch"):
            await fetch_rewards(cfg, FetchOptions(from_epoch=5, to_epoch=4))
        with pytest.MonkeyPatch.context() as mp, \
                pytest.raises(ConfigError, match="BLOCKFROST_PROJECT_ID"):
            mp.delenv("BLOCKFROST_PROJECT_ID", raising=False)
            await fetch_rewards(replace(cfg, history=replace(cfg.history, source="blockfrost")),
                                FetchOptions())
