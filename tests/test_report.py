"""``indexer report``: the owner's statement of the demo chain, rendered by a real headless
Chromium and read back as the browser shows it (rendered text, the chart's drawn geometry, a
screenshot). Skips, saying what to install, where no Chromium is installed."""

from __future__ import annotations

import asyncio
import os
import struct
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from indexer.accounting.chart import PALETTE, Series, chart_svg
from indexer.accounting.importer import ImportedReward, import_rewards
from indexer.chain.types import EpochNo
from indexer.db.store import Store
from indexer.demo.run import index_demo_chain
from indexer.demo.scenarios import ALICE, BOB, CAROL, DEMO_POOL, PAYOUTS
from tests import browser

ROOT = Path(__file__).resolve().parent.parent
NID = 0
RECORDED = 50_000_000  # BOB, by bank transfer


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer.cli", *args, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(scope="module")
async def demo_db(databases: Any) -> dict[str, Any]:
    """The demo chain indexed (carol's payout to the owners in epoch 9), a payout recorded by
    hand, and the current epoch's figures imported; the statements written by the CLI."""
    dsn = await databases.new()
    await index_demo_chain(dsn)
    rc, _, err = await _cli("payout", "add", "--dsn", dsn, "--pool", DEMO_POOL.id,
                              "--stake-address", BOB.stake_address(NID),
                              "--amount-lovelace", str(RECORDED), "--note", "bank transfer")
    assert rc == 0, err
    store = await Store.connect(dsn)
    try:
        await import_rewards(store, (ImportedReward(DEMO_POOL.id, EpochNo(10), 4_000_000_000,
                                                    4_000_000_000, 7, None, "test"),))
        bob_rows = [dict(r) for r in await store.fetch(
            "SELECT * FROM pool_owner_epoch WHERE pool_id = $1 AND stake_address = $2 "
            "ORDER BY epoch_no", DEMO_POOL.id, BOB.stake_address(NID))]
        settlement = [dict(r) for r in await store.fetch(
            "SELECT * FROM owner_settlement WHERE stake_address = $1", BOB.stake_address(NID))]
    finally:
        await store.close()
    return {"dsn": dsn, "bob": bob_rows, "settlement": settlement[0]}


async def _report(dsn: str, path: Path, *extra: str) -> None:
    rc, _, err = await _cli("report", "--dsn", dsn, "--pool", DEMO_POOL.id, "--format", "html",
                            "-o", str(path), *extra)
    assert rc == 0, err


async def test_the_cli_refuses_an_unknown_pool_or_account(demo_db: dict[str, Any]) -> None:
    rc, _, err = await _cli("report", "--dsn", demo_db["dsn"], "--pool",
                            "pool1gdn3wqkztn4rre4f78c0vsym978gs8q2qa8r2nnltfrhw3n0gzh"
                            .replace("gzh", "xxx"))
    assert rc == 2 and "pool" in err
    rc, _, err = await _cli("report", "--dsn", demo_db["dsn"], "--pool", DEMO_POOL.id,
                            "--owner", "stake_test1uqfu74w3wh4gfzu8m6e7j987h4lq9r3t7ef5gaw497"
                                       "uu85qsqfy27")
    assert rc == 2 and "not an account" in err


