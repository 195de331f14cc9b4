"""The Koios and Blockfrost sources (``indexer.history.koios``, ``.blockfrost``) over recorded real
responses served by tests/fake_api.py: pagination (Content-Range, offset/limit, page/count),
parsing to the figures the accounting needs, a pool the API does not know, an API that changed
shape. The data (tests/data/realdata/NOTICE.md): Koios' history of a real mainnet pool over
epochs 210–432, and Blockfrost's own test fixtures."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from fractions import Fraction
from typing import Any

import pytest

from indexer.config import HistoryConfig
from indexer.history.blockfrost import BlockfrostSource
from indexer.history.http import ApiClient, ApiNotFound, ApiShapeError
from indexer.history.koios import KoiosSource, content_range
from indexer.history.source import EpochPlan, cred_hex, integer_amount
from tests.fake_api import FakeApi, Fault
from tests.history_data import REALDATA

POOL = "pool12t3zmafwjqms7cuun86uwc8se4na07r3e5xswe86u37djr5f0lx"
KEY = "test-project-id"


def _csv() -> list[dict[str, str]]:
    with open(REALDATA / "koios" / "pool_epoch_history.csv") as fh:
        return [r for r in csv.DictReader(fh) if r["active_stake"]]  # no stake: no Koios row


def koios_rows() -> list[dict[str, Any]]:
    """The recorded values as Koios v1 serves them (fields the recording lacks are absent)."""
    return [{"epoch_no": int(r["epoch"]), "active_stake": r["active_stake"],
             "block_cnt": int(r["block_count"]), "delegator_cnt": int(r["delegator_count"]),
             "margin": float(r["margin"]), "fixed_cost": r["fixed_cost"],
             "pool_fees": r["pool_fees"], "deleg_rewards": r["delegator_rewards"]}
            for r in _csv()]


def owner_rows() -> list[dict[str, Any]]:
    """account_stake_history rows for the epochs with one owner (the recording sums owners)."""
    return [{"stake_address": r["owner_stake_addresses"], "pool_id_bech32": POOL,
             "epoch_no": int(r["epoch"]), "active_stake": r["owner_active_stake"]}
            for r in _csv() if r["owner_stake_addresses"] and " " not in
            r["owner_stake_addresses"] and r["owner_active_stake"]]


def _plans(epochs: range, owner: str) -> list[EpochPlan]:
    return [EpochPlan(e, owner, (owner,), 340_000_000, Fraction(9, 1000)) for e in epochs]


@asynccontextmanager
async def koios(api: FakeApi) -> AsyncIterator[KoiosSource]:
    cfg = HistoryConfig(url=api.koios_url, backoff_first_s=0.01, backoff_max_s=0.02)
    async with ApiClient("koios", cfg, rate_per_s=1000, burst=1000) as http:
        yield KoiosSource(http)


@asynccontextmanager
async def blockfrost(api: FakeApi) -> AsyncIterator[BlockfrostSource]:
    cfg = HistoryConfig(source="blockfrost", url=api.blockfrost_url, backoff_first_s=0.01,
                        backoff_max_s=0.02)
    async with ApiClient("blockfrost", cfg, rate_per_s=1000, burst=1000,
                         headers={"project_id": KEY}, secrets=[KEY]) as http:
        yield BlockfrostSource(http)


def _serve_koios(api: FakeApi) -> None:
    rows = koios_rows()
    api.koios_get["/pool_history"] = lambda p: rows if p["_pool_bech32"] == POOL else []
    api.koios_post["/account_reward_history"] = lambda b: []
    owners = owner_rows()
    api.koios_post["/account_stake_history"] = lambda b: [
        r for r in owners if r["stake_address"] in b["_stake_addresses"]]
    api.koios_post["/pool_info"] = lambda b: []


def test_content_range() -> None:
    assert content_range("0-999/2500") == (999, 2500)
    assert content_range("1000-1499/*") == (1499, None)
    assert content_range("*/0") == (None, 0)
    assert content_range(None) == (None, None)
    assert integer_amount("381637933") == 381_637_933
    assert integer_amount("1.5e+15") == 1_500_000_000_000_000
    assert integer_amount("12.5") is None and integer_amount(None) is None


@pytest.mark.parametrize("counted", [True, False], ids=["count=exact", "no count"])
async def test_koios_pages_a_real_pool_history(counted: bool) -> None:
    csv_rows = {int(r["epoch"]): r for r in _csv()}
    owner = owner_rows()[0]["stake_address"]
    with FakeApi() as api:
        _serve_koios(api)
        api.max_rows, api.honour_count = 50, counted
        async with koios(api) as source:
            got = await source.fetch(POOL, _plans(range(210, 433), owner))
        pages = api.requests("/pool_history")
    assert [e.epoch for e in got] == list(range(210, 433))
    for e in got:
        r = csv_rows[e.epoch]
        assert (e.pool_stake, e.blocks_made, e.api_fee) == (
            int(r["active_stake"]), int(r["block_count"]), int(r["pool_fees"]))
        assert e.api_rewards == int(r["pool_fees"]) + int(r["delegator_rewards"])
        assert e.leader_reward == 0  # no reward rows in this recording
        if r["owner_stake_addresses"] == owner:
            assert e.stakes == {cred_hex(owner, "t"): (POOL, int(r["owner_active_stake"]))}
    # 223 rows by 50: with a total, the fifth page ends it; without, an empty sixth page does
    assert [int(dict(p.query)["offset"]) for p in pages] == \
        [0, 50, 100, 150, 200] + ([] if counted else [223])
    assert all(p.param("epoch_no") == ["gte.210", "lte.432"] for p in pages)
    assert all(dict(p.query)["order"] == "epoch_no.asc" for p in pages)


async def test_koios_asks_only_for_the_epochs_wanted() -> None:
    owner = owner_rows()[0]["stake_address"]
    with FakeApi() as api:
        _serve_koios(api)
        async with koios(api) as source:
            got = await source.fetch(POOL, _plans(range(300, 303), owner))
        assert [e.epoch for e in got] == [300, 301, 302]
        reward = api.requests("/account_reward_history")[0]
        assert reward.body == {"_stake_addresses": [owner]}
        assert dict(reward.query)["type"] == "eq.leader"
        assert reward.param("earned_epoch") == ["gte.300", "lte.302"]
        assert reward.headers["prefer"] == "count=exact"
        assert len(api.requests()) == 3  # history, rewards, stakes: one page each


async def test_koios_unknown_pool() -> None:
    with FakeApi() as api:
        _serve_koios(api)
        async with koios(api) as source:
            with pytest.raises(ApiNotFound, match="koios knows no pool pool1"):
                await source.fetch("pool1pu5jlj4q9w9jlxeu370a3c9myx47md5j5m2str0naunn2q3lkdy",
                                   _plans(range(300, 301), owner_rows()[0]["stake_address"]))
        assert api.requests("/pool_info")[0].body == {
            "_pool_bech32_ids": ["pool1pu5jlj4q9w9jlxeu370a3c9myx47md5j5m2str0naunn2q3lkdy"]}


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r.pop("active_stake"), "active_stake"),
    (lambda r: r.update(active_stake=6.4e12), "active_stake"),
    (lambda r: r.update(block_cnt="1"), "block_cnt"),
    (lambda r: r.update(epoch_no="211"), "epoch_no")])
async def test_koios_changed_shape(change: Any, field: str) -> None:
    owner = owner_rows()[0]["stake_address"]
    rows = koios_rows()[:3]
    change(rows[1])
    with FakeApi() as api:
        _serve_koios(api)
        api.faults = [Fault("/pool_history", body=rows)]
        async with koios(api) as source:
            with pytest.raises(ApiShapeError, match=f"pool_history item 1: field '{field}'"):
                await source.fetch(POOL, _plans(range(210, 213), owner))


def _fixture(name: str, index: int = 0) -> Any:
    return json.loads((REALDATA / "blockfrost" / name).read_text())[index]


async def test_blockfrost_real_fixtures() -> None:
    history = _fixture("pool-id-history.json")  # pool1pu5jlj4q… epochs 210-219
    pool = history["endpoints"][0].split("/")[1]
    accounts = _fixture("stake-address-history.json")  # stake1u9fzg77…, epochs 229-231
    owner = accounts["endpoints"][0].split("/")[1]
    with FakeApi(project_id=KEY) as api:
        api.blockfrost[f"/pools/{pool}/history"] = history["response"]
        api.blockfrost[f"/accounts/{owner}/history"] = accounts["response"]
        async with blockfrost(api) as source:
            got = await source.fetch(pool, _plans(range(210, 220), owner))
            later = await source.fetch(pool, _plans(range(229, 232), owner))
    for e, want in zip(got, history["response"], strict=True):
        assert (e.epoch, e.pool_stake, e.blocks_made, e.api_fee, e.api_rewards) == (
            want["epoch"], int(want["active_stake"]), want["blocks"], int(want["fees"]),
            int(want["rewards"]))
        assert e.leader_reward == 0  # the owner's rewards: 404, an account never seen
    by_epoch = {r["active_epoch"]: (r["pool_id"], int(r["amount"])) for r in accounts["response"]}
    assert [e.stakes for e in later] == [{cred_hex(owner, "t"): by_epoch[e]}
                                         for e in (229, 230, 231)]
    # fees = c + floor(m (rewards - c)) over the distributed rewards (docs/ledger.md §13.5)
    assert all(int(r["fees"]) == 340_000_000 + (int(r["rewards"]) - 340_000_000) * 49 // 1000
               for r in history["response"] if int(r["rewards"]))


async def test_blockfrost_pages_and_stops_past_the_last_epoch() -> None:
    """The recorded Koios values in Blockfrost's shape: 223 epochs, pages of 100."""
    listing = [{"epoch": r["epoch_no"], "blocks": r["block_cnt"],
                "active_stake": r["active_stake"], "active_size": 0.0,
                "delegators_count": r["delegator_cnt"], "rewards": "0", "fees": r["pool_fees"]}
               for r in koios_rows()]
    owner = owner_rows()[0]["stake_address"]
    with FakeApi(project_id=KEY) as api:
        api.blockfrost[f"/pools/{POOL}/history"] = listing
        async with blockfrost(api) as source:
            everything = await source.fetch(POOL, _plans(range(210, 433), owner))
            early = len(api.requests(f"/pools/{POOL}/history"))
            await source.fetch(POOL, _plans(range(250, 260), owner))
        pages = [dict(r.query) for r in api.requests(f"/pools/{POOL}/history")]
    assert [e.pool_stake for e in everything] == [int(r["active_stake"]) for r in listing]
    assert early == 3  # 100 + 100 + 23
    assert pages[3:] == [{"count": "100", "page": "1", "order": "asc"}]  # epoch 309 > 259


