"""Ogmios chain-sync JSON -> the domain model of ``indexer.types``. Pure: no I/O, no state
beyond a bounded address cache.

Shapes follow Ogmios v6.1-v7.0 (``docs/ogmios.md`` §3, §5); the 6.0 ``{"lovelace": n}`` amount
form is accepted too. Only what the indexer uses is read and checked; everything else in a
block (scripts, datums, metadata, votes, ...) is never looked at.

Speed: the per-transaction path (inputs, outputs) is written as flat loops with local lookups
and no per-field helper calls; certificates, withdrawals and proposals are rare, so they are
decoded by small readable helpers. ``try`` blocks cost nothing in CPython 3.11 until something
raises, so malformed data is caught as ordinary ``KeyError``/``TypeError``/``ValueError`` and
only then turned into a ``DecodeError`` that names the block, the slot and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import orjson
import structlog

from indexer.address import (
    cred_from_hex,
    cred_from_stake_address,
    pool_hash_from_bech32,
    pool_hash_of_vkey,
    stake_part,
)
from indexer.types import (
    Block,
    BlockHeight,
    Certificate,
    ChainEvent,
    Cred,
    DecodeError,
    EpochNo,
    MirTransfer,
    Point,
    Pointer,
    PoolHash,
    PoolRegistration,
    PoolRetirement,
    RollBackward,
    RollForward,
    Slot,
    StakeDelegation,
    StakeDeregistration,
    StakeRegistration,
    Tip,
    TreasuryWithdrawalProposal,
    Tx,
    TxIn,
    TxOut,
    Withdrawal,
)

__all__ = ["decode_block", "decode_message"]

_log = structlog.get_logger(__name__)

_U64 = 1 << 64
_I64_MIN = -(1 << 63)
_I64_END = 1 << 63

# orjson silently turns integers outside [-2**63, 2**64) into floats. Any such number has at
# least 20 digits, or is negative with at least 19; only frames holding one are parsed with the
# (slower, exact) stdlib parser. The pre-test is the regex ``[:,[]\s*(?:-\d{19}|\d{20})`` (the
# leading [:,[] keeps digit runs inside hex strings out), done as two substring searches on a
# translated copy of the frame: 2.5x faster than ``re`` (~650 MB/s vs ~250 MB/s; orjson itself
# parses at ~350 MB/s). Digits become "0", the characters that may precede a number (and
# whitespace) become ":", the rest "x". Each hit is then read as a number, so frames whose long
# numbers all fit (e.g. i64 mint quantities) still take the fast path.
_DIGITS_TABLE = bytes(
    0x30 if 0x30 <= c <= 0x39 else 0x2D if c == 0x2D else 0x3A if c in b":,[ \t\n\r\f\v" else 0x78
    for c in range(256)
)
_BIG_POSITIVE = b":" + b"0" * 20
_BIG_NEGATIVE = b":-" + b"0" * 19
_INTEGER = re.compile(rb"-?\d+")

# The only exceptions that malformed JSON shapes can raise in the code below (AddressError is
# a ValueError; ``None`` or a list where a dict is expected gives TypeError/AttributeError).
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)

# stake_part() costs ~1 µs per Shelley address; the same addresses recur constantly (exchanges,
# DEX scripts, change addresses), so a bounded cache pays for itself. Cleared when full.
_STAKE_CACHE: dict[str, Cred | Pointer | None] = {}
_STAKE_CACHE_MAX = 1 << 16  # ~15 MB at most
_MISS = object()

# NamedTuple construction through the class goes through a Python-level __new__; calling
# tuple.__new__ directly builds the identical object in a third of the time (hot path only).
_new_tuple = tuple.__new__

_OUTPUT_HRP = {0: "addr_test1", 1: "addr1"}
_REWARD_HRP = {0: "stake_test1", 1: "stake1"}


class _Bad(Exception):
    """A malformed field, located relative to the current object. Outer layers prepend their
    own position; ``decode_block`` turns it into a ``DecodeError`` with block id and slot."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def within(self, prefix: str) -> _Bad:
        return _Bad(self.message, f"{prefix}.{self.field}")


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


