"""Low-level field checks shared by ``_block`` (frames, blocks, the per-transaction hot path)
and ``indexer.chain.decode._certs`` (certificates and proposals): the located-error type
``_Bad``, the shape-error tuple, the value ranges, and the amount/credential/ratio readers.
Each reader either returns a checked value or raises ``_Bad`` naming the field, relative to
the current object.

Ranges (every number that reaches a database column is checked against that column here, so
the writer never meets an out-of-range value):

- output lovelace, withdrawal amounts: ``[0, 2^63)`` (bigint columns; max supply is 45·10^15);
- pool ``pledge``/``cost``, Conway treasury-withdrawal proposals: ``[0, 2^64)`` (any
  ledger ``Coin``; a real preview pool pledges 2^63+1, the pledge/cost columns are numeric);
- MIR deltas: ``[-2^63, 2^63)``;
- input ``index``: ``[0, 2^63)``; ``retirementEpoch``: ``[0, 2^31)`` (integer column; the
  ledger only accepts retirements within ``eMax`` epochs anyway);
- slots and heights: ``[0, 2^64)`` here (the writer checks them against its columns).

Error messages show offending values through ``_show``, a bounded ``reprlib`` repr: a value
may be nested thousands of levels deep or be megabytes long, and a plain ``repr`` would then
raise ``RecursionError`` or make a huge message.
"""

from __future__ import annotations

import re
import reprlib
from fractions import Fraction
from typing import Any

from indexer.chain.address import cred_from_hex, cred_from_stake_address, pool_hash_from_bech32
from indexer.chain.types import Cred, PoolHash

_U64 = 1 << 64
_I64_MIN = -(1 << 63)
_I64_END = 1 << 63
_I32_END = 1 << 31
_LOVELACE_END = _I64_END  # outputs and withdrawals (bigint columns)

# The only exceptions that malformed JSON shapes can raise in the decoders (AddressError is
# a ValueError; ``None`` or a list where a dict is expected gives TypeError/AttributeError).
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


class _Bad(Exception):
    """A malformed field, located relative to the current object. Outer layers prepend their
    own position; ``decode_block`` turns it into a ``DecodeError`` with block id and slot."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def within(self, prefix: str) -> _Bad:
        return _Bad(self.message, f"{prefix}.{self.field}")


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = 4
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = 40


def _brief(value: Any) -> str:
    """A bounded repr (depth, width and length), safe on any parsed JSON value."""
    text = _REPR.repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any) -> str:
    return f"{type(value).__name__} {_brief(value)}"


def _is_u64(n: Any) -> bool:
    return type(n) is int and 0 <= n < _U64


_HEX = frozenset("0123456789abcdef")
_HASH32 = re.compile("[0-9a-f]{64}").fullmatch  # 2x faster than _HEX.issuperset


def _is_hash32(h: Any) -> bool:
    """64 lowercase hex digits (block and header hashes, as Ogmios writes them)."""
    return type(h) is str and len(h) == 64 and _HASH32(h) is not None


# --- amounts, credentials, ratios (cold path helpers) ---------------------------------------


def _amount_field(value: Any, field: str) -> str:
    legacy = type(value) is dict and "ada" not in value
    return f"{field}.lovelace" if legacy else f"{field}.ada.lovelace"


def _bad_amount(n: Any, lo: int, end: int, field: str) -> _Bad:
    if type(n) is not int:
        return _Bad(f"expected an integer amount, got {_show(n)}", field)
    return _Bad(f"amount {n} outside [{lo}, {end})", field)


def _ada(value: Any, field: str, lo: int, end: int) -> int:
    """An ada amount in ``[lo, end)``, ``{"ada": {"lovelace": n}}`` (6.1+) or
    ``{"lovelace": n}`` (6.0)."""
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


def _uint(n: Any, field: str, end: int) -> int:
    if type(n) is not int:
        raise _Bad(f"expected an unsigned integer, got {_show(n)}", field)
    if not 0 <= n < end:
        raise _Bad(f"{n} outside [0, {end})", field)
    return n


def _hex_str(h: Any, field: str, length: int | None = None) -> str:
    """Lowercase hex text (of ``length`` characters, when given)."""
    if (type(h) is not str or (length is not None and len(h) != length) or len(h) % 2
            or not _HEX.issuperset(h)):
        what = f"{length}-hex" if length else "hex"
        raise _Bad(f"expected a {what} string, got {_show(h)}", field)
    return str(h)


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
        raise _Bad(f"malformed credential {_brief(h)}", field) from exc


def _stake_cred(addr: Any, field: str, hrp: str | None = None) -> Cred:
    if type(addr) is not str or not addr.startswith("stake"):
        raise _Bad(f"expected a stake address, got {_show(addr)}", field)
    if hrp is not None and not addr.startswith(hrp):
        raise _Bad(f"stake address of another network: {_brief(addr)}", field)
    try:
        return cred_from_stake_address(addr)
    except ValueError as exc:
        raise _Bad(f"malformed stake address {_brief(addr)}", field) from exc


def _pool_id(text: Any, field: str) -> PoolHash:
    if type(text) is not str or not text.startswith("pool1"):
        raise _Bad(f"expected a pool1… id, got {_show(text)}", field)
    try:
        return pool_hash_from_bech32(text)
    except ValueError as exc:
        raise _Bad(f"malformed pool id {_brief(text)}", field) from exc


def _unit_ratio(text: Any, field: str) -> Fraction:
    """``"n/d"`` -> exact Fraction in [0, 1]. Parsed by hand: n and d may exceed 64 bits, and
    ``Fraction(str)`` would also accept signs, spaces and decimals."""
    if type(text) is not str:
        raise _Bad(f"expected a ratio string, got {_show(text)}", field)
    num, sep, den = text.partition("/")
    if not (sep and num.isascii() and num.isdigit() and den.isascii() and den.isdigit()):
        raise _Bad(f"malformed ratio {_brief(text)}", field)
    try:
        n, d = int(num), int(den)
    except ValueError as exc:  # more digits than int() converts (sys.get_int_max_str_digits)
        raise _Bad(f"ratio of too many digits: {_brief(text)}", field) from exc
    if d == 0:
        raise _Bad(f"ratio {_brief(text)} has a zero denominator", field)
    ratio = Fraction(n, d)
    if ratio > 1:
        raise _Bad(f"ratio {_brief(text)} is above 1", field)
    return ratio
