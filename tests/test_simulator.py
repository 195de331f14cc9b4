"""The Ogmios simulator and chain builder, over real sockets.

Every message the simulator sends is validated against the official Ogmios schemas (v6.14 and
v7.0, patched as documented in ``tests/schema_check.py``); every block the builder makes is
validated against ``cardano.json#/definitions/Block``.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import orjson
import pytest
from jsonschema import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from indexer.chain.address import AddressError, cred_from_stake_address, stake_part
from indexer.demo.scenarios import build_demo_chain, demo_network
from indexer.simulator.chain import (
    ChainBuilder,
    EraSpec,
    Network,
    Pool,
    Wallet,
    block_point,
    deleg_cert,
    dereg_cert,
    mir_proposal,
    pool_reg_cert,
    pool_retire_cert,
    reg_cert,
    stake_vkh_bech32,
    treasury_transfer_proposal,
    treasury_withdrawal_proposal,
    utxo,
    vote_deleg_cert,
)
from indexer.simulator.server import Simulator
from tests.schema_check import (
    VERSIONS,
    validate_all_versions,
    validate_block,
    validate_definition,
    validator,
)

NET = Network()  # byron epochs 0-1 (100 slots), shelley from epoch 2 (200 slots), k = 10
ALICE, BOB, CAROL = Wallet("alice"), Wallet("bob"), Wallet("carol")
P1 = Pool("p1")


def make_chain(n: int, *, start: int = 0, step: int = 20, parent: dict | None = None,
               salt: str = "", cb: ChainBuilder | None = None) -> list[dict]:
    cb = cb or ChainBuilder(NET)
    slot0 = start if parent is None else max(start, parent["slot"] + 1)
    return cb.blocks(parent, range(slot0, slot0 + n * step, step), issuer=P1, salt=salt)


def check_block(block: dict) -> None:
    for version in VERSIONS:
        validate_block(block, version)


class Client:
    """A thin client that validates every message it receives against both schemas."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, method: str, params: dict | None = None, **kw: Any) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        msg.update(kw)
        await self.ws.send(orjson.dumps(msg).decode())

    async def recv(self) -> dict:
        msg = orjson.loads(await asyncio.wait_for(self.ws.recv(decode=False), 5))
        validate_all_versions(msg)
        return msg

    async def call(self, method: str, params: dict | None = None, id: Any = 1) -> dict:
        await self.send(method, params, id=id)
        return await self.recv()

    async def next_block(self, id: Any = None) -> dict:
        await self.send("nextBlock", id=id)
        return (await self.recv())["result"]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    s = Simulator(NET)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    assert sim.url
    async with connect(sim.url, max_size=None, compression=None) as ws:
        yield Client(ws)


# --- network and builder (pure) ----------------------------------------------------------


def test_network_arithmetic_and_era_summaries() -> None:
    assert [NET.epoch_of(s) for s in (0, 99, 100, 199, 200, 399, 400)] == [0, 0, 1, 1, 2, 2, 3]
    assert NET.first_slot(2) == 200 and NET.first_slot(5) == 800
    assert NET.era_of(199) == "byron" and NET.era_of(200) == "shelley"
    three = Network(eras=(EraSpec("shelley", 0, 100, 1000), EraSpec("alonzo", 3, 50, 1000),
                          EraSpec("conway", 5, 100, 2000)))
    assert three.first_slot(5) == 400 and three.era_of(399) == "alonzo"
    assert three.epoch_of(500) == 6 and three.relative_ms(500) == 600_000
    sums = three.era_summaries_json(450)
    assert [s["start"]["epoch"] for s in sums] == [0, 3, 5]
    assert sums[-1]["end"]["epoch"] > three.epoch_of(450)
    assert sums[1]["end"] == sums[2]["start"] == {"time": {"seconds": 400}, "slot": 400,
                                                    "epoch": 5}
    assert len(NET.era_summaries_json(0)) == 1  # Shelley is beyond the horizon at slot 0
    assert NET.era_summaries_json(None)[0]["end"]["epoch"] == 1
    for summary in sums + NET.era_summaries_json(1000):
        for version in VERSIONS:
            validate_definition(summary, "EraSummary", version)
    assert Network.two_era(byron_epochs=0).eras[0].name == "shelley"