# --- frames ---------------------------------------------------------------------------------


def _has_big_int(raw: bytes) -> bool:
    """Whether orjson would turn some integer of the frame into a float."""
    shape = raw.translate(_DIGITS_TABLE)
    for pattern in (_BIG_POSITIVE, _BIG_NEGATIVE):
        pos = shape.find(pattern)
        while pos >= 0:
            number = _INTEGER.match(raw, pos + 1)
            assert number is not None  # the pattern guarantees digits right after pos
            digits = number.group()
            if len(digits) > 21 or not _I64_MIN <= int(digits) < _U64:
                return True
            pos = shape.find(pattern, number.end())
    return False


_SALVAGE_ID = re.compile(rb'"block"\s*:\s*\{.*?"id"\s*:\s*"([0-9a-f]{64})"', re.DOTALL)
_SALVAGE_SLOT = re.compile(rb'"block"\s*:\s*\{.*?"slot"\s*:\s*(\d{1,20})[\s,}]', re.DOTALL)


def _salvage(raw: bytes) -> tuple[str | None, int | None]:
    """Best-effort block id and slot of a frame that is not JSON (e.g. truncated), so the error
    still says which block it was. Ogmios writes both near the start of the block object."""
    head = raw[:4096]
    found_id, found_slot = _SALVAGE_ID.search(head), _SALVAGE_SLOT.search(head)
    return (found_id.group(1).decode() if found_id else None,
            int(found_slot.group(1)) if found_slot else None)


def _loads(raw: bytes) -> Any:
    try:
        if not _has_big_int(raw):
            return orjson.loads(raw)
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:  # orjson.JSONDecodeError is a ValueError
        block_id, slot = _salvage(raw)
        raise DecodeError(f"frame is not valid JSON: {exc}", block_id=block_id,
                          slot=slot) from exc


def decode_message(raw: bytes | str, network_id: int | None = None) -> ChainEvent:
    """Decode one JSON-RPC ``nextBlock`` response frame (bytes as ``recv(decode=False)`` gives
    them; ``str`` is accepted too). ``network_id`` (0/1), when given, is passed to
    ``decode_block`` to check that output and reward addresses are on that network."""
    msg = _loads(raw.encode() if isinstance(raw, str) else raw)
    if type(msg) is not dict:
        raise DecodeError(f"frame is not a JSON object but {_show(msg)}")
    if "error" in msg:
        err = msg["error"]
        if type(err) is dict:
            raise DecodeError(f"Ogmios error {err.get('code')}: {err.get('message')}",
                              field="error")
        raise DecodeError(f"Ogmios error {err!r}", field="error")
    res = msg.get("result")
    if type(res) is not dict:
        raise DecodeError(f"no result object in frame (got {_show(res)})", field="result")
    direction = res.get("direction")
    if direction == "forward":
        block = res.get("block")
        if type(block) is not dict:
            raise DecodeError(f"block is {_show(block)}", field="result.block")
        decoded = decode_block(block, network_id)
        if decoded is None:
            return RollForward(None, _tip(res.get("tip"), block.get("id"), None))
        return RollForward(decoded, _tip(res.get("tip"), decoded.id, decoded.slot))
    if direction == "backward":
        return RollBackward(_point(res.get("point")), _tip(res.get("tip"), None, None))
    raise DecodeError(f"unknown direction {direction!r}", field="result.direction")


def _tip(tip: Any, block_id: Any, slot: int | None) -> Tip | None:
    if tip == "origin":
        return None
    try:
        t_slot, t_id, t_height = tip["slot"], tip["id"], tip["height"]
        if _is_u64(t_slot) and _is_u64(t_height) and _is_hash32(t_id):
            return Tip(Slot(t_slot), t_id, BlockHeight(t_height))
    except _SHAPE_ERRORS:
        pass
    raise DecodeError(f"malformed tip {_show(tip)}", block_id=block_id, slot=slot,
                      field="result.tip")


