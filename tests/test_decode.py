"""indexer.chain.decode: the Ogmios test vectors, and hand-made blocks for every rule the decoder
applies (certificates, MIR/treasury proposals, phase-2-invalid transactions, v7 omissions,
address kinds, pointer normalisation, continuity fields, value ranges, malformed input and the
regressions of the fuzz findings; the fuzz itself is in test_decode_fuzz.py)."""

from __future__ import annotations

import contextlib
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycardano import Address
from pycardano.address import PointerAddress
from pycardano.hash import ScriptHash, VerificationKeyHash

from indexer.chain.address import (
    AddressError,
    _varuint,
    base_address,
    bech32_encode,
    cred_from_stake_address,
    enterprise_address,
    pointer_address,
    pool_bech32,
    pool_hash_from_bech32,
    pool_hash_of_vkey,
    stake_address,
    stake_part,
)
from indexer.chain.decode import _block as decode
from indexer.chain.decode import _certs as decode_certs
from indexer.chain.decode import _fields as decode_fields
from indexer.chain.decode import decode_block, decode_message
from indexer.chain.types import (
    Block,
    Cred,
    DecodeError,
    EpochBoundary,
    MirTransfer,
    Pointer,
    PoolHash,
    PoolRegistration,
    PoolRetirement,
    RollBackward,
    RollForward,
    StakeDelegation,
    StakeDeregistration,
    StakeRegistration,
    Tip,
    TreasuryWithdrawalProposal,
    TxIn,
    TxOut,
    Withdrawal,
)

VECTORS = sorted((Path(__file__).parent / "data/ogmios/vectors/NextBlockResponse").glob("*.json"))
SCHEMAS = Path(__file__).parent / "data/ogmios/schema"

# --- hand-made chain data -------------------------------------------------------------------

PAY = bytes(range(28))
KEY = Cred(b"\x00" + bytes(range(100, 128)))
SCRIPT = Cred(b"\x01" + bytes(range(200, 228)))
OTHER = Cred(b"\x00" + bytes(range(50, 78)))
BASE = base_address(PAY, KEY, 1)
BASE_SCRIPT_STAKE = base_address(PAY, SCRIPT, 1)
BASE_TESTNET = base_address(PAY, KEY, 0)
POINTER = Pointer(2498243, 27, 3)
POINTER_ADDR = pointer_address(PAY, POINTER, 1)
ENTERPRISE = enterprise_address(PAY, 1)
BYRON = "Ae2tdPwUPEZ6XjChW4WYxAUDiweb53LnZDE1kBuxuqHkS2sisuWtHqj4qr2"
REWARD = stake_address(KEY, 1)
REWARD_SCRIPT = stake_address(SCRIPT, 1)
POOL = PoolHash(bytes(range(1, 29)))
POOL_ID = pool_bech32(POOL)
ISSUER_VKEY = "5072bc798ed88defd451195bd385f7161ed841dab546996337667f0f52d88288"
BLOCK_ID = "0ffe6b8e48e001d7fd96eceda1f7237730a1d7cc4581401772bc0f5b616de1d5"
SLOT = 160000420
TIP = {"slot": 160000500, "id": "ab" * 32, "height": 12000015}


def ada(n: Any) -> dict[str, Any]:
    return {"ada": {"lovelace": n}}


def ref(n: int, index: int = 0) -> dict[str, Any]:
    return {"transaction": {"id": f"{n:064x}"}, "index": index}


def out(address: str, lovelace: Any = 2_000_000) -> dict[str, Any]:
    return {"address": address, "value": ada(lovelace)}


def tx(n: int = 1, **fields: Any) -> dict[str, Any]:
    t: dict[str, Any] = {
        "id": f"{n:064x}", "spends": "inputs", "inputs": [ref(1000 + n, 0), ref(2000 + n, 1)],
        "outputs": [out(BASE, 5_000_000), out(ENTERPRISE, 1_000_000)], "fee": ada(180_000),
        "signatories": [],
    }
    t.update(fields)
    return t


def block(*txs: dict[str, Any], kind: str = "praos", era: str = "conway") -> dict[str, Any]:
    b: dict[str, Any] = {"type": kind, "era": era, "id": BLOCK_ID, "ancestor": "cd" * 32,
                         "height": 12000010, "slot": SLOT, "size": {"bytes": 4096},
                         "issuer": {"verificationKey": ISSUER_VKEY}}
    if txs:
        b["transactions"] = list(txs)
    return b


def frame(blk: dict[str, Any]) -> bytes:
    msg = {"jsonrpc": "2.0", "method": "nextBlock", "id": None,
           "result": {"direction": "forward", "block": blk, "tip": TIP}}
    try:
        return orjson.dumps(msg)
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(msg, separators=(",", ":")).encode()


def one_tx(t: dict[str, Any], *, era: str = "conway", network_id: int | None = None) -> Any:
    b = decode_block(block(t, era=era), network_id)
    assert b is not None
    (decoded,) = b.transactions
    return decoded


def certs(*items: dict[str, Any]) -> tuple[Any, ...]:
    return one_tx(tx(certificates=list(items))).certificates


def bad(blk: dict[str, Any] | bytes, field: str | None = None, match: str = "") -> DecodeError:
    """Decode, expect a DecodeError naming block and slot (and the field, when given)."""
    with pytest.raises(DecodeError, match=match or None) as info:
        if isinstance(blk, bytes):
            decode_message(blk)
        else:
            decode_message(frame(blk))
    err = info.value
    assert BLOCK_ID in str(err) and str(SLOT) in str(err), str(err)
    if field is not None:
        assert err.field == field, str(err)
    return err


# --- Ogmios test vectors --------------------------------------------------------------------


def _check_against_json(raw: bytes, ev: Any) -> None:
    """Independent, simple re-reading of the vector's JSON, compared with the decoder."""
    res = json.loads(raw)["result"]
    if res["direction"] == "backward":
        assert isinstance(ev, RollBackward)
        assert (ev.point is None) == (res["point"] == "origin")
        return
    assert isinstance(ev, RollForward)
    blk = res["block"]
    if blk["type"] == "ebb":
        assert ev.block is None
        assert ev.ebb == EpochBoundary(blk["id"], blk["ancestor"])
        return
    b = ev.block
    assert isinstance(b, Block) and ev.ebb is None
    assert (b.id, b.ancestor, b.slot, b.height) == (blk["id"], blk["ancestor"], blk["slot"],
                                                    blk["height"])
    assert ev.tip == Tip(res["tip"]["slot"], res["tip"]["id"], res["tip"]["height"])
    if blk["type"] == "bft":
        assert b.era == "byron" and b.issuer is None
    else:
        assert b.era == blk["era"]
        assert b.issuer == pool_hash_of_vkey(blk["issuer"]["verificationKey"])
    assert len(b.transactions) == len(blk.get("transactions", []))
    for i, (t, jt) in enumerate(zip(b.transactions, blk.get("transactions", []), strict=True)):
        assert t.index == i and t.id.hex() == jt["id"]
        valid = jt["spends"] == "inputs"
        assert t.valid is valid
        refs = jt.get("inputs" if valid else "collaterals", [])
        assert t.inputs == tuple(TxIn(bytes.fromhex(r["transaction"]["id"]), r["index"])
                                 for r in refs)
        if valid:
            outs = list(enumerate(jt.get("outputs", [])))
        else:
            cr = jt.get("collateralReturn")
            outs = [(len(jt.get("outputs", [])), cr)] if cr else []
        expected = [(ix, o["value"]["ada"]["lovelace"]) for ix, o in outs
                    if stake_part(o["address"]) is not None]
        assert [(o.index, o.lovelace) for o in t.outputs] == expected
        if not valid:
            assert t.certificates == t.withdrawals == t.mir == t.treasury_withdrawals == ()
            continue
        kinds = {"stakeCredentialRegistration", "stakeCredentialDeregistration",
                 "stakePoolRegistration", "stakePoolRetirement"}
        expected_pos = [k for k, c in enumerate(jt.get("certificates", []))
                        if c["type"] in kinds
                        or (c["type"] == "stakeDelegation" and "stakePool" in c)]
        assert [c.cert_index for c in t.certificates] == expected_pos
        assert len(t.withdrawals) == len(jt.get("withdrawals", {}))
        hex_keys = [v["ada"]["lovelace"] for p in jt.get("proposals", [])
                    if p["action"]["type"] == "treasuryWithdrawals"
                    for v in p["action"]["withdrawals"].values()]
        assert [m.amount for m in t.mir] == hex_keys


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.name)
def test_vector_decodes(path: Path) -> None:
    # All 50 vectors are valid for our rules: no negative or > 64-bit amount where we forbid
    # one, every margin in [0, 1]. (Random data, but drawn inside the schema's ranges.)
    raw = path.read_bytes()
    ev = decode_message(raw)
    _check_against_json(raw, ev)
    if isinstance(ev, RollForward) and ev.block is not None:
        # Decoding the stdlib-parsed dict gives the same block (exact big ints or not).
        assert decode_block(json.loads(raw)["result"]["block"]) == ev.block


