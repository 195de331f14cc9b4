"""Rewards from the ledger (issue: reward events and the exact owner split).

Rewards never appear in blocks. While the daemon is within reach of the tip (``k`` blocks: the
states Ogmios can acquire) during epoch X it acquires the ledger state at a block of X and asks
``rewardsProvenance``, which describes the rewards of the blocks made in X-1 (docs/ogmios.md
§4.2); the answer is the same at every point of X, since its inputs change only at boundaries.
The figures and their exact split are written tagged ``boundary_epoch = X``: a rollback before
B(X) removes them like any other work of that boundary. The status shown for the epoch is
derived from what is stored (the ``pool_epoch`` view), so a capture that lands late, even after
B(X+1), converges to the same status as a timely one.

A failed capture is retried with backoff on a timer and after commits, each time at the latest
stored block of X (re-acquired; the answer's epoch is checked), for as long as that block is
within reach. Figures that cannot be used for one pool (unreadable, or inconsistent with our
P_e) are recorded as such for that pool; they never stop the daemon. Once per live epoch X the
capture also checks what B(X) credited against the ledger's reward balances
(``rewardAccountSummaries``) and logs ``capture.credit_mismatch`` if one is short.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog

from indexer.accounting.splits import PoolFigures, write_split
from indexer.chain.types import CRED_KEY, CRED_SCRIPT, Point
from indexer.db.store import Store, StoreTx
from indexer.sync.ogmios import TRANSIENT, LedgerClient, QueryError, ada_lovelace, backoff_delay_s
from indexer.sync.state import SyncState

log = structlog.get_logger("indexer.sync.capture")

RETRY_FIRST_S, RETRY_MAX_S = 5.0, 300.0


class WrongLedgerState(Exception):
    """The acquired state is not in the epoch we asked about."""


def pool_figures(provenance: dict[str, Any], pool_id: str, owners_hex: set[str],
                 members: frozenset[tuple[str, str]] = frozenset()) -> PoolFigures:
    """(R, L, blocks made, owners' ledger stake) of one pool, and what member rewards need:
    the pool's stake σ (its delegators' total) and the stake of each of ``members`` (the
    accounts that are not owners, as (``from``, credential hex)). A pool that made no block
    in the epoch is absent from the answer and earns nothing (docs/spec.md §5); its owners'
    ledger stake is then unknown (None), and pledge_met falls back to the chain estimate. A
    malformed entry gives ``problem = 'unreadable'``."""
    try:
        pools = provenance.get("stakePools")
        if pools is None:
            return PoolFigures(0, 0, 0, None, pool_stake=0, member_stakes={})
        if type(pools) is not dict:
            raise TypeError(f"stakePools is a {type(pools).__name__}")
        entry = pools.get(pool_id)
        if entry is None:
            return PoolFigures(0, 0, 0, None, pool_stake=0, member_stakes={})
        owners_stake = pool_stake = 0
        member_stakes: dict[str, int] = {}
        for d in entry.get("delegators", ()):
            stake, kind, cred = ada_lovelace(d["stake"]), d.get("from", "verificationKey"), \
                d.get("credential")
            pool_stake += stake
            if kind == "verificationKey" and cred in owners_hex:
                owners_stake += stake
            elif (kind, cred) in members:
                member_stakes[cred] = member_stakes.get(cred, 0) + stake
        blocks = entry.get("blocksMade", 0)
        if type(blocks) is not int or not 0 <= blocks < 1 << 31:
            raise ValueError(f"blocksMade {str(blocks)[:40]}")
        return PoolFigures(ada_lovelace(entry["totalRewards"]), ada_lovelace(entry["leaderReward"]),
                           blocks, owners_stake, pool_stake=pool_stake,
                           member_stakes=member_stakes)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return PoolFigures(None, None, None, None, "unreadable", f"{type(exc).__name__}: {exc}")


class RewardCapture:
    def __init__(self, store: Store, ledger: LedgerClient, state: SyncState,
                 *, live_distance: int) -> None:
        self.store, self.ledger, self.state = store, ledger, state
        self.live_distance = live_distance
        self.done: set[int] = set()
        self.checked: set[int] = set()  # boundaries whose credits were compared with the ledger
        self.problems = 0  # pool-epochs recorded as unreadable or inconsistent
        self._rollbacks = 0
        self.wake = asyncio.Event()
        self._failures: dict[int, tuple[int, float]] = {}  # epoch -> (failures, retry at)

    async def notify(self) -> None:
        """The writer's after-commit hook: wake the capture task, never wait for it."""
        self.wake.set()

    async def run(self) -> None:
        """The capture task: after each commit, and when a failed attempt is due again, ask
        the ledger what is due (a large rewardsProvenance answer takes a while on mainnet: the
        writer goes on meanwhile)."""
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation that
            # arrives as the event fires, and the TaskGroup would then wait for us forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_retry_in()):
                    await self.wake.wait()
            self.wake.clear()
            await self.on_commit()

    def _next_retry_in(self) -> float | None:
        if not self._failures:
            return None
        due = min(at for _, at in self._failures.values())
        return max(0.0, due - time.monotonic())

    def _may_ask(self, epoch: int) -> bool:
        failures = self._failures.get(epoch)
        return failures is None or time.monotonic() >= failures[1]

    def _failed(self, epoch: int, exc: BaseException) -> None:
        """Retry with backoff (5 s doubling to 5 min), warning once per epoch: a server that
        does not offer the query must not flood the log."""
        n = self._failures.get(epoch, (0, 0.0))[0] + 1
        delay = backoff_delay_s(n, RETRY_FIRST_S, RETRY_MAX_S)
        self._failures[epoch] = (n, time.monotonic() + delay)
        (log.warning if n == 1 else log.debug)("capture.query_failed", epoch=epoch,
                                               error=str(exc), attempt=n, retry_in_s=delay)

    async def on_commit(self) -> None:
        cur, tip = self.state.cursor, self.state.stats.tip
        if self.state.stats.rollbacks != self._rollbacks:
            # a rollback may have undone a capture (its live_epoch row) or a boundary's credits
            self._rollbacks = self.state.stats.rollbacks
            self.done.clear()
            self.checked.clear()
        if cur.epoch is None or cur.height is None or tip is None \
                or tip.height - cur.height > self.live_distance:
            return  # nothing we hold is within reach of the tip
        for epoch in (cur.epoch - 1, cur.epoch):  # the older one first: it leaves reach first
            if epoch not in self.done:
                await self._capture(epoch, tip.height)
        self._failures = {e: f for e, f in self._failures.items() if e >= cur.epoch - 1}

    async def _capture(self, epoch: int, tip_height: int) -> None:
        point = await self._point_in(epoch, tip_height)
        if point is None:
            return
        if epoch not in self.checked:
            self.checked.add(epoch)
            await self._check_credits(epoch, point)
        if await self.store.query("live_epoch_done", epoch):
            self.done.add(epoch)
            self._failures.pop(epoch, None)
            return
        if not self._may_ask(epoch):
            return
        try:
            provenance = await self._query(point, epoch)
        except (QueryError, WrongLedgerState, *TRANSIENT) as exc:
            self._failed(epoch, exc)
            return  # tried again on the timer or after a later batch
        if await self._write(epoch, point, provenance):
            self.done.add(epoch)
            self._failures.pop(epoch, None)

    async def _point_in(self, epoch: int, tip_height: int) -> Point | None:
        """The latest stored block of ``epoch``, if the node can still acquire its state."""
        found = await self.store.query("last_block_of_epoch", epoch)
        if not found or tip_height - found[0]["height"] > self.live_distance:
            return None
        return Point(found[0]["slot"], bytes(found[0]["hash"]).hex())

    async def _query(self, point: Point, epoch: int) -> dict[str, Any]:
        async with self.ledger.acquired(point):
            at = await self.ledger.request("queryLedgerState/epoch")
            if at != epoch:
                raise WrongLedgerState(f"the state acquired at slot {point.slot} is in epoch "
                                       f"{at!r}, not {epoch}")
            answer = await self.ledger.request("queryLedgerState/rewardsProvenance")
        if type(answer) is not dict:
            raise QueryError("queryLedgerState/rewardsProvenance",
                             {"message": f"answer is not an object: {str(answer)[:80]}"})
        return answer

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
            async with self.ledger.acquired(point):
                answer = await self.ledger.request("queryLedgerState/rewardAccountSummaries",
                                                   {k: v for k, v in params.items() if v})
            ledger: dict[bytes, int] = {}
            for entry in answer or ():  # 6.13+: a list of {from, credential, rewards, …}
                tag = CRED_SCRIPT if entry.get("from") == "script" else CRED_KEY
                cred = bytes((tag,)) + bytes.fromhex(entry["credential"])
                ledger[cred] = ledger.get(cred, 0) + ada_lovelace(entry["rewards"])
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
            written = await write_capture(tx, epoch, point, provenance)
        if written is None:
            return False  # rolled back meanwhile: ask again
        pools, problems = written
        for pool_id, figures in problems:  # once per pool-epoch: a capture is written once
            self.problems += 1
            log.error("capture.unusable_figures", pool_id=pool_id, epoch=epoch - 1,
                      problem=figures.problem, detail=figures.detail,
                      ledger_total_rewards=figures.total, ledger_leader_reward=figures.leader)
        log.info("capture.rewards", epoch=epoch - 1, pools=pools, unusable=len(problems))
        return True


