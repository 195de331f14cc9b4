"""The nextBlock requests of chain-sync: renewed in bursts written at once, each still a
message of its own (a fragmented message would be one request to Ogmios), with never fewer
than ``in_flight - burst + 1`` in flight."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from indexer.sync.chainsync import NEXT_BLOCK, NEXT_BLOCK_UTF8, ChainFollower, send_repeated

INTERSECT = b'{"jsonrpc":"2.0","method":"findIntersection","result":{"intersection":"origin",' \
            b'"tip":"origin"},"id":"intersect"}'


def _frame(n: int) -> bytes:
    return (b'{"jsonrpc":"2.0","method":"nextBlock","result":{"direction":"forward",'
            b'"block":{"slot":%d,"id":"%064x"},"tip":"origin"}}' % (n, n))


async def test_send_repeated_writes_separate_messages_in_one_write(monkeypatch: Any) -> None:
    got: list[str | bytes] = []

    async def handler(ws: ServerConnection) -> None:
        async for msg in ws:
            got.append(msg)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            writes: list[bytes] = []
            write = ws.transport.write

            def spy(data: bytes) -> None:
                writes.append(bytes(data))
                write(data)
            monkeypatch.setattr(ws.transport, "write", spy)
            await send_repeated(ws, NEXT_BLOCK_UTF8, 40)
            monkeypatch.undo()
            for _ in range(200):
                if len(got) >= 40:
                    break
                await asyncio.sleep(0.01)
    assert got == [NEXT_BLOCK] * 40  # text messages, one request each
    assert len(writes) == 1


async def test_requests_are_renewed_in_bursts_keeping_the_pipeline_full() -> None:
    """The server answers 200 requests, then no more; the follower renews them ``burst`` at
    a time, so the server ends up with exactly in_flight + burst * (200 // burst) requests,
    and whenever the follower waited for a frame, at least in_flight - burst + 1 were
    unanswered."""
    answers, in_flight = 200, 30
    received = 0  # by the server

    async def handler(ws: ServerConnection) -> None:
        nonlocal received
        await ws.recv()
        await ws.send(INTERSECT, text=True)
        async for msg in ws:
            assert msg == NEXT_BLOCK
            received += 1
            if received <= answers:
                await ws.send(_frame(received), text=True)

    follower = ChainFollower("", in_flight=in_flight, stall_timeout_s=30)
    burst = follower.burst
    assert 1 < burst < in_flight
    asked = answered = 0  # by the follower
    fewest = in_flight
    request, receive = follower._request, follower._receive

    async def counted_request(ws: Any, n: int) -> None:
        nonlocal asked
        asked += n
        await request(ws, n)

    async def counted_receive(ws: Any, last: bytes) -> bytes:
        nonlocal answered, fewest
        if answered < answers:
            fewest = min(fewest, asked - answered)
        raw = await receive(ws, last)
        answered += 1
        return raw

    follower._request = counted_request  # type: ignore[method-assign]
    follower._receive = counted_receive  # type: ignore[method-assign]
    out: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            last = await follower._intersect(ws, [None])
            task = asyncio.create_task(follower._follow(ws, last, out))
            for n in range(1, answers + 1):
                assert await out.get() == _frame(n)
            expected = in_flight + burst * (answers // burst)
            for _ in range(300):
                if received >= expected:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # nothing more comes
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert received == asked == expected
    assert fewest == in_flight - burst + 1