def test_vectors_are_all_there() -> None:
    assert len(VECTORS) == 50


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.name)
def test_frame_parse_is_exact(path: Path) -> None:
    """The orjson/stdlib switch never loses an integer (orjson alone does on some vectors)."""
    raw = path.read_bytes()
    assert decode._loads(raw) == json.loads(raw)


def test_orjson_alone_is_lossy_on_some_vectors() -> None:
    lossy = [p.name for p in VECTORS if orjson.loads(p.read_bytes()) != json.loads(p.read_bytes())]
    assert lossy  # the reason for the fallback; the frames above are exact anyway


def _vector_addresses() -> tuple[set[str], set[str]]:
    outputs: set[str] = set()
    rewards: set[str] = set()
    for path in VECTORS:
        blk = json.loads(path.read_bytes())["result"].get("block") or {}
        for t in blk.get("transactions", []):
            outputs.update(o["address"] for o in t.get("outputs", []))
            if "collateralReturn" in t:
                outputs.add(t["collateralReturn"]["address"])
            rewards.update(t.get("withdrawals", {}))
    return outputs, rewards


def test_stake_part_matches_pycardano_on_every_vector_address() -> None:
    outputs, rewards = _vector_addresses()
    kinds = set()
    for addr in outputs:
        ours = stake_part(addr)
        theirs = Address.from_primitive(addr).staking_part
        if isinstance(theirs, VerificationKeyHash | ScriptHash):
            tag = 1 if isinstance(theirs, ScriptHash) else 0
            assert ours == bytes((tag,)) + theirs.payload, addr
        elif isinstance(theirs, PointerAddress):
            assert ours == Pointer(theirs.slot, theirs.tx_index, theirs.cert_index), addr
        else:
            assert theirs is None and ours is None, addr
        kinds.add(type(ours).__name__)
    assert kinds == {"bytes", "Pointer", "NoneType"}  # the vectors exercise all three
    for addr in rewards:
        theirs = Address.from_primitive(addr).staking_part
        tag = 1 if isinstance(theirs, ScriptHash) else 0
        assert cred_from_stake_address(addr) == bytes((tag,)) + theirs.payload, addr


# --- blocks, frames, directions -------------------------------------------------------------


def test_praos_block() -> None:
    ev = decode_message(frame(block(tx(1), tx(2))))
    assert isinstance(ev, RollForward) and ev.block is not None
    b = ev.block
    assert (b.era, b.id, b.ancestor, b.slot, b.height) == (
        "conway", BLOCK_ID, "cd" * 32, SLOT, 12000010)
    assert ev.ebb is None
    assert b.issuer == pool_hash_of_vkey(ISSUER_VKEY)
    assert [t.index for t in b.transactions] == [0, 1]
    assert b.transactions[0].id == (1).to_bytes(32, "big")
    assert b.transactions[0].inputs == (TxIn((1001).to_bytes(32, "big"), 0),
                                        TxIn((2001).to_bytes(32, "big"), 1))
    assert ev.tip == Tip(TIP["slot"], TIP["id"], TIP["height"])


def test_block_without_transactions() -> None:
    b = decode_block(block())
    assert b is not None and b.transactions == ()


def test_byron_bft_block() -> None:
    byron_tx = {"id": "aa" * 32, "spends": "inputs", "inputs": [ref(7, 3)],
                "outputs": [out(BYRON, 1_000_000), out(BYRON, 2_000_000)], "signatories": []}
    b = decode_block(block(byron_tx, kind="bft", era="byron") | {"issuer": {
        "verificationKey": "ee" * 64}})
    assert b is not None
    assert (b.era, b.issuer) == ("byron", None)
    (t,) = b.transactions
    assert t.inputs == (TxIn((7).to_bytes(32, "big"), 3),) and t.outputs == ()


def test_ebb_has_no_block_but_its_id_and_ancestor() -> None:
    ebb = {"type": "ebb", "era": "byron", "id": BLOCK_ID, "ancestor": "cd" * 32, "height": 7}
    assert decode_block(ebb) is None
    ev = decode_message(frame(ebb))
    assert ev == RollForward(None, Tip(TIP["slot"], TIP["id"], TIP["height"]),
                             EpochBoundary(BLOCK_ID, "cd" * 32))
    # The EBB is checked like any block (no slot to name: it has none).
    for broken, field in ((ebb | {"ancestor": "genesis"}, "ancestor"),
                          ({k: v for k, v in ebb.items() if k != "ancestor"}, "ancestor"),
                          (ebb | {"ancestor": "CD" * 32}, "ancestor"),
                          (ebb | {"era": "shelley"}, "era"),
                          (ebb | {"id": BLOCK_ID[:-1]}, "id")):
        for decode_it in (lambda b: decode_message(frame(b)), decode_block):
            with pytest.raises(DecodeError) as info:
                decode_it(broken)
            assert info.value.field == field, str(info.value)


def test_backward_to_origin_and_to_point() -> None:
    def backward(point: Any, tip: Any) -> bytes:
        return orjson.dumps({"jsonrpc": "2.0", "method": "nextBlock", "id": 3, "result": {
            "direction": "backward", "point": point, "tip": tip}})

    assert decode_message(backward("origin", "origin")) == RollBackward(None, None)
    ev = decode_message(backward({"slot": 42, "id": BLOCK_ID}, TIP))
    assert isinstance(ev, RollBackward) and ev.point is not None
    assert (ev.point.slot, ev.point.id) == (42, BLOCK_ID)
    assert ev.tip == Tip(TIP["slot"], TIP["id"], TIP["height"])
    with pytest.raises(DecodeError, match="malformed point"):
        decode_message(backward({"slot": "42", "id": BLOCK_ID}, TIP))


def test_str_frame_is_accepted() -> None:
    assert decode_message(frame(block(tx())).decode()) == decode_message(frame(block(tx())))


# --- outputs --------------------------------------------------------------------------------


def test_outputs_staked_only_with_original_indices() -> None:
    t = one_tx(tx(outputs=[out(ENTERPRISE, 1), out(BASE, 2), out(BYRON, 3),
                           out(POINTER_ADDR, 4), out(BASE_SCRIPT_STAKE, 5)]))
    assert t.outputs == (TxOut(1, KEY, None, 2), TxOut(3, None, POINTER, 4),
                         TxOut(4, SCRIPT, None, 5))