async def test_blockfrost_unknown_pool_and_changed_shape() -> None:
    owner = owner_rows()[0]["stake_address"]
    history = _fixture("pool-id-history.json")
    pool = history["endpoints"][0].split("/")[1]
    with FakeApi(project_id=KEY) as api:
        async with blockfrost(api) as source:
            with pytest.raises(ApiNotFound, match="blockfrost knows no pool"):
                await source.fetch(pool, _plans(range(210, 212), owner))
        broken = [dict(r) for r in history["response"]]
        broken[2]["blocks"] = "22"
        api.blockfrost[f"/pools/{pool}/history"] = broken
        async with blockfrost(api) as source:
            with pytest.raises(ApiShapeError, match="item 2: field 'blocks'"):
                await source.fetch(pool, _plans(range(210, 212), owner))


async def test_networks() -> None:
    with FakeApi(project_id=KEY) as api:
        api.koios_get["/genesis"] = lambda p: [{"networkmagic": "764824073",
                                               "networkid": "Mainnet"}]
        api.koios_get["/tip"] = lambda p: [{"epoch_no": 507}]
        api.blockfrost["/genesis"] = {"network_magic": 1}
        api.blockfrost["/epochs/latest"] = {"epoch": 200}
        async with koios(api) as k:
            net = await k.network()
        assert (net.magic, net.name, net.tip_epoch) == (764824073, "Mainnet", 507)
        async with blockfrost(api) as b:
            net = await b.network()
        assert (net.magic, net.tip_epoch) == (1, 200)
        api.faults = [Fault("/genesis", body={"network_magic": "one"})]
        async with blockfrost(api) as b:
            with pytest.raises(ApiShapeError, match="network_magic"):
                await b.network()