def _point(point: Any) -> Point | None:
    if point == "origin":
        return None
    try:
        p_slot, p_id = point["slot"], point["id"]
        if _is_u64(p_slot) and _is_hash32(p_id):
            return Point(Slot(p_slot), p_id)
    except _SHAPE_ERRORS:
        pass
    raise DecodeError(f"malformed point {_show(point)}", field="result.point")


def _is_u64(n: Any) -> bool:
    return type(n) is int and 0 <= n < _U64


def _is_hash32(h: Any) -> bool:
    return type(h) is str and len(h) == 64


# --- blocks ---------------------------------------------------------------------------------


def decode_block(block: dict[str, Any], network_id: int | None = None) -> Block | None:
    """One Ogmios block -> ``Block``; ``None`` for a Byron epoch-boundary block.

    With ``network_id`` (1 mainnet, 0 test networks) every emitted output address and every
    withdrawal must be on that network (the ledger enforces it, so a mismatch means we are
    reading another network's chain). Pool reward accounts are not checked: before Alonzo the
    ledger did not check them either.
    """
    bid: Any = block.get("id")
    slot: Any = block.get("slot")
    kind = block.get("type")
    if kind == "ebb":
        return None
    if not _is_hash32(bid):
        raise DecodeError(f"malformed block id {_show(bid)}", block_id=None, slot=slot, field="id")
    if not _is_u64(slot):
        raise DecodeError(f"malformed slot {_show(slot)}", block_id=bid, slot=None, field="slot")
    height: Any = block.get("height")
    if not _is_u64(height):
        raise DecodeError(f"malformed height {_show(height)}", block_id=bid, slot=slot,
                          field="height")
    era, issuer = _era_and_issuer(block, kind, bid, slot)
    out_hrp = reward_hrp = None
    if network_id is not None:
        out_hrp, reward_hrp = _OUTPUT_HRP[network_id], _REWARD_HRP[network_id]
    txs = []
    raw_txs = block.get("transactions") or ()
    for i, t in enumerate(raw_txs):
        try:
            txs.append(_tx(t, i, out_hrp, reward_hrp, bid, slot))
        except _Bad as exc:
            raise DecodeError(exc.message, block_id=bid, slot=slot,
                              field=f"transactions[{i}].{exc.field}") from exc
        except _SHAPE_ERRORS as exc:
            raise DecodeError(f"malformed transaction ({type(exc).__name__}: {exc})",
                              block_id=bid, slot=slot, field=f"transactions[{i}]") from exc
    size = block.get("size")
    size_bytes = size.get("bytes", 0) if type(size) is dict else 0
    return Block(era, bid, BlockHeight(height), Slot(slot), issuer, tuple(txs),
                 size_bytes if type(size_bytes) is int else 0)


def _era_and_issuer(block: dict[str, Any], kind: Any, bid: str,
                    slot: int) -> tuple[str, PoolHash | None]:
    if kind == "bft":
        return "byron", None  # Byron issuers are genesis delegates, not pools
    if kind != "praos":
        raise DecodeError(f"unknown block type {kind!r}", block_id=bid, slot=slot, field="type")
    era = block.get("era")
    if type(era) is not str:
        raise DecodeError(f"malformed era {_show(era)}", block_id=bid, slot=slot, field="era")
    try:
        vkey = block["issuer"]["verificationKey"]
        if type(vkey) is str and len(vkey) == 64:
            return era, pool_hash_of_vkey(vkey)
    except _SHAPE_ERRORS:
        pass
    raise DecodeError("malformed issuer verification key", block_id=bid, slot=slot,
                      field="issuer.verificationKey")


# --- transactions (hot path) ----------------------------------------------------------------


