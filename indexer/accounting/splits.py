"""Writing a pool-epoch's reward figures and their exact owner split (docs/spec.md §5), for
every source: the live capture (``ledger``), file imports (``import``) and the boundary that
materializes an epoch which already has imported figures.

Tags (rollback safety): the figures carry ``figures_tag`` (the capture's boundary X, or -1 for
an import: never rolled back); the split carries the later of that tag and the boundary that
materialized the balances it divides, so that a rollback which undoes either also undoes the
split; an epoch re-materialized after a rollback is split again (``resplit_imports``).

The share basis (``[accounting] share_accounts``, docs/spec.md §4) is decided when an epoch is
materialized (each account's ``share_weight``); a split divides S by those weights. When the
setting changes, ``apply_share_basis`` re-splits every stored epoch at the daemon's start, in
one transaction, keeping every row's tag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import structlog

from indexer.accounting.rewards import PoolSplit, apportion, member_reward, split_pool_epoch
from indexer.db.store import Store, StoreTx

log = structlog.get_logger("indexer.accounting.splits")

OWNER_REWARD_COLUMNS = ("boundary_epoch", "pool_id", "epoch_no", "source", "cred", "op_rewards",
                        "stake_rewards", "member_rewards")


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
    # the ledger's snapshot as far as member rewards need it (docs/spec.md §5): the pool's
    # stake σ and the stake of each account that is not an owner (credential hex), or None
    # when the source does not tell (imports)
    pool_stake: int | None = None
    member_stakes: Mapping[str, int] | None = None


def account_keys(creds: Sequence[bytes]) -> list[str]:
    """Sort keys of accounts: docs/spec.md §5 breaks ties by ascending credential hex."""
    return [c[1:].hex() for c in creds]


def split_row(row: Any, figures: PoolFigures) -> tuple[list[bytes], list[str], PoolSplit]:
    """The accounts of a ``pools_of_epoch`` row, their sort keys and the exact split by the
    row's share weights (``ValueError`` when the figures contradict the row's parameters)."""
    assert figures.total is not None and figures.leader is not None
    creds: list[bytes] = list(row["creds"])
    keys = account_keys(creds)
    owners = [k for k, own in zip(keys, row["is_owner"], strict=True) if own]
    weights = {k: w for k, w in zip(keys, row["weights"], strict=True) if w is not None}
    split = split_pool_epoch(figures.total, figures.leader, int(row["cost_lovelace"]),
                             _margin(row), owners, dict(zip(keys, row["balances"], strict=True)),
                             weights)
    return creds, keys, split


def _margin(row: Any) -> Fraction:
    return Fraction(int(row["margin_num"]), int(row["margin_den"]))


def member_rewards(row: Any, keys: Sequence[str], figures: PoolFigures) -> list[int | None]:
    """Each account's own member reward: 0 for an owner (the ledger pays owners none), the
    ledger's formula for the others when the figures carry the snapshot, else None."""
    assert figures.total is not None
    out: list[int | None] = []
    for key, own in zip(keys, row["is_owner"], strict=True):
        if own:
            out.append(0)
        elif figures.member_stakes is None or figures.pool_stake is None:
            out.append(None)
        else:
            out.append(member_reward(figures.total, int(row["cost_lovelace"]), _margin(row),
                                     figures.member_stakes.get(key, 0), figures.pool_stake))
    return out


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
                          *split, member_rewards(row, split[1], figures))
    return figures


async def _copy_split(tx: StoreTx, tag: int, row: Any, epoch: int, source: str,
                      creds: list[bytes], keys: list[str], split: PoolSplit,
                      members: list[int | None]) -> None:
    await tx.copy("owner_reward", OWNER_REWARD_COLUMNS,
                  [(tag, row["pool_id"], epoch, source, c, split.op.get(k, 0), split.stake[k], m)
                   for c, k, m in zip(creds, keys, members, strict=True)])


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
        await _copy_split(tx, int(row["boundary_epoch"]), row, epoch, "import", *split,
                          member_rewards(row, split[1], figures))
    return len(rows)


async def apply_share_basis(tx: StoreTx, basis: str) -> int:
    """Bring every stored pool-epoch to the share basis ``basis`` (docs/spec.md §4: changing
    the setting re-splits every epoch): the accounts' weights and shares, then S of every
    split re-apportioned by the new weights (Σ stake = S is kept: S is the sum of the old
    parts). Op rewards and member rewards do not depend on the basis. Returns the number of
    pool-epochs changed; the rows keep their tags, so a rollback still undoes them."""
    changed = await tx.rows("apply_share_basis", basis)
    if not changed:
        return 0
    rows = await tx.rows("splits_to_resplit", [r["pool_id"] for r in changed],
                         [r["epoch_no"] for r in changed])
    groups: dict[tuple[str, int, str], list[Any]] = {}
    for r in rows:
        groups.setdefault((r["pool_id"], r["epoch_no"], r["source"]), []).append(r)
    updates: list[tuple[str, int, str, bytes, int]] = []
    for (pool_id, epoch, source), accounts in groups.items():
        creds = [bytes(a["cred"]) for a in accounts]
        keys = account_keys(creds)
        weights = {k: a["share_weight"] for k, a in zip(keys, accounts, strict=True)
                   if a["share_weight"] is not None}
        parts = apportion(sum(a["stake_rewards"] for a in accounts), weights)
        updates += [(pool_id, epoch, source, c, parts.get(k, 0))
                    for c, k in zip(creds, keys, strict=True)]
    if updates:
        await tx.run("set_stake_rewards", *(list(col) for col in zip(*updates, strict=True)))
    return len(changed)


async def share_basis_at_start(store: Store, basis: str) -> int:
    """At the daemon's start: if stored epochs were split on another basis than the
    configured one, re-split them all in one transaction (holding the writer's fence)."""
    async with store.transaction() as tx:
        await tx.check_writer()
        changed = await apply_share_basis(tx, basis)
    if changed:  # every figure the owners see moves: say so loudly
        log.warning("accounting.share_basis_changed", share_accounts=basis,
                    pool_epochs=changed)
    return changed