async def write_capture(tx: StoreTx, epoch: int, point: Point, provenance: dict[str, Any]
                        ) -> tuple[int, list[tuple[str, PoolFigures]]] | None:
    """Write the ledger's figures for the pools of epoch ``epoch - 1``, asked at ``point`` in
    ``epoch``; None if that point is no longer on our chain. Returns the number of pools and
    the pools whose figures were unusable."""
    checkpoint = await tx.check_writer()
    on_chain = await tx.rows("block_is_on_chain", point.slot, bytes.fromhex(point.id))
    if not on_chain or checkpoint["epoch_no"] is None or checkpoint["epoch_no"] < epoch:
        return None
    await tx.run("mark_live_epoch", epoch)
    rows = await tx.rows("pools_of_epoch", epoch - 1, None)
    problems = []
    for row in rows:
        accounts = list(zip(row["creds"], row["is_owner"], strict=True))
        owners_hex = {c[1:].hex() for c, own in accounts if own}
        members = frozenset(("script" if c[0] == CRED_SCRIPT else "verificationKey", c[1:].hex())
                            for c, own in accounts if not own)
        figures = pool_figures(provenance, row["pool_id"], owners_hex, members)
        written = await write_split(tx, epoch, row, epoch - 1, "ledger", figures)
        if written.problem is not None:
            problems.append((row["pool_id"], written))
    return len(rows), problems
