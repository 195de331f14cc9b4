"""``indexer rewards fetch``: past epochs' rewards from Koios or Blockfrost (docs/spec.md §5
"History", §9).

For each tracked pool and each of its final epochs (e ≤ the API's and the database's epoch − 2:
rewards credited, the chain's blocks of e complete) that has rows but no usable figures (every
epoch with ``--refresh``): ask the API for L, σ, the owners' stake and blocks made (Koios:
consecutive epochs together; Blockfrost: one pass per pool), check its block count against the
chain's, then store each pool-epoch in its own transaction (``indexer.accounting.fetched``): an
interrupted run leaves no half epoch, and the next run asks only for what is still missing.
Before anything, the network the API serves must be the database's (its network magic).
Figures captured live are never overwritten; where both exist, ``reward_reconciliation``
compares them, and every disagreement beyond the stated uncertainty is logged
(``history.disagreement``) and makes the command exit 4 (cli.EXIT_FINDINGS).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import structlog

from indexer.accounting.fetched import FetchedEpoch, write_fetched
from indexer.chain.address import AddressError, pool_bech32, pool_hash_from_bech32
from indexer.config import Config, ConfigError, HistoryConfig, check_history
from indexer.db.store import Store
from indexer.history.blockfrost import BlockfrostSource
from indexer.history.http import ApiClient
from indexer.history.koios import KoiosSource
from indexer.history.progress import FetchProgress
from indexer.history.source import EpochPlan, Source
from indexer.sync.network import WrongNetwork

__all__ = ["PROJECT_ID_ENV", "FetchOptions", "FetchSummary", "disagreement_count",
           "fetch_rewards", "open_source"]

log = structlog.get_logger("indexer.history.fetch")

PROJECT_ID_ENV = "BLOCKFROST_PROJECT_ID"
# the public limits (docs: Blockfrost 10 requests/s with bursts of 500; Koios' public tier 100
# requests per 10 s per IP and endpoint: 5/s with bursts of 50 never exceeds it in any 10 s)
DEFAULT_RATE = {"koios": (5.0, 50), "blockfrost": (10.0, 500)}
LAST_EPOCH = 2**31 - 1


@dataclass(frozen=True)
class FetchOptions:
    source: str | None = None  # overrides [history] source
    url: str | None = None  # overrides [history] url
    pool: str | None = None  # one pool instead of the tracked ones
    from_epoch: int | None = None
    to_epoch: int | None = None
    refresh: bool = False  # fetch epochs that already have figures too


@dataclass
class FetchSummary:
    pool_epochs: int = 0  # fetched and stored
    imported: int = 0  # of which with usable figures
    unusable: int = 0  # inconsistent with the chain (logged)
    uncertain: int = 0  # F known to within 1 lovelace
    disagreements: int = 0  # live figures contradicted beyond the uncertainty
    requests: int = 0

    @property
    def findings(self) -> bool:
        return bool(self.unusable or self.disagreements)


def history_config(cfg: Config, opts: FetchOptions) -> HistoryConfig:
    hist = cfg.history
    if opts.source is not None and opts.source != hist.source:
        # the other API's default URL (argparse allowed only the known sources)
        hist = replace(hist, source=opts.source, url=None)  # type: ignore[arg-type]
    if opts.url is not None:
        hist = replace(hist, url=opts.url)
    return check_history(hist)


def open_source(hist: HistoryConfig) -> Source:
    """The source's client. Blockfrost's project id is read from the environment only."""
    rate, burst = DEFAULT_RATE[hist.source]
    rate, burst = hist.rate_per_s or rate, hist.burst or burst
    if hist.source == "blockfrost":
        project_id = os.environ.get(PROJECT_ID_ENV, "").strip()
        if not project_id:
            raise ConfigError(f"Blockfrost needs a project id in the environment variable "
                              f"{PROJECT_ID_ENV} (never in a file)")
        http = ApiClient("blockfrost", hist, rate_per_s=rate, burst=burst,
                         headers={"project_id": project_id}, secrets=[project_id])
        return BlockfrostSource(http)
    return KoiosSource(ApiClient("koios", hist, rate_per_s=rate, burst=burst))


async def _check_network(store: Store, source: Source) -> int:
    """The API's current epoch, once its network is known to be the database's."""
    ours = await store.get_meta("network")
    if not ours or ours.get("magic") is None:
        raise ConfigError("this database has followed no chain yet (no network recorded): "
                          "run `indexer run` first")
    api = await source.network()
    if int(ours["magic"]) != api.magic:
        raise WrongNetwork(f"the API at {source.http.base_url} serves network magic "
                           f"{api.magic}{f' ({api.name})' if api.name else ''}, this database "
                           f"indexes {ours.get('name')} (magic {ours['magic']}): use the "
                           f"API's URL for {ours.get('name')}")
    return api.tip_epoch


async def _pools(store: Store, cfg: Config, opts: FetchOptions) -> list[str]:
    known = [r["pool_id"] for r in await store.query("history_pools")]
    if opts.pool is not None:
        try:
            pool = pool_bech32(pool_hash_from_bech32(opts.pool.strip(), checked=True))
        except AddressError as exc:
            raise ConfigError(f"--pool {opts.pool!r}: not a pool id: {exc}") from exc
        if pool not in known:
            raise ConfigError(f"--pool {pool}: this database has no epoch of that pool (is it "
                              "in [indexer] pools, and registered on this network?)")
        return [pool]
    if cfg.indexer.pools:
        tracked = [pool_bech32(pool_hash_from_bech32(x)) for x in cfg.indexer.pools]
        missing = [p for p in tracked if p not in known]
        if missing:
            log.warning("history.pools_without_epochs", pools=missing)
        return [p for p in tracked if p in known]
    if len(known) > 20:
        log.warning("history.every_pool", pools=len(known),
                    hint="set [indexer] pools or --pool to fetch fewer")
    return known


def _plans(rows: Sequence[Any]) -> list[EpochPlan]:
    return [EpochPlan(int(r["epoch_no"]), r["reward_account"], tuple(r["owners"]),
                      int(r["cost_lovelace"]), Fraction(int(r["margin_num"]),
                                                        int(r["margin_den"])))
            for r in rows]


def _spans(plans: list[EpochPlan], longest: int | None) -> list[list[EpochPlan]]:
    """Koios (``longest``: its epochs per request): consecutive epochs together, since its
    filters ask for a range. Blockfrost (None) has no epoch filter and reads every listing
    from its start: one pass for all of a pool's epochs."""
    if longest is None:
        return [plans] if plans else []
    spans: list[list[EpochPlan]] = []
    for plan in plans:
        if spans and plan.epoch == spans[-1][-1].epoch + 1 and len(spans[-1]) < longest:
            spans[-1].append(plan)
        else:
            spans.append([plan])
    return spans