def test_wallet_and_pool_keys() -> None:
    assert len(ALICE.payment) == len(ALICE.stake_hash) == 28
    assert ALICE.cred == b"\x00" + ALICE.stake_hash and ALICE.stake_hex == ALICE.stake_hash.hex()
    assert Wallet("alice") == ALICE and Wallet("alice").payment == ALICE.payment
    assert ALICE.payment != BOB.payment
    assert stake_part(ALICE.address(0)) == ALICE.cred
    assert stake_part(ALICE.address(1, other_payment=BOB.payment)) == ALICE.cred
    assert ALICE.address(1).startswith("addr1") and stake_part(ALICE.enterprise(0)) is None
    assert ALICE.stake_address(0).startswith("stake_test1")
    assert cred_from_stake_address(ALICE.stake_address(1), checked=True) == ALICE.cred
    assert P1.id.startswith("pool1") and len(P1.vkey) == len(P1.vrf) == 64
    assert len(P1.hash) == 28 and Pool("p1").id == P1.id != Pool("p2").id


def test_builder_blocks_are_schema_valid_and_deterministic() -> None:
    cb = ChainBuilder(NET)
    b0 = cb.block(None, 0)
    b1 = cb.block(b0, 20)
    funding = cb.tx(inputs=[cb.genesis_input("alice")],
                    outputs=[(ALICE.address(0), 10_000_000), (ALICE.enterprise(0), 5_000_000),
                             (BOB.address(0), 2_000_000, {"ab" * 28: {"": 1, "cafe": 2}})],
                    certificates=[reg_cert(ALICE), reg_cert(BOB, deposit=2_000_000),
                                  deleg_cert(ALICE, P1), vote_deleg_cert(ALICE),
                                  pool_reg_cert(P1, owners=[ALICE, BOB], reward=CAROL,
                                                pledge=10**9, cost=340 * 10**6, margin="1/50",
                                                network_id=0, metadata_url="https://x.io/p"),
                                  pool_retire_cert(P1, 9), dereg_cert(CAROL)],
                    withdrawals={CAROL.stake_address(0): 5},
                    proposals=[mir_proposal({ALICE: 5, BOB: -3}),
                               treasury_transfer_proposal("reserves", 9)],
                    metadata={674: {"msg": ["hi"]}}, ttl=10_000)
    failed = cb.tx(inputs=[utxo(funding, 0)], outputs=[(BOB.address(0), 1)], valid=False,
                   collaterals=[utxo(funding, 1)], collateral_return=(ALICE.address(0), 4),
                   total_collateral=1)
    b2 = cb.block(b1, 200, [funding, failed], issuer=P1)
    for b in (b0, b1, b2):
        check_block(b)
    assert (b0["type"], b0["height"], b0["ancestor"]) == ("bft", 0, cb.genesis_hash)
    assert (b2["type"], b2["era"], b2["height"], b2["ancestor"]) == ("praos", "shelley", 2,
                                                                     b1["id"])
    assert b2["issuer"]["verificationKey"] == P1.vkey and "transactions" not in b1
    assert failed["spends"] == "collaterals" and funding["spends"] == "inputs"
    assert funding["id"] != cb.tx()["id"] != cb.tx()["id"]
    # Same parent, slot, txs, salt and issuer: same id; another salt, txs or issuer: another.
    assert cb.block(b1, 200, [funding, failed], P1)["id"] == b2["id"]
    assert cb.block(b1, 200, [funding, failed], P1, salt="x")["id"] != b2["id"]
    assert cb.block(b1, 200, [funding], P1)["id"] != b2["id"]
    assert cb.block(b1, 200, [funding, failed], Pool("p2"))["id"] != b2["id"]
    praos_first = ChainBuilder(Network.two_era(byron_epochs=0)).block(None, 5)
    check_block(praos_first)
    assert praos_first["ancestor"] == "genesis" and praos_first["height"] == 0
    with pytest.raises(ValueError):
        cb.block(b2, 200)