def _tx(t: dict[str, Any], i: int, out_hrp: str | None, reward_hrp: str | None, bid: str,
        slot: int) -> Tx:
    txid = t["id"]
    if type(txid) is not str or len(txid) != 64:
        raise _Bad(f"malformed transaction id {_show(txid)}", "id")
    tid = bytes.fromhex(txid)
    spends = t.get("spends", "inputs")  # required since v6; absent only in hand-made data
    outs = t.get("outputs")  # v7 omits an empty list
    if spends == "inputs":
        inputs = _inputs(t["inputs"], "inputs")
        outputs = _outputs(outs, 0, out_hrp, None) if outs else ()
        certs, wds, props = t.get("certificates"), t.get("withdrawals"), t.get("proposals")
        if not (certs or wds or props):
            return Tx(tid, i, True, inputs, outputs)
        mir, tw = _proposals(props) if props else ((), ())
        return Tx(tid, i, True, inputs, outputs,
                  _certificates(certs, bid, slot) if certs else (),
                  _withdrawals(wds, reward_hrp) if wds else (), mir, tw)
    if spends == "collaterals":
        # Phase-2 invalid: only the collaterals are consumed and only the collateral return
        # is created, at index len(outputs) (ledger.md §12); nothing else takes effect.
        inputs = _inputs(t.get("collaterals") or (), "collaterals")
        ret = t.get("collateralReturn")
        if ret is None:
            return Tx(tid, i, False, inputs, ())
        return Tx(tid, i, False, inputs,
                  _outputs((ret,), len(outs) if outs else 0, out_hrp, "collateralReturn"))
    raise _Bad(f"unknown spends {spends!r}", "spends")


def _inputs(refs: Any, field: str) -> tuple[TxIn, ...]:
    res: list[TxIn] = []
    append = res.append
    fromhex = bytes.fromhex
    new = _new_tuple
    k = 0
    try:
        for k, ref in enumerate(refs):
            h = ref["transaction"]["id"]
            ix = ref["index"]
            if len(h) != 64 or type(ix) is not int or not 0 <= ix < _U64:
                raise _Bad(f"malformed output reference {_show(ref)}", f"{field}[{k}]")
            append(new(TxIn, (fromhex(h), ix)))
    except _SHAPE_ERRORS as exc:
        raise _Bad(f"malformed output reference ({type(exc).__name__}: {exc})",
                   f"{field}[{k}]") from exc
    return tuple(res)


def _outputs(outs: Any, first: int, out_hrp: str | None, field: str | None) -> tuple[TxOut, ...]:
    """Staked outputs only, numbered from ``first`` in list order (skipped outputs keep their
    number). ``field`` names a lone output (the collateral return) in error messages."""
    res: list[TxOut] = []
    append = res.append
    cache = _STAKE_CACHE
    get = cache.get
    miss = _MISS
    new = _new_tuple
    k = first
    try:
        for k, out in enumerate(outs, first):
            addr = out["address"]
            sp = get(addr, miss)
            if sp is miss:
                sp = stake_part(addr)
                if len(cache) >= _STAKE_CACHE_MAX:
                    cache.clear()
                cache[addr] = sp
            if sp is None:
                continue  # enterprise, Byron, ...: no stake, so of no interest
            if out_hrp is not None and not addr.startswith(out_hrp):
                raise _Bad(f"address of another network: {addr}",
                           f"{_out_field(field, k)}.address")
            value = out["value"]
            ada = value.get("ada")
            n = ada["lovelace"] if ada is not None else value["lovelace"]
            if type(n) is not int or not 0 <= n < _U64:
                raise _bad_amount(n, 0, _U64, _amount_field(value, f"{_out_field(field, k)}.value"))
            if type(sp) is Pointer:
                append(new(TxOut, (k, None, sp, n)))
            else:
                append(new(TxOut, (k, sp, None, n)))
    except _SHAPE_ERRORS as exc:
        raise _Bad(f"malformed output ({type(exc).__name__}: {exc})",
                   _out_field(field, k)) from exc
    return tuple(res)