async def _targets(store: Store, cfg: Config, opts: FetchOptions, source: Source,
                   first: int, last: int) -> tuple[dict[str, list[EpochPlan]], int]:
    """The pool-epochs to fetch, and the last epoch considered."""
    pools = await _pools(store, cfg, opts)  # a wrong --pool: before any request
    tip = await _check_network(store, source)
    ours = (await store.checkpoint()).epoch
    # final epochs only: their rewards credited, on the API's side and on ours (so that the
    # chain's blocks of e are complete, and out of a rollback's reach)
    last = min(last, tip - 2, -1 if ours is None else ours - 2)
    plans = {p: _plans(await store.query("fetch_targets", p, first, last, opts.refresh))
             for p in pools}
    log.info("history.start", source=source.name, url=source.http.base_url, pools=len(pools),
             pool_epochs=sum(len(v) for v in plans.values()), api_epoch=tip,
             database_epoch=ours, last_epoch=last, refresh=opts.refresh)
    return plans, last


async def fetch_rewards(cfg: Config, opts: FetchOptions) -> FetchSummary:
    hist = history_config(cfg, opts)
    first, last = opts.from_epoch or 0, LAST_EPOCH if opts.to_epoch is None else opts.to_epoch
    if first > last:
        raise ConfigError(f"--from-epoch {first} is after --to-epoch {last}")
    source = open_source(hist)
    store = await Store.connect(cfg.database.dsn)
    summary = FetchSummary()
    try:
        async with source.http:
            plans, last = await _targets(store, cfg, opts, source, first, last)
            progress = FetchProgress(sum(len(v) for v in plans.values()),
                                     interval_s=hist.progress_interval_s)
            longest = hist.epochs_per_request if hist.source == "koios" else None
            try:
                for pool, pool_plans in plans.items():
                    for span in _spans(pool_plans, longest):
                        await _fetch_span(store, source, pool, span, summary, progress)
            finally:
                summary.requests = source.http.requests
                progress.close(summary.requests)
        summary.disagreements = await _report_disagreements(store, list(plans), first, last)
    finally:
        await store.close()
    log.info("history.done", source=hist.source, pool_epochs=summary.pool_epochs,
             imported=summary.imported, uncertain=summary.uncertain,
             unusable=summary.unusable, disagreements=summary.disagreements,
             requests=summary.requests)
    return summary


