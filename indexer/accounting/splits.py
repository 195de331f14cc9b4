"""Writing a pool-epoch's reward figures and their exact owner split (docs/spec.md §5), for
every source: the live capture (``ledger``), file imports (``import``) and the boundary that
materializes an epoch which already has imported figures.

Tags (rollback safety): the figures carry ``figures_tag`` (the capture's boundary X, or -1 for
an import: never rolled back); the split carries the later of that tag and the boundary that
materialized the balances it divides, so that a rollback which undoes either also undoes the
split; an epoch re-materialized after a rollback is split again (``resplit_imports``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import structlog

from indexer.accounting.rewards import PoolSplit, split_pool_epoch
from indexer.db.store import StoreTx

log = structlog.get_logger("indexer.accounting.splits")

OWNER_REWARD_COLUMNS = ("boundary_epoch", "pool_id", "epoch_no", "source", "cred", "op_rewards",
                        "stake_rewards")


@dataclass(frozen=True, slots=True)
class PoolFigures:
    """One pool-epoch's figures from a source; ``problem`` names what made them unusable."""

    total: int | None  # R
    leader: int | None  # L
    blocks: int | None
    owners_stake: int | None  # the owners' stake in the ledger's snapshot (pledge_met)
    problem: str | None = None  # 'unreadable' | 'inconsistent'
    detail: str | None = None
    # figures rebuilt from an API's L (docs/spec.md §5 "History"): the F values consistent with
    # L, and the uncertainty of the one chosen (0 for every exact source)
    fee_low: int | None = None
    fee_high: int | None = None
    fee_uncertainty: int = 0


def split_row(row: Any, figures: PoolFigures) -> tuple[list[bytes], list[str], PoolSplit]:
    """The accounts of a ``pools_of_epoch`` row, their sort keys and the exact split
    (``ValueError`` when the figures contradict the row's parameters)."""
    assert figures.total is not None and figures.leader is not None
    creds: list[bytes] = list(row["creds"])
    keys = [c[1:].hex() for c in creds]  # SPEC: ties broken by ascending credential hex
    owners = [k for k, own in zip(keys, row["is_owner"], strict=True) if own]
    split = split_pool_epoch(figures.total, figures.leader, int(row["cost_lovelace"]),
                             Fraction(int(row["margin_num"]), int(row["margin_den"])),
                             owners, dict(zip(keys, row["balances"], strict=True)))
    return creds, keys, split


async def write_split(tx: StoreTx, figures_tag: int, row: Any, epoch: int, source: str,
                      figures: PoolFigures | Sequence[int | None]) -> PoolFigures:
    """Replace the pool-epoch's figures from ``source`` and write their exact split. Figures
    that contradict the pool's parameters raise ``ValueError``, unless ``source`` is the
    ledger: the capture records them as ``inconsistent`` (and returns them so) instead."""
    if not isinstance(figures, PoolFigures):
        total, leader, blocks, owners_stake = figures
        figures = PoolFigures(total, leader, blocks, owners_stake)
    split = None
    if figures.problem is None:
        try:
            split = split_row(row, figures)
        except ValueError as exc:
            if source != "ledger":
                raise
            figures = replace(figures, problem="inconsistent", detail=str(exc))
    await tx.run("delete_pool_reward", row["pool_id"], epoch, source)
    await tx.run("insert_pool_reward", figures_tag, row["pool_id"], epoch, figures.total,
                 figures.leader, figures.blocks, figures.owners_stake, source, figures.problem,
                 figures.detail, figures.fee_low, figures.fee_high, figures.fee_uncertainty)
    if split is not None:
        await _copy_split(tx, max(figures_tag, int(row["boundary_epoch"])), row, epoch, source,
                          *split)
    return figures


async def _copy_split(tx: StoreTx, tag: int, row: Any, epoch: int, source: str,
                      creds: list[bytes], keys: list[str], split: PoolSplit) -> None:
    await tx.copy("owner_reward", OWNER_REWARD_COLUMNS,
                  [(tag, row["pool_id"], epoch, source, c, split.op.get(k, 0), split.stake[k])
                   for c, k in zip(creds, keys, strict=True)])


async def resplit_imports(tx: StoreTx, epoch: int) -> int:
    """After ``epoch`` was materialized: split the figures imported for it beforehand (an
    import may come before the boundary, or be undone by a rollback and re-materialized)."""
    imported = await tx.rows("imports_of_epoch", epoch)
    if not imported:
        return 0
    rows = await tx.rows("pools_of_epoch", epoch, [r["pool_id"] for r in imported])
    by_pool = {r["pool_id"]: r for r in imported}
    for row in rows:
        fig = by_pool[row["pool_id"]]
        figures = PoolFigures(fig["total_rewards"], fig["leader_reward"], fig["blocks_made"],
                              fig["owners_stake"])
        try:
            split = split_row(row, figures)
        except ValueError as exc:  # contradicts this chain's parameters: no split
            log.warning("import.inconsistent_figures", pool_id=row["pool_id"], epoch=epoch,
                        error=str(exc))
            continue
        await _copy_split(tx, int(row["boundary_epoch"]), row, epoch, "import", *split)
    return len(rows)