def _out_field(field: str | None, k: int) -> str:
    return field if field is not None else f"outputs[{k}]"


# --- amounts, credentials, ratios (cold path helpers) ---------------------------------------


def _amount_field(value: Any, field: str) -> str:
    legacy = type(value) is dict and "ada" not in value
    return f"{field}.lovelace" if legacy else f"{field}.ada.lovelace"


def _bad_amount(n: Any, lo: int, end: int, field: str) -> _Bad:
    if type(n) is not int:
        return _Bad(f"expected an integer amount, got {_show(n)}", field)
    return _Bad(f"amount {n} outside [{lo}, {end})", field)


def _ada(value: Any, field: str, lo: int = 0, end: int = _U64) -> int:
    """An ada amount, ``{"ada": {"lovelace": n}}`` (6.1+) or ``{"lovelace": n}`` (6.0)."""
    if type(value) is not dict:
        raise _Bad(f"expected an ada value object, got {_show(value)}", field)
    ada = value.get("ada")
    if ada is None:
        n = value.get("lovelace")
    elif type(ada) is dict:
        n = ada.get("lovelace")
    else:
        raise _Bad(f"expected an object, got {_show(ada)}", f"{field}.ada")
    if type(n) is not int or not lo <= n < end:
        raise _bad_amount(n, lo, end, _amount_field(value, field))
    return n


def _u64(n: Any, field: str) -> int:
    if not _is_u64(n):
        raise _Bad(f"expected an unsigned integer, got {_show(n)}", field)
    return int(n)


def _str(s: Any, field: str) -> str:
    if type(s) is not str:
        raise _Bad(f"expected a string, got {_show(s)}", field)
    return str(s)


def _opt_str(s: Any, field: str) -> str | None:
    return None if s is None else _str(s, field)


def _hex_cred(h: Any, field: str, *, script: bool = False) -> Cred:
    if type(h) is not str or len(h) != 56:
        raise _Bad(f"expected a 56-hex credential, got {_show(h)}", field)
    try:
        return cred_from_hex(h, script=script)
    except ValueError as exc:
        raise _Bad(f"malformed credential {h!r}", field) from exc


def _stake_cred(addr: Any, field: str, hrp: str | None = None) -> Cred:
    if type(addr) is not str or not addr.startswith("stake"):
        raise _Bad(f"expected a stake address, got {_show(addr)}", field)
    if hrp is not None and not addr.startswith(hrp):
        raise _Bad(f"stake address of another network: {addr}", field)
    try:
        return cred_from_stake_address(addr)
    except ValueError as exc:
        raise _Bad(f"malformed stake address {addr!r}", field) from exc


def _pool_id(text: Any, field: str) -> PoolHash:
    if type(text) is not str or not text.startswith("pool1"):
        raise _Bad(f"expected a pool1… id, got {_show(text)}", field)
    try:
        return pool_hash_from_bech32(text)
    except ValueError as exc:
        raise _Bad(f"malformed pool id {text!r}", field) from exc


def _unit_ratio(text: Any, field: str) -> Fraction:
    """``"n/d"`` -> exact Fraction in [0, 1]. Parsed by hand: n and d may exceed 64 bits, and
    ``Fraction(str)`` would also accept signs, spaces and decimals."""
    if type(text) is not str:
        raise _Bad(f"expected a ratio string, got {_show(text)}", field)
    num, sep, den = text.partition("/")
    if not (sep and num.isascii() and num.isdigit() and den.isascii() and den.isdigit()):
        raise _Bad(f"malformed ratio {text!r}", field)
    d = int(den)
    if d == 0:
        raise _Bad(f"ratio {text!r} has a zero denominator", field)
    ratio = Fraction(int(num), d)
    if ratio > 1:
        raise _Bad(f"ratio {text!r} is above 1", field)
    return ratio


