"""The TOML configuration (docs/spec.md §9), validated when it is loaded: a wrong key, type or
value is a ``ConfigError`` naming the key (`indexer` exits 2), never a surprise later.

Each section is a frozen dataclass; ``Config``'s fields are the sections. The checks come from
the field types, so a new section gets them without code of its own:

- ``int``, ``float`` (an integer is accepted), ``bool``, ``str``, ``X | None``,
  ``tuple[X, ...]`` (a TOML array) and ``Literal[...]`` (one of the values);
- by name: ``*_s`` (seconds) and ``*_mib`` (sizes) must be > 0, ``port``/``*_port`` within
  0..65535, ``url``/``*_url`` an absolute URL (an explicit check of the same kind replaces
  these);
- ``Annotated[T, check, ...]`` adds checks: ``AtLeast(n)``, ``Schemes("ws", "wss")``,
  ``Parse(fn)`` (``fn`` turns the TOML value into the field's value or raises ``ValueError``).

Unknown sections and keys are refused so that typos do not pass silently.
"""

from __future__ import annotations

import os
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from indexer.chain.address import AddressError, cred_from_stake_address, pool_hash_from_bech32
from indexer.chain.types import Point, Slot


class ConfigError(ValueError):
    pass


# --- checks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtLeast:
    minimum: int

    def problem(self, value: Any) -> str | None:
        return None if value >= self.minimum else f"must be at least {self.minimum}"


@dataclass(frozen=True)
class Positive:
    def problem(self, value: Any) -> str | None:
        return None if value > 0 else "must be greater than 0"


@dataclass(frozen=True)
class Within:
    low: int
    high: int

    def problem(self, value: Any) -> str | None:
        ok = self.low <= value <= self.high
        return None if ok else f"must be within {self.low}..{self.high}"


@dataclass(frozen=True)
class Schemes:
    """An absolute URL (scheme and host); with names, one of these schemes."""

    names: tuple[str, ...] = ()

    def __init__(self, *names: str) -> None:
        object.__setattr__(self, "names", names)

    def problem(self, value: Any) -> str | None:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 -- raises ValueError on a port out of range
        except ValueError as exc:
            return f"is not a URL ({exc})"
        wanted = " or ".join(n + "://" for n in self.names)
        if not parts.scheme or not parts.hostname:
            return f"must be an absolute {wanted or 'scheme://'} URL with a host"
        if self.names and parts.scheme not in self.names:
            return f"must be a {wanted} URL"
        return None


@dataclass(frozen=True)
class Parse:
    fn: Callable[[Any], Any]


def _conventional(name: str) -> list[Any]:
    if name.endswith(("_s", "_mib")):
        return [Positive()]
    if name == "port" or name.endswith("_port"):
        return [Within(0, 65535)]
    if name == "url" or name.endswith("_url"):
        return [Schemes()]
    return []


# --- parsers for values TOML cannot spell directly ---------------------------------------------


def _parse_start(value: Any) -> Point | None:
    if value == "origin":
        return None
    if isinstance(value, dict) and set(value) == {"slot", "id"}:
        slot, block_id = value["slot"], value["id"]
        if type(slot) is int and 0 <= slot < 1 << 63 and isinstance(block_id, str) \
                and len(block_id) == 64:
            bytes.fromhex(block_id)
            return Point(Slot(slot), block_id.lower())
    raise ValueError('must be "origin" or { slot = N, id = "<64 hex>" }')


def _parse_pools(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError("must be an array of bech32 pool ids")
    for pool in value:
        try:
            pool_hash_from_bech32(pool, checked=True)
        except AddressError as exc:
            raise ValueError(f"{pool!r}: {exc}") from exc
    return tuple(value)


def _parse_file(value: Any) -> str | None:
    if not isinstance(value, str):
        raise ValueError("must be a file path")
    if not os.access(value, os.R_OK) or not os.path.isfile(value):
        raise ValueError(f"{value} is not a readable file")
    return value


# --- the sections ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OgmiosConfig:
    url: Annotated[str, Schemes("ws", "wss")] = "ws://127.0.0.1:1337"
    in_flight: Annotated[int, AtLeast(1)] = 100  # pipelined nextBlock requests
    max_message_mib: int = 64  # largest chain-sync frame accepted (a larger block is fatal)
    max_query_mib: int = 512  # largest ledger-query answer (rewardsProvenance is large)
    connect_timeout_s: float = 10.0
    reconnect_max_s: float = 30.0  # cap of the exponential reconnect backoff
    query_timeout_s: float = 600.0  # ledger queries (rewardsProvenance is large on mainnet)
    stall_timeout_s: float = 60.0  # no block though behind, or no answer at all: reconnect
    ca_file: Annotated[str | None, Parse(_parse_file)] = None  # CA bundle for wss:// (PEM)


@dataclass(frozen=True)
class DatabaseConfig:
    dsn: str | None = None  # None: INDEXER_DSN, else libpq environment variables (PGHOST, …)
    connect_timeout_s: float = 10.0
    query_timeout_s: float = 60.0  # one statement outside a batch (reads, the lock, meta)
    batch_timeout_s: float = 300.0  # one statement of a batch or an epoch boundary
    keepalive_s: float = 30.0  # TCP keepalive idle time; also how often the lock is checked


@dataclass(frozen=True)
class IndexerConfig:
    pools: Annotated[tuple[str, ...], Parse(_parse_pools)] = ()  # empty = every pool
    start: Annotated[Point | None, Parse(_parse_start)] = None  # None = origin
    # A start after the Byron era leaves the UTxO before it unknown: refused unless this is
    # true, and then every balance is flagged `balances_complete = false` (docs/spec.md §9).
    accept_incomplete_balances: bool = False
    batch_max_blocks: Annotated[int, AtLeast(1)] = 500
    batch_max_mib: int = 32
    live_distance_blocks: int | None = None  # within this many blocks of the tip = live; None=k
    prune_every_batches: Annotated[int, AtLeast(1)] = 50
    progress_interval_s: float = 10.0
    pledge_check_interval_s: float = 60.0  # pledge watch: least time between two checks


@dataclass(frozen=True)
class LogConfig:
    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True)
class MetricsConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = no metrics endpoint (/metrics, /health, /ready)
    stall_after_s: float = 600.0  # /health: "stalled" when behind and nothing committed since
    ogmios_poll_s: float = 10.0  # how often Ogmios' /health is read for the node's state


@dataclass(frozen=True)
class MetadataConfig:
    fetch: bool = True  # fetch the tracked pools' metadata (ticker, name) off the hot path
    refresh_s: float = 3600.0  # how often the fetcher looks for certificates to fetch
    retry_s: float = 21600.0  # a failed fetch is tried again after this long
    timeout_s: float = 10.0  # one fetch, connection to last byte


HISTORY_SOURCES = ("koios", "blockfrost")
# The public mainnet base URLs (docs/spec.md §9: `url` is the API's full base URL)
HISTORY_URLS = {"koios": "https://api.koios.rest/api/v1",
                "blockfrost": "https://cardano-mainnet.blockfrost.io/api/v0"}


@dataclass(frozen=True)
class HistoryConfig:
    """`indexer rewards fetch` (docs/spec.md §5 "History"). Blockfrost's project id is never
    here: it comes from the environment (BLOCKFROST_PROJECT_ID) only."""

    source: Literal["koios", "blockfrost"] = "koios"
    url: str | None = None  # None: the source's public mainnet URL (HISTORY_URLS)
    timeout_s: float = 30.0  # per request (Koios answers 504 after 30 s itself)
    max_attempts: Annotated[int, AtLeast(1)] = 8  # per request, on timeouts, 429 and 5xx
    backoff_first_s: float = 1.0  # first wait after a failure, doubling
    backoff_max_s: float = 60.0  # cap of that backoff
    max_retry_after_s: float = 600.0  # a longer Retry-After is an error, not a wait
    rate_per_s: float | None = None  # client-side limit; None: the source's public limit
    burst: Annotated[int | None, AtLeast(1)] = None  # requests at once; None: the source's
    epochs_per_request: Annotated[int, AtLeast(1)] = 100  # Koios: epochs asked per request
    progress_interval_s: float = 10.0  # seconds between history.progress lines (no terminal)

    def base_url(self) -> str:
        return (self.url or HISTORY_URLS[self.source]).rstrip("/")


SHARE_BASES = ("certificate", "delegated_owners")


@dataclass(frozen=True)
class AccountingConfig:
    # docs/spec.md §4: who shares the stake rewards S. "certificate": owners and the reward
    # account by balance (Adastry); "delegated_owners": the owners delegated to the pool
    share_accounts: Literal["certificate", "delegated_owners"] = "certificate"