def test_conway_treasury_withdrawal_special_case() -> None:
    net = Network(eras=(EraSpec("conway", 0, 100, 1000),))
    cb = ChainBuilder(net)
    tx = cb.tx(inputs=[cb.genesis_input("x")], outputs=[(ALICE.address(0), 1)],
               proposals=[treasury_withdrawal_proposal({ALICE: 10, BOB: 0}, 0)])
    block = cb.block(None, 3, [tx])
    check_block(block)  # accepted by schema_check's explicit bech32 handling ...
    strict = validator("cardano.json#/definitions/Block", "v7.0")
    assert not strict.is_valid(block)  # ... but the strict schema rejects it (docs/ogmios.md §3.4)
    bad = orjson.loads(orjson.dumps(block))
    withdrawals = bad["transactions"][0]["proposals"][0]["action"]["withdrawals"]
    key = next(iter(withdrawals))
    withdrawals[key[:-1] + ("q" if key[-1] != "q" else "p")] = withdrawals.pop(key)
    with pytest.raises(AddressError):
        validate_block(bad)
    with pytest.raises(ValidationError):  # the Value quirk patch still rejects junk keys
        validate_definition({"ada": {"lovelace": 1}, "nope": {}}, "Value")


def test_genesis_and_demo_chain() -> None:
    for version in VERSIONS:
        validate_definition(NET.shelley_genesis_json(), "Genesis<Shelley>", version)
    for network in (demo_network(), NET):
        blocks = build_demo_chain(network)
        for b in blocks:
            check_block(b)
        assert all(c["ancestor"] == p["id"] for p, c in pairwise(blocks))
        txs = [t for b in blocks for t in b.get("transactions", [])]
        certs = [c["type"] for t in txs for c in t.get("certificates", [])]
        assert certs.count("stakePoolRegistration") == 2
        assert any(t["spends"] == "collaterals" for t in txs)
        assert any("withdrawals" in t for t in txs) and any("proposals" in t for t in txs)
        assert network.epoch_of(blocks[-1]["slot"]) >= 10
    assert build_demo_chain(demo_network())[-1]["era"] == "alonzo"


# --- chain-sync ----------------------------------------------------------------------------


async def test_intersection_and_pipelined_next_blocks(sim: Simulator, client: Client) -> None:
    chain = make_chain(150, step=5)
    sim.extend(*chain)
    r = await client.call("findIntersection", {"points": [block_point(chain[40]), "origin"]},
                          id="fi")
    assert r["id"] == "fi" and r["result"]["intersection"] == block_point(chain[40])
    assert r["result"]["tip"]["id"] == chain[-1]["id"]
    for i in range(100):
        await client.send("nextBlock", id=i)
    first = await client.recv()
    assert first["id"] == 0 and first["result"]["direction"] == "backward"
    assert first["result"]["point"] == block_point(chain[40])
    for i in range(1, 100):
        msg = await client.recv()
        assert msg["id"] == i and msg["method"] == "nextBlock"
        assert msg["result"]["block"] == chain[40 + i]
    await client.send("nextBlock")  # no id -> "id": null
    msg = await client.recv()
    assert msg["id"] is None and msg["result"]["block"]["id"] == chain[140]["id"]


