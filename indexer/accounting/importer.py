"""Reward figures for ``indexer rewards import FILE`` (docs/spec.md §5, status ``imported``).

The indexer asks the ledger for a pool's ``totalRewards`` R and ``leaderReward`` L during epoch
e+1 (Ogmios ``rewardsProvenance``). Epochs it could not ask about (``unavailable``: the indexer
was too far behind the tip) can be filled in from a file. ``parse_rewards_csv`` parses and checks
the file (pure); ``import_rewards`` stores the figures and their split in one transaction.

Format
------
CSV, UTF-8 (a byte-order mark is tolerated), comma-separated, one header line, then one line
per pool-epoch. Blank lines are skipped; cells are stripped of surrounding spaces.

====================== ======== ==============================================================
column                 required meaning
====================== ======== ==============================================================
pool_id                yes      bech32 pool id ``pool1…`` (checksum verified)
epoch                  yes      epoch e whose blocks earned the rewards (earned epoch)
total_rewards_lovelace yes      R: the pool's whole reward for e, before the leader/member
                                split (the ledger's ``totalRewards``, "poolR")
leader_reward_lovelace yes      L: the leader reward paid to the reward account (fees plus
                                the owners' stake reward)
blocks_made            no       blocks the pool made in e
owners_stake_lovelace  no       the ledger's owner stake in S_e (owners delegated to the pool,
                                reward balances included), to decide ``pledge_met``
source                 no       free text naming where the figures came from
====================== ======== ==============================================================

All amounts are **integer lovelace**: ``1.5`` (ADA with decimals), ``1e6``, ``1_000`` and signs
are refused, so that no value is ever rounded or guessed. An optional cell may be empty.
A file is accepted whole or not at all: an unknown or missing column, a non-integer or
negative value, ``L > R``, ``blocks_made = 0`` with ``R > 0``, or a (pool, epoch) given twice
raises ``RewardImportError`` naming the line and the column.

Where to get R and L for past epochs
------------------------------------
* **Ogmios ``queryLedgerState/rewardsProvenance``** (v6.13+), queried at any time during e+1:
  ``stakePools[pool].totalRewards`` is R and ``.leaderReward`` is L, exactly (Ogmios replays
  the ledger's calculation; L is the potential amount, before the check that the reward
  account is registered). Only the last ``k`` blocks' states can be acquired, so this works
  only while e+1 is recent; it is what the indexer itself uses.
* **cardano-cli**: we know of no command that prints a pool's R. The node's own
  reward-provenance query has not filled in its per-pool part since node 1.33.0
  (cardano-ledger issue #2653), which is why Ogmios now replays the calculation itself.
* **cardano-db-sync**: ``reward`` rows with ``type = 'leader'``, ``pool_id`` = the pool and
  ``earned_epoch = e`` give **L exactly** as credited at the start of e+2 (db-sync records
  credits: a leader reward that went to the treasury or stayed in the reserves because the
  reward account was not registered has no such row).
  db-sync stores **no R**: ``pool_stat`` holds blocks, delegator count and stake only, and
  R = L + Σ ``member`` rows + what was never paid (rounding dust, deregistered members), so
  ``SUM(amount)`` over the pool's leader and member rows is only a **lower bound** of R.
* **Koios ``pool_history``**: ``pool_fees + deleg_rewards`` equals the leader and member rewards
  actually distributed (Koios sums db-sync's ``reward`` rows), again a **lower bound** of R;
  ``pool_fees`` is recomputed from that total, so it is not exactly the ledger's fee either.
  Blockfrost ``/pools/{id}/history`` ``rewards``/``fees`` are built from distributed totals
  as well (docs/ledger.md §13.5).
* **cf-java-rewards-calculation** (Cardano Foundation) recomputes R, L and every member reward
  from db-sync inputs (reserves, fees, stake snapshot, blocks, parameters) with the ledger's
  formulas; its results reproduce db-sync's rows to the lovelace. It, or any exact
  reimplementation of the ledger formulas over db-sync's ``epoch_stake`` and ``ada_pots``,
  is the way to obtain **R exactly** for old epochs.

So: L from db-sync's leader row (or Ogmios), R from Ogmios for recent epochs or from a
recomputation for old ones. A distributed total is not R: with it F would come out wrong.
``indexer rewards fetch`` (``indexer.history``) needs no R: it takes L and the stakes from
Koios or Blockfrost and rebuilds F from L, exactly or to within one lovelace that it states
(docs/spec.md §5 "History").
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from indexer.accounting.splits import write_split
from indexer.chain.address import AddressError, pool_bech32, pool_hash_from_bech32
from indexer.chain.types import EpochNo, PoolHash
from indexer.db.store import Store

__all__ = ["COLUMNS", "REQUIRED_COLUMNS", "ImportedReward", "RewardImportError",
           "import_rewards", "import_rewards_file", "parse_rewards_csv"]

REQUIRED_COLUMNS = ("pool_id", "epoch", "total_rewards_lovelace", "leader_reward_lovelace")
OPTIONAL_COLUMNS = ("blocks_made", "owners_stake_lovelace", "source")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_INT = re.compile(r"[0-9]+")
_MAX = 2**63 - 1  # the store keeps lovelace as bigint


class RewardImportError(ValueError):
    """A rejected import file. ``line`` is 1-based (the header is line 1); ``column`` may be
    None for errors about a whole line."""

    def __init__(self, message: str, *, line: int, column: str | None = None) -> None:
        self.line = line
        self.column = column
        where = f"line {line}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class ImportedReward:
    pool_id: str  # canonical (lower-case) bech32 pool1…
    epoch: EpochNo  # the earned epoch e
    total_rewards: int  # R
    leader_reward: int  # L
    blocks_made: int | None
    owners_stake: int | None
    source: str


def _integer(text: str, *, line: int, column: str) -> int:
    if text.startswith("-") and _INT.fullmatch(text[1:]):
        raise RewardImportError(f"negative value {text!r}", line=line, column=column)
    if not _INT.fullmatch(text):
        hint = " (lovelace integers only, not ADA)" if "." in text else ""
        raise RewardImportError(f"not an integer: {text!r}{hint}", line=line, column=column)
    value = int(text)
    if value > _MAX:
        raise RewardImportError(f"value {text} is too large", line=line, column=column)
    return value


def _optional(cells: dict[str, str], column: str, line: int) -> int | None:
    text = cells.get(column, "")
    return _integer(text, line=line, column=column) if text else None


def _check_header(header: list[str]) -> list[str]:
    names = [name.strip() for name in header]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:]
    for name in names:
        if name not in COLUMNS:
            raise RewardImportError(f"unknown column (expected some of {', '.join(COLUMNS)})",
                                    line=1, column=name)
        if names.count(name) > 1:
            raise RewardImportError("column given twice", line=1, column=name)
    for name in REQUIRED_COLUMNS:
        if name not in names:
            raise RewardImportError("required column missing", line=1, column=name)
    return names


def _pool_id(text: str, line: int) -> PoolHash:
    try:
        return pool_hash_from_bech32(text, checked=True)
    except AddressError as exc:
        raise RewardImportError(str(exc), line=line, column="pool_id") from exc


def _parse_row(cells: dict[str, str], line: int, default_source: str) -> ImportedReward:
    for name in REQUIRED_COLUMNS:
        if not cells[name]:
            raise RewardImportError("empty value in a required column", line=line, column=name)
    pool = _pool_id(cells["pool_id"], line)
    epoch = _integer(cells["epoch"], line=line, column="epoch")
    total = _integer(cells["total_rewards_lovelace"], line=line, column="total_rewards_lovelace")
    leader = _integer(cells["leader_reward_lovelace"], line=line,
                      column="leader_reward_lovelace")
    if leader > total:
        raise RewardImportError(f"leader reward {leader} exceeds the total rewards {total}",
                                line=line, column="leader_reward_lovelace")
    blocks = _optional(cells, "blocks_made", line)
    if blocks == 0 and total > 0:
        # A pool with no block earns nothing (docs/spec.md §5): the row mixes up epochs or pools.
        raise RewardImportError(f"total rewards {total} for a pool that made no block",
                                line=line, column="blocks_made")
    return ImportedReward(
        pool_id=pool_bech32(pool),
        epoch=EpochNo(epoch),
        total_rewards=total,
        leader_reward=leader,
        blocks_made=blocks,
        owners_stake=_optional(cells, "owners_stake_lovelace", line),
        source=cells.get("source") or default_source,
    )


def parse_rewards_csv(text: str, *, default_source: str = "import") -> tuple[ImportedReward, ...]:
    """Parse a whole import file (see the module docstring); rows keep the file's order.

    ``default_source`` fills ``source`` where the file has no such column or leaves it empty
    (the CLI passes the file name). Raises ``RewardImportError`` at the first problem.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise RewardImportError("empty file: a header line is required", line=1)
        names = _check_header(header)
        rows: list[ImportedReward] = []
        seen: dict[tuple[str, int], int] = {}
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(names):
                raise RewardImportError(
                    f"{len(fields)} fields where the header has {len(names)}", line=line)
            row = _parse_row(dict(zip(names, (f.strip() for f in fields), strict=True)), line,
                             default_source)
            first = seen.setdefault((row.pool_id, row.epoch), line)
            if first != line:
                raise RewardImportError(
                    f"pool {row.pool_id} epoch {row.epoch} already given on line {first}",
                    line=line, column="pool_id")
            rows.append(row)
    except csv.Error as exc:
        raise RewardImportError(f"malformed CSV: {exc}", line=reader.line_num) from exc
    return tuple(rows)


