"""Chain builder: deterministic wallets, pools, certificates and schema-valid Ogmios blocks.

Pure (no I/O). Everything produced here follows the Ogmios v6.14 JSON shapes (docs/ogmios.md
§3), which v7.0 accepts as well: ada amounts are ``{"ada": {"lovelace": n}}``, pre-Conway MIRs
are ``treasuryWithdrawals`` proposals keyed by hex credentials, Conway treasury withdrawals are
keyed by bech32 stake addresses.

    net = Network()
    cb = ChainBuilder(net)
    alice, pool = Wallet("alice"), Pool("p1")
    t = cb.tx(inputs=[cb.genesis_input("alice")], outputs=[(alice.address(0), 10_000_000)],
              certificates=[reg_cert(alice), deleg_cert(alice, pool)])
    b0 = cb.block(None, 0)                       # byron (BFT)
    b1 = cb.block(b0, net.first_slot(2), [t], issuer=pool)   # shelley (Praos)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from indexer.chain.address import (
    base_address,
    bech32_encode,
    enterprise_address,
    pointer_address,
    pool_bech32,
    pool_hash_of_vkey,
    stake_address,
)
from indexer.chain.types import Cred, Pointer, PoolHash
from indexer.simulator.network import PROTOCOL_MAJOR, EraSpec, Network

__all__ = [
    "ChainBuilder",
    "EraSpec",
    "Network",
    "Pool",
    "Wallet",
    "ada",
    "block_point",
    "block_tip",
    "deleg_cert",
    "dereg_cert",
    "mir_proposal",
    "pool_reg_cert",
    "pool_retire_cert",
    "reg_cert",
    "stake_vkh_bech32",
    "treasury_transfer_proposal",
    "treasury_withdrawal_proposal",
    "utxo",
    "vote_deleg_cert",
]

Json = dict[str, Any]
TxOutSpec = tuple[str, int] | tuple[str, int, Mapping[str, Mapping[str, int]]]


def _h(data: bytes | str, size: int) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.blake2b(raw, digest_size=size).digest()


def _hex(data: bytes | str, size: int) -> str:
    return _h(data, size).hex()


def ada(lovelace: int) -> Json:
    return {"ada": {"lovelace": lovelace}}


# --- keys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wallet:
    """Deterministic keys derived from a name. Hashable (usable as a dict key)."""

    name: str
    payment: bytes = field(init=False, repr=False, compare=False)  # 28-byte key hash
    stake_hash: bytes = field(init=False, repr=False, compare=False)  # 28-byte key hash
    vkey: str = field(init=False, repr=False, compare=False)  # 32-byte payment vkey, hex

    def __post_init__(self) -> None:
        object.__setattr__(self, "payment", _h(f"payment:{self.name}", 28))
        object.__setattr__(self, "stake_hash", _h(f"stake:{self.name}", 28))
        object.__setattr__(self, "vkey", _hex(f"vkey:{self.name}", 32))

    @property
    def cred(self) -> Cred:
        return Cred(b"\x00" + self.stake_hash)

    @property
    def stake_hex(self) -> str:
        return self.stake_hash.hex()

    @property
    def payment_hex(self) -> str:
        return self.payment.hex()

    def address(self, network_id: int, *, other_payment: bytes | None = None) -> str:
        """Base address: this wallet's stake credential, its own (or another) payment key."""
        return base_address(other_payment or self.payment, self.cred, network_id)

    def enterprise(self, network_id: int) -> str:
        return enterprise_address(self.payment, network_id)

    def pointer(self, network_id: int, ptr: Pointer) -> str:
        return pointer_address(self.payment, ptr, network_id)

    def stake_address(self, network_id: int) -> str:
        return stake_address(self.cred, network_id)

    def signatory(self) -> Json:
        return {"key": self.vkey, "signature": _hex(f"sig:{self.name}", 64)}