async def test_fresh_connection_and_intersection_errors(sim: Simulator, client: Client) -> None:
    r = await client.next_block()
    assert r == {"direction": "backward", "point": "origin", "tip": "origin"}
    chain = make_chain(3)
    other = make_chain(2, salt="other")
    sim.extend(*chain)
    r = await client.call("findIntersection", {"points": [block_point(other[1])]})
    assert r["error"]["code"] == 1000 and r["error"]["data"]["tip"]["id"] == chain[-1]["id"]
    assert r["method"] == "findIntersection"
    wrong_slot = {"slot": chain[1]["slot"] + 1, "id": chain[1]["id"]}
    assert (await client.call("findIntersection", {"points": [wrong_slot]}))["error"]
    bad = await client.call("findIntersection", {"points": [{"slot": "x"}]})
    assert bad["error"]["code"] == -32602 and "method" not in bad
    for _ in range(4):  # 3 blocks (failed intersections leave the cursor): 1 request parks
        await client.send("nextBlock")
    for _ in range(3):
        assert (await client.recv())["result"]["direction"] == "forward"
    r = await client.call("findIntersection", {"points": ["origin"]})
    assert r["error"]["code"] == 1001


async def test_parked_requests_are_woken_by_extend(sim: Simulator, client: Client) -> None:
    chain = make_chain(4)
    sim.extend(*chain[:2])
    await client.call("findIntersection", {"points": [block_point(chain[1])]})
    assert (await client.next_block())["direction"] == "backward"
    for i in range(3):
        await client.send("nextBlock", id=i)
    await asyncio.sleep(0.05)
    sim.extend(chain[2])
    msg = await client.recv()
    assert msg["id"] == 0 and msg["result"]["block"]["id"] == chain[2]["id"]
    sim.extend(chain[3])
    msg = await client.recv()
    assert msg["id"] == 1 and msg["result"]["tip"]["id"] == chain[3]["id"]
    cb = ChainBuilder(NET)
    sim.fork(chain[3], cb.blocks(chain[3], [500]))
    assert (await client.recv())["result"]["block"]["slot"] == 500


async def test_fork_answers_backward_to_common_ancestor(sim: Simulator, client: Client) -> None:
    chain = make_chain(12)
    sim.extend(*chain)
    await client.call("findIntersection", {"points": ["origin"]})
    for _ in range(13):
        await client.next_block()
    branch = make_chain(4, parent=chain[8], salt="b")
    sim.fork(chain[8]["id"], branch)
    assert sim.tip == {"slot": branch[-1]["slot"], "id": branch[-1]["id"], "height": 12}
    r = await client.next_block()
    assert r["direction"] == "backward" and r["point"] == block_point(chain[8])
    assert r["tip"]["id"] == branch[-1]["id"]
    assert [(await client.next_block())["block"]["id"] for _ in range(4)] == [
        b["id"] for b in branch]
    # A client still before the fork point sees no rollback.
    async with connect(sim.url or "", max_size=None) as ws2:
        c2 = Client(ws2)
        await c2.call("findIntersection", {"points": [block_point(chain[2])]})
        assert (await c2.next_block())["direction"] == "backward"
        sim.fork(chain[5]["id"], make_chain(2, parent=chain[5], salt="c"))
        assert [(await c2.next_block())["direction"] for _ in range(5)] == ["forward"] * 5
    # Back to origin: the next answer is backward to origin.
    sim.fork(None, make_chain(2, salt="d"))
    r = await client.next_block()
    assert r["direction"] == "backward" and r["point"] == "origin"
    with pytest.raises(ValueError):
        sim.fork("00" * 32, [])
    with pytest.raises(ValueError):  # the new branch must start at the fork point
        sim.fork(sim.chain[0]["id"], make_chain(1, parent=chain[5], salt="e"))


