"""Network facts the daemon discovers at start (genesis, era summaries, the pool deposit, the
pools to account for), and the epoch calendar that follows the era-summary horizon."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from indexer.chain.address import network_id_of, pool_hash_from_bech32
from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.config import Config
from indexer.db.store import Store
from indexer.sync.ogmios import LedgerClient, QueryError, ada_lovelace

log = structlog.get_logger("indexer.sync.network")

DEFAULT_POOL_DEPOSIT = 500_000_000


class WrongNetwork(Exception):
    """The database indexes another network than the one Ogmios serves."""


@dataclass(frozen=True)
class NetworkInfo:
    network_id: int  # 1 mainnet, 0 test networks
    k: int  # security parameter
    pool_deposit: int  # lovelace refunded at a pool's retirement
    pools: tuple[bytes, ...] | None  # pool hashes to materialize; None = all
    share_accounts: str = "certificate"  # the share basis, [accounting] (docs/spec.md §4)


class Epochs:
    """The epoch calendar, refreshed from ``eraSummaries`` when the chain passes its horizon
    (the end of the last era is only a forecast); beyond that the last era is extrapolated."""

    def __init__(self, calendar: EpochCalendar,
                 refresh: Callable[[], Awaitable[EpochCalendar]] | None = None) -> None:
        self.calendar, self._refresh = calendar, refresh
        self._refreshed_for: int | None = None

    async def ensure(self, slot: int) -> None:
        horizon = self.calendar.horizon_slot
        if (self._refresh is not None and horizon is not None and slot >= horizon
                and self._refreshed_for != horizon):
            self._refreshed_for = horizon
            self.calendar = await self._refresh()

    def epoch_of(self, slot: int) -> int:
        return int(self.calendar.epoch_of(slot))


def _maybe_lovelace(value: Any) -> int | None:
    try:
        return ada_lovelace(value)
    except ValueError:
        return value if type(value) is int else None


async def _pool_deposit(ledger: LedgerClient, genesis: dict[str, Any]) -> int:
    """The current pool deposit (protocol parameters), else the genesis value."""
    try:
        params = await ledger.request("queryLedgerState/protocolParameters")
        found = _maybe_lovelace((params or {}).get("stakePoolDeposit"))
        if found is not None:
            return found
    except QueryError:
        pass
    found = _maybe_lovelace(genesis.get("initialParameters", {}).get("stakePoolDeposit"))
    return found if found is not None else DEFAULT_POOL_DEPOSIT


async def discover_network(ledger: LedgerClient, store: Store, cfg: Config
                           ) -> tuple[NetworkInfo, Epochs]:
    genesis = await ledger.shelley_genesis()
    network = str(genesis.get("network", "testnet"))
    magic = genesis.get("networkMagic")
    stored = await store.get_meta("network")
    if stored is not None and stored.get("magic") != magic:
        raise WrongNetwork(f"this database indexes network magic {stored.get('magic')}, "
                           f"Ogmios serves {magic}: use another database")
    summaries = await ledger.era_summaries()
    await store.set_meta("network", {"name": network, "magic": magic,
                                     "k": genesis["securityParameter"],
                                     "system_start": genesis.get("startTime")})
    await store.set_meta("era_summaries", summaries)

    async def refresh() -> EpochCalendar:
        fresh = await ledger.era_summaries()
        await store.set_meta("era_summaries", fresh)
        return EpochCalendar(parse_era_summaries(fresh))

    pools = (tuple(pool_hash_from_bech32(p) for p in cfg.indexer.pools)
             if cfg.indexer.pools else None)
    await store.set_meta("tracked_pools", {"pools": None if pools is None
                                           else [p.hex() for p in pools]})
    net = NetworkInfo(network_id=network_id_of(network), k=int(genesis["securityParameter"]),
                      pool_deposit=await _pool_deposit(ledger, genesis), pools=pools,
                      share_accounts=cfg.accounting.share_accounts)
    log.info("network", name=network, magic=magic, k=net.k, pool_deposit=net.pool_deposit,
             pools="all" if pools is None else len(pools))
    return net, Epochs(EpochCalendar(parse_era_summaries(summaries)), refresh)
