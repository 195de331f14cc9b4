"""Bech32 and Shelley address handling, lean enough for the hot path.

``stake_part`` turns an output address into its stake reference without verifying the bech32
checksum: Ogmios serves what the node validated, and skipping the checksum keeps decoding in C
(``bytes.translate`` + ``int(…, 32)``) at well over a million addresses a second. Everything that
comes from a person (config, CSV imports) goes through the checked ``bech32_decode``.

Unchecked does not mean lenient: every character after the separator must be in the bech32
alphabet (``int`` alone would also accept ``-``, ``+``, ``_`` and whitespace), the human-readable
part must be the expected one and agree with the header's network bit, and the header's unused
bits must be clear. Anything else raises ``AddressError`` (a ``ValueError``).

Pointer addresses are read as cardano-ledger reads them (``decodePtrLenient``, the decoder of
every era before Conway): each of slot, transaction index and certificate index is a
variable-length ``Word64`` (7 bits per byte, high bit = more follows; bits beyond 64 are shifted
out, ``decodeVariableLengthWord64``), then ``mkPtrNormalized``: if slot > 2^32-1, txIx > 2^16-1
or certIx > 2^16-1, the WHOLE pointer becomes ``Ptr 0 0 0`` (no per-field masking). Bytes after
the third number are ignored, as the ledger did before Babbage (it cropped them; Babbage and
later reject such addresses, so they cannot appear in newer blocks). A truncated pointer is an
error.
"""

from __future__ import annotations

import functools
import hashlib
import operator
from functools import lru_cache

from indexer.chain.types import CRED_KEY, CRED_SCRIPT, Cred, Pointer, PoolHash

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_REV = {c: i for i, c in enumerate(_CHARSET)}
# bech32 alphabet -> the digits Python's int(x, 32) reads, so one C call converts a data part.
# Every other byte becomes "!", which int() rejects: int() on its own would also take a sign,
# "_" between digits and surrounding whitespace, and str.translate leaves unknown characters
# (some of them valid base-32 digits, e.g. "b" or "I") as they are.
_TO_BASE32 = bytes(
    b"0123456789abcdefghijklmnopqrstuv"[_CHARSET.index(chr(c))] if chr(c) in _CHARSET else 0x21
    for c in range(256)
)
_U64_MASK = (1 << 64) - 1
_PTR_ZERO = Pointer(0, 0, 0)
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class AddressError(ValueError):
    pass


# _GEN combined for each 5-bit value of the checksum's top: one lookup per character instead
# of five conditional XORs (bech32 encoding is on the writer's path: reward accounts).
_GEN_TABLE = tuple(
    functools.reduce(operator.xor, (g for i, g in enumerate(_GEN) if top >> i & 1), 0)
    for top in range(32))


def _polymod(values: list[int]) -> int:
    chk = 1
    table = _GEN_TABLE
    for v in values:
        chk = (chk & 0x1FFFFFF) << 5 ^ v ^ table[chk >> 25]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (tobits - bits)) & maxv)
    elif not pad and (bits >= frombits or ((acc << (tobits - bits)) & maxv)):
        raise AddressError("invalid bech32 padding")
    return out


def bech32_encode(hrp: str, payload: bytes) -> str:
    data = _convertbits(payload, 8, 5, True)
    values = _hrp_expand(hrp) + data
    polymod = _polymod(values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """Checked decode (checksum verified). For input that did not come from the node."""
    s = text.strip()
    if s.lower() != s and s.upper() != s:
        raise AddressError(f"mixed case in bech32 string {text!r}")
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s):
        raise AddressError(f"not a bech32 string: {text!r}")
    hrp, rest = s[:pos], s[pos + 1 :]
    try:
        data = [_REV[c] for c in rest]
    except KeyError as exc:
        raise AddressError(f"invalid bech32 character in {text!r}") from exc
    if _polymod(_hrp_expand(hrp) + data) != 1:
        raise AddressError(f"bad bech32 checksum in {text!r}")
    return hrp, bytes(_convertbits(data[:-6], 5, 8, False))