@dataclass(frozen=True)
class Config:
    ogmios: OgmiosConfig = field(default_factory=OgmiosConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    indexer: IndexerConfig = field(default_factory=IndexerConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    metadata: MetadataConfig = field(default_factory=MetadataConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    accounting: AccountingConfig = field(default_factory=AccountingConfig)
    # [aliases]: stake address -> a name operators can read (dashboard, demo, exports); a
    # table of its own kind, parsed by _parse_aliases
    aliases: tuple[tuple[str, str], ...] = ()


ALIAS_MAX_CHARS = 64


def _parse_aliases(data: Any) -> tuple[tuple[str, str], ...]:
    """``[aliases] "stake1…" = "Alice"``: valid stake addresses, non-empty printable names of
    at most ALIAS_MAX_CHARS characters, one name per address and no name used twice."""
    if not isinstance(data, dict):
        raise ConfigError("[aliases] must be a table of \"stake address\" = \"name\"")
    seen: dict[str, str] = {}
    out = []
    for address, alias in data.items():
        try:
            cred_from_stake_address(address, checked=True)
        except (AddressError, ValueError) as exc:
            raise ConfigError(f"[aliases]: {address!r} is not a stake address: {exc}") from exc
        if not isinstance(alias, str) or not alias.strip() or not alias.isprintable() \
                or len(alias) > ALIAS_MAX_CHARS:
            raise ConfigError(f"[aliases] {address}: the alias must be a non-empty printable "
                              f"string of at most {ALIAS_MAX_CHARS} characters, not {alias!r}")
        alias = alias.strip()
        if alias in seen:
            raise ConfigError(f"[aliases]: {alias!r} names both {seen[alias]} and {address}")
        seen[alias] = address
        out.append((address, alias))
    return tuple(sorted(out))


def check_history(cfg: HistoryConfig) -> HistoryConfig:
    """What the types cannot say about [history] (also checked after command-line overrides):
    an http(s) base URL, and a known source."""
    if cfg.source not in HISTORY_SOURCES:
        raise ConfigError(f"[history] source must be one of {', '.join(HISTORY_SOURCES)}, "
                          f"not {cfg.source!r}")
    url = cfg.base_url()
    if not url.startswith(("http://", "https://")) or "?" in url or "#" in url:
        raise ConfigError(f"[history] url must be an http(s) base URL such as "
                          f"{HISTORY_URLS[cfg.source]}, not {url!r}")
    return cfg


# --- validation --------------------------------------------------------------------------------


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _type_name(tp: Any) -> str:
    return _KINDS.get(tp) or str(getattr(tp, "__name__", tp))


def _typed(key: str, tp: Any, raw: Any) -> Any:
    """``raw`` as a value of type ``tp``, or ConfigError."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _typed(key, option, raw)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if len(errors) == 1 else ConfigError(
            f"{key}: must be {' or '.join(map(_type_name, options))}, not {raw!r}")
    if origin is Literal:
        if raw in get_args(tp) and type(raw) is str:
            return raw
        choices = " | ".join(repr(a) for a in get_args(tp))
        raise ConfigError(f"{key}: must be one of {choices}, not {raw!r}")
    if origin is tuple:
        if not isinstance(raw, list):
            raise ConfigError(f"{key}: must be an array")
        item = get_args(tp)[0]
        return tuple(_typed(f"{key}[{i}]", item, v) for i, v in enumerate(raw))
    if tp is float and type(raw) in (int, float):
        return float(raw)
    if tp in (int, bool, str) and type(raw) is tp:
        return raw
    if tp in _KINDS:
        raise ConfigError(f"{key}: must be {_KINDS[tp]}, not {raw!r}")
    raise TypeError(f"{key}: the config type {tp} needs a Parse(...) annotation")


def _value(key: str, name: str, hint: Any, raw: Any) -> Any:
    checks: list[Any] = []
    if get_origin(hint) is Annotated:
        hint, *checks = get_args(hint)
    parse = next((c for c in checks if isinstance(c, Parse)), None)
    if parse is not None:
        try:
            value = parse.fn(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{key}: {exc}") from exc
    else:
        value = _typed(key, hint, raw)
    if value is None:
        return None
    given = {type(c) for c in checks}
    for check in [*(c for c in _conventional(name) if type(c) not in given), *checks]:
        if isinstance(check, Parse):
            continue
        problem = check.problem(value)
        if problem is not None:
            raise ConfigError(f"{key}: {problem} (got {raw!r})")
    return value


def _section(cls: type, data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{name}] must be a table")
    hints = get_type_hints(cls, include_extras=True)
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
    return cls(**{k: _value(f"[{name}] {k}", k, hints[k], v) for k, v in data.items()})


def parse_config(data: dict[str, Any], env: Mapping[str, str] | None = None) -> Config:
    """A Config from parsed TOML. ``[database] dsn`` defaults to ``INDEXER_DSN`` (``env``,
    default ``os.environ``)."""
    env = os.environ if env is None else env
    hints = get_type_hints(Config)
    sections = {f.name: hints[f.name] for f in fields(Config) if f.name != "aliases"}
    unknown = set(data) - set(sections) - {"aliases"}
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    if "project_id" in data.get("history", {}):
        raise ConfigError("[history] project_id: Blockfrost's project id is read from the "
                          "environment (BLOCKFROST_PROJECT_ID), never from a file")
    cfg = Config(**{name: _section(cls, data[name], name)
                    for name, cls in sections.items() if name in data},
                 aliases=_parse_aliases(data.get("aliases", {})))
    check_history(cfg.history)
    if cfg.database.dsn is None and env.get("INDEXER_DSN"):
        cfg = replace(cfg, database=replace(cfg.database, dsn=env["INDEXER_DSN"]))
    return cfg


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """The file at ``path`` (None: every default), then ``INDEXER_DSN`` if the file names no
    DSN."""
    if path is None:
        return parse_config({}, env)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return parse_config(data, env)


def with_dsn(cfg: Config, dsn: str) -> Config:
    """``cfg`` with another database DSN (``--dsn``)."""
    return replace(cfg, database=replace(cfg.database, dsn=dsn))
