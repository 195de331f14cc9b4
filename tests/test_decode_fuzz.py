"""A bounded fuzz of ``indexer.chain.decode.decode_message`` over real frames.

Whatever the input, ``decode_message`` must return a ``RollForward``/``RollBackward`` or raise
``DecodeError``: no other exception (a ``KeyError`` or ``RecursionError`` would stop the daemon
without saying which block and field was wrong). When it returns, what it returns must be in
range (lovelace, indices, epochs, pointers, hashes), so that a mutation can never slip an
impossible value past the decoder.

Corpus: the 50 Ogmios ``NextBlockResponse`` test vectors (every era, an EBB, backward frames)
and frames made of the simulator's demo chain (its first BFT and Praos blocks and every block
with transactions: certificates, withdrawals, MIR proposals, a phase-2-invalid transaction).

Mutations, one to four per example, drawn by Hypothesis (so failures shrink):

- structural, on the parsed JSON at a random path (biased towards the keys the decoder reads):
  replace the value (huge/negative/boundary integers, floats, strings, wrong types, small
  nested containers), delete a key or an item, insert a key or an item, wrap the value in deep
  nesting (up to 5000 levels), tweak a string (one character replaced by a sign, ``_``,
  whitespace, a non-bech32 or non-ASCII character, a lone surrogate...) or an integer (±1,
  negated, shifted beyond 64 bits);
- then, sometimes, on the serialised bytes: truncation, byte flips, inserted or deleted bytes.

Frames are passed as ``bytes`` and sometimes as ``str``, with ``network_id`` None, 0 or 1.

Size: ``INDEXER_FUZZ_EXAMPLES`` examples (default 300, a few seconds). For a longer hunt::

    INDEXER_FUZZ_EXAMPLES=50000 python3 -m pytest tests/test_decode_fuzz.py -p no:randomly

(each example costs about a millisecond; Hypothesis keeps the failures it finds in its
``.hypothesis`` database and replays them first on the next run).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from random import Random
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.chain.decode import ERAS, decode_message
from indexer.chain.decode._block import decode_message as decode_dict_path
from indexer.chain.decode._fast import DEPTH_LIMIT
from indexer.chain.types import (
    Block,
    DecodeError,
    PoolRegistration,
    PoolRetirement,
    RollBackward,
    RollForward,
)

EXAMPLES = int(os.environ.get("INDEXER_FUZZ_EXAMPLES", "300"))
VECTORS = sorted((Path(__file__).parent / "data/ogmios/vectors/NextBlockResponse").glob("*.json"))

U64, I64 = 1 << 64, 1 << 63


def _demo_frames() -> list[bytes]:
    from indexer.demo.scenarios import build_demo_chain, demo_network

    chain = build_demo_chain(demo_network())
    picked = [b for b in chain if b.get("transactions")]
    picked += [next(b for b in chain if b["type"] == kind) for kind in ("bft", "praos")]
    tip = {"slot": chain[-1]["slot"], "id": chain[-1]["id"], "height": chain[-1]["height"]}
    return [orjson.dumps({"jsonrpc": "2.0", "method": "nextBlock", "id": None,
                          "result": {"direction": "forward", "block": b, "tip": tip}})
            for b in picked]


CORPUS: list[Any] = [json.loads(p.read_bytes()) for p in VECTORS]
CORPUS += [json.loads(f) for f in _demo_frames()]

# The keys the decoder reads: mutations are aimed at them half of the time.
KEYS = (
    "jsonrpc", "result", "error", "code", "message", "direction", "block", "tip", "point",
    "type", "era", "id", "ancestor", "height", "slot", "size", "bytes", "issuer",
    "verificationKey", "transactions", "spends", "inputs", "outputs", "collaterals",
    "collateralReturn", "transaction", "index", "address", "value", "ada", "lovelace",
    "certificates", "withdrawals", "proposals", "action", "credential", "from", "deposit",
    "stakePool", "pledge", "cost", "margin", "owners", "relays", "rewardAccount", "metadata",
    "url", "hash", "vrfVerificationKeyHash", "retirementEpoch", "delegateRepresentative",
)
_KEYSET = frozenset(KEYS)

_MARK = "\x00deep\x00"  # replaced by deep nesting in the serialised text


def _paths(node: Any, path: tuple[Any, ...], out: list[tuple[Any, ...]]) -> None:
    out.append(path)
    if type(node) is dict:
        for k, v in node.items():
            _paths(v, (*path, k), out)
    elif type(node) is list:
        for i, v in enumerate(node):
            _paths(v, (*path, i), out)


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


BOUNDARY_INTS = [0, 1, -1, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**32, I64 - 1, I64, U64 - 1, U64,
                 -I64, -I64 - 1, -U64, 10**30, -(10**30), 10**400]
STRINGS = ["", "genesis", "origin", "inputs", "collaterals", "ebb", "bft", "praos", "byron",
           "shelley", "conway", "dijkstra", "forward", "backward", "script", "verificationKey",
           "stakeDelegation", "stakePoolRegistration", "treasuryWithdrawals", "00" * 32,
           "AB" * 32, "00" * 28, "1/0", "-1/2", "3/2", "1/1", "0.5", "addr1", "addr1-", "stake1",
           "pool1", "addr1qq" + "q" * 95, "stake1u" + "q" * 52, "pool1" + "q" * 51,
           "Ae2tdPwUPEZ6XjChW4WYxAUDiweb53LnZDE1kBuxuqHkS2sisuWtHqj4qr2", "\ud800", "é"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 1000), st.sampled_from(BOUNDARY_INTS),
    st.integers(), st.floats(), st.text(max_size=12), st.sampled_from(STRINGS),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6),
                                               children, max_size=3)),
    max_leaves=6,
)
ODD_CHARS = st.sampled_from(["-", "+", "_", " ", "\t", "\n", "0", "1", "b", "i", "o", "Q", "é",
                             "\x00", "\ud800", "\\", '"', "/"])


def _tweak_int(n: int, data: st.DataObject) -> int:
    op = data.draw(st.sampled_from(["inc", "dec", "neg", "shift", "wrap"]))
    if op == "inc":
        return n + 1
    if op == "dec":
        return n - 1
    if op == "neg":
        return -n - 1
    if op == "shift":
        return n << data.draw(st.integers(1, 80))
    return n + U64


def _tweak_str(s: str, data: st.DataObject, rnd: Random) -> str:
    op = data.draw(st.sampled_from(["replace", "insert", "delete", "upper", "cut", "double"]))
    pos = rnd.randint(0, len(s))
    if op == "replace":
        return s[:pos] + data.draw(ODD_CHARS) + s[pos + 1:]
    if op == "insert":
        return s[:pos] + data.draw(ODD_CHARS) + s[pos:]
    if op == "delete":
        return s[:pos] + s[pos + 1:]
    if op == "upper":
        return s.upper()
    if op == "cut":
        return s[:pos]
    return s + s


def _mutate(doc: Any, data: st.DataObject, rnd: Random, deep: list[int]) -> Any:
    """One structural mutation. Positions come from ``rnd`` (seeded by Hypothesis, so a
    failure replays): ``st.integers`` would favour index 0 (the root, truncation to nothing)."""
    paths: list[tuple[Any, ...]] = []
    _paths(doc, (), paths)
    aimed = [p for p in paths if p and p[-1] in _KEYSET]
    pool = aimed if aimed and data.draw(st.booleans()) else paths
    path = rnd.choice(pool)
    node = _get(doc, path)
    op = data.draw(st.sampled_from(["replace", "delete", "insert", "tweak", "replace", "delete",
                                    "tweak", "deep"]))
    new: Any = node
    if op == "replace":
        new = data.draw(values)
    elif op == "deep":
        deep.append(data.draw(st.sampled_from([2, 30, 500, 900, 1000, 1025, 5000])))
        new = _MARK
    elif op == "tweak":
        if type(node) is str:
            new = _tweak_str(node, data, rnd)
        elif type(node) is int:
            new = _tweak_int(node, data)
        else:
            new = data.draw(values)
    elif op == "insert" and type(node) in (dict, list):
        if type(node) is dict:
            node[data.draw(st.sampled_from(KEYS) | st.text(max_size=6))] = data.draw(values)
        else:
            node.insert(rnd.randint(0, len(node)), data.draw(values))
        return doc
    elif op == "delete" and path:
        parent = _get(doc, path[:-1])
        del parent[path[-1]]
        return doc
    if not path:
        return new
    _get(doc, path[:-1])[path[-1]] = new
    return doc


def _serialise(doc: Any, deep: list[int], data: st.DataObject) -> bytes:
    text = json.dumps(doc, ensure_ascii=data.draw(st.booleans()), separators=(",", ":"))
    marker = json.dumps(_MARK)
    for depth in deep:  # each marker (in insertion order) becomes deep nesting
        leaf = data.draw(st.sampled_from(["0", str(U64), '"x"', "{}"]))
        text = text.replace(marker, "[" * depth + leaf + "]" * depth, 1)
    return text.encode("utf-8", "surrogatepass")


def _mutate_bytes(raw: bytes, data: st.DataObject, rnd: Random) -> bytes:
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        pos = rnd.randint(0, max(len(buf) - 1, 0))
        if op == "truncate":
            del buf[pos:]
        elif op == "flip" and buf:
            buf[pos] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del buf[pos:pos + data.draw(st.integers(1, 8))]
    return bytes(buf)


def _check_in_range(ev: RollForward | RollBackward) -> None:
    """A returned event holds only values the writer can store."""
    if isinstance(ev, RollBackward):
        return
    if ev.block is None:
        assert ev.ebb is not None and len(ev.ebb.id) == len(ev.ebb.ancestor) == 64
        return
    b = ev.block
    assert isinstance(b, Block) and b.era in ERAS and len(b.id) == 64
    assert len(b.ancestor) == 64 or b.ancestor == "genesis"
    assert 0 <= b.slot < U64 and 0 <= b.height < U64
    for t in b.transactions:
        assert len(t.id) == 32
        for i in t.inputs:
            assert len(i.tx_id) == 32 and 0 <= i.index < I64
        for o in t.outputs:
            assert 0 <= o.lovelace < I64 and (o.cred is None) != (o.pointer is None)
            if o.pointer is not None:
                assert 0 <= o.pointer.slot < 2**32 and 0 <= o.pointer.tx_index < 2**16
                assert 0 <= o.pointer.cert_index < 2**16
            else:
                assert o.cred is not None and len(o.cred) == 29 and o.cred[0] in (0, 1)
        for c in t.certificates:
            if isinstance(c, PoolRegistration):
                assert 0 <= c.pledge < U64 and 0 <= c.cost < U64 and 0 <= c.margin <= 1
            elif isinstance(c, PoolRetirement):
                assert 0 <= c.retirement_epoch < 2**31
        for w in t.withdrawals:
            assert 0 <= w.amount < I64
        for m in t.mir:
            assert -I64 <= m.amount < I64
        if not t.valid:
            assert t.certificates == t.withdrawals == t.mir == t.treasury_withdrawals == ()


def _decode_checked(raw: bytes | str, network_id: int | None) -> None:
    try:
        ev = decode_message(raw, network_id)
    except DecodeError:
        return
    assert type(ev) in (RollForward, RollBackward), ev
    _check_in_range(ev)
    _same_as_dict_path(raw, network_id, ev)


def _same_as_dict_path(raw: bytes | str, network_id: int | None, ev: Any) -> None:
    """The fast (msgspec) path returns what the dict path returns. The one leniency allowed:
    a frame the dict path cannot parse because of what it parses but never reads (nesting
    deeper than orjson's 1024 levels, a number beyond a float): the stdlib parser, given
    the depth, then reads the frame (see indexer/chain/decode/_fast.py)."""
    try:
        assert decode_dict_path(raw, network_id) == ev
    except DecodeError as exc:
        assert "not valid JSON" in str(exc), exc
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(DEPTH_LIMIT + 100)
        try:
            json.loads(raw)
        finally:
            sys.setrecursionlimit(limit)


def test_corpus_decodes() -> None:
    assert len(CORPUS) > 50
    for doc in CORPUS:
        raw = orjson.dumps(doc) if _fits_orjson(doc) else json.dumps(doc).encode()
        ev = decode_message(raw)
        _check_in_range(ev)
        _same_as_dict_path(raw, None, ev)


def _fits_orjson(doc: Any) -> bool:
    try:
        orjson.dumps(doc)
    except TypeError:
        return False
    return True


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_mutated_frames_decode_or_raise_decode_error(data: st.DataObject) -> None:
    rnd = data.draw(st.randoms(use_true_random=True))
    doc = json.loads(json.dumps(rnd.choice(CORPUS)))  # a copy
    deep: list[int] = []
    for _ in range(data.draw(st.integers(1, 4))):
        doc = _mutate(doc, data, rnd, deep)
    raw = _serialise(doc, deep, data)
    if rnd.random() < 0.15:
        raw = _mutate_bytes(raw, data, rnd)
    # The vectors mix networks: a network id mostly stops them at the first output.
    network_id = None if rnd.random() < 0.7 else rnd.choice((0, 1))
    if rnd.random() < 0.1:
        _decode_checked(raw.decode("utf-8", "surrogateescape"), network_id)
    else:
        _decode_checked(raw, network_id)


@pytest.mark.parametrize("raw", [
    b"", b"{", b"[]", b"null", b"5", b'"x"', b"{}", b'{"result": null}', b"[" * 100_000,
    b'{"result":' * 50_000, b"\xff\xfe", b'{"result": {"direction": "forward", "block": []}}',
    b'{"result": {"direction": "forward", "block": {"type": "ebb"}}}',
    b'{"result": {"direction": "backward", "point": {"slot": -1, "id": ""}, "tip": "origin"}}',
    b'{"error": ' + b"[" * 1000 + b"]" * 1000 + b"}",
])
def test_degenerate_frames(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_message(raw)
