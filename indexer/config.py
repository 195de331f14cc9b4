"""The TOML configuration (docs/spec.md §9). Unknown keys are refused so that typos do not
pass silently."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from indexer.chain.address import AddressError, cred_from_stake_address, pool_hash_from_bech32
from indexer.chain.types import Point, Slot


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class OgmiosConfig:
    url: str = "ws://127.0.0.1:1337"
    in_flight: int = 100  # pipelined nextBlock requests
    max_message_mib: int = 64  # largest chain-sync frame accepted
    connect_timeout_s: float = 10.0
    reconnect_max_s: float = 30.0  # cap of the exponential reconnect backoff
    query_timeout_s: float = 600.0  # ledger queries (rewardsProvenance is large on mainnet)


@dataclass(frozen=True)
class DatabaseConfig:
    dsn: str | None = None  # None: libpq environment variables (PGHOST, PGUSER, …)


@dataclass(frozen=True)
class IndexerConfig:
    pools: tuple[str, ...] = ()  # bech32 pool ids to account for; empty = every pool
    start: Point | None = None  # None = origin
    # A start after the Byron era leaves the UTxO before it unknown: refused unless this is
    # true, and then every balance is flagged `balances_complete = false` (docs/spec.md §9).
    accept_incomplete_balances: bool = False
    batch_max_blocks: int = 500
    batch_max_mib: int = 32
    live_distance_blocks: int | None = None  # within this many blocks of the tip = live; None=k
    prune_every_batches: int = 50
    progress_interval_s: float = 10.0


@dataclass(frozen=True)
class LogConfig:
    format: str = "console"  # console | json
    level: str = "info"


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

    source: str = "koios"  # koios | blockfrost
    url: str | None = None  # None: the source's public mainnet URL (HISTORY_URLS)
    timeout_s: float = 30.0  # per request (Koios answers 504 after 30 s itself)
    max_attempts: int = 8  # per request, on timeouts, 429 and 5xx
    backoff_first_s: float = 1.0  # first wait after a failure, doubling
    backoff_max_s: float = 60.0  # cap of that backoff
    max_retry_after_s: float = 600.0  # a longer Retry-After is an error, not a wait
    rate_per_s: float | None = None  # client-side limit; None: the source's public limit
    burst: int | None = None  # requests allowed at once; None: the source's public limit
    epochs_per_request: int = 100  # Koios: epochs asked per request (filters), at most
    progress_interval_s: float = 10.0  # seconds between history.progress lines (no terminal)

    def base_url(self) -> str:
        return (self.url or HISTORY_URLS[self.source]).rstrip("/")


@dataclass(frozen=True)
class Config:
    ogmios: OgmiosConfig = field(default_factory=OgmiosConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    indexer: IndexerConfig = field(default_factory=IndexerConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    metadata: MetadataConfig = field(default_factory=MetadataConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    # [aliases]: stake address -> a name operators can read (dashboard, demo, exports)
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


def _section(cls: type, data: dict[str, Any], name: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
    return cls(**data)


def _parse_start(value: Any) -> Point | None:
    if value == "origin" or value is None:
        return None
    if isinstance(value, dict) and set(value) == {"slot", "id"}:
        slot, block_id = value["slot"], value["id"]
        if isinstance(slot, int) and isinstance(block_id, str) and len(block_id) == 64:
            bytes.fromhex(block_id)
            return Point(Slot(slot), block_id.lower())
    raise ConfigError('[indexer] start must be "origin" or { slot = N, id = "<64 hex>" }')


def check_history(cfg: HistoryConfig) -> HistoryConfig:
    """The [history] values, checked (also after command-line overrides)."""
    if cfg.url is not None and not isinstance(cfg.url, str):
        raise ConfigError(f"[history] url must be a string, not {cfg.url!r}")
    if cfg.source not in HISTORY_SOURCES:
        raise ConfigError(f"[history] source must be one of {', '.join(HISTORY_SOURCES)}, "
                          f"not {cfg.source!r}")
    url = cfg.base_url()
    if not url.startswith(("http://", "https://")) or "?" in url or "#" in url:
        raise ConfigError(f"[history] url must be an http(s) base URL such as "
                          f"{HISTORY_URLS[cfg.source]}, not {url!r}")
    for name in ("timeout_s", "backoff_first_s", "backoff_max_s", "max_retry_after_s",
                 "progress_interval_s", "rate_per_s"):
        value = getattr(cfg, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or value <= 0):
            raise ConfigError(f"[history] {name} must be a positive number, not {value!r}")
    for name in ("max_attempts", "burst", "epochs_per_request"):
        value = getattr(cfg, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ConfigError(f"[history] {name} must be a positive integer, not {value!r}")
    return cfg


def _history(data: dict[str, Any]) -> HistoryConfig:
    if "project_id" in data:
        raise ConfigError("[history] project_id: Blockfrost's project id is read from the "
                          "environment (BLOCKFROST_PROJECT_ID), never from a file")
    return check_history(_section(HistoryConfig, data, "history"))


def parse_config(data: dict[str, Any]) -> Config:
    unknown = set(data) - {"ogmios", "database", "indexer", "log", "metrics", "metadata",
                           "aliases", "history"}
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    idx = dict(data.get("indexer", {}))
    try:
        idx["start"] = _parse_start(idx.get("start", "origin"))
        pools = tuple(idx.get("pools", ()))
        for pool in pools:
            pool_hash_from_bech32(pool, checked=True)
        idx["pools"] = pools
    except (AddressError, ValueError) as exc:
        raise ConfigError(f"[indexer]: {exc}") from exc
    db = dict(data.get("database", {}))
    if db.get("dsn") is None and os.environ.get("INDEXER_DSN"):
        db["dsn"] = os.environ["INDEXER_DSN"]
    return Config(
        ogmios=_section(OgmiosConfig, data.get("ogmios", {}), "ogmios"),
        database=_section(DatabaseConfig, db, "database"),
        indexer=_section(IndexerConfig, idx, "indexer"),
        log=_section(LogConfig, data.get("log", {}), "log"),
        metrics=_section(MetricsConfig, data.get("metrics", {}), "metrics"),
        metadata=_section(MetadataConfig, data.get("metadata", {}), "metadata"),
        aliases=_parse_aliases(data.get("aliases", {})),
        history=_history(dict(data.get("history", {}))),
    )


def load_config(path: str | Path) -> Config:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return parse_config(data)