# --- certificates ---------------------------------------------------------------------------


def _stake_credential(c: dict[str, Any]) -> Cred:
    origin = c.get("from", "verificationKey")  # `from` exists since Ogmios 6.6; keys before
    if origin == "verificationKey":
        return _hex_cred(c.get("credential"), "credential")
    if origin == "script":
        return _hex_cred(c.get("credential"), "credential", script=True)
    raise _Bad(f"unknown credential origin {origin!r}", "from")


def _opt_deposit(c: dict[str, Any]) -> int | None:
    dep = c.get("deposit")
    return None if dep is None else _ada(dep, "deposit")


def _registration(c: dict[str, Any], k: int) -> Certificate:
    return StakeRegistration(k, _stake_credential(c), _opt_deposit(c))


def _deregistration(c: dict[str, Any], k: int) -> Certificate:
    return StakeDeregistration(k, _stake_credential(c), _opt_deposit(c))


def _delegation(c: dict[str, Any], k: int) -> Certificate | None:
    pool = c.get("stakePool")
    if pool is None:
        return None  # Conway vote-only delegation: no effect on pool delegation
    if type(pool) is not dict:
        raise _Bad(f"expected an object, got {_show(pool)}", "stakePool")
    return StakeDelegation(k, _stake_credential(c), _pool_id(pool.get("id"), "stakePool.id"))


def _pool_registration(c: dict[str, Any], k: int) -> Certificate:
    p = c["stakePool"]
    owners = p.get("owners")
    if type(owners) is not list:
        raise _Bad(f"expected a list, got {_show(owners)}", "stakePool.owners")
    relays = p.get("relays")
    if type(relays) is not list:
        raise _Bad(f"expected a list, got {_show(relays)}", "stakePool.relays")
    try:
        relays_json = orjson.dumps(relays)
    except TypeError as exc:  # e.g. a > 64-bit integer from the stdlib fallback parser
        raise _Bad(f"relays not serialisable: {exc}", "stakePool.relays") from exc
    meta = p.get("metadata")
    if meta is not None and type(meta) is not dict:
        raise _Bad(f"expected an object, got {_show(meta)}", "stakePool.metadata")
    return PoolRegistration(
        cert_index=k,
        pool=_pool_id(p.get("id"), "stakePool.id"),
        vrf_key_hash=_str(p.get("vrfVerificationKeyHash"), "stakePool.vrfVerificationKeyHash"),
        pledge=_ada(p.get("pledge"), "stakePool.pledge"),
        cost=_ada(p.get("cost"), "stakePool.cost"),
        margin=_unit_ratio(p.get("margin"), "stakePool.margin"),
        reward_account=_stake_cred(p.get("rewardAccount"), "stakePool.rewardAccount"),
        owners=tuple(_hex_cred(h, f"stakePool.owners[{j}]") for j, h in enumerate(owners)),
        metadata_url=_opt_str(meta.get("url"), "stakePool.metadata.url") if meta else None,
        metadata_hash=_opt_str(meta.get("hash"), "stakePool.metadata.hash") if meta else None,
        relays_json=relays_json,
    )


def _pool_retirement(c: dict[str, Any], k: int) -> Certificate:
    p = c["stakePool"]
    return PoolRetirement(k, _pool_id(p.get("id"), "stakePool.id"),
                          EpochNo(_u64(p.get("retirementEpoch"), "stakePool.retirementEpoch")))


_CERTIFICATE_DECODERS: dict[str, Callable[[dict[str, Any], int], Certificate | None]] = {
    "stakeCredentialRegistration": _registration,
    "stakeCredentialDeregistration": _deregistration,
    "stakeDelegation": _delegation,
    "stakePoolRegistration": _pool_registration,
    "stakePoolRetirement": _pool_retirement,
}