@pytest.mark.parametrize("address", [
    REWARD,  # a reward account is not an output address
    bech32_encode("addr", b"\xe1" + KEY[1:]),  # ... not even under the addr hrp
    bech32_encode("addr", b"\x82" + bytes(56)),  # header 0x82 is Byron, never bech32
    bech32_encode("addr", b"\x03" + PAY + KEY[1:]),  # unused header bits set
    bech32_encode("addr", b"\x00" + PAY + KEY[1:]),  # network 0 under the mainnet hrp
    bech32_encode("addr_test", b"\x01" + PAY + KEY[1:]),  # and the other way round
    bech32_encode("addrx", b"\x01" + PAY + KEY[1:]),  # unknown hrp
    BASE[:-9] + "1111",  # no bech32 after the last "1"
    "addr" + BASE[4:].replace("1", "", 1),  # no separator
    BYRON + "0",  # "0" is not base58
    "", "Ae2 tdPwUPEZ", "addr1", "addr1qqqqqqq", "addr1qqqqqqqq", "addr_test1",
])
def test_malformed_output_addresses_are_errors(address: str) -> None:
    bad(block(tx(outputs=[out(BASE), out(address)])), "transactions[0].outputs[1]",
        "AddressError")


def test_multi_asset_output_keeps_lovelace() -> None:
    value = {"ada": {"lovelace": 1_500_000}, "0c" * 28: {"74657374": 100}}
    t = one_tx(tx(outputs=[{"address": BASE, "value": value, "datumHash": "00" * 32}]))
    assert t.outputs == (TxOut(0, KEY, None, 1_500_000),)


def test_v7_transaction_without_outputs() -> None:
    t = tx()
    del t["outputs"]
    decoded = one_tx(t)
    assert decoded.outputs == () and len(decoded.inputs) == 2


def test_ogmios_6_0_lovelace_form() -> None:
    t = one_tx(tx(outputs=[{"address": BASE, "value": {"lovelace": 7}}],
                  withdrawals={REWARD: {"lovelace": 9}},
                  certificates=[{"type": "stakeCredentialRegistration", "credential": KEY[1:].hex(),
                                 "deposit": {"lovelace": 2_000_000}}]))
    assert t.outputs == (TxOut(0, KEY, None, 7),)
    assert t.withdrawals == (Withdrawal(KEY, 9),)
    assert t.certificates == (StakeRegistration(0, KEY),)


def test_network_check() -> None:
    assert one_tx(tx(), network_id=1).outputs == (TxOut(0, KEY, None, 5_000_000),)
    # Enterprise/Byron outputs are not looked at, so they are not checked either.
    with pytest.raises(DecodeError, match="another network") as info:
        one_tx(tx(outputs=[out(BASE_TESTNET)]), network_id=1)
    assert info.value.field == "transactions[0].outputs[0].address"
    with pytest.raises(DecodeError, match="another network") as info:
        one_tx(tx(withdrawals={stake_address(KEY, 0): ada(1)}), network_id=1)
    assert info.value.field == f"transactions[0].withdrawals.{stake_address(KEY, 0)}"
    assert one_tx(tx(outputs=[out(BASE_TESTNET)]), network_id=0).outputs[0].cred == KEY


# --- phase-2-invalid transactions -----------------------------------------------------------


def test_phase2_invalid_transaction() -> None:
    t = one_tx(tx(
        spends="collaterals",
        collaterals=[ref(77, 2)],
        collateralReturn=out(BASE_SCRIPT_STAKE, 4_650_000),
        outputs=[out(BASE, 1), out(BASE, 2), out(ENTERPRISE, 3)],
        certificates=[{"type": "stakeCredentialRegistration", "from": "verificationKey",
                       "credential": KEY[1:].hex()}],
        withdrawals={REWARD: ada(5)},
        proposals=[{"action": {"type": "treasuryWithdrawals", "guardrails": None,
                               "withdrawals": {KEY[1:].hex(): ada(5)}}}],
    ))
    assert t.valid is False
    assert t.inputs == (TxIn((77).to_bytes(32, "big"), 2),)
    assert t.outputs == (TxOut(3, SCRIPT, None, 4_650_000),)  # index = len(outputs)
    assert t.certificates == t.withdrawals == t.mir == t.treasury_withdrawals == ()


def test_phase2_invalid_v7_without_outputs_and_without_return() -> None:
    t = tx(spends="collaterals", collaterals=[ref(77)], collateralReturn=out(BASE, 9))
    del t["outputs"]
    assert one_tx(t).outputs == (TxOut(0, KEY, None, 9),)
    t = one_tx(tx(spends="collaterals", collaterals=[ref(77)]))  # Alonzo: no return output
    assert (t.valid, t.outputs, len(t.inputs)) == (False, (), 1)
    # Enterprise collateral return: consumed collateral, nothing staked produced.
    assert one_tx(tx(spends="collaterals", collaterals=[ref(1)],
                     collateralReturn=out(ENTERPRISE))).outputs == ()


# --- certificates ---------------------------------------------------------------------------


def test_stake_registration_and_deregistration() -> None:
    got = certs(
        {"type": "stakeCredentialRegistration", "from": "verificationKey",
         "credential": KEY[1:].hex()},
        {"type": "stakeCredentialRegistration", "from": "script", "credential": SCRIPT[1:].hex(),
         "deposit": ada(2_000_000)},
        {"type": "stakeCredentialRegistration", "credential": OTHER[1:].hex()},  # before 6.6
        {"type": "stakeCredentialDeregistration", "from": "verificationKey",
         "credential": KEY[1:].hex(), "deposit": ada(2_000_000)},
        {"type": "stakeCredentialDeregistration", "from": "script",
         "credential": SCRIPT[1:].hex()},
    )
    assert got == (StakeRegistration(0, KEY), StakeRegistration(1, SCRIPT),
                   StakeRegistration(2, OTHER), StakeDeregistration(3, KEY),
                   StakeDeregistration(4, SCRIPT))


def test_delegation_and_vote_only_delegation() -> None:
    drep = {"type": "registered", "from": "verificationKey", "id": "01" * 28}
    got = certs(
        {"type": "stakeDelegation", "from": "verificationKey", "credential": KEY[1:].hex(),
         "stakePool": {"id": POOL_ID}},
        {"type": "stakeDelegation", "from": "script", "credential": SCRIPT[1:].hex(),
         "delegateRepresentative": drep},  # vote-only: nothing
        {"type": "stakeDelegation", "from": "script", "credential": SCRIPT[1:].hex(),
         "stakePool": {"id": POOL_ID}, "delegateRepresentative": {"type": "abstain"}},
    )
    assert got == (StakeDelegation(0, KEY, POOL), StakeDelegation(2, SCRIPT, POOL))


def test_delegation_to_nothing_is_an_error() -> None:
    cred = {"type": "stakeDelegation", "from": "verificationKey", "credential": KEY[1:].hex()}
    bad(block(tx(certificates=[cred])), "transactions[0].certificates[0].stakePool", "neither")
    bad(block(tx(certificates=[cred | {"stakePool": None,
                                       "delegateRepresentative": {"type": "abstain"}}])),
        "transactions[0].certificates[0].stakePool", "expected an object")


def test_conway_split_registration_and_delegation() -> None:
    # ConwayRegDelegCert comes out as two entries: registration first, then delegation.
    got = certs(
        {"type": "stakeCredentialRegistration", "from": "verificationKey",
         "credential": KEY[1:].hex(), "deposit": ada(2_000_000)},
        {"type": "stakeDelegation", "from": "verificationKey", "credential": KEY[1:].hex(),
         "stakePool": {"id": POOL_ID}, "delegateRepresentative": {"type": "noConfidence"}},
    )
    assert got == (StakeRegistration(0, KEY), StakeDelegation(1, KEY, POOL))


