"""The writer: decodes chain-sync frames and applies them to the store in atomic batches.

One batch = one transaction: its blocks, the epoch boundaries they cross, the rollbacks among
them and the checkpoint. After a crash the database is exactly at the last committed batch, and
chain-sync resumes from there, so the result equals a straight run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from indexer.chain.decode import decode_message
from indexer.chain.types import (
    Block,
    ChainEvent,
    Cred,
    DecodeError,
    Point,
    PoolRegistration,
    PoolRetirement,
    RollBackward,
    RollForward,
)
from indexer.db.store import Store, StoreTx
from indexer.sync import boundary, payouts
from indexer.sync.batch import Decoded, Flight, Position, after_event, check_continuity
from indexer.sync.network import Epochs, NetworkInfo
from indexer.sync.rows import (
    BLOCK_COLUMNS,
    MIR_COLUMNS,
    STAKE_EVENT_COLUMNS,
    UTXO_COLUMNS,
    WITHDRAWAL_COLUMNS,
    BatchRows,
    PoolEvent,
    active_epoch,
    pool_cert_record,
)
from indexer.sync.state import SyncState

log = structlog.get_logger("indexer.sync.writer")

_BIGINT_END = 1 << 63  # slots and heights are bigint columns


class RollbackTooDeep(Exception):
    """The node rolled back below the window we keep (k blocks): refuse rather than guess."""


class Writer:
    """Applies batches and owns the sync state (``state``): the only code that changes it."""

    def __init__(self, store: Store, epochs: Epochs, net: NetworkInfo, *,
                 batch_max_blocks: int = 500, batch_max_bytes: int = 32 << 20,
                 prune_every_batches: int = 50, state: SyncState | None = None) -> None:
        self.store, self.epochs, self.net = store, epochs, net
        self.batch_max_blocks, self.batch_max_bytes = batch_max_blocks, batch_max_bytes
        self.prune_every = prune_every_batches
        self.state = state if state is not None else SyncState()
        self.after_commit: list[Callable[[], Awaitable[None]]] = []
        self.pruned_slot: int | None = None  # spends at or before it are forgotten
        self._header: str | None = None  # a Byron EBB applied after the cursor
        self.payers: set[Cred] = set()  # payout candidates (sync/payouts.py): only grows
        self.overlapped_batches = 0  # batches begun while the one before committed

    async def load(self) -> None:
        self.state.cursor = await self.store.checkpoint()
        self.pruned_slot = await self.store.get_meta("pruned_slot")
        self._header = None
        self.payers = {Cred(bytes(r["reward_cred"]))
                       for r in await self.store.query("reward_accounts")}

    def _rows(self) -> BatchRows:
        return BatchRows(self.net.network_id, payers=self.payers)

    # --- the loop ------------------------------------------------------------------------------

    async def run(self, queue: asyncio.Queue[bytes], stop: asyncio.Event) -> None:
        """Take what the queue holds (at least one frame), apply it as one batch, repeat until
        ``stop``; the batch in progress when ``stop`` is set still commits.

        Pipelined twice over. While batch N commits, the frames that keep arriving are decoded
        and checked into batch N+1. Once N+1 is full its commit begins on a second connection
        (``_commit``): it copies its rows while N is still looking up its spends and
        committing, and waits for N's commit before anything that reads what N wrote. Each
        batch is still one transaction with its checkpoint, committed in chain order, so a
        crash leaves the database at a batch boundary as before. At most two batches are in
        flight."""
        carry = Decoded(self.state.cursor, self._header)
        older: Flight | None = None  # the commit before ``prev``
        prev: Flight | None = None  # the latest commit begun
        try:
            while True:
                if not carry.frames:  # nothing to begin: let the commits finish first
                    for f in (older, prev):
                        if f is not None:
                            await f.task
                    older = prev = None
                    if stop.is_set():
                        return
                    first = await self._next_frame(queue, stop)
                    if first is None:
                        continue
                    self._decode(first, carry)
                    self._decode_queued(queue, carry)
                if older is not None:
                    await older.task
                    older = None
                batch, carry = carry, Decoded(carry.cursor, carry.header)
                flight = Flight(batch)
                flight.task = asyncio.ensure_future(self._commit(flight, queue, prev))
                older, prev = prev, flight
                if batch.error is not None:
                    await flight.task
                    raise batch.error
                await self._decode_while(flight.task, queue, stop, carry)
        finally:  # if we are cancelled, the open batches abort (no-op once done)
            for f in (older, prev):
                if f is not None:
                    f.task.cancel()

    async def _commit(self, flight: Flight, queue: asyncio.Queue[bytes],
                      before: Flight | None) -> None:
        """Commit ``flight``'s batch after ``before`` (the batch before it, maybe still
        committing): overlapped with it (``_apply_overlapped``) where the batch allows,
        otherwise once it has committed. Then the ``after_commit`` hooks, in chain order."""
        events = flight.batch.events
        started = self.state.batch_started = time.monotonic()  # health: a stuck batch
        try:
            await self._prepare(events)  # the calendar for the check below
            if events and self._overlappable(events, before):
                assert before is not None
                await self._apply_overlapped(events, before, flight)
            else:
                if before is not None:
                    await asyncio.shield(before.task)
                if events:
                    await self._apply(events)
            self.state.last_commit = time.monotonic()
            for hook in self.after_commit:
                await hook()
        finally:
            flight.copied.set()
            if self.state.batch_started == started:
                self.state.batch_started = None
            for _ in range(flight.batch.frames):
                queue.task_done()

    def _full(self, d: Decoded) -> bool:
        return (d.error is not None or len(d.events) >= self.batch_max_blocks
                or d.size >= self.batch_max_bytes)

    def _decode(self, frame: bytes, into: Decoded) -> None:
        """Decode one frame into ``into`` and check that it follows on; on a malformed frame or
        a block that does not follow, the batch ends there with the error (its good frames
        still commit: the database stays exactly at the last good block)."""
        into.frames += 1
        into.size += len(frame)
        try:
            ev = decode_message(frame, self.net.network_id)
        except DecodeError as exc:
            into.error = exc
            return
        good, broken = check_continuity(into.cursor, [ev], into.header)
        if broken is not None or not good:
            into.error = broken
            return
        into.events.append(ev)
        into.cursor, into.header = after_event(into.cursor, into.header, ev)

    def _decode_queued(self, queue: asyncio.Queue[bytes], into: Decoded,
                       limit: int | None = None) -> None:
        n = 0
        while not queue.empty() and not self._full(into) and (limit is None or n < limit):
            self._decode(queue.get_nowait(), into)
            n += 1

    async def _decode_while(self, commit: asyncio.Future[None], queue: asyncio.Queue[bytes],
                            stop: asyncio.Event, into: Decoded) -> None:
        """Decode arriving frames into the next batch until ``commit`` is done, a few at a
        time so that the commit's own round trips are never held up for long."""
        while not commit.done() and not self._full(into) and not stop.is_set():
            if not queue.empty():
                self._decode_queued(queue, into, limit=8)
                await asyncio.sleep(0)
                continue
            getter = asyncio.ensure_future(queue.get())
            waiting: set[asyncio.Future[Any]] = {commit, getter}
            try:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                got = getter.done()
            finally:
                if not getter.done():
                    getter.cancel()  # a frame it did not take stays in the queue
            if got:
                self._decode(getter.result(), into)

    async def _next_frame(self, queue: asyncio.Queue[bytes], stop: asyncio.Event
                          ) -> bytes | None:
        if not queue.empty():
            return queue.get_nowait()
        getter = asyncio.ensure_future(queue.get())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not getter.done():
            getter.cancel()
            return None
        return getter.result()

    # --- one batch -----------------------------------------------------------------------------

    async def apply(self, events: list[ChainEvent]) -> None:
        """Apply ``events`` as one batch, in one transaction."""
        await self._prepare(events)
        await self._apply(events)

    async def _apply(self, events: list[ChainEvent]) -> None:
        """``apply`` once ``_prepare``d."""
        started = time.monotonic()
        cur, stats = self.state.cursor, self.state.stats
        cursor = Position(cur.slot, cur.block_id, cur.height, cur.epoch, self._header)
        async with self.store.transaction() as tx:
            # hold the checkpoint row for the whole batch: writers beside the cursor (capture,
            # imports, fetches) lock it too, so none of them sees a rollback half done
            await tx.check_writer()
            if self._far_behind(events):
                await tx.run("commit_without_flush")
            rows = self._rows()
            for ev in events:
                if isinstance(ev, RollBackward):
                    await self._flush(tx, rows)
                    rows = self._rows()
                    await self._rollback(tx, ev.point, cursor)
                    stats.tip = ev.tip or stats.tip
                    continue
                stats.tip = ev.tip or stats.tip
                if ev.block is None:  # Byron epoch-boundary block: no slot, no content
                    cursor.header = ev.ebb.id if ev.ebb is not None else cursor.header
                    continue
                rows = await self._forward(tx, rows, ev.block, cursor)
            await self._flush(tx, rows)
            pruned = await self._close_batch(tx, cursor)
        self._committed(cursor, pruned, started)

    async def _close_batch(self, tx: StoreTx, cursor: Position) -> int | None:
        """The end of every batch's transaction: the checkpoint, and now and then the prune."""
        await tx.set_checkpoint(cursor.slot, bytes.fromhex(cursor.block_id)
                                if cursor.block_id else None, cursor.height, cursor.epoch)
        if (self.state.stats.batches + 1) % self.prune_every == 0:
            return await self._prune(tx)
        return None

    def _committed(self, cursor: Position, pruned: int | None, started: float) -> None:
        stats = self.state.stats
        stats.batches += 1
        self.state.cursor, self._header = cursor.checkpoint(), cursor.header
        self.pruned_slot = pruned if pruned is not None else self.pruned_slot
        stats.last_commit_s = time.monotonic() - started

    # --- a batch overlapped with the one before --------------------------------------------

    def _overlappable(self, events: list[ChainEvent], before: Flight | None) -> bool:
        """Whether the batch (``_prepare``d) may begin while ``before`` still commits: the
        store has a connection to spare, and the batch only adds blocks, after a batch that
        ended on a block, within that block's epoch (no rollback, no boundary, no Byron EBB:
        what such a batch writes depends on everything before it)."""
        if before is None or before.task.done() or not self.store.spare_connection:
            return False
        prior = before.batch.events
        last = prior[-1] if prior else None
        if not (isinstance(last, RollForward) and last.block is not None):
            return False
        if not all(isinstance(ev, RollForward) and ev.block is not None for ev in events):
            return False
        end = events[-1]
        assert isinstance(end, RollForward) and end.block is not None
        return self.epochs.epoch_of(last.block.slot) == self.epochs.epoch_of(end.block.slot)

    async def _apply_overlapped(self, events: list[ChainEvent], before: Flight,
                                flight: Flight) -> None:
        """``apply`` for a batch of blocks within one epoch, begun while ``before`` commits.
        Its rows are copied first (nothing of the batch before can collide with them once
        that one has copied its own: ``before.copied``); then, once ``before`` has committed
        (its error aborts this batch too), what reads the database: the checkpoint lock and
        the writer check, the spends, pool certificates, payouts, the checkpoint, the
        prune. Read committed: each of those statements sees the batch before.

        Measured and not kept: looking up at once the spends of outputs committed before
        ``before`` (all but a few), leaving only those of ``before``'s own outputs for after
        its commit. No faster, at scale or fresh (README "Measured")."""
        started = time.monotonic()
        stats = self.state.stats
        rows = self._rows()
        cursor = Position(None, None, None, None, None)
        for ev in events:
            assert isinstance(ev, RollForward) and ev.block is not None
            stats.tip = ev.tip or stats.tip
            rows = await self._forward(None, rows, ev.block, cursor)
        rows.sort_by_key()
        await before.copied.wait()
        if not before.task.done():
            self.overlapped_batches += 1
        async with self.store.transaction() as tx:
            if self._far_behind(events):
                await tx.run("commit_without_flush")
            await self._copy_rows(tx, rows)
            flight.copied.set()
            await asyncio.shield(before.task)
            await tx.check_writer()
            await self._link_rows(tx, rows)
            pruned = await self._close_batch(tx, cursor)
        self._committed(cursor, pruned, started)

    def _far_behind(self, events: list[ChainEvent]) -> bool:
        """More than k blocks below the node's tip at the end of this batch: its commit need
        not wait for the WAL flush (``synchronous_commit = off``). That is crash-safe here:
        a crash of PostgreSQL or of the machine can lose the last few commits, but each is
        one batch with its checkpoint, so the database comes back at an earlier batch
        boundary and chain-sync resumes from there. Near the tip every commit is flushed."""
        last = next((ev.block for ev in reversed(events)
                     if isinstance(ev, RollForward) and ev.block is not None), None)
        tip = next((ev.tip for ev in reversed(events) if ev.tip is not None),
                   self.state.stats.tip)
        return last is not None and tip is not None and tip.height - last.height > self.net.k

    async def _prepare(self, events: list[ChainEvent]) -> None:
        """Before the transaction opens: check what must fit the columns, and refresh the
        epoch calendar if the batch passes its horizon (a query to Ogmios: never made while
        the transaction holds its locks)."""
        for ev in events:
            if isinstance(ev, RollForward) and ev.block is not None:
                block = ev.block
                if not (block.slot < _BIGINT_END and block.height < _BIGINT_END):
                    raise DecodeError(f"slot {block.slot} or height {block.height} is beyond "
                                      "2^63", block_id=block.id, slot=block.slot,
                                      field="slot/height")
                await self.epochs.ensure(block.slot)
            elif isinstance(ev, RollBackward) and ev.point is not None:
                if ev.point.slot >= _BIGINT_END:
                    raise DecodeError(f"rollback to slot {ev.point.slot}, beyond 2^63",
                                      block_id=ev.point.id, field="point.slot")
                await self.epochs.ensure(ev.point.slot)

    async def _forward(self, tx: StoreTx | None, rows: BatchRows, block: Block,
                       cursor: Position) -> BatchRows:
        """Add ``block`` to ``rows``, crossing the epoch boundaries before it first (``tx``
        None: the caller has checked there are none)."""
        epoch = self.epochs.epoch_of(block.slot)
        if cursor.epoch is not None and epoch > cursor.epoch:
            assert tx is not None
            await self._flush(tx, rows)  # boundary work sees every block before it
            rows = self._rows()
            for x in range(cursor.epoch + 1, epoch + 1):
                await boundary.cross(tx, x, self.net, era=block.era)
        rows.add_block(block, epoch, keep_pointers=block.era not in boundary.POINTERLESS_ERAS)
        cursor.slot, cursor.block_id, cursor.height, cursor.epoch = (
            block.slot, block.id, block.height, epoch)
        cursor.header = None
        self.state.stats.blocks += 1
        self.state.stats.txs += len(block.transactions)
        return rows

    async def _rollback(self, tx: StoreTx, point: Point | None, cursor: Position) -> None:
        if point is None:
            slot, epoch, height = -1, -1, None
        else:
            slot, epoch = point.slot, self.epochs.epoch_of(point.slot)
            found = await tx.rows("block_height_at", slot)
            height = found[0]["height"] if found else None
        if self.pruned_slot is not None and slot < self.pruned_slot:
            raise RollbackTooDeep(
                f"the node rolled back to slot {slot}, below slot {self.pruned_slot} where "
                f"spent outputs were already pruned (more than k = {self.net.k} blocks deep); "
                "resync from an earlier point into a fresh database")
        if cursor.slot is not None and (cursor.slot != slot or point is None):
            self.state.stats.rollbacks += 1
            log.info("writer.rollback", to_slot=slot, from_slot=cursor.slot)
        await tx.run("rollback", slot, epoch)
        cursor.slot = None if point is None else point.slot
        cursor.block_id = None if point is None else point.id
        cursor.height, cursor.epoch = height, (None if point is None else epoch)
        cursor.header = None

    async def _flush(self, tx: StoreTx, rows: BatchRows) -> None:
        if not rows.blocks:
            return
        rows.sort_by_key()
        await self._copy_rows(tx, rows)
        await self._link_rows(tx, rows)

    @staticmethod
    async def _copy_rows(tx: StoreTx, rows: BatchRows) -> None:
        """The rows that depend on nothing stored (``_apply_overlapped`` copies them while the
        batch before commits)."""
        await tx.copy("block", BLOCK_COLUMNS, rows.blocks)
        await tx.copy("utxo", UTXO_COLUMNS, rows.utxos)
        await tx.copy("stake_event", STAKE_EVENT_COLUMNS, rows.stake_events)
        await tx.copy("withdrawal_row", WITHDRAWAL_COLUMNS, rows.withdrawals)
        await tx.copy("mir_transfer", MIR_COLUMNS, rows.mirs)

    async def _link_rows(self, tx: StoreTx, rows: BatchRows) -> None:
        """The rows that read what is stored: the spends (of stored outputs), the pool
        certificates (each pool's history), the payouts (withdrawals, registrations,
        outputs)."""
        await tx.spend(rows.spend_ids, rows.spend_idxs, rows.spend_slots)
        if rows.pool_certs:
            await self._pool_certs(tx, rows)
        await payouts.record(tx, rows.payout_outputs, rows.payout_inputs, self.net.pools)

    async def _pool_certs(self, tx: StoreTx, rows: BatchRows) -> None:
        """Pool certificates are rare: each gets its active epoch from the pool's history."""
        pools = sorted({r.cert.pool for r in rows.pool_certs})
        history: dict[bytes, list[PoolEvent]] = {p: [] for p in pools}
        for r in await tx.rows("pool_history", pools):
            history[r["pool_hash"]].append(
                PoolEvent(r["epoch_no"], r["kind"] == "registration", r["retirement_epoch"]))
        records = []
        for row in rows.pool_certs:
            past = history[row.cert.pool]
            cert = row.cert
            is_reg = isinstance(cert, PoolRegistration)
            active = active_epoch(past, row.epoch_no) if is_reg else None
            records.append(pool_cert_record(row, active, self.net.network_id))
            past.append(PoolEvent(row.epoch_no, is_reg, cert.retirement_epoch
                                  if isinstance(cert, PoolRetirement) else None))
        await tx.insert_pool_certs(records)

    async def _prune(self, tx: StoreTx) -> int | None:
        """Forget spent outputs deeper than k blocks: no rollback can bring them back."""
        found = await tx.rows("window_slot", self.net.k + 1)
        if not found:
            return None
        slot = int(found[0]["slot"])
        await tx.run("prune_spent", slot)
        await tx.run("set_meta", "pruned_slot", slot)
        return slot
