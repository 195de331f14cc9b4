"""Real mainnet data (tests/data/realdata, from txpipe/pallas test data, Apache-2.0):

- every real block's pool id: blake2b-224 of the issuer's cold key in the CBOR header equals the
  issuer hash decoded independently (INDEX.json);
- the epoch-208 MIR from the reserves to 200 accounts (Σ 4,732,943,632,868 lovelace), whose
  transaction also registers those 200 stake keys: turned into the Ogmios JSON shape (MIR as a
  hex-keyed `treasuryWithdrawals` proposal, docs/ogmios.md §3.4), decoded, written, and
  credited at the next boundary, to the lovelace.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest

from indexer.chain.address import pool_hash_of_vkey
from indexer.chain.decode import decode_block, decode_message
from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.db.store import Store
from indexer.sync.network import Epochs, NetworkInfo
from indexer.sync.writer import Writer
from tests.randomchain import frame

DATA = Path(__file__).parent / "data" / "realdata" / "pallas-blocks"
INDEX = json.loads((DATA / "INDEX.json").read_text())
MIR_TOTAL, MIR_ACCOUNTS = 4_732_943_632_868, 200
# mainnet: Byron epochs of 21,600 slots of 20 s, Shelley from epoch 208 (slot 4,492,800)
MAINNET_ERAS = [
    {"start": {"time": {"seconds": 0}, "slot": 0, "epoch": 0},
     "end": {"time": {"seconds": 89856000}, "slot": 4492800, "epoch": 208},
     "parameters": {"epochLength": 21600, "slotLength": {"milliseconds": 20000},
                    "safeZone": 4320}},
    {"start": {"time": {"seconds": 89856000}, "slot": 4492800, "epoch": 208},
     "parameters": {"epochLength": 432000, "slotLength": {"milliseconds": 1000},
                    "safeZone": 129600}},
]


def _block(name: str) -> tuple[int, list[Any]]:
    era, block = cbor2.loads(bytes.fromhex((DATA / name).read_text().strip()))
    return era, block


@pytest.mark.parametrize("name", sorted(INDEX))
def test_pool_id_of_real_block_issuers(name: str) -> None:
    _, block = _block(name)
    header_body = block[0][0]
    vkey = header_body[3]  # issuer_vkey in both TPraos and Praos headers
    assert len(vkey) == 32
    assert pool_hash_of_vkey(vkey.hex()).hex() == INDEX[name]["issuer_vkey_hash"]
    assert header_body[1] == INDEX[name]["slot"]


def _cred_hex(cred: list[Any]) -> tuple[str, str]:
    return cred[1].hex(), "script" if cred[0] == 1 else "verificationKey"


def _ogmios_mir_block() -> dict[str, Any]:
    """The real block as Ogmios v6 would show it (only what the indexer reads)."""
    _, block = _block("alonzo15.block")
    header_body = block[0][0]
    meta = INDEX["alonzo15.block"]
    txs = []
    for body in block[1]:
        certs, mir = [], {}
        for cert in body.get(4, []):
            if cert[0] == 0:  # stake registration
                cred, origin = _cred_hex(cert[1])
                certs.append({"type": "stakeCredentialRegistration", "credential": cred,
                              "from": origin})
            elif cert[0] == 6:  # MIR: moved into proposals by Ogmios, keyed by hex credential
                for cred, amount in cert[1][1].items():
                    mir[cred[1].hex()] = {"ada": {"lovelace": amount}}
        tx: dict[str, Any] = {
            "id": hashlib.blake2b(cbor2.dumps(body), digest_size=32).hexdigest(),
            "spends": "inputs", "inputs": [], "outputs": [], "signatories": [],
            "fee": {"ada": {"lovelace": body[2]}}}
        if certs:
            tx["certificates"] = certs
        if mir:
            tx["proposals"] = [{"action": {"type": "treasuryWithdrawals", "withdrawals": mir,
                                           "guardrails": None}}]
        txs.append(tx)
    return {"type": "praos", "era": "shelley", "id": meta["block_hash"],
            "ancestor": "00" * 32, "height": meta["block_no"], "slot": meta["slot"],
            "size": {"bytes": 0}, "protocol": {"version": {"major": 2, "minor": 0}},
            "issuer": {"verificationKey": header_body[3].hex(),
                       "vrfVerificationKey": header_body[4].hex(),
                       "operationalCertificate": {"count": 0, "kes": {
                           "period": 0, "verificationKey": "00" * 32}},
                       "leaderValue": {}},
            "transactions": txs}


def test_real_mir_decodes_to_its_known_total() -> None:
    block = decode_block(_ogmios_mir_block())
    assert block is not None
    mirs = [m for tx in block.transactions for m in tx.mir]
    regs = [c for tx in block.transactions for c in tx.certificates]
    assert len(mirs) == MIR_ACCOUNTS and sum(m.amount for m in mirs) == MIR_TOTAL
    assert len(regs) == MIR_ACCOUNTS


async def test_real_mir_is_credited_at_the_next_boundary(dsn: str) -> None:
    mir_block = _ogmios_mir_block()
    next_epoch = dict(mir_block, id="11" * 32, height=mir_block["height"] + 1,
                      slot=4492800 + 432000 + 5, transactions=[])  # epoch 209
    store = await Store.connect(dsn)
    try:
        cal = EpochCalendar(parse_era_summaries(MAINNET_ERAS))
        writer = Writer(store, Epochs(cal), NetworkInfo(1, 2160, 500_000_000, None))
        await writer.apply([decode_message(frame(mir_block, next_epoch))])
        assert not await store.fetch("SELECT 1 FROM reward_event")  # credited at B(209) only
        await writer.apply([decode_message(frame(next_epoch, next_epoch))])
        rows = await store.fetch("SELECT * FROM reward_event WHERE kind = 'mir'")
    finally:
        await store.close()
    assert len(rows) == MIR_ACCOUNTS
    assert sum(r["amount_lovelace"] for r in rows) == MIR_TOTAL
    assert {(r["earned_epoch"], r["spendable_epoch"]) for r in rows} == {(208, 209)}
    assert all(r["stake_address"].startswith("stake1") for r in rows)