@pytest.mark.skipif(browser.find() is None, reason=browser.INSTALL_HINT)
async def test_an_owners_statement_as_the_browser_shows_it(demo_db: dict[str, Any],
                                                          tmp_path: Path) -> None:
    page = tmp_path / "bob.html"
    await _report(demo_db["dsn"], page, "--owner", BOB.stake_address(NID), "--from-epoch",
                  "4", "--to-epoch", "10")
    bob = BOB.stake_address(NID)
    async with browser.Browser() as b:
        await b.load(page.as_uri())
        text = await b.evaluate("document.body.innerText")
        settlement = await b.evaluate("document.querySelector('#settlement').innerText")
        payouts = await b.evaluate(
            "[...document.querySelectorAll('#payouts-table tbody tr')].map(r => "
            "[...r.cells].map(c => c.innerText))")
        epochs = await b.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#epochs tbody tr')].map(r => "
            "[r.dataset.epoch, [...r.cells].map(c => c.innerText)]))")
        bars = await b.evaluate(
            "[...document.querySelectorAll('#chart rect.bar')].map(r => ({epoch: "
            "+r.dataset.epoch, lovelace: r.dataset.lovelace, h: r.getBoundingClientRect()"
            ".height, fill: r.getAttribute('fill')}))")
        chart = await b.evaluate(
            "(() => { const s = document.querySelector('#chart'); const r = "
            "s.getBoundingClientRect(); return {w: r.width, h: r.height, top: "
            "s.dataset.topLovelace, plot: +s.dataset.plotHeight}; })()")
        shot = await b.screenshot()

    # the subject, the settlement: carol paid bob 1,000 ADA on chain (epoch 9), 50 by hand
    assert "Owner statement" in text and f"account {bob}" in text
    owed, paid = demo_db["settlement"]["owed_lovelace"], PAYOUTS[BOB] + RECORDED
    assert demo_db["settlement"]["paid_lovelace"] == paid
    assert f"{bob}\t{_ada(owed)}\t{_ada(paid)}\t{_ada(owed - paid)}" in settlement
    assert [(p[0], p[2], p[3], p[5]) for p in payouts] == [
        ("9", "1,000.000000", "chain", ""), ("10", "50.000000", "recorded", "bank transfer")]
    # where each epoch's figures come from, and the certificate in effect (frank became an
    # owner by a re-registration of epoch 5, in effect from 8)
    assert sorted(epochs, key=int) == [str(e) for e in range(4, 11)]
    assert epochs["4"][1:4] == ["credited", "live capture from the ledger during epoch 5",
                                "#1 (from epoch 4)"]
    assert epochs["8"][3] == "#2 (from epoch 8)"
    assert epochs["9"][1] == "provisional"
    assert epochs["10"][1:3] == ["imported", "import"]
    assert epochs["10"][6:8] == ["4,000.000000", "4,000.000000"]  # R, L as imported
    # the chart: one bar per epoch with known rewards, bob's amounts, drawn to scale
    known = {r["epoch_no"]: r["rewards_lovelace"] for r in demo_db["bob"]
             if 4 <= r["epoch_no"] <= 10 and r["rewards_lovelace"]}
    assert {bar["epoch"]: int(bar["lovelace"]) for bar in bars} == known
    assert {bar["fill"] for bar in bars} == {PALETTE[0]}
    for bar in bars:
        assert bar["h"] == pytest.approx(chart["plot"] * int(bar["lovelace"]) //
                                         int(chart["top"]), abs=1)
        assert bar["h"] > chart["plot"] / 10  # visible
    assert (chart["w"], chart["h"]) == (860, 300)
    # a real picture of it: a PNG as wide as the window
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", shot[16:24])
    assert width == 1280 and height > 1000


@pytest.mark.skipif(browser.find() is None, reason=browser.INSTALL_HINT)
async def test_every_accounts_statement_shows_each_account(demo_db: dict[str, Any],
                                                          tmp_path: Path) -> None:
    page = tmp_path / "pool.html"
    await _report(demo_db["dsn"], page)
    async with browser.Browser() as b:
        await b.load(page.as_uri())
        rows = await b.evaluate(
            "[...document.querySelectorAll('#settlement-table tbody tr')].map(r => "
            "r.dataset.account)")
        legend = await b.evaluate("document.querySelector('ul.legend').innerText")
        kept = await b.evaluate(
            "[...document.querySelectorAll('#settlement-table tbody tr')].filter(r => "
            f"r.dataset.account === '{CAROL.stake_address(NID)}').map(r => r.cells[4]"
            ".innerText)[0]")
    assert set(rows) >= {w.stake_address(NID) for w in (ALICE, BOB, CAROL)}
    assert "(reward account)" in legend and "(owner)" in legend
    assert kept != "0.000000"  # carol's share stays in her own reward account


def _ada(lovelace: int) -> str:
    whole, frac = divmod(lovelace, 1_000_000)
    return f"{whole:,}.{frac:06d}"


def test_chart_bars_are_integer_pixels_in_proportion() -> None:
    svg = chart_svg([1, 2, 3], [Series("a", {1: 3_000_000, 2: None, 3: 1_500_000},
                                       {1: Decimal("0.5"), 3: Decimal("0.25")}),
                                Series("b", {1: 1_000_000}, {1: Decimal("0.5")})], title="t<x>")
    assert 'data-top-lovelace="5000000"' in svg  # 4 ADA stacked: the axis tops at 5
    assert 'data-lovelace="3000000"' in svg and 'height="144"' in svg  # 240 px * 3/5
    assert 'data-lovelace="1500000"' in svg and 'height="72"' in svg
    assert "t&lt;x&gt;" in svg and "<x>" not in svg
    assert svg.count('class="share"') == 3  # epoch 2 has no share for a: no mark