# Known certificate types that do not touch stake, delegation or pools.
_IGNORED_CERTIFICATES = frozenset({
    "genesisDelegation",
    "constitutionalCommitteeDelegation",
    "constitutionalCommitteeHotKeyRegistration",  # the pre-6.3 name of the one above
    "constitutionalCommitteeRetirement",
    "delegateRepresentativeRegistration",
    "delegateRepresentativeUpdate",
    "delegateRepresentativeRetirement",
})


def _certificates(certs: Any, bid: str, slot: int) -> tuple[Certificate, ...]:
    """``cert_index`` is the position in Ogmios' list (MIR moved out, Conway reg+deleg split
    into two entries), as SPEC §7 defines it."""
    res: list[Certificate] = []
    if type(certs) is not list:
        raise _Bad(f"expected a list, got {_show(certs)}", "certificates")
    for k, c in enumerate(certs):
        kind = c.get("type") if type(c) is dict else None
        if type(kind) is not str:
            raise _Bad(f"certificate without a type: {_show(c)}", f"certificates[{k}]")
        decoder = _CERTIFICATE_DECODERS.get(kind)
        if decoder is None:
            if kind not in _IGNORED_CERTIFICATES:
                _log.warning("decode.unknown_certificate", type=kind, block_id=bid, slot=slot)
            continue
        try:
            cert = decoder(c, k)
        except _Bad as exc:
            raise exc.within(f"certificates[{k}]") from exc
        except _SHAPE_ERRORS as exc:
            raise _Bad(f"malformed {kind} certificate ({type(exc).__name__}: {exc})",
                       f"certificates[{k}]") from exc
        if cert is not None:
            res.append(cert)
    return tuple(res)


# --- withdrawals and proposals --------------------------------------------------------------


def _withdrawals(wds: Any, reward_hrp: str | None) -> tuple[Withdrawal, ...]:
    if type(wds) is not dict:
        raise _Bad(f"expected an object, got {_show(wds)}", "withdrawals")
    res = []
    for addr, value in wds.items():
        field = f"withdrawals.{addr}"
        res.append(Withdrawal(_stake_cred(addr, field, reward_hrp), _ada(value, field)))
    return tuple(res)


def _proposals(
    props: Any,
) -> tuple[tuple[MirTransfer, ...], tuple[TreasuryWithdrawalProposal, ...]]:
    """Pre-Conway MIR certificates and Conway treasury withdrawals share the action type
    ``treasuryWithdrawals``; the key tells them apart (ogmios.md §3.4): a bare 56-hex
    credential is a MIR (key hash assumed: Ogmios drops the flag; the delta may be negative),
    a bech32 stake address is a Conway proposal. ``treasuryTransfer`` (pot to pot) and all
    other actions touch no account and are skipped."""
    if type(props) is not list:
        raise _Bad(f"expected a list, got {_show(props)}", "proposals")
    mir: list[MirTransfer] = []
    tw: list[TreasuryWithdrawalProposal] = []
    for j, prop in enumerate(props):
        try:
            action = prop["action"]
            if action["type"] != "treasuryWithdrawals":
                continue
            wds = action["withdrawals"]
            if type(wds) is not dict:
                raise _Bad(f"expected an object, got {_show(wds)}", "action.withdrawals")
            for key, value in wds.items():
                field = f"action.withdrawals.{key}"
                if type(key) is str and key.startswith("stake"):
                    tw.append(TreasuryWithdrawalProposal(j, _stake_cred(key, field),
                                                         _ada(value, field)))
                else:
                    mir.append(MirTransfer(_hex_cred(key, field),
                                           _ada(value, field, _I64_MIN, _I64_END)))
        except _Bad as exc:
            raise exc.within(f"proposals[{j}]") from exc
        except _SHAPE_ERRORS as exc:
            raise _Bad(f"malformed proposal ({type(exc).__name__}: {exc})",
                       f"proposals[{j}]") from exc
    return tuple(mir), tuple(tw)
