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


@dataclass(frozen=True)
class Config:
    ogmios: OgmiosConfig = field(default_factory=OgmiosConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    indexer: IndexerConfig = field(default_factory=IndexerConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    metadata: MetadataConfig = field(default_factory=MetadataConfig)
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


def parse_config(data: dict[str, Any]) -> Config:
    unknown = set(data) - {"ogmios", "database", "indexer", "log", "metrics", "metadata",
                           "aliases"}
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
    )


def load_config(path: str | Path) -> Config:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return parse_config(data)
