"""Rewards from the ledger (issue: reward events and the exact owner split).

Rewards never appear in blocks. While the daemon is within reach of the tip during epoch X it
acquires the ledger state at its cursor and asks ``rewardsProvenance``, which describes the
rewards of the blocks made in X-1 (docs/ogmios.md §4.2). The figures and their exact split are
written tagged ``boundary_epoch = X``: a rollback before B(X) removes them like any other work
of that boundary. Once per live epoch X it also checks what B(X) credited against the ledger's
reward balances (``rewardAccountSummaries``) and logs ``capture.credit_mismatch`` if one is short.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import structlog

from indexer.ogmios import TRANSIENT, LedgerClient, QueryError
from indexer.rewards import split_pool_epoch
from indexer.store import Store, StoreTx
from indexer.types import CRED_KEY, CRED_SCRIPT, Point

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
        self.checked: set[int] = set()  # boundaries whose credits were compared with the ledger
        self._rollbacks = 0
        self.wake = asyncio.Event()
        self._failures: dict[int, tuple[int, float]] = {}  # epoch -> (failures, retry at)

    async def notify(self) -> None:
        """The writer's after-commit hook: wake the capture task, never wait for it."""
        self.wake.set()

    async def run(self) -> None:
        """The capture task: after each commit, ask the ledger what is due (a large
        rewardsProvenance answer takes a while on mainnet: the writer goes on meanwhile)."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            await self.on_commit()

    def _may_ask(self, epoch: int) -> bool:
        failures = self._failures.get(epoch)
        return failures is None or time.monotonic() >= failures[1]

    def _failed(self, epoch: int, exc: BaseException) -> None:
        """Retry with backoff (5 s doubling to 5 min), warning once per epoch: a server that
        does not offer the query must not flood the log."""
        n = self._failures.get(epoch, (0, 0.0))[0] + 1
        self._failures[epoch] = (n, time.monotonic() + min(300.0, 5.0 * 2 ** (n - 1)))
        (log.warning if n == 1 else log.debug)("capture.query_failed", epoch=epoch,
                                               error=str(exc), attempt=n)

    def is_live(self) -> bool:
        cur, tip = self.writer.cursor, self.writer.stats.tip
        return (cur.height is not None and tip is not None
                and tip.height - cur.height <= self.live_distance)

    async def on_commit(self) -> None:
        cur = self.writer.cursor
        epoch = cur.epoch
        if self.writer.stats.rollbacks != self._rollbacks:
            # a rollback may have undone a capture (its live_epoch row) or a boundary's credits
            self._rollbacks = self.writer.stats.rollbacks
            self.done.clear()
            self.checked.clear()
        if epoch is None or not self.is_live() or cur.slot is None:
            return
        point = Point(cur.slot, cur.block_id)  # type: ignore[arg-type]
        if epoch not in self.checked:
            self.checked.add(epoch)
            await self._check_credits(epoch, point)
        if epoch in self.done:
            return
        if await self.store.query("live_epoch_done", epoch):
            self.done.add(epoch)
            return
        if not self._may_ask(epoch):
            return
        try:
            provenance = await self._query(point)
        except (QueryError, *TRANSIENT) as exc:
            self._failed(epoch, exc)
            return  # tried again after a later batch
        if await self._write(epoch, point, provenance):
            self.done.add(epoch)
            self._failures.pop(epoch, None)

    async def _query(self, point: Point) -> dict[str, Any]:
        await self.ledger.acquire(point)
        try:
            return dict(await self.ledger.request("queryLedgerState/rewardsProvenance"))
        finally:
            await self.ledger.release()

    async def _check_credits(self, epoch: int, point: Point) -> None:
        """Compare what B(epoch) credited (leader rewards, MIR, deposit refunds) with the
        ledger's reward balances at the cursor (``rewardAccountSummaries``, 6.13+ list form) and
        log ``capture.credit_mismatch`` loudly where a balance is below what we credited. A
        balance may exceed it (member rewards, earlier rewards not withdrawn); an account
        withdrawn from since the boundary (drained to 0) cannot be compared and is skipped.
        Best effort: a failure is a warning, never a stop."""
        try:
            rows = await self.store.query("credited_at_boundary", epoch)
            if not rows:
                return
            params: dict[str, list[str]] = {"keys": [], "scripts": []}
            for r in rows:
                cred = bytes(r["cred"])
                params["scripts" if cred[0] == CRED_SCRIPT else "keys"].append(cred[1:].hex())
            await self.ledger.acquire(point)
            try:
                answer = await self.ledger.request("queryLedgerState/rewardAccountSummaries",
                                                   {k: v for k, v in params.items() if v})
            finally:
                await self.ledger.release()
            ledger: dict[bytes, int] = {}
            for entry in answer or ():  # 6.13+: a list of {from, credential, rewards, …}
                tag = CRED_SCRIPT if entry.get("from") == "script" else CRED_KEY
                cred = bytes((tag,)) + bytes.fromhex(entry["credential"])
                ledger[cred] = ledger.get(cred, 0) + _lovelace(entry["rewards"])
        except (QueryError, *TRANSIENT, ValueError, KeyError, TypeError,
                AttributeError) as exc:
            log.warning("capture.credit_check_failed", epoch=epoch, error=str(exc))
            return
        for r in rows:
            have = ledger.get(bytes(r["cred"]), 0)  # an absent account holds nothing
            if have < r["credited"]:
                log.error("capture.credit_mismatch", epoch=epoch,
                          stake_address=r["stake_address"], credited=int(r["credited"]),
                          ledger_rewards=have, pools=list(r["pools"] or ()),
                          kinds=list(r["kinds"]), slot=point.slot)
        log.debug("capture.credits_checked", epoch=epoch, accounts=len(rows))

    async def _write(self, epoch: int, point: Point, provenance: dict[str, Any]) -> bool:
        async with self.store.transaction() as tx:
            checkpoint = (await tx.rows("lock_checkpoint"))[0]
            on_chain = await tx.rows("block_is_on_chain", point.slot, bytes.fromhex(point.id))
            if not on_chain or checkpoint["epoch_no"] is None or checkpoint["epoch_no"] < epoch:
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
