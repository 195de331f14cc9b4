"""``Writer.run`` decodes the frames that arrive while a batch commits into the next batch, and
begins the next batch's commit (its rows copied on a second connection) before the batch before
it has committed. These tests feed its queue at a trickle, so that frames land in both the batch
being committed and the next one, or slow the commits down so that two batches are in flight,
and check what the one-shot ``apply`` path already guarantees: the same database as a straight
run, every frame taken marked done once committed, and on a malformed frame the good frames
before it committed, the error raised, the database at the last good block; and, when a batch
fails while the next one is under way, neither of them in the database."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from indexer.chain.decode import decode_message
from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.chain.types import Checkpoint, DecodeError
from indexer.db.store import Store
from indexer.demo.scenarios import build_demo_chain, demo_network
from indexer.simulator.chain import ChainBuilder, Wallet, utxo
from indexer.simulator.network import Network
from indexer.sync.batch import Decoded, Flight
from indexer.sync.network import Epochs, NetworkInfo
from indexer.sync.writer import Writer
from tests.harness import tip_slot, views
from tests.pg import Databases
from tests.randomchain import back_frame, frame


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
    error = await _drive(store, writer, queue, _trickle(queue, frames), DecodeError)
    assert len(commits) > 1 and writer.overlapped > 0  # frames decoded during commits
    return writer, error


async def _drive(store: Store, writer: Writer, queue: asyncio.Queue[bytes],
                 feed: Coroutine[Any, Any, None], catch: type[BaseException]
                 ) -> BaseException | None:
    """Run ``writer`` on ``queue`` while ``feed`` fills it, until every frame taken is
    committed (or the writer stops): the ``catch`` it stopped with, if any. Closes ``store``."""
    stop = asyncio.Event()
    feeder = asyncio.create_task(feed)
    run = asyncio.create_task(writer.run(queue, stop))
    try:
        await asyncio.wait({feeder, run}, return_when=asyncio.FIRST_COMPLETED)
        async with asyncio.timeout(60):
            while not run.done() and queue._unfinished_tasks:  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
        stop.set()
        await run
    except catch as exc:
        return exc
    finally:
        feeder.cancel()
        await store.close()
    return None


_CHAIN_ROWS = {
    "block": "SELECT * FROM block ORDER BY slot",
    # the live outputs (spent ones are pruned at points that depend on the batch sizes)
    "utxo": "SELECT * FROM utxo u WHERE NOT EXISTS (SELECT 1 FROM utxo_spent s WHERE"
            " s.tx_id = u.tx_id AND s.idx = u.idx) ORDER BY tx_id, idx",
    "stake_event": "SELECT * FROM stake_event ORDER BY slot, tx_index, cert_index",
    "withdrawal_row": "SELECT * FROM withdrawal_row ORDER BY slot, tx_index, cred",
    "payout_flow": "SELECT * FROM payout_flow ORDER BY slot, tx_index, utxo_tx, utxo_idx",
    "checkpoint": "SELECT slot, block_hash, block_height, epoch_no FROM checkpoint",
}


async def _chain_rows(dsn: str) -> dict[str, list[dict[str, Any]]]:
    """The tables the overlapped batches write, row for row (``views`` derive from them)."""
    return await views(dsn, _CHAIN_ROWS)


async def _straight(databases: Databases, frames: list[bytes], net: Any) -> str:
    """A database with ``frames`` applied one by one (``apply``: no pipelining at all)."""
    dsn = await databases.new()
    store = await Store.connect(dsn)
    await store.migrate()
    one_by_one = _writer(store, net)
    await one_by_one.load()
    for f in frames:
        await one_by_one.apply([decode_message(f)])
    await store.close()
    return dsn


async def _assert_straight(dsn: str, databases: Databases, frames: list[bytes], net: Any
                           ) -> None:
    """``dsn`` holds what a straight run over ``frames`` gives: the same views and chain
    rows."""
    straight = await _straight(databases, frames, net)
    assert await views(dsn) == await views(straight)
    assert await _chain_rows(dsn) == await _chain_rows(straight)


async def test_pipelined_run_equals_batches_applied_one_by_one(
        dsn: str, databases: Databases) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    frames = [frame(b, chain[-1]) for b in chain]
    writer, error = await _run(dsn, frames, net)
    assert error is None and writer.state.cursor.block_id == chain[-1]["id"]
    await _assert_straight(dsn, databases, frames, net)


class _SlowCommits(_Counting):
    """Each commit waits a little before its checkpoint, so that the next batch fills up and
    begins its own commit meanwhile (two batches in flight). ``fail_after``: the first batch
    that ends while the next one has copied its rows, from that many commits on, raises
    ``_Boom`` instead of committing."""

    fail_after: int | None = None
    failed_at: Any = None  # the cursor committed before the failed batch
    copies = 0

    async def _copy_rows(self, tx: Any, rows: Any) -> None:  # type: ignore[override]
        await Writer._copy_rows(tx, rows)
        self.copies += 1

    async def _close_batch(self, tx: Any, cursor: Any) -> Any:
        copies = self.copies
        for _ in range(20 if self.failed_at is None else 0):  # after the failure: full speed
            if self.copies > copies:
                break
            await asyncio.sleep(0.01)
        if (self.fail_after is not None and self.failed_at is None
                and self.state.stats.batches >= self.fail_after and self.copies > copies):
            self.failed_at = self.state.cursor
            raise _Boom(f"batch {self.state.stats.batches + 1} fails")
        return await super()._close_batch(tx, cursor)


class _Boom(Exception):
    pass


async def _feed(queue: asyncio.Queue[bytes], frames: list[bytes], gap_s: float) -> None:
    for f in frames:
        await queue.put(f)
        await asyncio.sleep(gap_s)


async def _run_slow(dsn: str, frames: list[bytes], net: Any, fail_after: int | None = None,
                    gap_s: float = 0.0) -> tuple[_SlowCommits, BaseException | None]:
    store = await Store.connect(dsn)
    await store.migrate()
    cal = EpochCalendar(parse_era_summaries(net.era_summaries_json(10**6)))
    # batches of 3 in the demo chain's epochs of 10 blocks: many fit within an epoch
    writer = _SlowCommits(store, Epochs(cal), NetworkInfo(0, net.k, 500_000_000, None),
                          batch_max_blocks=3, prune_every_batches=3)
    writer.fail_after = fail_after
    await writer.load()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    return writer, await _drive(store, writer, queue, _feed(queue, frames, gap_s), _Boom)


async def test_batches_overlapped_on_two_connections_equal_a_straight_run(
        dsn: str, databases: Databases) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    frames = [frame(b, chain[-1]) for b in chain]
    writer, error = await _run_slow(dsn, frames, net)
    assert error is None and writer.state.cursor.block_id == chain[-1]["id"]
    assert writer.overlapped_batches >= 3  # begun while the batch before was committing
    await _assert_straight(dsn, databases, frames, net)


def _payment_chain(n: int) -> tuple[Network, list[dict[str, Any]]]:
    """``n`` blocks in one epoch, each with a transaction that spends the previous block's
    first output and the second output of the block five back: with batches of 3, each batch
    spends outputs of the batch just before it and of batches already committed."""
    net = Network.two_era(byron_epochs=0, shelley_len=10_000, k=10)
    cb = ChainBuilder(net)
    wallets = [Wallet(f"payer{i}") for i in range(3)]
    txs: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    parent = None
    for i in range(n):
        inputs = [utxo(txs[-1], 0)] if txs else [cb.genesis_input("payments")]
        if i >= 5:
            inputs.append(utxo(txs[i - 5], 1))
        txs.append(cb.tx(inputs=inputs, outputs=[
            (wallets[i % 3].address(net.network_id), 5_000_000 + i),
            (wallets[(i + 1) % 3].address(net.network_id), 3_000_000 + i)]))
        parent = cb.block(parent, i + 1, [txs[-1]])
        blocks.append(parent)
    return net, blocks


async def test_spends_of_the_batch_before_wait_for_its_commit(
        dsn: str, databases: Databases) -> None:
    """Overlapped batches spend outputs of the batch just before them (still committing when
    they begin) and of batches committed earlier: all recorded, as in a straight run."""
    net, chain = _payment_chain(60)
    frames = [frame(b, chain[-1]) for b in chain]
    writer, error = await _run_slow(dsn, frames, net)
    assert error is None and writer.overlapped_batches >= 3
    straight = await _straight(databases, frames, net)
    rows = await _chain_rows(dsn)
    assert rows == await _chain_rows(straight)
    assert len(rows["utxo"]) == 1 + 5  # the last first output, the last 5 second outputs


async def test_a_batch_that_fails_takes_the_overlapped_next_one_with_it(
        dsn: str, databases: Databases) -> None:
    """Batch N fails at its checkpoint while N+1 has already copied its rows on the other
    connection: neither is in the database, which equals a straight run up to the batch
    before N; the error is the one N raised. End to end: ``run`` cancels N+1 when N fails and
    N+1 itself fails on N's error, so this fails only when both are broken (measured); the
    second alone is ``test_an_overlapped_batch_commits_only_after_the_one_before``."""
    net = demo_network()
    chain = build_demo_chain(net)
    frames = [frame(b, chain[-1]) for b in chain]
    # frames 30 ms apart: when N fails, the writer is still decoding N+2, not waiting for N
    writer, error = await _run_slow(dsn, frames, net, fail_after=2, gap_s=0.03)
    assert isinstance(error, _Boom) and writer.failed_at is not None
    done = writer.failed_at
    assert writer.state.cursor == done  # the writer's own cursor did not move either
    assert await tip_slot(dsn) == done.slot
    upto = next(i for i, b in enumerate(chain) if b["id"] == done.block_id)
    await _assert_straight(dsn, databases, frames[:upto + 1], net)


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


class _Copies(Writer):
    """Signals when a batch has copied its rows (and is about to wait for the one before)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.copied = asyncio.Event()

    async def _copy_rows(self, tx: Any, rows: Any) -> None:  # type: ignore[override]
        await Writer._copy_rows(tx, rows)
        self.copied.set()


