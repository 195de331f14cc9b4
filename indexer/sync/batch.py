"""A batch on its way through the writer (``sync/writer.py``): the position it moves the cursor
to, the frames decoded for it, its commit in flight, and the continuity check of its events.
Pure, except ``Flight``'s task and event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from indexer.chain.types import ChainEvent, Checkpoint, DecodeError, RollBackward


@dataclass
class Position:
    """The batch's working copy of the cursor (committed as a ``Checkpoint``)."""

    slot: int | None
    block_id: str | None
    height: int | None
    epoch: int | None
    header: str | None  # a Byron EBB applied after block_id (None: block_id)

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.slot, self.block_id, self.height, self.epoch)


@dataclass
class Decoded:
    """A batch being decoded: its events, the frames taken from the queue for it (each is
    marked done once the batch commits), and the position after its last event."""

    cursor: Checkpoint
    header: str | None
    events: list[ChainEvent] = field(default_factory=list)
    frames: int = 0
    size: int = 0
    error: DecodeError | None = None


@dataclass
class Flight:
    """A batch handed to ``_commit``: its task, and ``copied``, set once it has inserted every
    row that the next batch could collide with (the next batch's commit may then begin)."""

    batch: Decoded
    task: asyncio.Future[None] = field(init=False)
    copied: asyncio.Event = field(default_factory=asyncio.Event)


def after_event(cursor: Checkpoint, header: str | None, ev: ChainEvent
           ) -> tuple[Checkpoint, str | None]:
    """The position ``check_continuity`` checks the next event against, after ``ev``."""
    if isinstance(ev, RollBackward):
        p = ev.point
        return Checkpoint(p.slot if p else None, p.id if p else None, None, None), None
    if ev.block is None:
        return cursor, ev.ebb.id if ev.ebb is not None else header
    b = ev.block
    return Checkpoint(b.slot, b.id, b.height, None), None


def check_continuity(cursor: Checkpoint, events: list[ChainEvent], header: str | None = None
                     ) -> tuple[int, DecodeError | None]:
    """How many of ``events`` follow on from ``cursor`` (and the error at the first that does
    not): each block names the previous header as its ``ancestor`` (an epoch-boundary block
    counts as a header: ``header`` is one applied after the cursor), is one higher and at a
    later slot. After a rollback the height of the point is not known here, so only the
    ancestor is checked for the next block. Pure."""
    header, slot, height = header or cursor.block_id, cursor.slot, cursor.height
    for i, ev in enumerate(events):
        if isinstance(ev, RollBackward):
            header = ev.point.id if ev.point is not None else None
            slot, height = (ev.point.slot if ev.point is not None else None), None
            continue
        ebb, block = ev.ebb, ev.block
        problem, where = None, ""
        if ebb is not None:
            if header is not None and ebb.ancestor != header:
                problem, where = f"ancestor {ebb.ancestor} is not {header}", "ancestor"
            header = ebb.id
        elif block is not None:
            if header is not None and block.ancestor != header:
                problem, where = (f"ancestor {block.ancestor} is not the previous block "
                                  f"{header}"), "ancestor"
            elif height is not None and block.height != height + 1:
                problem, where = (f"height {block.height} does not follow {height}"), "height"
            elif slot is not None and block.slot <= slot:
                problem, where = f"slot {block.slot} is not after {slot}", "slot"
            header, slot, height = block.id, block.slot, block.height
        if problem is not None:
            bid = ebb.id if ebb is not None else block.id if block is not None else None
            return i, DecodeError(f"the chain does not follow on: {problem}", block_id=bid,
                                  slot=block.slot if block is not None else None, field=where)
    return len(events), None