async def test_reconnect_after_drop_connections(sim: Simulator) -> None:
    chain = make_chain(5)
    sim.extend(*chain)
    assert sim.url
    async with connect(sim.url) as ws:
        c = Client(ws)
        await c.call("findIntersection", {"points": [block_point(chain[2])]})
        await c.send("nextBlock")  # parks eventually
        await sim.drop_connections()
        with pytest.raises(ConnectionClosed):
            for _ in range(5):
                await c.recv()
                await c.send("nextBlock")
    async with connect(sim.url) as ws:
        c = Client(ws)
        r = await c.call("findIntersection", {"points": [block_point(chain[3])]})
        assert r["result"]["intersection"]["id"] == chain[3]["id"]
    assert sim.connections_total == 2 and sim.requests_total >= 2


async def test_inject_raw_and_drop_after(sim: Simulator, client: Client) -> None:
    sim.extend(*make_chain(2))
    await client.call("findIntersection", {"points": ["origin"]})
    for _ in range(4):
        await client.send("nextBlock")
    for _ in range(3):
        await client.recv()
    sim.inject_raw("this is not JSON")  # wakes the parked request
    assert await asyncio.wait_for(client.ws.recv(), 5) == "this is not JSON"
    sim.drop_after(1)
    await client.send("nextBlock")
    sim.extend(make_chain(1, start=100, parent=sim.tip_block)[0])
    await client.recv()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(client.ws.recv(), 5)


# --- ledger-state queries -----------------------------------------------------------------


async def test_acquire_and_queries(sim: Simulator, client: Client) -> None:
    chain = make_chain(30, step=20)  # slots 0..580: byron, then shelley from slot 200
    sim.extend(*chain)
    assert (await client.call("queryNetwork/tip"))["result"] == block_point(chain[-1])
    assert (await client.call("queryNetwork/blockHeight"))["result"] == 29
    assert (await client.call("queryNetwork/startTime"))["result"] == NET.system_start
    genesis = (await client.call("queryNetwork/genesisConfiguration", {"era": "shelley"}))
    assert genesis["result"]["securityParameter"] == NET.k
    assert (await client.call("queryNetwork/genesisConfiguration",
                              {"era": "byron"}))["error"]["code"] == 2004
    assert (await client.call("queryLedgerState/epoch"))["result"] == 3
    too_old = await client.call("acquireLedgerState", {"point": block_point(chain[18])})
    assert too_old["error"] == {"code": 2000, "message": "Failed to acquire requested point.",
                                "data": too_old["error"]["data"]}
    off_chain = make_chain(1, start=999, salt="z")[0]
    assert (await client.call("acquireLedgerState",
                              {"point": block_point(off_chain)}))["error"]["code"] == 2000
    assert (await client.call("acquireLedgerState", {"point": "origin"}))["error"]
    r = await client.call("acquireLedgerState", {"point": block_point(chain[19])}, id="a")
    assert r["result"] == {"acquired": "ledgerState", "point": block_point(chain[19])}
    assert (await client.call("queryLedgerState/tip"))["result"] == block_point(chain[19])
    assert (await client.call("queryLedgerState/epoch"))["result"] == 2
    sums = (await client.call("queryLedgerState/eraSummaries"))["result"]
    assert [s["start"]["epoch"] for s in sums] == [0, 2]
    seen: list[Any] = []
    sim.rewards_provenance = lambda epoch, block: seen.append((epoch, block["id"])) or {
        "totalStake": {"ada": {"lovelace": 5}}, "activeStake": {"ada": {"lovelace": 4}},
        "fees": {"ada": {"lovelace": 0}}, "incentives": {"ada": {"lovelace": 3}},
        "treasuryTax": {"ada": {"lovelace": 0}}, "totalRewards": {"ada": {"lovelace": 3}},
        "efficiency": "1/1", "stakePools": {P1.id: {
            "relativeStake": "1/2", "blocksMade": 1, "totalRewards": {"ada": {"lovelace": 3}},
            "leaderReward": {"ada": {"lovelace": 1}}, "delegators": []}}}
    r = await client.call("queryLedgerState/rewardsProvenance")
    assert seen == [(2, chain[19]["id"])] and P1.id in r["result"]["stakePools"]
    sim.reward_account_summaries = lambda creds, block: [
        {"from": "verificationKey", "credential": c, "stakePool": {"id": P1.id},
         "rewards": {"ada": {"lovelace": 7}}, "deposit": {"ada": {"lovelace": 2_000_000}}}
        for c in creds]
    r = await client.call("queryLedgerState/rewardAccountSummaries", {
        "keys": [ALICE.stake_address(0), BOB.stake_hex, stake_vkh_bech32(CAROL)]})
    assert [s["credential"] for s in r["result"]] == [ALICE.stake_hex, BOB.stake_hex,
                                                       CAROL.stake_hex]
    bad = await client.call("queryLedgerState/rewardAccountSummaries", {"keys": ["nope"]})
    assert bad["error"]["code"] == -32602
    assert (await client.call("queryLedgerState/stakePools"))["result"] == {}
    sim.stake_pools = lambda params: {
        p.id: {"id": p.id, "stake": {"ada": {"lovelace": 9}}} for p in (P1, Pool("p2"))}
    r = await client.call("queryLedgerState/stakePools",
                          {"stakePools": [{"id": P1.id}], "includeStake": True})
    assert r["result"] == {P1.id: {"id": P1.id, "stake": {"ada": {"lovelace": 9}}}}
    sim.expire_acquired()
    assert (await client.call("queryLedgerState/tip"))["error"]["code"] == 2003
    assert (await client.call("queryLedgerState/tip"))["result"] == block_point(chain[-1])
    await client.call("acquireLedgerState", {"point": block_point(chain[29])})
    assert (await client.call("releaseLedgerState"))["result"] == {"released": "ledgerState"}


