"""Figures of past epochs fetched from a public API (docs/spec.md §5 "History"), stored and split.

What the API said is kept whole in ``reward_fetch`` (internal, never rolled back: it is not
derived from the chain). The figures shown (``pool_reward`` and ``owner_reward`` with the API's
name as source) are derived from it and the chain's P_e (cost, margin, owners) by inverting the
leader formula (``indexer.accounting.inversion``), tagged like the materialization of the epoch
they split: a rollback that undoes the materialization undoes them, and the boundary that
materializes the epoch again derives them again (``resplit_fetched``), so that the result
equals a straight run. The live capture is never overwritten: both rows stay, the views pick
the live one and ``reward_reconciliation`` compares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

import structlog

from indexer.accounting.inversion import InversionError, reconstruct
from indexer.accounting.splits import PoolFigures, write_split
from indexer.db.store import StoreTx

__all__ = ["FetchedEpoch", "figures_from_fetch", "resplit_fetched", "write_fetched"]

log = structlog.get_logger("indexer.accounting.fetched")


@dataclass(frozen=True, slots=True)
class FetchedEpoch:
    """One pool-epoch as an API reports it. ``stakes`` maps the credential hex (header byte
    and hash, as stored) of each account asked (P_e's owners) to the pool it was delegated to
    in S_e (None: not delegated) and its active stake there."""

    pool_id: str
    epoch: int
    source: str  # 'koios' | 'blockfrost'
    leader_reward: int  # L credited to RA(e) for the pool, earned in e
    pool_stake: int  # σ
    blocks_made: int
    api_fee: int | None  # the API's operator fee, from distributed rewards
    api_rewards: int | None  # the API's distributed total
    stakes: Mapping[str, tuple[str | None, int]]
    urls: tuple[str, ...]
    retrieved_at: datetime


def _stakes(value: Any) -> dict[str, tuple[str | None, int]]:
    return {cred: (pool, int(stake)) for cred, (pool, stake) in dict(value).items()}


def figures_from_fetch(row: Any, pool_id: str, leader: int, pool_stake: int, blocks: int,
                       api_fee: int | None, stakes: Mapping[str, tuple[str | None, int]]
                       ) -> PoolFigures:
    """The figures of a ``pools_of_epoch`` row from a fetch: o sums the API's stake of P_e's
    owners delegated to the pool (an owner the API has no row for counts 0). A function of the
    fetch and P_e only, so that deriving them again after a rollback gives the same. When no R
    gives L, they are ``inconsistent``."""
    owners = {bytes(c).hex() for c, own in zip(row["creds"], row["is_owner"], strict=True)
              if own}
    owners_stake = sum(stake for cred, (pool, stake) in stakes.items()
                       if cred in owners and pool == pool_id)
    margin = Fraction(int(row["margin_num"]), int(row["margin_den"]))
    try:
        rec = reconstruct(leader, int(row["cost_lovelace"]), margin, owners_stake, pool_stake,
                          blocks, api_fee)
    except InversionError as exc:
        return PoolFigures(None, leader, blocks, owners_stake, "inconsistent", str(exc))
    return PoolFigures(rec.total_rewards, leader, blocks, owners_stake, fee_low=rec.fee_low,
                       fee_high=rec.fee_high, fee_uncertainty=rec.fee_uncertainty_lovelace)


async def _derive(tx: StoreTx, row: Any, epoch: int, source: str, leader: int,
                  pool_stake: int, blocks: int, api_fee: int | None,
                  stakes: Mapping[str, tuple[str | None, int]]) -> PoolFigures:
    figures = figures_from_fetch(row, row["pool_id"], leader, pool_stake, blocks, api_fee,
                                 stakes)
    await tx.run("delete_fetched_reward", row["pool_id"], epoch)
    return await write_split(tx, int(row["boundary_epoch"]), row, epoch, source, figures)


async def write_fetched(tx: StoreTx, item: FetchedEpoch) -> PoolFigures | None:
    """Store one fetch and, if its epoch is materialized, its figures and split (one
    transaction per pool-epoch: an interrupted fetch leaves no half epoch). Returns the
    figures written, or None when the epoch has no rows (yet)."""
    await tx.rows("lock_checkpoint")  # not inside a daemon's batch (it may roll back)
    await tx.run("upsert_reward_fetch", item.pool_id, item.epoch, item.source,
                 item.leader_reward, item.pool_stake, item.blocks_made, item.api_fee,
                 item.api_rewards, {c: [p, s] for c, (p, s) in item.stakes.items()},
                 list(item.urls), item.retrieved_at)
    rows = await tx.rows("pools_of_epoch", item.epoch, [item.pool_id])
    if not rows:
        return None
    return await _derive(tx, rows[0], item.epoch, item.source, item.leader_reward,
                         item.pool_stake, item.blocks_made, item.api_fee, item.stakes)


async def resplit_fetched(tx: StoreTx, epoch: int) -> int:
    """After ``epoch`` was materialized (again, after a rollback): derive the figures of the
    fetches stored for it."""
    fetched = await tx.rows("fetches_of_epoch", epoch, None)
    if not fetched:
        return 0
    rows = {r["pool_id"]: r for r in
            await tx.rows("pools_of_epoch", epoch, [f["pool_id"] for f in fetched])}
    for f in fetched:
        row = rows.get(f["pool_id"])
        if row is None:
            continue
        figures = await _derive(tx, row, epoch, f["source"], int(f["leader_reward"]),
                                int(f["pool_stake"]), int(f["blocks_made"]),
                                None if f["api_fee"] is None else int(f["api_fee"]),
                                _stakes(f["stakes"]))
        if figures.problem is not None:
            log.warning("history.inconsistent_figures", pool_id=row["pool_id"], epoch=epoch,
                        detail=figures.detail)
    return len(rows)