@pytest.mark.parametrize("before_fails", [False, True])
async def test_an_overlapped_batch_commits_only_after_the_one_before(
        dsn: str, before_fails: bool) -> None:
    """``_commit`` of batch N+1 beside a batch N that is still committing (N's flight held
    open here): N+1 copies its rows, then waits; once N has committed, N+1 commits after it;
    if N fails, N+1 fails with N's error and leaves nothing behind."""
    net = demo_network()
    chain = build_demo_chain(net)
    cal = EpochCalendar(parse_era_summaries(net.era_summaries_json(10**6)))
    blocks = [b for b in chain if cal.epoch_of(b["slot"]) == 3]  # one epoch, 10 blocks
    first = chain.index(blocks[0])
    done = [decode_message(frame(b, chain[-1])) for b in chain[:first + 4]]
    nxt = [decode_message(frame(b, chain[-1])) for b in chain[first + 4:first + 8]]
    store = await Store.connect(dsn)
    try:
        await store.migrate()
        writer = _Copies(store, Epochs(cal), NetworkInfo(0, net.k, 500_000_000, None))
        await writer.load()
        for ev in done:  # the database as batch N will have left it
            await writer.apply([ev])
        tip = await tip_slot(dsn)
        before = Flight(Decoded(writer.state.cursor, None, events=done[-4:]))
        before.task = asyncio.get_running_loop().create_future()
        before.copied.set()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for _ in nxt:
            queue.put_nowait(b"")
            queue.get_nowait()
        flight = Flight(Decoded(writer.state.cursor, None, events=nxt, frames=len(nxt)))
        flight.task = asyncio.ensure_future(writer._commit(flight, queue, before))
        async with asyncio.timeout(10):
            await writer.copied.wait()
        await asyncio.sleep(0.2)
        assert not flight.task.done() and await tip_slot(dsn) == tip  # it waits for N
        if before_fails:
            before.task.set_exception(RuntimeError("batch N failed"))
            with pytest.raises(RuntimeError, match="batch N failed"):
                await flight.task
            assert await tip_slot(dsn) == tip
            assert writer.state.cursor.slot == tip
            assert await store.fetch("SELECT 1 FROM block WHERE slot > $1", tip) == []
        else:
            before.task.set_result(None)
            await flight.task
            assert await tip_slot(dsn) == chain[first + 7]["slot"]
            assert writer.state.cursor.block_id == chain[first + 7]["id"]
        assert writer.overlapped_batches == 1 and queue._unfinished_tasks == 0  # type: ignore[attr-defined]
    finally:
        await store.close()