POOL_PARAMS: dict[str, Any] = {
    "id": POOL_ID,
    "vrfVerificationKeyHash": "cab21492375a34c8cb4e6ad78866c43908f191e730b7839d555d4529d2a7ce1b",
    "owners": [KEY[1:].hex(), OTHER[1:].hex()],
    "cost": ada(170_000_000),
    "margin": "1/50",
    "pledge": ada(100_000_000_000),
    "rewardAccount": REWARD_SCRIPT,
    "metadata": {"url": "https://example.com/p.json", "hash": "42" * 32},
    "relays": [{"type": "hostname", "hostname": "relay.example.com", "port": 3001},
               {"type": "ipAddress", "ipv4": "192.0.2.10", "port": 3001}],
}


def test_pool_registration_and_retirement() -> None:
    bare = {k: v for k, v in POOL_PARAMS.items() if k != "metadata"} | {"relays": [],
                                                                         "owners": []}
    got = certs({"type": "stakePoolRegistration", "stakePool": POOL_PARAMS},
                {"type": "stakePoolRetirement", "stakePool": {"id": POOL_ID,
                                                              "retirementEpoch": 560}},
                {"type": "stakePoolRegistration", "stakePool": bare})
    assert got[0] == PoolRegistration(
        cert_index=0, pool=POOL, vrf_key_hash=POOL_PARAMS["vrfVerificationKeyHash"],
        pledge=100_000_000_000, cost=170_000_000, margin=Fraction(1, 50),
        reward_account=SCRIPT, owners=(KEY, OTHER), metadata_url="https://example.com/p.json",
        metadata_hash="42" * 32, relays_json=orjson.dumps(POOL_PARAMS["relays"]))
    assert orjson.loads(got[0].relays_json) == POOL_PARAMS["relays"]
    assert got[1] == PoolRetirement(1, POOL, 560)
    reg = got[2]
    assert isinstance(reg, PoolRegistration)
    assert (reg.cert_index, reg.owners, reg.metadata_url, reg.metadata_hash,
            reg.relays_json) == (2, (), None, None, b"[]")


def test_huge_margin_is_exact() -> None:
    num, den = 2**65 + 1, 2**66 + 7
    (reg,) = certs({"type": "stakePoolRegistration",
                    "stakePool": POOL_PARAMS | {"margin": f"{num}/{den}"}})
    assert reg.margin == Fraction(num, den)
    # The same through a frame: the margin is a string, so no float can creep in.
    blk = block(tx(certificates=[{"type": "stakePoolRegistration",
                                  "stakePool": POOL_PARAMS | {"margin": f"{num}/{den}"}}]))
    ev = decode_message(frame(blk))
    assert isinstance(ev, RollForward) and ev.block is not None
    (via_frame,) = ev.block.transactions[0].certificates
    assert isinstance(via_frame, PoolRegistration) and via_frame.margin == Fraction(num, den)


def test_ignored_certificates() -> None:
    # Every known type of the schema's Certificate oneOf (v6.14 and v7.0) that touches no stake,
    # delegation or pool, plus the pre-6.3 name of constitutionalCommitteeDelegation.
    got = certs(
        {"type": "genesisDelegation", "issuer": {"id": "00" * 28},
         "delegate": {"id": "11" * 28, "vrfVerificationKeyHash": "22" * 32}},
        {"type": "constitutionalCommitteeDelegation", "member": {"id": "00" * 28,
                                                                 "from": "script"},
         "delegate": {"status": "none"}},
        {"type": "constitutionalCommitteeHotKeyRegistration", "member": {}, "hotKey": {}},
        {"type": "constitutionalCommitteeRetirement", "member": {"id": "00" * 28,
                                                                 "from": "script"}},
        {"type": "delegateRepresentativeRegistration", "delegateRepresentative": {},
         "deposit": ada(500_000_000)},
        {"type": "delegateRepresentativeUpdate", "delegateRepresentative": {}, "metadata": None},
        {"type": "delegateRepresentativeRetirement", "delegateRepresentative": {},
         "deposit": ada(500_000_000)},
        {"type": "stakeCredentialRegistration", "from": "verificationKey",
         "credential": KEY[1:].hex()},
    )
    assert got == (StakeRegistration(7, KEY),)  # positions count every entry


def _schema_certificate_types(version: str) -> set[str]:
    schema = json.loads((SCHEMAS / version / "cardano.json").read_bytes())
    return {t for variant in schema["definitions"]["Certificate"]["oneOf"]
            for t in variant["properties"]["type"]["enum"]}


@pytest.mark.parametrize("version", ["v6.14", "v7.0"])
def test_certificate_types_are_those_of_the_schema(version: str) -> None:
    known = set(decode_certs._CERTIFICATE_DECODERS) | decode_certs._IGNORED_CERTIFICATES
    assert known - _schema_certificate_types(version) == {
        "constitutionalCommitteeHotKeyRegistration"}  # pre-6.3 name, not in these schemas
    assert _schema_certificate_types(version) <= known


@pytest.mark.parametrize("kind", ["somethingNew", "stakeDelegations", "StakeDelegation",
                                  "stakePoolRegistraton", "moveInstantaneousRewards", ""])
def test_unknown_or_misspelt_certificate_type_is_an_error(kind: str) -> None:
    err = bad(block(tx(certificates=[
        {"type": "stakeCredentialRegistration", "credential": KEY[1:].hex()},
        {"type": kind, "credential": KEY[1:].hex(), "stakePool": {"id": POOL_ID}}])),
        "transactions[0].certificates[1].type", "unknown certificate type")
    assert repr(kind) in str(err)


# --- withdrawals and proposals --------------------------------------------------------------


def test_withdrawals() -> None:
    t = one_tx(tx(withdrawals={REWARD: ada(4_200_000), REWARD_SCRIPT: ada(0)}))
    assert t.withdrawals == (Withdrawal(KEY, 4_200_000), Withdrawal(SCRIPT, 0))


def test_pre_conway_mir_as_proposals() -> None:
    t = one_tx(tx(proposals=[
        {"action": {"type": "protocolParametersUpdate", "parameters": {}, "guardrails": None}},
        {"action": {"type": "treasuryWithdrawals", "guardrails": None, "withdrawals": {
            KEY[1:].hex(): ada(5_000_000), OTHER[1:].hex(): ada(-1000)}}},
        {"action": {"type": "treasuryTransfer", "source": "reserves", "target": "treasury",
                    "value": ada(10**12)}},
    ]), era="alonzo")
    assert t.mir == (MirTransfer(KEY, 5_000_000), MirTransfer(OTHER, -1000))
    assert t.treasury_withdrawals == () and t.certificates == ()


def test_mir_delta_range_is_i64() -> None:
    def mir(n: int) -> dict[str, Any]:
        return tx(proposals=[{"action": {"type": "treasuryWithdrawals", "guardrails": None,
                                         "withdrawals": {KEY[1:].hex(): ada(n)}}}])

    assert one_tx(mir(-(2**63))).mir == (MirTransfer(KEY, -(2**63)),)
    assert one_tx(mir(2**63 - 1)).mir == (MirTransfer(KEY, 2**63 - 1),)
    bad(block(mir(2**63)), f"transactions[0].proposals[0].action.withdrawals.{KEY[1:].hex()}"
                           ".ada.lovelace", "outside")


