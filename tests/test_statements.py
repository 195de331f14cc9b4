"""Owner statements end to end (docs/spec.md §7 second round): the real daemon follows the
reward story (tests/reward_scenarios.py) with three more transactions, and the views
``owner_payout``, ``owner_settlement`` and ``pledge_watch``, the pledge alert (log and gauge),
``indexer payout add``, ``indexer status`` and the exports are checked against values computed
by hand from the story.

The additions to the story:

- E4, block 3: CAROL, alpha's reward account (not an owner), withdraws her whole reward
  balance (alpha's leader reward and her member reward of E2, credited at B(4)) and pays ALICE
  1,000 ADA (base address) and BOB 600 ADA (base) + 400 ADA (a pointer address to BOB's stake
  registration): the usual "withdraw and distribute".
- E4, block 5: GUS, gamma's owner and reward account, withdraws his balance to himself: no
  payout (a reward account paying itself moves nothing between owners).
- E5, block 2: ALICE delegates to gamma: alpha's next snapshot has only BOB's stake, below its
  500,000 ADA pledge, and the watch must say so before B(6).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from indexer.accounting.export import export
from indexer.chain.types import Pointer
from indexer.config import Config, ConfigError, MetricsConfig, load_config, parse_config
from indexer.db.store import Store
from indexer.ops.status import render, status
from indexer.simulator.chain import deleg_cert
from indexer.simulator.server import Simulator
from tests.harness import Running, config, synced, views, wait_for
from tests.reward_scenarios import (
    ADA,
    ALICE,
    ALPHA,
    BEA,
    BETA,
    BOB,
    CAROL,
    COST,
    GAMMA,
    GUS,
    Purse,
    Story,
    StoryLedger,
    build_story,
)
from tests.test_rewards_e2e import epochs_of, follow

NID = 0
ROOT = Path(__file__).resolve().parent.parent
TO_ALICE, TO_BOB, TO_BOB_PTR = 1_000 * ADA, 600 * ADA, 400 * ADA
FEE = 180_000  # Purse.pay's default fee
BOB_REGISTRATION = Pointer(3, 0, 1)  # the faucet transaction (slot 3, tx 0), BOB's certificate
RECORDED = 5 * ADA


def _member(total: int, stake: int, pool_stake: int) -> int:
    """alpha's member reward by hand: floor((R - c) * (1 - m) * t / σ), m = 1/50."""
    return int((total - COST) * (1 - Fraction(1, 50)) * Fraction(stake, pool_stake))