async def test_byron_ledger_and_rpc_errors(sim: Simulator, client: Client) -> None:
    sim.extend(*make_chain(3))
    r = await client.call("queryLedgerState/rewardsProvenance")
    assert r["error"]["code"] == 2002 and r["method"] == "queryLedgerState/rewardsProvenance"
    assert (await client.call("queryLedgerState/tip"))["result"]["slot"] == 40
    r = await client.call("acquireLedgerState", {"point": "origin"})
    assert r["result"]["point"] == "origin"
    assert (await client.call("queryLedgerState/tip"))["result"] == "origin"
    r = await client.call("queryLedgerState/nonsense", id=[1, "x"])
    assert r["error"]["code"] == -32601 and r["id"] == [1, "x"] and "method" not in r
    await client.ws.send("{not json")
    r = await client.recv()
    assert r["error"]["code"] == -32700 and r["id"] is None
    await client.ws.send('{"method": "nextBlock"}')
    assert (await client.recv())["error"]["code"] == -32600


# --- /health --------------------------------------------------------------------------------


def _http_get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


async def test_health() -> None:
    sim = Simulator(NET, version="v6.11.0 (abc)")
    url = (await sim.start()).replace("ws://", "http://") + "/health"
    try:
        status, body = await asyncio.to_thread(_http_get, url)
        assert status == 200 and body["lastKnownTip"] == "origin"
        assert body["version"] == "v6.11.0 (abc)" and body["network"] == "testnet"
        assert body["lastTipUpdate"] is None and body["currentEra"] == "byron"
        sim.extend(*make_chain(12, step=30))
        status, body = await asyncio.to_thread(_http_get, url)
        assert body["lastKnownTip"]["height"] == 11 and body["currentEra"] == "shelley"
        assert (body["currentEpoch"], body["slotInEpoch"]) == (2, 130)
        assert body["connectionStatus"] == "connected" and body["networkSynchronization"] == 1
        assert set(body["metrics"]) >= {"activeConnections", "totalConnections",
                                        "sessionDurations", "totalMessages"}
        sim.network_synchronization = 0.5
        assert (await asyncio.to_thread(_http_get, url))[0] == 202
        sim.connection_status = "disconnected"
        assert (await asyncio.to_thread(_http_get, url))[0] == 500
    finally:
        await sim.stop()