def test_conway_treasury_withdrawals_proposal() -> None:
    t = one_tx(tx(proposals=[
        {"action": {"type": "information"}, "deposit": ada(10**11), "returnAccount": REWARD},
        {"action": {"type": "treasuryWithdrawals", "guardrails": {"hash": "51" * 28},
                    "withdrawals": {REWARD_SCRIPT: ada(10**10), REWARD: ada(7)}},
         "deposit": ada(10**11), "returnAccount": REWARD,
         "metadata": {"url": "https://example.com/p.json", "hash": "91" * 32}},
    ]))
    assert t.treasury_withdrawals == (TreasuryWithdrawalProposal(1, SCRIPT, 10**10),
                                      TreasuryWithdrawalProposal(1, KEY, 7))
    assert t.mir == ()
    bad(block(tx(proposals=[{"action": {"type": "treasuryWithdrawals", "guardrails": None,
                                        "withdrawals": {REWARD: ada(-1)}}}])),
        f"transactions[0].proposals[0].action.withdrawals.{REWARD}.ada.lovelace")


# --- malformed input ------------------------------------------------------------------------


def test_non_json_frame() -> None:
    # A truncated frame: the block id and slot are still recovered for the message.
    raw = frame(block(tx()))
    err = bad(raw[: len(raw) // 2], None, "not valid JSON")
    assert (err.block_id, err.slot) == (BLOCK_ID, SLOT)
    with pytest.raises(DecodeError, match="not valid JSON") as info:
        decode_message(b'{"jsonrpc": "2.0", "result": {')
    assert info.value.block_id is None
    # Cut inside the slot number: no wrong slot is made up.
    cut = raw.index(str(SLOT).encode()) + 3
    with pytest.raises(DecodeError, match="not valid JSON") as info:
        decode_message(raw[:cut])
    assert (info.value.block_id, info.value.slot) == (BLOCK_ID, None)
    with pytest.raises(DecodeError, match="not a JSON object"):
        decode_message(b"[1, 2]")


def test_error_frame() -> None:
    raw = orjson.dumps({"jsonrpc": "2.0", "method": "nextBlock", "id": 1,
                        "error": {"code": -32603, "message": "internal error"}})
    with pytest.raises(DecodeError, match="-32603: internal error"):
        decode_message(raw)


def test_unknown_direction() -> None:
    raw = orjson.dumps({"jsonrpc": "2.0", "result": {"direction": "sideways"}})
    with pytest.raises(DecodeError, match="sideways"):
        decode_message(raw)


def test_string_where_int_expected() -> None:
    err = bad(block(tx(outputs=[out(BASE, "12")])),
              "transactions[0].outputs[0].value.ada.lovelace", "expected an integer")
    assert "str" in str(err)
    bad(block(tx(inputs=[ref(1), {"transaction": {"id": "00" * 32}, "index": "1"}])),
        "transactions[0].inputs[1]")
    bad(block(tx(), tx(2, certificates=[{"type": "stakePoolRetirement", "stakePool": {
        "id": POOL_ID, "retirementEpoch": "560"}}])),
        "transactions[1].certificates[0].stakePool.retirementEpoch")
    blk = block(tx())
    blk["slot"] = str(SLOT)
    with pytest.raises(DecodeError, match="malformed slot") as info:
        decode_message(frame(blk))
    assert BLOCK_ID in str(info.value)


def test_negative_and_out_of_range_amounts() -> None:
    bad(block(tx(outputs=[out(ENTERPRISE), out(BASE, -1)])),
        "transactions[0].outputs[1].value.ada.lovelace", "outside")
    bad(block(tx(outputs=[out(BASE), out(BASE, 2**63)])),
        "transactions[0].outputs[1].value.ada.lovelace", "outside")
    bad(block(tx(withdrawals={REWARD: ada(-5)})),
        f"transactions[0].withdrawals.{REWARD}.ada.lovelace", "outside")
    bad(block(tx(certificates=[{"type": "stakePoolRegistration",
                                "stakePool": POOL_PARAMS | {"pledge": ada(-1)}}])),
        "transactions[0].certificates[0].stakePool.pledge.ada.lovelace", "outside")
    bad(block(tx(spends="collaterals", collaterals=[ref(1)],
                 collateralReturn={"address": BASE, "value": {"lovelace": -3}})),
        "transactions[0].collateralReturn.value.lovelace", "outside")


def test_amount_beyond_64_bits_through_the_exact_parser() -> None:
    # 2**64 would be a float under orjson; the stdlib fallback keeps it an exact int, so the
    # error is a range error, not a type error.
    raw = frame(block(tx(outputs=[out(BASE, 1)]))).replace(b'"lovelace":1}', b'"lovelace":'
                                                             + str(2**64).encode() + b"}")
    err = bad(raw, "transactions[0].outputs[0].value.ada.lovelace", "outside")
    assert str(2**64) in str(err)


def test_big_metadata_integers_are_fine() -> None:
    t = tx()
    t["metadata"] = {"hash": "00" * 32, "labels": {"1": {"json": {"n": 0}}}}
    raw = frame(block(t)).replace(b'"n":0', b'"n":-' + str(2**64 - 1).encode())
    assert decode._has_big_int(raw)
    ev = decode_message(raw)
    assert isinstance(ev, RollForward) and ev.block is not None
    assert ev.block.transactions[0].outputs == (TxOut(0, KEY, None, 5_000_000),)


def test_float_and_bool_amounts() -> None:
    bad(block(tx(outputs=[out(BASE, 1.5)])), "transactions[0].outputs[0].value.ada.lovelace",
        "float")
    bad(block(tx(outputs=[out(BASE, True)])), "transactions[0].outputs[0].value.ada.lovelace",
        "bool")
    bad(block(tx(withdrawals={REWARD: ada(2.0)})),
        f"transactions[0].withdrawals.{REWARD}.ada.lovelace", "float")


def test_bad_margins() -> None:
    def with_margin(m: Any) -> dict[str, Any]:
        return block(tx(certificates=[{"type": "stakePoolRegistration",
                                       "stakePool": POOL_PARAMS | {"margin": m}}]))

    field = "transactions[0].certificates[0].stakePool.margin"
    bad(with_margin("1/0"), field, "zero denominator")
    bad(with_margin("3/2"), field, "above 1")
    bad(with_margin("-1/2"), field, "malformed ratio")
    bad(with_margin("0.5"), field, "malformed ratio")
    bad(with_margin(0.5), field, "ratio string")


def test_other_malformed_shapes() -> None:
    bad(block(tx(outputs=[{"address": BASE}])), "transactions[0].outputs[0]", "KeyError")
    bad(block(tx(outputs=[{"address": BASE[:-9] + "1111", "value": ada(1)}])),
        "transactions[0].outputs[0]")
    bad(block(tx(id="00")), "transactions[0].id")
    bad(block(tx(spends="nothing")), "transactions[0].spends")
    bad(block(tx(certificates=[{"type": "stakeDelegation", "from": "ledger",
                                "credential": KEY[1:].hex(), "stakePool": {"id": POOL_ID}}])),
        "transactions[0].certificates[0].from")
    bad(block(tx(certificates=[{"type": "stakeDelegation", "credential": "abc",
                                "stakePool": {"id": POOL_ID}}])),
        "transactions[0].certificates[0].credential")
    bad(block(tx(certificates=[{"type": "stakeDelegation", "credential": KEY[1:].hex(),
                                "stakePool": {"id": REWARD}}])),
        "transactions[0].certificates[0].stakePool.id")
    bad(block(tx(certificates=[{"credential": KEY[1:].hex()}])),
        "transactions[0].certificates[0]", "without a type")
    bad(block(tx(withdrawals={POOL_ID: ada(1)})), f"transactions[0].withdrawals.{POOL_ID}")
    bad(block(tx(proposals=[{"action": {"type": "treasuryWithdrawals",
                                        "withdrawals": {"xyz": ada(1)}}}])),
        "transactions[0].proposals[0].action.withdrawals.xyz")
    missing = tx()
    del missing["inputs"]
    bad(block(missing), "transactions[0]", "inputs")
    bad(block(tx()) | {"type": "weird"}, "type")
    bad(block(tx()) | {"issuer": {}}, "issuer.verificationKey")


# --- property: amounts ----------------------------------------------------------------------


@given(st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                 st.integers(min_value=2**63 - 3, max_value=2**63 + 3)))
def test_output_amount_range(n: int) -> None:
    blk = block(tx(outputs=[out(BASE, n)]))
    if 0 <= n < 2**63:
        assert one_tx(tx(outputs=[out(BASE, n)])).outputs == (TxOut(0, KEY, None, n),)
        ev = decode_message(frame(blk))
        assert isinstance(ev, RollForward) and ev.block is not None
        assert ev.block.transactions[0].outputs == (TxOut(0, KEY, None, n),)
    else:
        with pytest.raises(DecodeError, match="outside"):
            decode_block(blk)


def test_reward_address_helpers_agree() -> None:
    # The decoder relies on stake1u… being key-based and stake17… script-based.
    assert REWARD.startswith("stake1u") and REWARD_SCRIPT.startswith("stake17")
    assert bech32_encode("stake", b"\xe1" + KEY[1:]) == REWARD


@given(st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                 st.integers(min_value=-(2**64) - 5, max_value=-(2**63) + 5),
                 st.integers(min_value=2**64 - 5, max_value=2**64 + 5)),
       st.sampled_from(['[{}]', '{{"k":{}}}', '{{"k": {}}}', '[1,\n {}]']))