def statement_story() -> tuple[Story, dict[str, int]]:
    """The story with the additions (see the module docstring), and the amounts they move:
    CAROL's and GUS's withdrawals are their whole reward balances, from the ledger's E2
    figures (the same on the story without the additions: these come later)."""
    plain = build_story()
    sim = Simulator(plain.net)
    sim.extend(*plain.blocks)
    e2 = StoryLedger(sim).figures(2)
    alpha = e2[ALPHA.id]
    carol = alpha.leader + _member(alpha.total, alpha.delegators[CAROL.stake_hex],
                                   alpha.pool_stake)
    gus = e2[GAMMA.id].leader
    amounts = {"carol_withdrawal": carol, "gus_withdrawal": gus}

    def carol_pays(purse: Purse) -> list[Any]:
        outs = [(ALICE, ALICE.address(NID), TO_ALICE), (BOB, BOB.address(NID), TO_BOB),
                (BOB, BOB.pointer(NID, BOB_REGISTRATION), TO_BOB_PTR)]
        return [purse.pay(CAROL, outs, withdrawn=carol,
                          withdrawals={CAROL.stake_address(NID): carol})]

    def gus_withdraws(purse: Purse) -> list[Any]:
        return [purse.pay(GUS, [], withdrawn=gus, withdrawals={GUS.stake_address(NID): gus})]

    def alice_leaves(purse: Purse) -> list[Any]:
        return [purse.pay(ALICE, [], certificates=[deleg_cert(ALICE, GAMMA)])]

    story = build_story(extra={(4, 3): carol_pays, (4, 5): gus_withdraws, (5, 2): alice_leaves})
    return story, amounts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _fetch(dsn: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    store = await Store.connect(dsn)
    try:
        return [dict(r) for r in await store.fetch(sql, *args)]
    finally:
        await store.close()


def _payout_tx(story: Story) -> str:
    block = story.by_epoch[4][3]
    return str(block["transactions"][0]["id"])


async def test_payouts_settlement_and_the_pledge_alert(dsn: str) -> None:
    story, amounts = statement_story()
    port = _free_port()
    cfg = dataclasses.replace(config("", dsn, pledge_check_interval_s=0.0),
                              metrics=MetricsConfig("127.0.0.1", port))
    async with Simulator(story.net) as sim:
        ledger = StoryLedger(sim).install()
        cfg = dataclasses.replace(cfg, ogmios=dataclasses.replace(cfg.ogmios, url=sim.url))
        with capture_logs() as logs:
            async with Running(cfg) as run:
                await follow(cfg, sim, epochs_of(story, 0, 3), run=run)
                # recorded by hand before the chain shows it: the chain's row wins later
                assert await _payout_add(dsn, ALPHA.id, BOB, TO_BOB, tx=_payout_tx(story)) == 0
                await follow(cfg, sim, epochs_of(story, 4, 5), run=run)
                watch_e5 = await _fetch(dsn, "SELECT *, now() AS now FROM pledge_watch")
                async with httpx.AsyncClient() as client:
                    metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                await follow(cfg, sim, epochs_of(story, 6, 6), run=run)
        figures = {e: ledger.figures(e) for e in range(2, 6)}

    _check_pledge_watch(story, amounts, figures, watch_e5)
    alpha_short = 500_000 * ADA - (400_000 * ADA + TO_BOB + TO_BOB_PTR)
    gauges = {(s.name, s.labels.get("pool_id")): s.value
              for family in text_string_to_metric_families(metrics) for s in family.samples}
    assert gauges[("indexer_pledge_shortfall_lovelace", ALPHA.id)] == alpha_short
    assert gauges[("indexer_pledge_at_risk", ALPHA.id)] == 1
    assert gauges[("indexer_pledge_at_risk", GAMMA.id)] == 0
    warned = [(e["pool_id"], e["epoch"]) for e in logs if e["event"] == "pledge.at_risk"]
    assert all(e["log_level"] == "warning" for e in logs if e["event"] == "pledge.at_risk")
    assert len(warned) == len(set(warned)), "once per pool and epoch"
    assert (ALPHA.id, 5) in warned and (ALPHA.id, 6) in warned
    assert not [w for w in warned if w[0] == ALPHA.id and w[1] < 5]
    assert {e for p, e in warned if p == BETA.id} == set(range(0, 7))  # never met
    alert = next(e for e in logs if e["event"] == "pledge.at_risk" and e["pool_id"] == ALPHA.id)
    assert (alert["shortfall_lovelace"], alert["undelegated_owners"]) == (
        alpha_short, [ALICE.stake_address(NID)])

    # a payout recorded by hand, and one the chain already shows (refused: counted twice)
    assert await _payout_add(dsn, ALPHA.id, BOB, RECORDED, note="cash at the meetup") == 0
    assert await _payout_add(dsn, ALPHA.id, BOB, TO_BOB, tx=_payout_tx(story)) == 2
    assert await _payout_add(dsn, ALPHA.id, GUS, RECORDED) == 2  # not an account of alpha
    await _check_payouts(dsn, story)
    await _check_settlement(dsn)
    await _check_exports_and_status(dsn, cfg, amounts, figures)


async def _payout_add(dsn: str, pool: str, who: Any, amount: int, *, tx: str | None = None,
                      note: str | None = None) -> int:
    """``indexer payout add`` as a user runs it: its own process (it sets up its own logging)."""
    args = ["payout", "add", "--dsn", dsn, "--pool", pool, "--stake-address",
            who.stake_address(NID), "--amount-lovelace", str(amount)]
    args += ["--tx", tx] if tx else []
    args += ["--note", note] if note else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "indexer.cli", *args,
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    if proc.returncode:
        assert err.startswith(b"indexer: "), err
    else:
        assert out.startswith(b"recorded payout #"), out
    return proc.returncode


def _check_pledge_watch(story: Story, amounts: dict[str, int], figures: dict[int, Any],
                        rows: list[dict[str, Any]]) -> None:
    """At the tip in E5, after ALICE left: the snapshot at B(6) (for E7) takes the state after
    the last slot of E5. delta and eps retired at 4: not watched."""
    by_pool = {r["pool_id"]: r for r in rows}
    assert set(by_pool) == {ALPHA.id, BETA.id, GAMMA.id}
    net = story.net
    snapshot_at = net.slot_datetime(net.first_slot(6))
    for r in rows:
        assert (r["epoch_no"], r["snapshot_epoch_no"]) == (5, 7)
        assert r["snapshot_slot"] == net.first_slot(6) - 1
        left = (snapshot_at - r["now"]).total_seconds()
        assert abs(r["seconds_to_snapshot"] - left) <= 1
    alpha = by_pool[ALPHA.id]
    # only BOB is delegated: 400,000 ADA of his own, 1,000 ADA from CAROL (base + pointer);
    # no credit ever went to BOB's reward account
    bob = 400_000 * ADA + TO_BOB + TO_BOB_PTR
    assert (alpha["pledge_lovelace"], alpha["owners_delegated_balance_lovelace"],
            alpha["owners_reward_balance_lovelace"], alpha["shortfall_lovelace"],
            alpha["at_risk"], alpha["undelegated_owners"]) == (
        500_000 * ADA, bob, 0, 500_000 * ADA - bob, True, [ALICE.stake_address(NID)])
    beta = by_pool[BETA.id]  # BEA never spent her 50,000 ADA; beta never earned (pledge)
    assert (beta["owners_delegated_balance_lovelace"], beta["owners_reward_balance_lovelace"],
            beta["shortfall_lovelace"], beta["at_risk"]) == (
        50_000 * ADA, 0, 1_000_000_000 * ADA - 50_000 * ADA, True)
    gamma = by_pool[GAMMA.id]
    # GUS: 30,000 ADA + his E2 leader reward withdrawn in E4 - the fee; his reward balance:
    # gamma's E3 leader reward (credited at B(5)), and its E4 one, which B(6) credits before
    # it takes the snapshot. ALICE delegates to gamma now but is not its owner.
    gus_utxo = 30_000 * ADA + amounts["gus_withdrawal"] - FEE
    gus_rewards = figures[3][GAMMA.id].leader + figures[4][GAMMA.id].leader
    assert (gamma["pledge_lovelace"], gamma["owners_delegated_balance_lovelace"],
            gamma["owners_reward_balance_lovelace"], gamma["shortfall_lovelace"],
            gamma["at_risk"], gamma["undelegated_owners"]) == (
        10_000 * ADA, gus_utxo, gus_rewards, 0, False, [])


async def _check_payouts(dsn: str, story: Story) -> None:
    tx = _payout_tx(story)
    slot = story.by_epoch[4][3]["slot"]
    rows = await _fetch(dsn, "SELECT * FROM owner_payout ORDER BY kind, stake_address, amount_"
                             "lovelace")
    got = {(r["pool_id"], r["stake_address"], r["tx_id"], r["slot"], r["epoch_no"],
            r["amount_lovelace"], r["kind"], r["note"]) for r in rows}
    assert got == {
        (ALPHA.id, ALICE.stake_address(NID), tx, slot, 4, TO_ALICE, "chain", None),
        # base + pointer address: BOB's credential gained both outputs
        (ALPHA.id, BOB.stake_address(NID), tx, slot, 4, TO_BOB + TO_BOB_PTR, "chain", None),
        # the hand-recorded copy of the chain's payout is not shown; the cash one is
        (ALPHA.id, BOB.stake_address(NID), None, None, 6, RECORDED, "recorded",
         "cash at the meetup"),
    }
    assert len(rows) == len(got)
    # the hand-recorded duplicate is stored, only hidden
    stored = await _fetch(dsn, "SELECT count(*) AS n FROM recorded_payout")
    assert stored[0]["n"] == 2


async def _check_settlement(dsn: str) -> None:
    """owed = Σ rewards_lovelace of credited epochs (E2-E4 at the tip in E6), paid = Σ
    payouts, due = owed - paid; the reward account's own share never leaves it."""
    owner_epochs = await _fetch(dsn, "SELECT * FROM pool_owner_epoch")
    rows = await _fetch(dsn, "SELECT * FROM owner_settlement")
    got = {(r["pool_id"], r["stake_address"]): r for r in rows}
    paid = {ALICE: TO_ALICE, BOB: TO_BOB + TO_BOB_PTR + RECORDED}
    for pool, accounts in ((ALPHA, (ALICE, BOB, CAROL)), (GAMMA, (GUS,))):
        for w in accounts:
            mine = [r for r in owner_epochs if r["pool_id"] == pool.id
                    and r["stake_address"] == w.stake_address(NID)]
            credited = [r for r in mine if r["rewards_status"] == "credited"]
            assert sorted(r["epoch_no"] for r in credited) == [2, 3, 4]
            owed = sum(r["rewards_lovelace"] for r in credited)
            kept = sum(r["rewards_lovelace"] for r in credited if r["is_reward_account"])
            r = got[(pool.id, w.stake_address(NID))]
            assert (r["owed_lovelace"], r["paid_lovelace"], r["due_lovelace"],
                    r["last_spendable_epoch"], r["kept_lovelace"], r["to_transfer_lovelace"]) \
                == (owed, paid.get(w, 0), owed - paid.get(w, 0), 6, kept,
                    owed - kept - paid.get(w, 0)), (pool.id, w.name)
    assert got[(ALPHA.id, CAROL.stake_address(NID))]["kept_lovelace"] > 0
    assert got[(GAMMA.id, GUS.stake_address(NID))]["to_transfer_lovelace"] == 0


async def _check_exports_and_status(dsn: str, cfg: Config, amounts: dict[str, int],
                                    figures: dict[int, Any]) -> None:
    rows = {(r["epoch_no"], r["stake_address"]): r
            for r in orjson.loads(await export(dsn, ALPHA.id, "json", None, None))}
    carol = CAROL.stake_address(NID)
    # the reward account's balance at the start of the spendable epoch (credits - withdrawals):
    # E2's leader and member rewards, credited at B(4); withdrawn in E4, so at B(5) only E3's
    alpha3 = figures[3][ALPHA.id]
    member3 = _member(alpha3.total, alpha3.delegators[CAROL.stake_hex], alpha3.pool_stake)
    assert rows[(2, carol)]["reward_balance_lovelace"] == amounts["carol_withdrawal"]
    assert rows[(3, carol)]["reward_balance_lovelace"] == alpha3.leader + member3
    assert rows[(2, carol)]["real_rewards_lovelace"] == amounts["carol_withdrawal"]
    bob = BOB.stake_address(NID)
    bob_owed = [rows[(e, bob)]["rewards_lovelace"] for e in (2, 3, 4)]
    assert [rows[(e, bob)]["owed_lovelace"] for e in (2, 3, 4)] == [
        bob_owed[0], bob_owed[0] + bob_owed[1], sum(bob_owed)]
    assert [rows[(e, bob)]["paid_lovelace"] for e in (2, 3, 4)] == [
        TO_BOB + TO_BOB_PTR, TO_BOB + TO_BOB_PTR, TO_BOB + TO_BOB_PTR + RECORDED]
    assert rows[(4, bob)]["due_lovelace"] == sum(bob_owed) - TO_BOB - TO_BOB_PTR - RECORDED
    assert rows[(5, bob)]["reward_balance_lovelace"] is None  # spendable in 7: not reached
    adastry = (await export(dsn, ALPHA.id, "adastry-multiowner", 2, 2)).splitlines()
    header = adastry[0].split(",")
    carol_line = next(line.split(",") for line in adastry[1:] if "(earned 2)" in line
                      and line.split(",")[header.index("Real Rewards")] != "0.000000")
    withdrawable = carol_line[header.index("Withdrawable")]
    assert withdrawable == f"{amounts['carol_withdrawal'] // ADA}." \
                           f"{amounts['carol_withdrawal'] % ADA:06d}"
    text = render(await status(dataclasses.replace(cfg, ogmios=dataclasses.replace(
        cfg.ogmios, url="ws://127.0.0.1:9"))))
    assert f"pool {ALPHA.id}:" in text
    assert "pledge, next snapshot: SHORT by" in text
    assert "still to transfer" in text


# --- the share basis ---------------------------------------------------------------------------


async def _stake_split(dsn: str) -> dict[tuple[str, int], dict[str, Any]]:
    pools = await _fetch(dsn, "SELECT * FROM pool_epoch")
    owners = await _fetch(dsn, "SELECT * FROM pool_owner_epoch")
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for p in pools:
        mine = [o for o in owners if (o["pool_id"], o["epoch_no"]) == (p["pool_id"],
                                                                        p["epoch_no"])]
        out[(p["pool_id"], p["epoch_no"])] = {
            "S": p["stake_rewards_lovelace"], "basis": p["share_accounts"],
            "status": p["rewards_status"],
            "stake": {o["stake_address"]: o["stake_rewards_lovelace"] for o in mine},
            "share": {o["stake_address"]: Fraction(o["stake_share"]) for o in mine}}
    return out


def _on_basis(cfg: Config, basis: str) -> Config:
    return dataclasses.replace(cfg, accounting=dataclasses.replace(cfg.accounting,
                                                                   share_accounts=basis))


async def test_both_share_bases_and_a_change_of_setting(dsn: str, databases: Any) -> None:
    """Σ stake = S on both bases; the delegated-owners basis gives a reward account that is
    not an owner no share; changing the setting re-splits every epoch at the next start and
    equals a straight run on the new setting."""
    story, _ = statement_story()
    straight = await databases.new()
    async with Simulator(story.net) as sim:
        StoryLedger(sim).install()
        cfg = config(sim.url, dsn)
        await follow(cfg, sim, epochs_of(story))
        certificate = await _stake_split(dsn)
        delegated_cfg = _on_basis(cfg, "delegated_owners")
        async def resplit() -> bool:
            rows = await _fetch(dsn, "SELECT DISTINCT share_accounts FROM pool_epoch")
            return [r["share_accounts"] for r in rows] == ["delegated_owners"]

        with capture_logs() as logs:
            async with Running(delegated_cfg):  # restart on the other basis: re-split
                await wait_for(resplit)
                await wait_for(lambda: synced(dsn, sim))
        changed = await _stake_split(dsn)
        changed_views = await views(dsn)
    async with Simulator(story.net) as sim:
        StoryLedger(sim).install()
        await follow(_on_basis(config(sim.url, straight), "delegated_owners"), sim,
                     epochs_of(story))
    assert changed == await _stake_split(straight)
    assert changed_views == await views(straight)
    assert [e for e in logs if e["event"] == "accounting.share_basis_changed"]

    carol, alice, bob = (w.stake_address(NID) for w in (CAROL, ALICE, BOB))
    for basis, split in (("certificate", certificate), ("delegated_owners", changed)):
        for key, row in split.items():
            assert row["basis"] == basis
            if row["S"] is not None and row["status"] != "lost":  # lost: the owners get 0
                assert sum(row["stake"].values()) == row["S"], (basis, key)
            assert sum(row["share"].values()) == pytest.approx(1, abs=1e-12)
    for e in range(2, 6):
        c, d = certificate[(ALPHA.id, e)], changed[(ALPHA.id, e)]
        assert c["stake"][carol] > 0 and d["stake"][carol] == 0 and d["share"][carol] == 0
        # ALICE and BOB share S by their balances alone
        assert d["share"][alice] + d["share"][bob] == pytest.approx(1, abs=1e-12)
        assert d["stake"][alice] + d["stake"][bob] == d["S"]
    # the snapshot of E7 comes after ALICE left: BOB alone takes the whole share
    assert changed[(ALPHA.id, 7)]["share"] == {alice: 0, bob: 1, carol: 0}
    assert certificate[(ALPHA.id, 7)]["share"][alice] > 0
    # beta's owner is its reward account: the same on both bases
    assert changed[(BETA.id, 3)]["share"] == certificate[(BETA.id, 3)]["share"] == {
        BEA.stake_address(NID): 1}


def test_the_share_basis_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"\[accounting\] share_accounts: must be one of"):
        parse_config({"accounting": {"share_accounts": "owners"}})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"accounting": {"share": "certificate"}})
    assert parse_config({}).accounting.share_accounts == "certificate"
    assert parse_config({"accounting": {"share_accounts": "delegated_owners"}}) \
        .accounting.share_accounts == "delegated_owners"
    example = load_config(ROOT / "config.example.toml")
    assert (example.accounting.share_accounts, example.indexer.pledge_check_interval_s) == (
        "certificate", 60.0)