# --- storing -------------------------------------------------------------------------------


async def import_rewards(store: Store, items: tuple[ImportedReward, ...]) -> int:
    """Record imported figures and recompute those epochs' splits (status `imported`). Epochs
    whose B(e+2) has already passed get their `leader` credit from the import too (the
    credit is derived from the effective figures)."""
    async with store.transaction() as tx:
        await tx.rows("lock_checkpoint")  # not inside a daemon's batch (it may roll back)
        for item in items:
            await tx.run("delete_pool_reward", item.pool_id, item.epoch, "import")
            rows = await tx.rows("pools_of_epoch", item.epoch, [item.pool_id])
            figures = (item.total_rewards, item.leader_reward, item.blocks_made,
                       item.owners_stake)
            if rows:
                await write_split(tx, -1, rows[0], item.epoch, "import", figures)
            else:
                await tx.run("insert_pool_reward", -1, item.pool_id, item.epoch,
                             item.total_rewards, item.leader_reward, item.blocks_made,
                             item.owners_stake, "import", None, None, None, None, 0)
    return len(items)


async def import_rewards_file(dsn: str | None, path: str) -> int:
    items = parse_rewards_csv(Path(path).read_text())
    store = await Store.connect(dsn)
    try:
        return await import_rewards(store, items)
    finally:
        await store.close()
