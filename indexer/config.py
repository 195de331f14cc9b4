"""The TOML configuration (docs/spec.md §9). Unknown keys are refused so that typos do not
pass silently."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from indexer.chain.address import AddressError, pool_hash_from_bech32
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
    batch_max_blocks: int = 500
    batch_max_mib: int = 32
    live_distance_blocks: int | None = None  # within this many blocks of the tip = live; None=k
    prune_every_batches: int = 50
    progress_interval_s: float = 10.0
    pledge_check_interval_s: float = 60.0  # pledge watch: least time between two checks


@dataclass(frozen=True)
class LogConfig:
    format: str = "console"  # console | json
    level: str = "info"


@dataclass(frozen=True)
class MetricsConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = no metrics endpoint


SHARE_BASES = ("certificate", "delegated_owners")


@dataclass(frozen=True)
class AccountingConfig:
    # docs/spec.md §4: who shares the stake rewards S. "certificate": owners and the reward
    # account by balance (Adastry); "delegated_owners": the owners delegated to the pool
    share_accounts: str = "certificate"

    def __post_init__(self) -> None:
        if self.share_accounts not in SHARE_BASES:
            raise ConfigError(f"[accounting] share_accounts must be one of "
                              f"{', '.join(map(repr, SHARE_BASES))}, "
                              f"not {self.share_accounts!r}")


@dataclass(frozen=True)
class Config:
    ogmios: OgmiosConfig = field(default_factory=OgmiosConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    indexer: IndexerConfig = field(default_factory=IndexerConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    accounting: AccountingConfig = field(default_factory=AccountingConfig)


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
    unknown = set(data) - {"ogmios", "database", "indexer", "log", "metrics", "accounting"}
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
        accounting=_section(AccountingConfig, data.get("accounting", {}), "accounting"),
    )


def load_config(path: str | Path) -> Config:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return parse_config(data)
