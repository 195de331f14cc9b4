"""``Writer.run`` decodes the frames that arrive while a batch commits into the next batch. These
tests feed its queue at a trickle, so that frames land in both the batch being committed and the
next one, and check what the one-shot ``apply`` path already guarantees: the same database as a
straight run, every frame taken marked done once committed, and on a malformed frame the good
frames before it committed, the error raised, the database at the last good block."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from indexer.chain.decode import decode_message
from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.chain.types import DecodeError
from indexer.db.store import Store
from indexer.demo.scenarios import build_demo_chain, demo_network
from indexer.sync.network import Epochs, NetworkInfo
from indexer.sync.writer import Writer
from tests.harness import tip_slot, views
from tests.pg import Databases
from tests.randomchain import frame


class _Counting(Writer):
    """Counts the frames decoded while a batch was committing (the overlap under test)."""

    overlapped = 0

    async def _decode_while(self, commit: Any, queue: Any, stop: Any, into: Any) -> None:
        before = into.frames
        await super()._decode_while(commit, queue, stop, into)
        self.overlapped += into.frames - before


def _writer(store: Store, net: Any) -> _Counting:
    cal = EpochCalendar(parse_era_summaries(net.era_summaries_json(10**6)))
    return _Counting(store, Epochs(cal), NetworkInfo(0, net.k, 500_000_000, None),
                     batch_max_blocks=7, prune_every_batches=3)


async def _trickle(queue: asyncio.Queue[bytes], frames: list[bytes]) -> None:
    for i, f in enumerate(frames):
        await queue.put(f)
        if i % 3 == 0:
            await asyncio.sleep(0.002)  # let a commit start with part of the frames


async def _run(dsn: str, frames: list[bytes], net: Any
               ) -> tuple[_Counting, BaseException | None]:
    store = await Store.connect(dsn)
    await store.migrate()
    writer = _writer(store, net)
    await writer.load()
    commits: list[int] = []

    async def count() -> None:
        commits.append(writer.state.stats.batches)

    writer.after_commit.append(count)
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10)
    stop = asyncio.Event()
    feeder = asyncio.create_task(_trickle(queue, frames))
    run = asyncio.create_task(writer.run(queue, stop))
    error: BaseException | None = None
    try:
        await feeder
        async with asyncio.timeout(60):
            while not run.done() and queue._unfinished_tasks:  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
        stop.set()
        await run
    except DecodeError as exc:
        error = exc
    finally:
        await store.close()
    assert len(commits) > 1 and writer.overlapped > 0  # frames decoded during commits
    return writer, error


async def test_pipelined_run_equals_batches_applied_one_by_one(
        dsn: str, databases: Databases) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    frames = [frame(b, chain[-1]) for b in chain]
    writer, error = await _run(dsn, frames, net)
    assert error is None and writer.state.cursor.block_id == chain[-1]["id"]

    straight = await databases.new()
    store = await Store.connect(straight)
    await store.migrate()
    one_by_one = _writer(store, net)
    await one_by_one.load()
    for f in frames:
        await one_by_one.apply([decode_message(f)])
    await store.close()
    assert await views(dsn) == await views(straight)


async def test_a_malformed_frame_in_the_next_batch_commits_the_good_ones(dsn: str) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    frames = [frame(b, chain[-1]) for b in chain[:40]]
    frames.insert(30, b'{"jsonrpc": "2.0", "result": {"direction": "forward", "block": 5}}')
    writer, error = await _run(dsn, frames, net)
    assert isinstance(error, DecodeError) and error.field == "result.block"
    assert writer.state.cursor.block_id == chain[29]["id"]
    assert await tip_slot(dsn) == chain[29]["slot"]


@pytest.mark.parametrize("cut", [12, 25])
async def test_a_block_that_does_not_follow_stops_at_the_last_good_one(dsn: str, cut: int
                                                                         ) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    frames = [frame(b, chain[-1]) for b in chain[:cut]] + [frame(chain[cut + 1], chain[-1])]
    _, error = await _run(dsn, frames, net)
    assert isinstance(error, DecodeError) and error.field == "ancestor"
    assert await tip_slot(dsn) == chain[cut - 1]["slot"]


async def test_spends_are_packed_without_losing_an_id_an_index_or_a_slot(dsn: str) -> None:
    """``StoreTx.spend`` sends the ids end to end and the integers as text (store.py): every
    spend of a stored output is recorded with its own index and slot (several digits, beyond
    32 bits), the others are not, and an id that is not 32 bytes is refused."""
    ids = [bytes([i]) * 32 for i in range(1, 6)]
    store = await Store.connect(dsn)
    try:
        async with store.transaction() as tx:
            await tx.copy("utxo", ("tx_id", "idx", "cred", "lovelace", "slot"),
                          [(ids[0], 0, b"\x00" * 29, 5, 1), (ids[1], 12, b"\x00" * 29, 6, 1),
                           (ids[2], 7, b"\x00" * 29, 7, 1)])
            await tx.spend([ids[1], ids[0], ids[3], ids[2]], [12, 0, 12, 8],
                           [2**40 + 3, 9, 10, 11])
            with pytest.raises(ValueError, match="32 bytes"):
                await tx.spend([ids[4][:31]], [0], [12])
        rows = await store.fetch("SELECT tx_id, idx, spent_slot FROM utxo_spent ORDER BY tx_id")
    finally:
        await store.close()
    assert [(bytes(r["tx_id"]), r["idx"], r["spent_slot"]) for r in rows] == [
        (ids[0], 0, 9), (ids[1], 12, 2**40 + 3)]
