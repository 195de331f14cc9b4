"""Bech32 and Shelley address handling, lean enough for the hot path.

``stake_part`` turns an output address into its stake reference without verifying the bech32
checksum: Ogmios serves what the node validated, and skipping the checksum keeps decoding in C
(``str.translate`` + ``int(…, 32)``) at well over a million addresses a second. Everything that
comes from a person (config, CSV imports) goes through the checked ``bech32_decode``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from indexer.types import CRED_KEY, CRED_SCRIPT, Cred, Pointer, PoolHash

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_REV = {c: i for i, c in enumerate(_CHARSET)}
# bech32 alphabet -> the digits Python's int(x, 32) reads, so one C call converts a data part.
_TO_BASE32 = str.maketrans(_CHARSET, "0123456789abcdefghijklmnopqrstuv")
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class AddressError(ValueError):
    pass


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if ((top >> i) & 1) else 0
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


def _fast_payload(text: str) -> bytes:
    """Bech32 payload without checksum verification (see module docstring)."""
    pos = text.rfind("1")
    data = text[pos + 1 : -6]
    nbits = 5 * len(data)
    value = int(data.translate(_TO_BASE32), 32) >> (nbits % 8)
    return value.to_bytes(nbits // 8, "big")


def _read_varuint(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        if pos >= len(buf):
            raise AddressError("truncated pointer")
        byte = buf[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos


def stake_part(address: str) -> Cred | Pointer | None:
    """The stake reference of an output address: a credential (base address), a pointer
    (pointer address) or None (enterprise, Byron, anything else)."""
    if not address.startswith("addr"):
        return None  # Byron (base58) addresses carry no stake
    raw = _fast_payload(address)
    typ = raw[0] >> 4
    if typ <= 3:
        if len(raw) != 57:
            raise AddressError(f"base address of {len(raw)} bytes: {address}")
        return Cred(bytes((typ >> 1,)) + raw[29:57])
    if typ in (4, 5):
        slot, pos = _read_varuint(raw, 29)
        tx_ix, pos = _read_varuint(raw, pos)
        cert_ix, pos = _read_varuint(raw, pos)
        return Pointer(slot, tx_ix, cert_ix)
    return None


def cred_from_stake_address(text: str, *, checked: bool = False) -> Cred:
    """``stake1…``/``stake_test1…`` -> credential. ``checked`` verifies the checksum."""
    raw = bech32_decode(text)[1] if checked else _fast_payload(text)
    if len(raw) != 29 or raw[0] >> 4 not in (14, 15):
        raise AddressError(f"not a stake address: {text!r}")
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
    """Pool id hash = blake2b-224 of the raw 32-byte cold verification key."""
    return PoolHash(hashlib.blake2b(bytes.fromhex(vkey_hex), digest_size=28).digest())


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
