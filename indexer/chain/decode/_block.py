"""Ogmios chain-sync JSON -> the domain model of ``indexer.chain.types``. Pure: no I/O, no state
beyond a bounded address cache.

Shapes follow Ogmios v6.1-v7.0 (``docs/ogmios.md`` §3, §5); the 6.0 ``{"lovelace": n}`` amount
form is accepted too. Only what the indexer uses is read and checked; everything else in a
block (scripts, datums, metadata, votes, ...) is never looked at.

Strictness. Whatever could change a balance, a delegation or a certificate is checked, and
anything malformed stops decoding with a ``DecodeError`` naming the block id, the slot and the
field (e.g. ``transactions[3].outputs[1].value.ada.lovelace``); nothing is skipped silently.
Whatever the input, ``decode_message`` returns a ``RollForward``/``RollBackward`` or raises
``DecodeError``, never another exception (``tests/test_decode_fuzz.py`` holds it to that).

- Blocks: ``type`` is ``ebb``, ``bft`` or ``praos``; ``era`` one of the schema's eras (``byron``
  for EBB and BFT blocks; ``shelley``, ``allegra``, ``mary``, ``alonzo``, ``babbage``,
  ``conway`` or ``dijkstra`` (v7.0) for Praos blocks); ``id`` 64 lowercase hex digits;
  ``ancestor`` the same, or ``"genesis"`` (Praos only); slot and height u64; ``transactions``
  absent or a list. An EBB gives ``RollForward(None, tip, EpochBoundary(id, ancestor))``.
- Transactions: ``spends`` is required (since Ogmios v6) and is ``inputs`` or
  ``collaterals``; ``inputs``, ``collaterals``, ``outputs``, ``certificates``, ``proposals``
  are lists and ``withdrawals`` an object when present.
- Every output's lovelace, the collateral return's included, is range-checked whether or not
  the output carries stake or takes effect (``[0, 2^63)``), and every output address must be a
  well-formed Shelley address or a base58 (Byron) string; pointers are normalised as the
  ledger does (``indexer.chain.address``). Input indices are below 2^63. The ranges of the other
  numbers are listed in ``indexer.chain.decode._fields``.
- Certificates and governance actions of an unknown ``type`` raise; known types that touch no
  stake, delegation or pool are skipped (``indexer.chain.decode._certs``).

Speed: the per-transaction path (inputs, outputs) is written as flat loops with local lookups
and no per-field helper calls; certificates, withdrawals and proposals are rare, so they are
decoded by small readable helpers (certificates and proposals in ``_certs``, the field checks
they share with this module in ``_fields``). ``try`` blocks cost nothing in CPython 3.11 until
something raises, so malformed data is caught as ordinary ``KeyError``/``TypeError``/
``ValueError`` and only then turned into a ``DecodeError`` that names the block, the slot and the
field.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from indexer.chain.address import pool_hash_of_vkey, stake_part
from indexer.chain.decode._certs import _certificates, _proposals
from indexer.chain.decode._fields import (
    _I64_END,
    _I64_MIN,
    _LOVELACE_END,
    _SHAPE_ERRORS,
    _U64,
    _ada,
    _amount_field,
    _Bad,
    _bad_amount,
    _brief,
    _cut,
    _is_hash32,
    _is_u64,
    _show,
    _stake_cred,
)
from indexer.chain.types import (
    Block,
    BlockHeight,
    ChainEvent,
    Cred,
    DecodeError,
    EpochBoundary,
    Point,
    Pointer,
    PoolHash,
    RollBackward,
    RollForward,
    Slot,
    Tip,
    Tx,
    TxIn,
    TxOut,
    Withdrawal,
)

__all__ = ["ERAS", "decode_block", "decode_message"]

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

# stake_part() costs ~1 µs per Shelley address; the same addresses recur constantly (exchanges,
# DEX scripts, change addresses), so a bounded cache pays for itself. Cleared when full.
_STAKE_CACHE: dict[str, Cred | Pointer | None] = {}
_STAKE_CACHE_MAX = 1 << 18  # ~60 MB at most (the address strings are most of it)
_MISS = object()

# NamedTuple construction through the class goes through a Python-level __new__; calling
# tuple.__new__ directly builds the identical object in a third of the time (hot path only).
_new_tuple = tuple.__new__

_OUTPUT_HRP = {0: "addr_test1", 1: "addr1"}
_REWARD_HRP = {0: "stake_test1", 1: "stake1"}

# The eras of the Ogmios schema (v7.0 adds dijkstra). Byron blocks are "ebb" or "bft".
_PRAOS_ERAS = frozenset({"shelley", "allegra", "mary", "alonzo", "babbage", "conway", "dijkstra"})
ERAS = ("byron", "shelley", "allegra", "mary", "alonzo", "babbage", "conway", "dijkstra")

# The default of ``.get`` for optional fields: an absent key reads as this (never mutated)
# empty list, so one ``type(x) is list`` (or ``x is _ABSENT``) test tells an absent field from
# a present one, and wrong types and explicit nulls are rejected.
_ABSENT: list[Any] = []


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
            return orjson.loads(raw)  # nesting deeper than 1024 is a JSONDecodeError
        return json.loads(raw)
    # orjson.JSONDecodeError is a ValueError, and so are UnicodeDecodeError and the stdlib's
    # "Exceeds the limit (4300 digits)"; the stdlib parser recurses, so deep nesting raises
    # RecursionError there.
    except (ValueError, RecursionError) as exc:
        block_id, slot = _salvage(raw)
        raise DecodeError(f"frame is not valid JSON: {type(exc).__name__}: {_cut(str(exc))}",
                          block_id=block_id, slot=slot) from exc


def _text(value: Any) -> str:
    """A value of an Ogmios error object for a message: strings as they are (cut), anything
    else as a bounded repr."""
    return _cut(value) if type(value) is str else _brief(value)


def decode_message(raw: bytes | str, network_id: int | None = None) -> ChainEvent:
    """Decode one JSON-RPC ``nextBlock`` response frame (bytes as ``recv(decode=False)`` gives
    them; ``str`` is accepted too). ``network_id`` (0/1), when given, is passed to
    ``decode_block`` to check that output and reward addresses are on that network."""
    if isinstance(raw, str):
        try:
            raw = raw.encode()
        except UnicodeEncodeError as exc:  # lone surrogates
            raise DecodeError(f"frame is not valid text: {exc}") from exc
    msg = _loads(raw)
    if type(msg) is not dict:
        raise DecodeError(f"frame is not a JSON object but {_show(msg)}")
    if "error" in msg:
        err = msg["error"]
        if type(err) is dict:
            raise DecodeError(f"Ogmios error {_text(err.get('code'))}: "
                              f"{_text(err.get('message'))}", field="error")
        raise DecodeError(f"Ogmios error {_show(err)}", field="error")
    res = msg.get("result")
    if type(res) is not dict:
        raise DecodeError(f"no result object in frame (got {_show(res)})", field="result")
    direction = res.get("direction")
    if direction == "forward":
        block = res.get("block")
        if type(block) is not dict:
            raise DecodeError(f"block is {_show(block)}", field="result.block")
        if block.get("type") == "ebb":
            ebb = _ebb(block)
            return RollForward(None, _tip(res.get("tip"), ebb.id, None), ebb)
        decoded = decode_block(block, network_id)
        assert decoded is not None  # only EBBs decode to None
        return RollForward(decoded, _tip(res.get("tip"), decoded.id, decoded.slot))
    if direction == "backward":
        return RollBackward(_point(res.get("point")), _tip(res.get("tip"), None, None))
    raise DecodeError(f"unknown direction {_show(direction)}", field="result.direction")


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


# --- blocks ---------------------------------------------------------------------------------


def decode_block(block: dict[str, Any], network_id: int | None = None) -> Block | None:
    """One Ogmios block -> ``Block``; ``None`` for a Byron epoch-boundary block (checked all
    the same; ``decode_message`` returns its id and ancestor in ``RollForward.ebb``).

    With ``network_id`` (1 mainnet, 0 test networks) every output address and every
    withdrawal must be on that network (the ledger enforces it, so a mismatch means we are
    reading another network's chain). Pool reward accounts are not checked: before Alonzo the
    ledger did not check them either.
    """
    bid: Any = block.get("id")
    slot: Any = block.get("slot")
    kind = block.get("type")
    if kind == "ebb":
        _ebb(block)
        return None
    if not _is_hash32(bid):
        raise DecodeError(f"malformed block id {_show(bid)}", block_id=None,
                          slot=slot if _is_u64(slot) else None, field="id")
    if not _is_u64(slot):
        raise DecodeError(f"malformed slot {_show(slot)}", block_id=bid, slot=None, field="slot")
    height: Any = block.get("height")
    if not _is_u64(height):
        raise DecodeError(f"malformed height {_show(height)}", block_id=bid, slot=slot,
                          field="height")
    era, issuer = _era_and_issuer(block, kind, bid, slot)
    ancestor: Any = block.get("ancestor")
    if not (_is_hash32(ancestor) or (ancestor == "genesis" and kind == "praos")):
        raise DecodeError(f"malformed ancestor {_show(ancestor)}", block_id=bid, slot=slot,
                          field="ancestor")
    out_hrp = reward_hrp = None
    if network_id is not None:
        out_hrp, reward_hrp = _OUTPUT_HRP[network_id], _REWARD_HRP[network_id]
    raw_txs = block.get("transactions", _ABSENT)  # absent when there are none
    if type(raw_txs) is not list:
        raise DecodeError(f"expected a list, got {_show(raw_txs)}", block_id=bid, slot=slot,
                          field="transactions")
    txs = []
    for i, t in enumerate(raw_txs):
        try:
            txs.append(_tx(t, i, out_hrp, reward_hrp))
        except _Bad as exc:
            raise DecodeError(exc.message, block_id=bid, slot=slot,
                              field=f"transactions[{i}].{exc.field}") from exc
        except _SHAPE_ERRORS as exc:
            raise DecodeError(f"malformed transaction ({type(exc).__name__}: {_cut(str(exc))})",
                              block_id=bid, slot=slot, field=f"transactions[{i}]") from exc
    return Block(era, bid, ancestor, BlockHeight(height), Slot(slot), issuer, tuple(txs))


def _ebb(block: dict[str, Any]) -> EpochBoundary:
    """A Byron epoch-boundary block: ``{type, era: byron, id, ancestor, height}``, no slot."""
    bid: Any = block.get("id")
    ancestor: Any = block.get("ancestor")
    era = block.get("era")
    if not _is_hash32(bid):
        raise DecodeError(f"malformed epoch-boundary block id {_show(bid)}", field="id")
    if era != "byron":
        raise DecodeError(f"epoch-boundary block of era {_show(era)}, not byron",
                          block_id=bid, field="era")
    if not _is_hash32(ancestor):
        raise DecodeError(f"malformed ancestor {_show(ancestor)}", block_id=bid,
                          field="ancestor")
    return EpochBoundary(bid, ancestor)


def _era_and_issuer(block: dict[str, Any], kind: Any, bid: str,
                    slot: int) -> tuple[str, PoolHash | None]:
    era = block.get("era")
    if kind == "bft":
        if era != "byron":
            raise DecodeError(f"bft block of era {_show(era)}, not byron", block_id=bid,
                              slot=slot, field="era")
        return "byron", None  # Byron issuers are genesis delegates, not pools
    if kind != "praos":
        raise DecodeError(f"unknown block type {_show(kind)}", block_id=bid, slot=slot,
                          field="type")
    if type(era) is not str or era not in _PRAOS_ERAS:
        what = "not a Praos era" if era == "byron" else "unknown era"
        raise DecodeError(f"{what}: {_show(era)} (known: {', '.join(ERAS)})", block_id=bid,
                          slot=slot, field="era")
    try:
        vkey = block["issuer"]["verificationKey"]
        if type(vkey) is str and len(vkey) == 64:
            return era, pool_hash_of_vkey(vkey)
    except _SHAPE_ERRORS:
        pass
    raise DecodeError("malformed issuer verification key", block_id=bid, slot=slot,
                      field="issuer.verificationKey")


# --- transactions (hot path) ----------------------------------------------------------------


def _tx(t: dict[str, Any], i: int, out_hrp: str | None, reward_hrp: str | None) -> Tx:
    txid = t["id"]
    try:
        tid = bytes.fromhex(txid)
    except (TypeError, ValueError):
        tid = b""
    if len(tid) != 32 or len(txid) != 64:  # both: fromhex skips whitespace
        raise _Bad(f"malformed transaction id {_show(txid)}", "id")
    spends = t.get("spends")
    outs = t.get("outputs", _ABSENT)  # v7 omits an empty list
    if type(outs) is not list:
        raise _Bad(f"expected a list, got {_show(outs)}", "outputs")
    ret = t.get("collateralReturn")
    if spends == "inputs":
        inputs = _inputs(t["inputs"], "inputs")
        outputs = _outputs(outs, 0, out_hrp, None) if outs else ()
        if ret is not None:  # not created, but checked like every output
            _outputs((ret,), len(outs), out_hrp, "collateralReturn")
        absent = _ABSENT
        certs = t.get("certificates", absent)
        wds = t.get("withdrawals", absent)
        props = t.get("proposals", absent)
        if certs is absent and wds is absent and props is absent:
            return Tx(tid, i, True, inputs, outputs)
        mir, tw = _proposals(props) if props is not absent else ((), ())
        return Tx(tid, i, True, inputs, outputs,
                  _certificates(certs) if certs is not absent else (),
                  _withdrawals(wds, reward_hrp) if wds is not absent else (), mir, tw)
    if spends == "collaterals":
        # Phase-2 invalid: only the collaterals are consumed and only the collateral return
        # is created, at index len(outputs) (docs/ledger.md §12); nothing else takes effect. The
        # outputs are checked all the same.
        inputs = _inputs(t.get("collaterals", _ABSENT), "collaterals")
        if outs:
            _outputs(outs, 0, out_hrp, None)
        if ret is None:
            return Tx(tid, i, False, inputs, ())
        return Tx(tid, i, False, inputs,
                  _outputs((ret,), len(outs), out_hrp, "collateralReturn"))
    if "spends" not in t:
        raise _Bad("no spends (required since Ogmios v6: without it a phase-2-invalid "
                   "transaction would be applied as valid)", "spends")
    raise _Bad(f"unknown spends {_show(spends)}", "spends")


def _inputs(refs: Any, field: str) -> tuple[TxIn, ...]:
    if type(refs) is not list:
        raise _Bad(f"expected a list, got {_show(refs)}", field)
    res: list[TxIn] = []
    append = res.append
    fromhex = bytes.fromhex
    new = _new_tuple
    k = 0
    try:
        for k, ref in enumerate(refs):
            h = ref["transaction"]["id"]
            ix = ref["index"]
            tid = fromhex(h)
            if len(tid) != 32 or len(h) != 64 or type(ix) is not int or not 0 <= ix < _I64_END:
                raise _Bad(f"malformed output reference {_show(ref)}", f"{field}[{k}]")
            append(new(TxIn, (tid, ix)))
    except _SHAPE_ERRORS as exc:
        raise _Bad(f"malformed output reference ({type(exc).__name__}: {_cut(str(exc))})",
                   f"{field}[{k}]") from exc
    return tuple(res)


def _outputs(outs: Any, first: int, out_hrp: str | None, field: str | None) -> tuple[TxOut, ...]:
    """Staked outputs only, numbered from ``first`` in list order (skipped outputs keep their
    number). Every output's lovelace is checked, staked or not. ``field`` names a lone output
    (the collateral return) in error messages."""
    res: list[TxOut] = []
    append = res.append
    cache = _STAKE_CACHE
    get = cache.get
    miss = _MISS
    new = _new_tuple
    end = _LOVELACE_END
    k = first
    try:
        for k, out in enumerate(outs, first):
            addr = out["address"]
            value = out["value"]
            ada = value.get("ada")
            n = ada["lovelace"] if ada is not None else value["lovelace"]
            if type(n) is not int or not 0 <= n < end:
                raise _bad_amount(n, 0, end, _amount_field(value, f"{_out_field(field, k)}.value"))
            sp = get(addr, miss)
            if sp is miss:
                sp = stake_part(addr)
                if len(cache) >= _STAKE_CACHE_MAX:
                    cache.clear()
                cache[addr] = sp
            if sp is None:
                continue  # enterprise, Byron: no stake, so of no interest
            if out_hrp is not None and not addr.startswith(out_hrp):
                raise _Bad(f"address of another network: {addr}",
                           f"{_out_field(field, k)}.address")
            if type(sp) is Pointer:
                append(new(TxOut, (k, None, sp, n)))
            else:
                append(new(TxOut, (k, sp, None, n)))
    except _SHAPE_ERRORS as exc:
        raise _Bad(f"malformed output ({type(exc).__name__}: {_cut(str(exc))})",
                   _out_field(field, k)) from exc
    return tuple(res)


def _out_field(field: str | None, k: int) -> str:
    return field if field is not None else f"outputs[{k}]"


# --- withdrawals ----------------------------------------------------------------------------


def _withdrawals(wds: Any, reward_hrp: str | None) -> tuple[Withdrawal, ...]:
    if type(wds) is not dict:
        raise _Bad(f"expected an object, got {_show(wds)}", "withdrawals")
    res = []
    for addr, value in wds.items():
        field = f"withdrawals.{_cut(addr, 120)}"
        res.append(Withdrawal(_stake_cred(addr, field, reward_hrp),
                              _ada(value, field, 0, _LOVELACE_END)))
    return tuple(res)