async def _blocks_agree(store: Store, item: FetchedEpoch) -> bool:
    """The API's block count must be the chain's (complete: the database passed B(e+2)); a
    difference means another pool or network, or a gap in the API's data (db-sync has
    missed epochs): such an epoch is not stored, and asked again next time."""
    found = await store.query("chain_blocks_made", item.pool_id, item.epoch)
    chain = int(found[0]["blocks"]) if found else 0
    if chain == item.blocks_made:
        return True
    log.error("history.blocks_differ", pool_id=item.pool_id, epoch=item.epoch,
              source=item.source, api_blocks=item.blocks_made, chain_blocks=chain)
    return False


async def _fetch_span(store: Store, source: Source, pool: str, span: list[EpochPlan],
                      summary: FetchSummary, progress: FetchProgress) -> None:
    fetched = await source.fetch(pool, span)
    for item in fetched:
        if not await _blocks_agree(store, item):
            summary.unusable += 1
            progress.advance(pool, item.epoch, source.http.requests)
            continue
        async with store.transaction() as tx:
            figures = await write_fetched(tx, item)
        summary.pool_epochs += 1
        if figures is not None and figures.problem is not None:
            summary.unusable += 1
            log.error("history.unusable_figures", pool_id=pool, epoch=item.epoch,
                      source=item.source, detail=figures.detail,
                      leader_reward_lovelace=item.leader_reward)
        elif figures is not None:
            summary.imported += 1
            summary.uncertain += figures.fee_uncertainty
        progress.advance(pool, item.epoch, source.http.requests)


async def _report_disagreements(store: Store, pools: list[str], first: int, last: int) -> int:
    rows = await store.query("reward_disagreements", pools, first, last)
    for r in rows:
        log.error("history.disagreement", pool_id=r["pool_id"], epoch=r["epoch_no"],
                  live_source=r["source_a"], fetched_source=r["source_b"],
                  live_leader_reward_lovelace=r["leader_reward_a"],
                  fetched_leader_reward_lovelace=r["leader_reward_b"],
                  live_fee_lovelace=r["operator_fees_a"],
                  fetched_fee_lovelace=r["operator_fees_b"],
                  fee_uncertainty_lovelace=r["fee_uncertainty_b"])
    return len(rows)


async def disagreement_count(store: Store) -> int:
    """Every live pool-epoch a fetch contradicts beyond its uncertainty: for a gauge such as
    ``indexer_reward_disagreements`` (the metrics module reads it at scrape time)."""
    return len(await store.query("reward_disagreements", None, 0, LAST_EPOCH))