def test_big_int_guard_matches_orjson_loss(n: int, template: str) -> None:
    raw = template.format(n).encode()
    parsed = orjson.loads(raw)
    value = parsed["k"] if isinstance(parsed, dict) else parsed[-1]
    assert decode._has_big_int(raw) == (type(value) is float)  # float: orjson lost the int
    exact = decode._loads(raw)
    assert (exact["k"] if isinstance(exact, dict) else exact[-1]) == n
    assert type(exact["k"] if isinstance(exact, dict) else exact[-1]) is int


# --- eras, block types, continuity fields ---------------------------------------------------


def test_eras_are_those_of_the_schema() -> None:
    v7 = json.loads((SCHEMAS / "v7.0/cardano.json").read_bytes())["definitions"]["Era"]["enum"]
    v6 = json.loads((SCHEMAS / "v6.14/cardano.json").read_bytes())["definitions"]["Era"]["enum"]
    assert list(decode.ERAS) == v7 and set(v6) < set(v7)
    for era in decode.ERAS[1:]:
        b = decode_block(block(tx(), era=era))
        assert b is not None and b.era == era
    b = decode_block(block(tx(), kind="bft", era="byron"))
    assert b is not None and (b.era, b.issuer) == ("byron", None)


@pytest.mark.parametrize("era", ["foo", "Conway", "conway ", "", "byron", None, 7, ["conway"],
                                 {"name": "conway"}])
def test_unknown_era_is_an_error(era: Any) -> None:
    blk = block(tx())
    if era is None:
        del blk["era"]
    else:
        blk["era"] = era
    bad(blk, "era", "not a Praos era" if era == "byron" else "unknown era")


@pytest.mark.parametrize("era", ["shelley", "conway", None, "Byron"])
def test_bft_block_must_be_byron(era: Any) -> None:
    blk = block(kind="bft", era="byron")
    if era is None:
        del blk["era"]
    else:
        blk["era"] = era
    bad(blk, "era", "not byron")


def test_ancestor() -> None:
    b = decode_block(block() | {"ancestor": "genesis"})  # a chain that starts in Shelley
    assert b is not None and b.ancestor == "genesis"
    for ancestor in (None, "", "genesis ", "Genesis", "CD" * 32, "cd" * 31, "cd" * 33,
                     "zz" * 32, 5, ["cd" * 32]):
        blk = block()
        if ancestor is None:
            del blk["ancestor"]
        else:
            blk["ancestor"] = ancestor
        bad(blk, "ancestor", "malformed ancestor")
    # Byron blocks always have a hash: the first one's ancestor is the genesis hash.
    bad(block(kind="bft", era="byron") | {"ancestor": "genesis"}, "ancestor")


def test_block_and_tip_ids_are_lowercase_hex() -> None:
    # The ids are compared as strings (ancestor continuity, rollback points).
    with pytest.raises(DecodeError) as info:
        decode_block(block() | {"id": BLOCK_ID.upper()})
    assert info.value.field == "id"
    with pytest.raises(DecodeError, match="malformed tip"):
        decode_message(orjson.dumps({"result": {"direction": "forward", "block": block(),
                                                "tip": TIP | {"id": "AB" * 32}}}))


def test_demo_chain_continuity_fields() -> None:
    from indexer.demo.scenarios import build_demo_chain, demo_network

    raw = build_demo_chain(demo_network())
    decoded = [decode_block(b) for b in raw]
    assert all(b is not None for b in decoded)
    assert [b.ancestor for b in decoded[1:] if b] == [b.id for b in decoded[:-1] if b]
    # The simulator sends spends on every transaction (required since Ogmios v6).
    txs = [t for b in raw for t in b.get("transactions", [])]
    assert txs and all(t["spends"] in ("inputs", "collaterals") for t in txs)


def test_issuer_key_must_be_32_bytes() -> None:
    bad(block() | {"issuer": {"verificationKey": ISSUER_VKEY[:-2] + " 8"}},
        "issuer.verificationKey")
    bad(block() | {"issuer": {"verificationKey": "zz" * 32}}, "issuer.verificationKey")


# --- transactions: spends, lists, ids -------------------------------------------------------


def test_spends_is_required() -> None:
    missing = tx()
    del missing["spends"]
    bad(block(missing), "transactions[0].spends", "no spends")
    # The case that matters: a phase-2-invalid transaction without spends was applied as valid.
    invalid = tx(collaterals=[ref(77)], collateralReturn=out(BASE, 9))
    del invalid["spends"]
    bad(block(tx(), invalid), "transactions[1].spends", "no spends")
    bad(block(tx(spends=None)), "transactions[0].spends", "unknown spends")
    bad(block(tx(spends=["inputs"])), "transactions[0].spends", "unknown spends")


@pytest.mark.parametrize(("field", "value"), [
    ("inputs", {}), ("inputs", ""), ("inputs", 0), ("inputs", None), ("outputs", {}),
    ("outputs", 0), ("outputs", None), ("certificates", 0), ("certificates", {}),
    ("certificates", None), ("withdrawals", []), ("withdrawals", 0), ("withdrawals", None),
    ("proposals", {}), ("proposals", ""), ("proposals", None),
])
def test_wrong_typed_lists_are_errors_even_when_empty(field: str, value: Any) -> None:
    # Falsy wrong types ({} for a list, 0, "", null) used to read as "nothing there".
    err = bad(block(tx(**{field: value})))
    assert err.field is not None and err.field.startswith(f"transactions[0].{field}"), str(err)


def test_wrong_typed_collaterals() -> None:
    for value in ({}, 0, None, ""):
        bad(block(tx(spends="collaterals", collaterals=value)), "transactions[0].collaterals")


def test_transactions_must_be_a_list() -> None:
    for value in (5, "abc", {"0": tx()}, None, True):
        bad(block() | {"transactions": value}, "transactions", "expected a list")


