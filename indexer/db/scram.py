"""SCRAM-SHA-256 password verifiers computed here, so that a password never reaches the server:
``ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'`` stores the verifier as it is (PostgreSQL recognises
the format), and the statement, the server log and ``pg_stat_activity`` only ever hold the
verifier.

The verifier is what PostgreSQL itself stores (src/common/scram-common.c,
``scram_build_secret``; RFC 5802 §3 and RFC 7677):

    SCRAM-SHA-256$<iterations>:<salt, base64>$<StoredKey, base64>:<ServerKey, base64>

    SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, iterations)
    StoredKey      = SHA-256(HMAC(SaltedPassword, "Client Key"))
    ServerKey      = HMAC(SaltedPassword, "Server Key")

The password is first normalised exactly as PostgreSQL's ``pg_saslprep`` does it (the server
when it hashes a cleartext password, and libpq when it logs in; src/common/saslprep.c): RFC
4013 SASLprep, except that a pure-ASCII password is used as it is, and a password that SASLprep
refuses (a prohibited or unassigned character, bad bidirectional text, or nothing left after
the mapping) is used as it is too, not refused. Like PostgreSQL, the prohibited and bidi checks
look at the mapped characters before NFKC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata

__all__ = ["ITERATIONS", "SALT_BYTES", "is_verifier", "saslprep", "scram_sha_256_verifier"]

ITERATIONS = 4096  # PostgreSQL's default (scram_iterations, settable from PostgreSQL 16)
SALT_BYTES = 16  # PostgreSQL's SCRAM_DEFAULT_SALT_LEN

# The whole alphabet of a verifier: what may be put between quotes in an ALTER ROLE statement.
_VERIFIER = re.compile(r"SCRAM-SHA-256\$[1-9][0-9]{0,9}:[A-Za-z0-9+/]+={0,2}"
                       r"\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=")

_PROHIBITED = (
    stringprep.in_table_c12,  # non-ASCII spaces (already mapped: kept for the letter of RFC 4013)
    stringprep.in_table_c21_c22,  # control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-characters
    stringprep.in_table_c5,  # surrogates
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties
    stringprep.in_table_c9,  # tagging characters
    stringprep.in_table_a1,  # unassigned in Unicode 3.2 (RFC 4013 §2.5)
)


def saslprep(password: str) -> str:
    """The password as PostgreSQL hashes it (see the module docstring)."""
    if password.isascii():
        return password
    mapped = [" " if stringprep.in_table_c12(c) else c
              for c in password if not stringprep.in_table_b1(c)]
    if not mapped:
        return password  # PostgreSQL: "don't allow empty password" -> the raw one is used
    if any(check(c) for c in mapped for check in _PROHIBITED):
        return password
    if any(stringprep.in_table_d1(c) for c in mapped) and (
            any(stringprep.in_table_d2(c) for c in mapped)
            or not stringprep.in_table_d1(mapped[0]) or not stringprep.in_table_d1(mapped[-1])):
        return password
    return unicodedata.normalize("NFKC", "".join(mapped))


def scram_sha_256_verifier(password: str, *, salt: bytes | None = None,
                           iterations: int = ITERATIONS) -> str:
    """The verifier PostgreSQL stores for ``password`` (a fresh random salt unless given)."""
    if not password:
        raise ValueError("an empty password cannot be used to log in")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def is_verifier(text: str) -> bool:
    """Whether ``text`` is a well-formed SCRAM-SHA-256 verifier (and nothing else: no quote, no
    backslash, no space), i.e. safe between single quotes in SQL under any
    ``standard_conforming_strings``."""
    return _VERIFIER.fullmatch(text) is not None