def _short(text: str) -> str:
    return repr(text if len(text) <= 120 else text[:117] + "...")


def _fast_payload(text: str) -> bytes:
    """Bech32 payload without checksum verification (see module docstring); the data and
    checksum characters must still all be in the bech32 alphabet."""
    pos = text.rfind("1")
    try:
        if pos < 1:
            raise ValueError("no separator")
        digits = text.encode("ascii")[pos + 1 :].translate(_TO_BASE32)
        int(digits[-6:], 32)  # the checksum: only its alphabet is checked
        nbits = 5 * (len(digits) - 6)
        if nbits < 8:
            raise ValueError("no payload")
        value = int(digits[:-6], 32) >> (nbits % 8)  # ValueError unless all bech32
    except ValueError as exc:  # UnicodeEncodeError included
        raise AddressError(f"malformed bech32 string {_short(text)}") from exc
    return value.to_bytes(nbits // 8, "big")


def _read_varuint(buf: bytes, pos: int) -> tuple[int, int]:
    """One pointer number as the ledger reads it: a variable-length Word64, wrapping (bits
    beyond 64 are shifted out, as ``decodeVariableLengthWord64`` does)."""
    value = 0
    while True:
        if pos >= len(buf):
            raise AddressError("truncated pointer")
        byte = buf[pos]
        pos += 1
        value = ((value << 7) | (byte & 0x7F)) & _U64_MASK
        if not byte & 0x80:
            return value, pos


def normalized_pointer(slot: int, tx_ix: int, cert_ix: int) -> Pointer:
    """cardano-ledger's ``mkPtrNormalized``: a pointer whose slot does not fit 32 bits or
    whose indices do not fit 16 bits becomes ``Pointer(0, 0, 0)`` as a whole."""
    if slot > 0xFFFFFFFF or tx_ix > 0xFFFF or cert_ix > 0xFFFF:
        return _PTR_ZERO
    return Pointer(slot, tx_ix, cert_ix)


def _check_header(header: int, text: str, mainnet_hrp: str) -> None:
    """The unused header bits (1-3) are clear and the network bit matches the hrp (Ogmios
    picks the hrp from the network)."""
    if header & 0x0E or (header & 1) != text.startswith(mainnet_hrp):
        raise AddressError(f"header {header:#04x} does not fit {_short(text)}")


def stake_part(address: str) -> Cred | Pointer | None:
    """The stake reference of an output address: a credential (base address), a pointer
    (pointer address, normalised) or None (enterprise, Byron).

    Anything that is neither a well-formed Shelley address (``addr1…``/``addr_test1…``) nor a
    base58 (Byron) string raises ``AddressError``."""
    if not address.startswith(("addr1", "addr_test1")):
        if address.startswith("addr") or not _is_base58(address):
            raise AddressError(f"not an output address: {_short(address)}")
        return None  # Byron (base58) addresses carry no stake
    raw = _fast_payload(address)
    header = raw[0]
    typ = header >> 4
    if typ > 7:  # 8 is Byron (never bech32), 14/15 reward accounts: not output addresses
        raise AddressError(f"address type {typ} in an output: {_short(address)}")
    _check_header(header, address, "addr1")
    if typ <= 3:
        if len(raw) != 57:
            raise AddressError(f"base address of {len(raw)} bytes: {_short(address)}")
        return Cred(bytes((typ >> 1,)) + raw[29:57])
    if typ <= 5:
        if len(raw) < 29:
            raise AddressError(f"pointer address of {len(raw)} bytes: {_short(address)}")
        slot, pos = _read_varuint(raw, 29)
        tx_ix, pos = _read_varuint(raw, pos)
        cert_ix, pos = _read_varuint(raw, pos)
        return normalized_pointer(slot, tx_ix, cert_ix)
    return None  # enterprise: no stake


_BASE58 = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")


def _is_base58(text: str) -> bool:
    return bool(text) and _BASE58.issuperset(text)


def cred_from_stake_address(text: str, *, checked: bool = False) -> Cred:
    """``stake1…``/``stake_test1…`` -> credential. ``checked`` verifies the checksum."""
    if checked:
        hrp, raw = bech32_decode(text)
        if hrp not in ("stake", "stake_test"):
            raise AddressError(f"not a stake address: {_short(text)}")
    else:
        if not text.startswith(("stake1", "stake_test1")):
            raise AddressError(f"not a stake address: {_short(text)}")
        raw = _fast_payload(text)
    if len(raw) != 29 or raw[0] >> 4 not in (14, 15):
        raise AddressError(f"not a stake address: {_short(text)}")
    _check_header(raw[0], text.lower(), "stake1")
    tag = CRED_SCRIPT if raw[0] >> 4 == 15 else CRED_KEY
    return Cred(bytes((tag,)) + raw[1:])


def cred_from_hex(hex_hash: str, *, script: bool = False) -> Cred:
    raw = bytes.fromhex(hex_hash)
    if len(raw) != 28:
        raise AddressError(f"credential of {len(raw)} bytes: {hex_hash!r}")
    return Cred(bytes((CRED_SCRIPT if script else CRED_KEY,)) + raw)


def network_id_of(network: str) -> int:
    """1 for mainnet, 0 for every test network (CIP-19)."""
    return 1 if network == "mainnet" else 0


@lru_cache(maxsize=65536)
def stake_address(cred: bytes, network_id: int) -> str:
    """Credential -> bech32 reward address (``stake1…`` on mainnet, ``stake_test1…`` else)."""
    header = (0xF0 if cred[0] == CRED_SCRIPT else 0xE0) | network_id
    return bech32_encode("stake" if network_id == 1 else "stake_test", bytes((header,)) + cred[1:])


@lru_cache(maxsize=65536)
def pool_hash_of_vkey(vkey_hex: str) -> PoolHash:
    """Pool id hash = blake2b-224 of the raw 32-byte cold verification key (64 hex digits;
    anything else raises ``AddressError``)."""
    raw = bytes.fromhex(vkey_hex)
    if len(raw) != 32 or len(vkey_hex) != 64:
        raise AddressError(f"not a 32-byte verification key: {_short(vkey_hex)}")
    return PoolHash(hashlib.blake2b(raw, digest_size=28).digest())


@lru_cache(maxsize=65536)
def pool_bech32(pool: bytes) -> str:
    return bech32_encode("pool", pool)


def pool_hash_from_bech32(text: str, *, checked: bool = False) -> PoolHash:
    hrp, raw = bech32_decode(text) if checked else ("pool", _fast_payload(text))
    if hrp != "pool" or len(raw) != 28:
        raise AddressError(f"not a pool id: {text!r}")
    return PoolHash(raw)


def base_address(payment: bytes, stake: Cred, network_id: int) -> str:
    """Build a base address (key payment part); used by the simulator and tests."""
    typ = 0 if stake[0] == CRED_KEY else 2
    header = (typ << 4) | network_id
    hrp = "addr" if network_id == 1 else "addr_test"
    return bech32_encode(hrp, bytes((header,)) + payment + stake[1:])


def enterprise_address(payment: bytes, network_id: int) -> str:
    hrp = "addr" if network_id == 1 else "addr_test"
    return bech32_encode(hrp, bytes((0x60 | network_id,)) + payment)


def _varuint(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def pointer_address(payment: bytes, ptr: Pointer, network_id: int) -> str:
    hrp = "addr" if network_id == 1 else "addr_test"
    body = bytes((0x40 | network_id,)) + payment
    body += _varuint(ptr.slot) + _varuint(ptr.tx_index) + _varuint(ptr.cert_index)
    return bech32_encode(hrp, body)