async def test_which_batches_are_overlapped(dsn: str) -> None:
    """``_overlappable``: only a batch of blocks within the epoch in which the batch before it
    (still committing) ended on a block, and only with a connection to spare."""
    net = demo_network()
    chain = build_demo_chain(net)
    cal = EpochCalendar(parse_era_summaries(net.era_summaries_json(10**6)))
    epoch3 = [i for i, b in enumerate(chain) if cal.epoch_of(b["slot"]) == 3]
    ev = [decode_message(frame(b, chain[-1])) for b in chain]

    def flight(events: list[Any], done: bool = False) -> Flight:
        f = Flight(Decoded(Checkpoint(None, None, None, None), None, events=events))
        f.task = asyncio.get_running_loop().create_future()
        if done:
            f.task.set_result(None)
        return f

    a, b = epoch3[0], epoch3[-1]  # the first and last block of epoch 3
    back = decode_message(back_frame(chain[a], chain[-1]))
    for max_size, spare in ((4, True), (2, False)):
        store = await Store.connect(dsn, max_size=max_size)
        try:
            writer = Writer(store, Epochs(cal), NetworkInfo(0, net.k, 500_000_000, None))
            ok = writer._overlappable
            assert ok(ev[a + 3:b + 1], flight(ev[a:a + 3])) is spare
            assert not ok(ev[a + 3:b + 1], None)  # nothing before it in flight
            assert not ok(ev[a + 3:b + 1], flight(ev[a:a + 3], done=True))
            assert not ok(ev[a + 3:b + 2], flight(ev[a:a + 3]))  # into the next epoch
            # after one that crossed into epoch 3 (it sets ``copied`` once committed)
            assert ok(ev[a + 2:b], flight(ev[a - 2:a + 2])) is spare
            assert not ok(ev[a + 2:b], flight([*ev[a:a + 1], back]))  # after a rollback
            assert not ok([back, *ev[a + 1:b]], flight(ev[a:a + 1]))  # with a rollback
        finally:
            await store.close()