def test_ids_with_whitespace_or_wrong_length() -> None:
    # bytes.fromhex skips whitespace: a 64-character id with a space would be 31 bytes.
    spaced = "00" * 30 + "0 01"
    bad(block(tx(id=spaced)), "transactions[0].id")
    bad(block(tx(inputs=[{"transaction": {"id": spaced}, "index": 0}])),
        "transactions[0].inputs[0]")
    bad(block(tx(inputs=[{"transaction": {"id": "00" * 33}, "index": 0}])),
        "transactions[0].inputs[0]")


def test_input_index_range() -> None:
    top = 2**63 - 1
    t = one_tx(tx(inputs=[ref(1, top)]))
    assert t.inputs == (TxIn((1).to_bytes(32, "big"), top),)
    bad(block(tx(inputs=[ref(1, 2**63)])), "transactions[0].inputs[0]", "malformed output ref")
    bad(block(tx(inputs=[ref(1, -1)])), "transactions[0].inputs[0]")
    bad(block(tx(inputs=[ref(1, True)])), "transactions[0].inputs[0]")
    bad(block(tx(spends="collaterals", collaterals=[ref(1, 2**63)])),
        "transactions[0].collaterals[0]")
    # Through a frame: 2**64 goes to the exact parser, still a range error.
    raw = frame(block(tx(inputs=[ref(1, 7)]))).replace(b'"index":7', b'"index":' +
                                                         str(2**64).encode())
    bad(raw, "transactions[0].inputs[0]")


# --- amounts in every output ----------------------------------------------------------------


def test_lovelace_of_outputs_without_stake_is_checked() -> None:
    for address in (ENTERPRISE, BYRON):
        bad(block(tx(outputs=[out(BASE), out(address, -1)])),
            "transactions[0].outputs[1].value.ada.lovelace", "outside")
        bad(block(tx(outputs=[out(address, 2**63)])),
            "transactions[0].outputs[0].value.ada.lovelace", "outside")
        bad(block(tx(outputs=[out(address, "1")])),
            "transactions[0].outputs[0].value.ada.lovelace", "expected an integer")
        bad(block(tx(outputs=[{"address": address}])), "transactions[0].outputs[0]", "value")
    # The collateral return, staked or not, of an invalid transaction ...
    bad(block(tx(spends="collaterals", collaterals=[ref(1)],
                 collateralReturn=out(ENTERPRISE, -3))),
        "transactions[0].collateralReturn.value.ada.lovelace", "outside")
    # ... and of a valid one (not created, checked all the same) ...
    bad(block(tx(collateralReturn=out(BASE, 2**63))),
        "transactions[0].collateralReturn.value.ada.lovelace", "outside")
    # ... and the (not created) outputs of an invalid transaction.
    bad(block(tx(spends="collaterals", collaterals=[ref(1)],
                 outputs=[out(ENTERPRISE), out(BYRON, -1)])),
        "transactions[0].outputs[1].value.ada.lovelace", "outside")
    assert one_tx(tx(outputs=[out(BYRON, 2**63 - 1), out(BASE, 2**63 - 1)])).outputs == (
        TxOut(1, KEY, None, 2**63 - 1),)


def test_withdrawal_range_is_bigint() -> None:
    assert one_tx(tx(withdrawals={REWARD: ada(2**63 - 1)})).withdrawals == (
        Withdrawal(KEY, 2**63 - 1),)
    bad(block(tx(withdrawals={REWARD: ada(2**63)})),
        f"transactions[0].withdrawals.{REWARD}.ada.lovelace", "outside")


def test_pledge_and_cost_are_any_u64() -> None:
    (reg,) = certs({"type": "stakePoolRegistration",
                    "stakePool": POOL_PARAMS | {"pledge": ada(2**63 + 1),
                                                "cost": ada(2**64 - 1)}})
    assert isinstance(reg, PoolRegistration)
    assert (reg.pledge, reg.cost) == (2**63 + 1, 2**64 - 1)
    for name in ("pledge", "cost"):
        bad(block(tx(certificates=[{"type": "stakePoolRegistration",
                                    "stakePool": POOL_PARAMS | {name: ada(2**64)}}])),
            f"transactions[0].certificates[0].stakePool.{name}.ada.lovelace", "outside")


def test_retirement_epoch_range() -> None:
    def retire(epoch: Any) -> dict[str, Any]:
        return {"type": "stakePoolRetirement",
                "stakePool": {"id": POOL_ID, "retirementEpoch": epoch}}

    assert certs(retire(2**31 - 1)) == (PoolRetirement(0, POOL, 2**31 - 1),)
    field = "transactions[0].certificates[0].stakePool.retirementEpoch"
    bad(block(tx(certificates=[retire(2**31)])), field, "outside")
    bad(block(tx(certificates=[retire(-1)])), field, "outside")
    bad(block(tx(certificates=[retire(None)])), field, "unsigned integer")


def test_vrf_key_hash_is_64_hex() -> None:
    for vrf in ("cab2", "CA" * 32, "zz" * 32, None, 5):
        bad(block(tx(certificates=[{"type": "stakePoolRegistration",
                                    "stakePool": POOL_PARAMS | {"vrfVerificationKeyHash": vrf}}])),
            "transactions[0].certificates[0].stakePool.vrfVerificationKeyHash")


def test_unknown_governance_action_is_an_error() -> None:
    # A misspelt treasuryWithdrawals would otherwise lose a MIR silently.
    for kind in ("treasuryWithdrawal", "somethingNew", None, 5):
        bad(block(tx(proposals=[{"action": {"type": "information"}},
                                {"action": {"type": kind,
                                            "withdrawals": {KEY[1:].hex(): ada(5)}}}])),
            "transactions[0].proposals[1].action.type", "unknown governance action")


# --- pointer addresses ----------------------------------------------------------------------


def _pointer_addr(slot: int, tx_ix: int, cert_ix: int, *, tail: bytes = b"",
                  network_id: int = 1) -> str:
    """A pointer address with arbitrary (even > 64-bit) numbers and optional trailing bytes."""
    body = bytes((0x40 | network_id,)) + PAY + _varuint(slot) + _varuint(tx_ix)
    body += _varuint(cert_ix) + tail
    return bech32_encode("addr" if network_id else "addr_test", body)


def _pycardano_pointer(addr: str) -> Pointer:
    theirs = Address.from_primitive(addr).staking_part
    assert isinstance(theirs, PointerAddress)
    return Pointer(theirs.slot, theirs.tx_index, theirs.cert_index)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1), st.integers(0, 2**16 - 1),
       st.sampled_from([0, 1]))
def test_pointer_in_range_matches_pycardano(slot: int, tx_ix: int, cert_ix: int,
                                            network_id: int) -> None:
    addr = _pointer_addr(slot, tx_ix, cert_ix, network_id=network_id)
    assert stake_part(addr) == _pycardano_pointer(addr) == Pointer(slot, tx_ix, cert_ix)
    assert addr == pointer_address(PAY, Pointer(slot, tx_ix, cert_ix), network_id)


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_pointer_u64_is_pycardano_normalised(slot: int, tx_ix: int, cert_ix: int) -> None:
    # pycardano reads the numbers exactly and never normalises; below 2^64 the ledger reads
    # the same numbers, then mkPtrNormalized zeroes the whole pointer if one does not fit.
    addr = _pointer_addr(slot, tx_ix, cert_ix)
    theirs = _pycardano_pointer(addr)
    assert theirs == Pointer(slot, tx_ix, cert_ix)
    fits = slot < 2**32 and tx_ix < 2**16 and cert_ix < 2**16
    assert stake_part(addr) == (theirs if fits else Pointer(0, 0, 0))