@dataclass(frozen=True)
class Pool:
    """A stake pool with deterministic cold, VRF and KES keys."""

    name: str
    vkey: str = field(init=False, repr=False, compare=False)  # cold verification key, hex32
    vrf: str = field(init=False, repr=False, compare=False)  # VRF verification key, hex32
    kes: str = field(init=False, repr=False, compare=False)  # KES verification key, hex32

    def __post_init__(self) -> None:
        object.__setattr__(self, "vkey", _hex(f"pool-cold:{self.name}", 32))
        object.__setattr__(self, "vrf", _hex(f"pool-vrf:{self.name}", 32))
        object.__setattr__(self, "kes", _hex(f"pool-kes:{self.name}", 32))

    @property
    def hash(self) -> PoolHash:
        return pool_hash_of_vkey(self.vkey)

    @property
    def id(self) -> str:
        return pool_bech32(self.hash)

    @property
    def vrf_hash(self) -> str:
        return _hex(bytes.fromhex(self.vrf), 32)


# --- certificates and proposals (Ogmios v6.14 / v7 shapes) ---------------------------------


def reg_cert(w: Wallet, deposit: int | None = None) -> Json:
    """Stake registration; ``deposit`` only for Conway-style certificates."""
    cert: Json = {"type": "stakeCredentialRegistration", "from": "verificationKey",
                  "credential": w.stake_hex}
    if deposit is not None:
        cert["deposit"] = ada(deposit)
    return cert


def dereg_cert(w: Wallet, deposit: int | None = None) -> Json:
    cert: Json = {"type": "stakeCredentialDeregistration", "from": "verificationKey",
                  "credential": w.stake_hex}
    if deposit is not None:
        cert["deposit"] = ada(deposit)
    return cert


def deleg_cert(w: Wallet, pool: Pool) -> Json:
    return {"type": "stakeDelegation", "from": "verificationKey", "credential": w.stake_hex,
            "stakePool": {"id": pool.id}}


def vote_deleg_cert(w: Wallet, drep: Json | None = None) -> Json:
    """Conway vote-only delegation (a ``stakeDelegation`` without ``stakePool``)."""
    return {"type": "stakeDelegation", "from": "verificationKey", "credential": w.stake_hex,
            "delegateRepresentative": drep or {"type": "abstain"}}


def pool_reg_cert(pool: Pool, *, owners: Sequence[Wallet], reward: Wallet, pledge: int,
                  cost: int, margin: str, network_id: int, metadata_url: str | None = None,
                  relays: list[Json] | None = None) -> Json:
    """Pool registration (or re-registration: same shape). ``margin`` is ``"n/d"``."""
    params: Json = {
        "id": pool.id,
        "vrfVerificationKeyHash": pool.vrf_hash,
        "owners": [o.stake_hex for o in owners],
        "cost": ada(cost),
        "margin": margin,
        "pledge": ada(pledge),
        "rewardAccount": reward.stake_address(network_id),
        "relays": relays if relays is not None else [
            {"type": "hostname", "hostname": f"relay.{pool.name}.example", "port": 3001}],
    }
    if metadata_url is not None:
        params["metadata"] = {"url": metadata_url, "hash": _hex(metadata_url, 32)}
    return {"type": "stakePoolRegistration", "stakePool": params}


def pool_retire_cert(pool: Pool, epoch: int) -> Json:
    return {"type": "stakePoolRetirement",
            "stakePool": {"id": pool.id, "retirementEpoch": epoch}}


def mir_proposal(deltas: Mapping[Wallet, int]) -> Json:
    """Pre-Conway MIR to accounts, as Ogmios emits it: hex-keyed, no source pot."""
    return {"action": {"type": "treasuryWithdrawals",
                       "withdrawals": {w.stake_hex: ada(n) for w, n in deltas.items()},
                       "guardrails": None}}


def treasury_transfer_proposal(source: str, amount: int) -> Json:
    """Pre-Conway MIR between pots (``source`` = ``reserves`` or ``treasury``)."""
    target = "treasury" if source == "reserves" else "reserves"
    return {"action": {"type": "treasuryTransfer", "source": source, "target": target,
                       "value": ada(amount)}}


def treasury_withdrawal_proposal(amounts: Mapping[Wallet, int], network_id: int, *,
                                 return_account: Wallet | None = None,
                                 deposit: int = 100_000_000_000) -> Json:
    """Conway governance action: bech32-keyed (the strict schema rejects it:
    docs/ogmios.md §3.4)."""
    ret = return_account or next(iter(amounts))
    url = "https://example.com/treasury-withdrawal.json"
    return {
        "action": {"type": "treasuryWithdrawals",
                   "withdrawals": {w.stake_address(network_id): ada(n)
                                   for w, n in amounts.items()},
                   "guardrails": None},
        "deposit": ada(deposit),
        "returnAccount": ret.stake_address(network_id),
        "metadata": {"url": url, "hash": _hex(url, 32)},
    }


