"""Rewards from the ledger (issue: reward events and the exact owner split).

Rewards never appear in blocks. While the daemon is within reach of the tip during epoch X it
acquires the ledger state at its cursor and asks ``rewardsProvenance``, which describes the
rewards of the blocks made in X-1 (docs/ogmios.md §4.2). The figures and their exact split are
written tagged ``boundary_epoch = X``: a rollback before B(X) removes them like any other work
of that boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import structlog

from indexer.ogmios import TRANSIENT, LedgerClient, QueryError
from indexer.rewards import split_pool_epoch
from indexer.store import Store, StoreTx
from indexer.types import Point

if TYPE_CHECKING:
    from indexer.writer import NetworkInfo, Writer

log = structlog.get_logger("indexer.capture")


def _lovelace(value: Any) -> int:
    inner = value.get("ada", value) if isinstance(value, dict) else None
    if not isinstance(inner, dict) or type(inner.get("lovelace")) is not int:
        raise ValueError(f"not an ada amount: {value!r}")
    return int(inner["lovelace"])


def pool_figures(provenance: dict[str, Any], pool_id: str, owners_hex: set[str]
                 ) -> tuple[int, int, int, int | None]:
    """(R, L, blocks made, owners' ledger stake) of one pool; a pool that made no block in the
    epoch is absent from the answer and earns nothing (SPEC §5); its owners' ledger stake is
    then unknown (None), and pledge_met falls back to the chain estimate."""
    entry = (provenance.get("stakePools") or {}).get(pool_id)
    if entry is None:
        return 0, 0, 0, None
    owners_stake = sum(_lovelace(d["stake"]) for d in entry.get("delegators", ())
                       if d.get("from", "verificationKey") == "verificationKey"
                       and d.get("credential") in owners_hex)
    return (_lovelace(entry["totalRewards"]), _lovelace(entry["leaderReward"]),
            int(entry.get("blocksMade", 0)), owners_stake)


async def write_split(tx: StoreTx, tag: int, row: Any, epoch: int, source: str,
                      figures: Sequence[int | None]) -> None:
    """Replace the pool-epoch's figures from ``source`` and write their exact split."""
    total, leader, blocks, owners_stake = figures
    assert total is not None and leader is not None
    creds: list[bytes] = list(row["creds"])
    keys = [c[1:].hex() for c in creds]  # SPEC: ties broken by ascending credential hex
    owners = [k for k, own in zip(keys, row["is_owner"], strict=True) if own]
    split = split_pool_epoch(total, leader, row["cost_lovelace"],
                             Fraction(int(row["margin_num"]), int(row["margin_den"])),
                             owners, dict(zip(keys, row["balances"], strict=True)))
    await tx.run("delete_pool_reward", row["pool_id"], epoch, source)
    await tx.run("insert_pool_reward", tag, row["pool_id"], epoch, total, leader, blocks,
                 owners_stake, source)
    await tx.copy("owner_reward", ("boundary_epoch", "pool_id", "epoch_no", "source", "cred",
                                   "op_rewards", "stake_rewards"),
                  [(tag, row["pool_id"], epoch, source, c, split.op.get(k, 0), split.stake[k])
                   for c, k in zip(creds, keys, strict=True)])


class RewardCapture:
    def __init__(self, store: Store, ledger: LedgerClient, writer: Writer, net: NetworkInfo,
                 *, live_distance: int) -> None:
        self.store, self.ledger, self.writer, self.net = store, ledger, writer, net
        self.live_distance = live_distance
        self.done: set[int] = set()
        self.pool_ids: list[str] | None = None

    def is_live(self) -> bool:
        cur, tip = self.writer.cursor, self.writer.stats.tip
        return (cur.height is not None and tip is not None
                and tip.height - cur.height <= self.live_distance)

    async def on_commit(self) -> None:
        cur = self.writer.cursor
        epoch = cur.epoch
        if epoch is None or epoch in self.done or not self.is_live() or cur.slot is None:
            return
        if await self.store.fetch("SELECT 1 FROM live_epoch WHERE boundary_epoch = $1", epoch):
            self.done.add(epoch)
            return
        point = Point(cur.slot, cur.block_id)  # type: ignore[arg-type]
        try:
            provenance = await self._query(point)
        except (QueryError, *TRANSIENT) as exc:
            log.warning("capture.query_failed", epoch=epoch, error=str(exc))
            return  # tried again after the next batch
        if await self._write(epoch, point, provenance):
            self.done.add(epoch)

    async def _query(self, point: Point) -> dict[str, Any]:
        await self.ledger.acquire(point)
        try:
            return dict(await self.ledger.request("queryLedgerState/rewardsProvenance"))
        finally:
            await self.ledger.release()

    async def _write(self, epoch: int, point: Point, provenance: dict[str, Any]) -> bool:
        async with self.store.transaction() as tx:
            checkpoint = (await tx.rows("lock_checkpoint"))[0]
            on_chain = await tx.rows("block_is_on_chain", point.slot, bytes.fromhex(point.id))
            if not on_chain or (checkpoint["epoch_no"] or -1) < epoch:
                return False  # rolled back meanwhile: ask again
            await tx.run("mark_live_epoch", epoch)
            rows = await tx.rows("pools_of_epoch", epoch - 1, None)
            for row in rows:
                owners_hex = {c[1:].hex() for c, own in zip(row["creds"], row["is_owner"],
                                                           strict=True) if own}
                figures = pool_figures(provenance, row["pool_id"], owners_hex)
                await write_split(tx, epoch, row, epoch - 1, "ledger", figures)
        log.info("capture.rewards", epoch=epoch - 1, pools=len(rows))
        return True
