"""The fast path of ``decode_message``: a typed ``msgspec`` decoder that builds only what the
indexer reads, with the dict decoder of ``_block`` as its referee.

Why. ``orjson.loads`` builds a dict for every field of a block (scripts, datums, redeemers,
witnesses, metadata, assets: most of the bytes), and orjson turns integers beyond 64 bits into
floats, so every frame had to be scanned for long numbers first. ``msgspec`` decodes straight
into the small ``Struct`` types below: unknown fields are skipped (checked for JSON syntax,
never built) and integers are exact at any size, so no pre-scan is needed. Measured on the
benchmark chain (scripts/bench_decode.py): about 3x the frames per second of the dict path.

Rule. The fast path either returns exactly what ``_block.decode_message`` returns for the same
frame, or gives up (``_Defer``, a msgspec error, anything the hot loops raise) and the frame is
decoded again by ``_block.decode_message``, which returns the same event or raises the
``DecodeError`` naming block, slot and field. So every rule in the docstrings of ``_block`` and
``_fields`` holds whichever path decodes a frame; only well-formed frames are decoded once.
Epoch-boundary blocks and error replies always go to the dict path (they are rare).

What differs, on purpose, for fields the indexer never reads:

- **Depth.** orjson refuses nesting deeper than 1024 and the stdlib parser recurses out near
  1000, so a valid transaction with deeply nested metadata (a 16 kB transaction can nest
  ~16,000 levels) would have stopped the daemon at that block. Here the recursion limit is
  raised to ``DEPTH_LIMIT`` while a frame is decoded, and skipped fields are never built: such
  a block decodes. Deeper frames still raise ``DecodeError``.
- **Numbers.** A number too large for a float (``1e999``) inside a skipped field is skipped.
  UTF-8 is still checked for the whole frame (``bytes.isascii`` first, so ASCII frames cost
  nothing), and JSON syntax everywhere.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from indexer.chain.address import pool_hash_of_vkey, stake_part
from indexer.chain.decode import _block as slow
from indexer.chain.decode._certs import _certificates, _proposals
from indexer.chain.decode._fields import _I64_END, _LOVELACE_END, _Bad, _is_hash32, _is_u64
from indexer.chain.types import (
    Block,
    BlockHeight,
    ChainEvent,
    Point,
    Pointer,
    RollBackward,
    RollForward,
    Slot,
    Tip,
    Tx,
    TxIn,
    TxOut,
)

# A 16 kB transaction nests at most ~16,400 levels (one CBOR byte per level), plus the frame's
# own dozen; C-level recursion of msgspec at this depth fits the default 8 MB thread stack.
DEPTH_LIMIT = 20_000

_ABSENT = Raw()  # the default of optional raw fields: empty (a present field is never empty)


# Checks msgspec makes in C as it decodes (a value outside them: the referee decides).
_Hex64 = Annotated[str, Meta(min_length=64, max_length=64)]  # a transaction id
_Index = Annotated[int, Meta(ge=0, le=_I64_END - 1)]  # an input index (bigint column)
_Lovelace = Annotated[int, Meta(ge=0, le=_LOVELACE_END - 1)]  # an output's lovelace


class _Ref(Struct, gc=False):
    id: _Hex64


class _In(Struct, gc=False):
    transaction: _Ref
    index: _Index


class _Ada(Struct, gc=False):
    lovelace: _Lovelace


class _Value(Struct, gc=False):
    ada: _Ada | None = None
    lovelace: _Lovelace | None = None  # the Ogmios 6.0 form


class _Out(Struct, gc=False):
    address: str
    value: _Value


class _Tx(Struct, gc=False):
    id: _Hex64
    spends: str | None = None
    inputs: list[_In] | None = None
    outputs: list[_Out] | UnsetType = UNSET  # absent: none (v7); null is malformed
    collaterals: list[_In] | UnsetType = UNSET
    collateralReturn: _Out | None = None  # field names are the JSON names
    certificates: Raw = _ABSENT
    withdrawals: Raw = _ABSENT
    proposals: Raw = _ABSENT


class _Issuer(Struct, gc=False):
    verificationKey: str


class _Block(Struct, gc=False):
    type: str
    id: str
    era: str | None = None
    ancestor: str | None = None
    height: int | None = None
    slot: int | None = None
    issuer: _Issuer | None = None
    transactions: list[_Tx] | UnsetType = UNSET


class _Tip(Struct, gc=False):
    slot: int
    id: str
    height: int


class _Point(Struct, gc=False):
    slot: int
    id: str


class _Result(Struct, gc=False):
    direction: str
    block: _Block | None = None
    tip: _Tip | str | None = None
    point: _Point | str | None = None


class _Message(Struct, gc=False):
    result: _Result | None = None
    error: Raw = _ABSENT


_DECODER = msgspec.json.Decoder(_Message)


class _Defer(Exception):
    """Not for the fast path: let the dict decoder decide (and word the error)."""


# What the fast path can raise on a frame it does not take: the referee decides.
_GIVE_UP = (_Defer, msgspec.DecodeError, msgspec.ValidationError, RecursionError,
            UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError,
            _Bad)


def decode_message(raw: bytes | str, network_id: int | None = None) -> ChainEvent:
    """Decode one JSON-RPC ``nextBlock`` response frame: see ``_block.decode_message``, whose
    result (or ``DecodeError``) this always is."""
    if isinstance(raw, str):
        return slow.decode_message(raw, network_id)
    limit = sys.getrecursionlimit()
    try:
        if not raw.isascii():
            raw.decode()  # UTF-8 of the whole frame, skipped fields included
        if limit < DEPTH_LIMIT:
            sys.setrecursionlimit(DEPTH_LIMIT)
        try:
            msg = _DECODER.decode(raw)
        finally:
            if limit < DEPTH_LIMIT:
                sys.setrecursionlimit(limit)
        return _event(msg, network_id)
    except _GIVE_UP:
        return slow.decode_message(raw, network_id)


def _event(msg: _Message, network_id: int | None) -> ChainEvent:
    res = msg.result
    if msg.error is not _ABSENT or res is None:
        raise _Defer
    if res.direction == "backward":
        return RollBackward(_point(res.point), _tip(res.tip))
    block = res.block
    if res.direction != "forward" or block is None or block.type == "ebb":
        raise _Defer
    decoded = _block(block, network_id)
    tip = _tip(res.tip)
    return RollForward(decoded, tip)


def _tip(tip: _Tip | str | None) -> Tip | None:
    if tip == "origin":
        return None
    if type(tip) is _Tip and _is_u64(tip.slot) and _is_u64(tip.height) and _is_hash32(tip.id):
        return Tip(Slot(tip.slot), tip.id, BlockHeight(tip.height))
    raise _Defer


def _point(point: _Point | str | None) -> Point | None:
    if point == "origin":
        return None
    if type(point) is _Point and _is_u64(point.slot) and _is_hash32(point.id):
        return Point(Slot(point.slot), point.id)
    raise _Defer


def _block(block: _Block, network_id: int | None) -> Block:
    bid, slot, height, ancestor, kind = (block.id, block.slot, block.height, block.ancestor,
                                         block.type)
    if not (_is_hash32(bid) and _is_u64(slot) and _is_u64(height)):
        raise _Defer
    if kind == "praos":
        era = block.era
        if era not in slow._PRAOS_ERAS or block.issuer is None:
            raise _Defer
        vkey = block.issuer.verificationKey
        if len(vkey) != 64:
            raise _Defer
        issuer = pool_hash_of_vkey(vkey)
        if not (_is_hash32(ancestor) or ancestor == "genesis"):
            raise _Defer
    elif kind == "bft" and block.era == "byron" and _is_hash32(ancestor):
        era, issuer = "byron", None
    else:
        raise _Defer
    out_hrp = reward_hrp = None
    if network_id is not None:
        out_hrp, reward_hrp = slow._OUTPUT_HRP[network_id], slow._REWARD_HRP[network_id]
    raw_txs = block.transactions
    txs = [] if raw_txs is UNSET else [_tx(t, i, out_hrp, reward_hrp)
                                      for i, t in enumerate(raw_txs)]
    assert slot is not None and height is not None and ancestor is not None
    return Block(era, bid, ancestor, BlockHeight(height), Slot(slot), issuer, tuple(txs))


def _rare(raw: Raw) -> Any:
    """Certificates, withdrawals, proposals: small and rare, so parsed as the dict path does
    (big-integer guard included) and handed to the same helpers."""
    return slow._loads(bytes(raw))


def _tx(t: _Tx, i: int, out_hrp: str | None, reward_hrp: str | None) -> Tx:
    tid = bytes.fromhex(t.id)
    if len(tid) != 32:  # 64 characters, but fromhex skips whitespace
        raise _Defer
    outs = t.outputs if t.outputs is not UNSET else []
    ret = t.collateralReturn
    if t.spends == "inputs":
        if t.inputs is None:
            raise _Defer
        inputs = _inputs(t.inputs)
        outputs = _outputs(outs, 0, out_hrp) if outs else ()
        if ret is not None:
            _outputs((ret,), len(outs), out_hrp)
        absent = _ABSENT
        certs, wds, props = t.certificates, t.withdrawals, t.proposals
        if certs is absent and wds is absent and props is absent:
            return Tx(tid, i, True, inputs, outputs)
        mir, tw = _proposals(_rare(props)) if props is not absent else ((), ())
        return Tx(tid, i, True, inputs, outputs,
                  _certificates(_rare(certs)) if certs is not absent else (),
                  slow._withdrawals(_rare(wds), reward_hrp) if wds is not absent else (),
                  mir, tw)
    if t.spends == "collaterals":
        inputs = _inputs(t.collaterals) if t.collaterals is not UNSET else ()
        if outs:
            _outputs(outs, 0, out_hrp)
        if ret is None:
            return Tx(tid, i, False, inputs, ())
        return Tx(tid, i, False, inputs, _outputs((ret,), len(outs), out_hrp))
    raise _Defer


_new_tuple = tuple.__new__


def _inputs(refs: list[_In]) -> tuple[TxIn, ...]:
    res: list[TxIn] = []
    append = res.append
    fromhex = bytes.fromhex
    new = _new_tuple
    for ref in refs:
        tid = fromhex(ref.transaction.id)  # 64 characters (msgspec checked)...
        if len(tid) != 32:  # ... but fromhex skips whitespace
            raise _Defer
        append(new(TxIn, (tid, ref.index)))
    return tuple(res)


def _outputs(outs: list[_Out] | tuple[_Out, ...], first: int, out_hrp: str | None
             ) -> tuple[TxOut, ...]:
    """As ``_block._outputs``: staked outputs only, every lovelace checked."""
    res: list[TxOut] = []
    append = res.append
    cache = slow._STAKE_CACHE
    get = cache.get
    miss = slow._MISS
    new = _new_tuple
    for k, out in enumerate(outs, first):
        addr = out.address
        value = out.value
        ada = value.ada
        n = ada.lovelace if ada is not None else value.lovelace
        if n is None:
            raise _Defer
        sp = get(addr, miss)
        if sp is miss:
            sp = stake_part(addr)  # AddressError (a ValueError): the referee words it
            if len(cache) >= slow._STAKE_CACHE_MAX:
                cache.clear()
            cache[addr] = sp
        if sp is None:
            continue
        if out_hrp is not None and not addr.startswith(out_hrp):
            raise _Defer
        if type(sp) is Pointer:
            append(new(TxOut, (k, None, sp, n)))
        else:
            append(new(TxOut, (k, sp, None, n)))
    return tuple(res)