@pytest.mark.parametrize(("numbers", "expected"), [
    ((2**32 - 1, 2**16 - 1, 2**16 - 1), (2**32 - 1, 2**16 - 1, 2**16 - 1)),  # the maxima
    ((2**32, 9, 4), (0, 0, 0)),  # slot beyond Word32: the whole pointer, not just the slot
    ((12, 2**16, 4), (0, 0, 0)),
    ((12, 9, 2**16), (0, 0, 0)),
    ((2**64 - 1, 1221092, 2), (0, 0, 0)),  # on mainnet
    # Each number is a Word64: bits beyond 64 are shifted out (decodeVariableLengthWord64).
    ((2**64 + 5, 9, 4), (5, 9, 4)),
    ((7 * 2**64 + 2**32 - 1, 2**64, 3 * 2**70 + 1), (2**32 - 1, 0, 1)),
    ((2**70 + 2**40, 1, 1), (0, 0, 0)),  # wraps to 2^40: still beyond Word32
])
def test_pointer_normalisation(numbers: tuple[int, int, int],
                               expected: tuple[int, int, int]) -> None:
    addr = _pointer_addr(*numbers)
    assert stake_part(addr) == Pointer(*expected)
    t = one_tx(tx(outputs=[out(ENTERPRISE), out(addr, 7)]))
    assert t.outputs == (TxOut(1, None, Pointer(*expected), 7),)


def test_pointer_trailing_bytes_are_ignored_and_truncation_is_an_error() -> None:
    # Before Babbage the ledger cropped bytes after the pointer (Babbage rejects them).
    assert stake_part(_pointer_addr(5, 6, 7, tail=b"\x01\x02")) == Pointer(5, 6, 7)
    body = bytes((0x41,)) + PAY + _varuint(5) + _varuint(6)
    for cut in (body, body + b"\x81", bytes((0x41,)) + PAY, body[:20]):
        addr = bech32_encode("addr", cut)
        with pytest.raises(AddressError):
            stake_part(addr)
        bad(block(tx(outputs=[out(addr)])), "transactions[0].outputs[0]", "AddressError")


# --- the fuzz findings (regressions) --------------------------------------------------------


def _nested(depth: int, leaf: str = "0") -> str:
    return "[" * depth + leaf + "]" * depth


def test_deep_nesting_beyond_the_limit_is_a_decode_error() -> None:
    base = frame(block(tx())).decode()
    # Beyond DEPTH_LIMIT (no valid transaction nests that deep), on the fast path and on the
    # dict path (orjson refuses 1024 levels, the stdlib parser recurses out near 1000).
    for depth in (100_000,):
        for leaf in ("0", str(2**64)):
            raw = base.replace('"signatories":[]', f'"signatories":{_nested(depth, leaf)}')
            with pytest.raises(DecodeError, match="not valid JSON"):
                decode_message(raw.encode())
            with pytest.raises(DecodeError, match="not valid JSON"):
                decode.decode_message(raw.encode())
    with pytest.raises(DecodeError, match="not valid JSON"):
        decode_message(b"[" * 200_000)


def test_deep_metadata_does_not_stop_the_daemon() -> None:
    """A 16 kB transaction can nest its metadata ~16,000 levels: the fast path skips it
    without building it (the dict path, orjson or stdlib, could not parse it at all)."""
    for depth in (1100, 16_500):
        for leaf in ("0", str(2**64)):
            meta = f'"metadata":{{"hash":"{"00" * 32}","labels":{{"1":{{"json":'
            meta += _nested(depth, leaf) + "}}}"
            raw = frame(block(tx())).decode().replace('"signatories":[]',
                                                      meta + ',"signatories":[]')
            ev = decode_message(raw.encode())
            assert isinstance(ev, RollForward) and ev.block is not None
            assert len(ev.block.transactions) == 1
            with pytest.raises(DecodeError, match="not valid JSON"):
                decode.decode_message(raw.encode())


def test_error_messages_of_deeply_nested_values() -> None:
    # _show used repr(), which recursed into RecursionError on such a value.
    deep: Any = 0
    for _ in range(100_000):
        deep = [deep]
    assert len(decode_fields._show(deep)) < 60
    assert len(decode_fields._show({"k": "x" * 10**6})) < 60
    # Through frames: 1000 levels (orjson parses up to 1024) in fields that are shown.
    marker, nested = '"NESTED"', _nested(1000).encode()
    for blk, field in ((block(tx()) | {"era": "NESTED"}, "era"),
                       (block(tx()) | {"ancestor": "NESTED"}, "ancestor"),
                       (block(tx(spends="NESTED")), "transactions[0].spends"),
                       (block(tx(id="NESTED")), "transactions[0].id"),
                       (block(tx(outputs=[out(BASE, "NESTED")])),
                        "transactions[0].outputs[0].value.ada.lovelace"),
                       (block(tx(certificates=[{"type": "NESTED"}])),
                        "transactions[0].certificates[0]")):
        bad(frame(blk).replace(marker.encode(), nested), field)
    for msg, match in (({"error": {"code": "NESTED", "message": "NESTED"}}, "Ogmios error"),
                       ({"error": "NESTED"}, "Ogmios error"),
                       ({"result": {"direction": "NESTED"}}, "unknown direction"),
                       ({"result": "NESTED"}, "no result")):
        with pytest.raises(DecodeError, match=match):
            decode_message(orjson.dumps(msg).replace(marker.encode(), nested))


@pytest.mark.parametrize("char", ["-", "+", "_", " ", "\t", "b", "I", "O", "Q", "é", "1"])
def test_non_bech32_characters_are_errors(char: str) -> None:
    # int(…, 32) on untrusted text: "-" gave a negative number (OverflowError in to_bytes),
    # "_", "+" and whitespace were accepted, and str.translate left "b"/"i"/"o" and upper case
    # in place as (wrong) base-32 digits.
    pos = BASE.index("1") + 1
    for at in (pos, pos + 5, len(BASE) - 1):  # after the separator, inside, in the checksum
        addr = BASE[:at] + char + BASE[at + 1:]
        if char == "1" and at != pos:  # another "1" only moves the separator
            continue
        with pytest.raises(AddressError):
            stake_part(addr)
        bad(block(tx(outputs=[out(addr)])), "transactions[0].outputs[0]", "AddressError")
    reward = REWARD[:7] + char + REWARD[8:]
    bad(block(tx(withdrawals={reward: ada(1)})), f"transactions[0].withdrawals.{reward}")
    pool = POOL_ID[:5] + char + POOL_ID[6:]
    bad(block(tx(certificates=[{"type": "stakeDelegation", "credential": KEY[1:].hex(),
                                "stakePool": {"id": pool}}])),
        "transactions[0].certificates[0].stakePool.id")


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=120)
       | st.text(alphabet="qpzry9x8gf2tvdw0s3jn54khce6mua7l1-_ +", max_size=120))
def test_address_parsers_raise_only_address_error(text: str) -> None:
    for prefix in ("", "addr1", "addr_test1", "stake1", "stake_test1", "pool1"):
        for parse in (stake_part, cred_from_stake_address, pool_hash_from_bech32):
            with contextlib.suppress(AddressError):
                parse(prefix + text)


def test_str_frame_with_lone_surrogate() -> None:
    with pytest.raises(DecodeError, match="not valid text"):
        decode_message('{"result": "\ud800"}')


def test_huge_margin_digits() -> None:
    # More digits than int() converts: a range error, not a ValueError from int().
    big = "1" * 5000
    bad(block(tx(certificates=[{"type": "stakePoolRegistration",
                                "stakePool": POOL_PARAMS | {"margin": f"{big}/{big}0"}}])),
        "transactions[0].certificates[0].stakePool.margin", "too many digits")
