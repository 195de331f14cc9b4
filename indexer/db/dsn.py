"""Connection strings and URLs: pure rewriting, and the one place where the credentials they
carry are masked before anything is printed or logged.

Forms handled (PostgreSQL DSNs, the Ogmios URL, HTTP APIs' base URLs):

* ``scheme://user:password@host`` — the password; for other schemes than ``postgres(ql)``, the
  whole user part too (hosted services put their key there, ``wss://<key>@host``);
* query parameters that carry secrets (``?password=``, ``?sslpassword=``, ``apikey``,
  ``api_key``, ``token``, ``key``, ``project_id``, anything named like a password, secret or
  token);
* path segments and host labels that look like keys (long, letters and digits mixed, or a known
  prefix such as ``dmtr_`` or Blockfrost's ``mainnet…``);
* libpq ``key=value`` DSNs (``host=… password=…``), quoted values included;
* any value remembered with :func:`remember` (the DSN's password, ``PGPASSWORD``, the Blockfrost
  project id …), wherever it appears in a text.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "is_secret_name", "mask", "mask_text", "remember", "with_database",
           "without_password"]

MASK = "***"
_PG_SCHEMES = ("postgres", "postgresql")
_SECRET_NAMES = {"password", "sslpassword", "passwd", "pwd", "apikey", "api_key", "api-key",
                 "key", "token", "project_id", "projectid", "secret", "auth", "authorization",
                 "access_token", "signature", "sig", "credentials", "dmtr-api-key"}
_SECRET_PARTS = ("password", "passwd", "secret", "token", "apikey", "api_key", "api-key",
                 "project_id", "private_key", "authorization")
_KEY_PREFIXES = ("dmtr_", "mainnet", "preprod", "preview", "sanchonet")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
# ``password=…`` (libpq key=value DSNs), ``'project_id': '…'`` (a dict's repr), ``token: …``
_KV_SECRET = re.compile(
    r"(?i)(['\"]?)\b(password|sslpassword|passwd|project_?id|api[_-]?key|token|secret)\1"
    r"(\s*[:=]\s*)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s'\"]+)")
_KV_PASSWORD = re.compile(r"(?i)(?<!\S)(?:password|sslpassword)\s*=\s*(?:'(?:[^'\\]|\\.)*'|\S+)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]{8,}")
_MIN_REMEMBERED = 4  # shorter values would mask ordinary words; the patterns still apply
_remembered: set[str] = set()


def with_database(dsn: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def without_password(dsn: str) -> tuple[str, bool]:
    """The DSN with its passwords removed (``user:password@``, ``?password=``/``sslpassword=``),
    for a command line to show (psql then asks, or reads PGPASSWORD), and whether there was
    one."""
    if not _URL.fullmatch(dsn.strip()):  # libpq key=value
        stripped = _KV_PASSWORD.sub("", dsn).strip()
        return (stripped, True) if stripped != dsn.strip() else (dsn, False)
    parts = urlsplit(dsn)
    netloc, had = parts.netloc, parts.password is not None
    if had:
        netloc = f"{parts.username or ''}@{netloc.rsplit('@', 1)[1]}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() not in ("password", "sslpassword")]
    query = parts.query
    if len(kept) != len(pairs):
        had, query = True, urlencode(kept)
    if not had:
        return dsn, False
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), True


def is_secret_name(name: str) -> bool:
    """Whether a field, header or query parameter of this name carries a secret."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_PARTS)


def _looks_like_key(text: str) -> bool:
    if text.startswith(_KEY_PREFIXES) and len(text) >= 24:
        return True
    return (len(text) >= 24 and re.fullmatch(r"[A-Za-z0-9_\-]+", text) is not None
            and any(c.isdigit() for c in text) and any(c.isalpha() for c in text))


def remember(*values: str | None) -> None:
    """Values to mask wherever they appear in a text (see :func:`mask_text`)."""
    for value in values:
        if value and len(value) >= _MIN_REMEMBERED:
            _remembered.add(value)
            _remembered.add(unquote(value))


def _mask_query(query: str) -> str:
    out = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and value and is_secret_name(unquote(name)):
            remember(unquote(value))
            value = MASK
        out.append(f"{name}{eq}{value}")
    return "&".join(out)


def _mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname  # raises on a malformed port or bracket
    except ValueError:
        return _mask_pairs(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hostport = netloc.rsplit("@", 1)
        user, colon, password = userinfo.partition(":")
        if parts.scheme.lower() in _PG_SCHEMES:
            remember(unquote(password))
            userinfo = f"{user}:{MASK}" if colon else user
        else:
            # user:key, or a bare key (a hosted service's): remember the secret part only, so
            # that a plain user name ("ogmios") is not masked everywhere else in the text
            remember(unquote(password) if colon else unquote(user))
            userinfo = MASK
        netloc = f"{userinfo}@{hostport}"
    if host:
        for label in host.split("."):
            if _looks_like_key(label):
                remember(label)
                netloc = netloc.replace(label, MASK)
    segments = parts.path.split("/")
    for i, segment in enumerate(segments):
        if _looks_like_key(unquote(segment)):
            remember(unquote(segment))
            segments[i] = MASK
    return urlunsplit((parts.scheme, netloc, "/".join(segments), _mask_query(parts.query),
                       _mask_query(parts.fragment)))


def mask(dsn_or_url: str | None) -> str:
    """A DSN or URL (URL or libpq ``key=value`` form) with its credentials replaced by ``***``,
    safe to print or log. The masked values are remembered (:func:`remember`)."""
    if not dsn_or_url:
        return dsn_or_url or ""
    if _URL.fullmatch(dsn_or_url.strip()):
        return _mask_url(dsn_or_url)
    return mask_text(dsn_or_url)


def _mask_pairs(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        remember(m[4].strip("'\""))
        return f"{m[1]}{m[2]}{m[1]}{m[3]}{MASK}"

    return _BEARER.sub(lambda m: f"{m[1]}{m[2]}{MASK}", _KV_SECRET.sub(one, text))


def mask_text(text: str) -> str:
    """Free text (an error message, a log line) with every DSN, URL, ``password=…`` pair and
    remembered secret in it masked."""
    out, last = [], 0
    for match in _URL.finditer(text):
        out += [_mask_pairs(text[last:match.start()]), _mask_url(match[0])]
        last = match.end()
    out.append(_mask_pairs(text[last:]))
    text = "".join(out)
    for secret in sorted(_remembered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