# --- helpers on built JSON -------------------------------------------------------------------


def utxo(tx: Json, index: int) -> tuple[str, int]:
    """Reference to output ``index`` of ``tx`` (for a later tx's ``inputs``)."""
    return (tx["id"], index)


def block_point(block: Json) -> Json:
    return {"slot": block["slot"], "id": block["id"]}


def block_tip(block: Json) -> Json:
    return {"slot": block["slot"], "id": block["id"], "height": block["height"]}


def _ref(ref: tuple[str, int]) -> Json:
    return {"transaction": {"id": ref[0]}, "index": ref[1]}


def _output(spec: TxOutSpec) -> Json:
    value: Json = ada(spec[1])
    if len(spec) == 3:
        value.update({p: dict(assets) for p, assets in spec[2].items()})
    return {"address": spec[0], "value": value}


# --- blocks ----------------------------------------------------------------------------------


class ChainBuilder:
    """Builds transactions and blocks with deterministic ids.

    Transaction ids are unique per ``tx()`` call (a counter is hashed in). Block ids hash the
    parent id, slot, transaction ids, ``salt`` and the issuer's key: the same call gives the
    same id, and a fork with another salt, other transactions or another issuer gets another
    id."""

    def __init__(self, network: Network, *, default_issuer: Pool | None = None) -> None:
        self.network = network
        self.default_issuer = default_issuer or Pool("simulator")
        self._tx_counter = 0
        # Byron blocks cannot say "genesis": their first ancestor is the genesis hash.
        self.genesis_hash = _hex(f"genesis:{network.network_magic}", 32)

    def genesis_input(self, label: str, index: int = 0) -> tuple[str, int]:
        """A made-up UTxO reference to pay from (genesis funds are not modelled)."""
        return (_hex(f"genesis-utxo:{label}", 32), index)

    def tx(self, *, inputs: Iterable[tuple[str, int]] = (), outputs: Iterable[TxOutSpec] = (),
           certificates: Iterable[Json] = (), withdrawals: Mapping[str, int] | None = None,
           proposals: Iterable[Json] = (), valid: bool = True,
           collaterals: Iterable[tuple[str, int]] = (),
           collateral_return: tuple[str, int] | None = None, fee: int = 170000,
           total_collateral: int | None = None, ttl: int | None = None,
           metadata: Mapping[int, Any] | None = None,
           signers: Iterable[Wallet] = ()) -> Json:
        """An Ogmios Transaction. ``valid=False`` makes a phase-2-invalid transaction
        (``spends: "collaterals"``); ``outputs`` items may carry assets as a third element
        ``{policy_hex: {asset_name_hex: qty}}``; ``withdrawals`` maps bech32 stake addresses
        to lovelace."""
        self._tx_counter += 1
        tx: Json = {
            "id": "",
            "spends": "inputs" if valid else "collaterals",
            "inputs": [_ref(r) for r in inputs],
        }
        cols = [_ref(r) for r in collaterals]
        if cols:
            tx["collaterals"] = cols
            tx["scriptIntegrityHash"] = _hex(f"sih:{self._tx_counter}", 32)
        if collateral_return is not None:
            tx["collateralReturn"] = _output(collateral_return)
        if total_collateral is not None:
            tx["totalCollateral"] = ada(total_collateral)
        tx["outputs"] = [_output(o) for o in outputs]
        self._tx_body_extras(tx, list(certificates), withdrawals, list(proposals), metadata)
        tx["fee"] = ada(fee)
        tx["validityInterval"] = {} if ttl is None else {"invalidAfter": ttl}
        sigs = [w.signatory() for w in signers] or [Wallet(f"signer{self._tx_counter}")
                                                   .signatory()]
        tx["signatories"] = sigs
        tx["id"] = _hex(str(self._tx_counter).encode() + orjson.dumps(tx), 32)
        return tx

    @staticmethod
    def _tx_body_extras(tx: Json, certificates: list[Json], withdrawals: Mapping[str, int] | None,
                        proposals: list[Json], metadata: Mapping[int, Any] | None) -> None:
        if certificates:
            tx["certificates"] = certificates
        if withdrawals:
            tx["withdrawals"] = {addr: ada(n) for addr, n in withdrawals.items()}
        if proposals:
            tx["proposals"] = proposals
        if metadata:
            labels = {str(k): {"json": v} for k, v in metadata.items()}
            tx["metadata"] = {"hash": _hex(orjson.dumps(labels), 32), "labels": labels}

    def block(self, parent: Json | None, slot: int, txs: Iterable[Json] = (),
              issuer: Pool | None = None, salt: str = "") -> Json:
        """A BFT block for Byron-era slots, a Praos block otherwise. Height is the parent's + 1
        (0 for the first block); ancestor is the parent id, or ``"genesis"`` (Praos) / the
        genesis hash (BFT) for the first block."""
        txs = list(txs)
        if parent is not None and slot <= parent["slot"]:
            raise ValueError(f"slot {slot} is not after the parent's slot {parent['slot']}")
        parent_id = parent["id"] if parent is not None else None
        era = self.network.era_of(slot)
        pool = issuer or self.default_issuer
        signer = "bft" if era == "byron" else pool.vkey
        seed = f"{parent_id}|{slot}|{','.join(t['id'] for t in txs)}|{salt}|{signer}"
        block_id = _hex(seed, 32)
        height = parent["height"] + 1 if parent is not None else 0
        size = 860 + len(orjson.dumps(txs)) // 2 if txs else 860
        if era == "byron":
            return self._bft(block_id, parent_id or self.genesis_hash, height, slot, size, txs)
        return self._praos(era, block_id, parent_id or "genesis", height, slot, size, txs, pool)

    def blocks(self, parent: Json | None, slots: Iterable[int], *, issuer: Pool | None = None,
               salt: str = "") -> list[Json]:
        """A run of empty blocks at ``slots``, each the child of the previous one."""
        out: list[Json] = []
        for slot in slots:
            parent = self.block(parent, slot, issuer=issuer, salt=salt)
            out.append(parent)
        return out

    def _bft(self, block_id: str, ancestor: str, height: int, slot: int, size: int,
             txs: list[Json]) -> Json:
        epoch = self.network.epoch_of(slot)
        block: Json = {
            "type": "bft", "era": "byron", "id": block_id, "ancestor": ancestor,
            "height": height, "slot": slot, "size": {"bytes": size},
            "protocol": {"id": self.network.network_magic,
                         "version": {"major": 1, "minor": 0, "patch": 0},
                         "software": {"appName": "cardano-sl", "number": 1}},
            "issuer": {"verificationKey": _hex(f"bft-issuer:{epoch % 3}", 64)},
            "delegate": {"verificationKey": _hex(f"bft-delegate:{epoch % 3}", 64)},
        }
        if txs:
            block["transactions"] = txs
        return block

    def _praos(self, era: str, block_id: str, ancestor: str, height: int, slot: int, size: int,
               txs: list[Json], pool: Pool) -> Json:
        block: Json = {
            "type": "praos", "era": era, "id": block_id, "ancestor": ancestor,
            "nonce": {"output": _hex(f"nonce:{block_id}", 64),
                      "proof": _hex(f"nonce-proof:{block_id}", 64) + _hex(block_id, 16)},
            "height": height, "slot": slot, "size": {"bytes": size},
            "protocol": {"version": {"major": PROTOCOL_MAJOR.get(era, 2), "minor": 0}},
            "issuer": {
                "verificationKey": pool.vkey,
                "vrfVerificationKey": pool.vrf,
                "operationalCertificate": {
                    "count": 0,
                    "kes": {"period": slot // 129600, "verificationKey": pool.kes},
                },
                "leaderValue": {"output": _hex(f"leader:{block_id}", 64),
                                "proof": _hex(f"leader-proof:{block_id}", 64)
                                + _hex(block_id, 16)},
            },
        }
        if txs:
            block["transactions"] = txs
        return block


def stake_vkh_bech32(w: Wallet) -> str:
    """CIP-5 ``stake_vkh1…`` form of a wallet's stake key hash (a query-credential format)."""
    return bech32_encode("stake_vkh", w.stake_hash)
