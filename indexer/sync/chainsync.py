"""Chain-sync (docs/ogmios.md §2): ``in_flight`` pipelined nextBlock requests on a connection
of their own, the raw frames into a bounded queue (the writer decodes them, so a slow database
pushes back all the way to the node through TCP).

Faults, and what is done about them: a connection that drops is reopened with capped
exponential backoff, reset only after a session made real progress; a stalled Ogmios (no
frame although the node's tip is ahead, or no answer at all) is given up after
``stall_timeout_s`` and reopened; a frame larger than ``max_message_mib`` is fatal and names
the block after which it came (retrying would fetch the same block again).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from indexer.chain.types import Point
from indexer.sync.ogmios import (
    TRANSIENT,
    Backoff,
    IntersectionNotFound,
    OgmiosError,
    point_json,
    refuse_tls,
    too_big,
)
from indexer.sync.state import LinkState

log = structlog.get_logger("indexer.sync.chainsync")

NEXT_BLOCK = '{"jsonrpc":"2.0","method":"nextBlock"}'
NEXT_BLOCK_UTF8 = NEXT_BLOCK.encode()
# Asked on the chain-sync connection when no frame comes: Ogmios answers state queries beside
# parked nextBlock requests (each connection runs its own chain-sync and state-query clients,
# docs/ogmios.md §4), so the answer shows both that it is alive and where the node's tip is.
PROBE_ID = "indexer-stall-probe"
PROBE = orjson.dumps({"jsonrpc": "2.0", "method": "queryNetwork/tip", "id": PROBE_ID}).decode()


class FrameTooLarge(OgmiosError):
    """A chain-sync frame above ``max_message_mib``: fatal (the same block would come again)."""


class ChainSyncStalled(OgmiosError):
    """Ogmios stopped delivering: reconnect."""


class ChainFollower:
    """Chain-sync with ``in_flight`` pipelined nextBlock requests, feeding raw frames into a
    bounded queue. Reconnects with backoff; before re-intersecting it waits until the writer
    has committed every queued frame, so the points read from the database are current.

    The backoff grows across sessions that made no real progress (a connection that drops
    right after the intersection, again and again) and is reset only by a healthy session:
    one that delivered ``HEALTHY_FRAMES`` frames or stayed up ``HEALTHY_SESSION_S``.

    A stall is judged only while we wait for a frame (never while the writer holds us back:
    then nothing is read). Every ``stall_timeout_s / 4`` without a frame the node's tip is
    asked on this connection (``queryNetwork/tip``, answered beside the parked nextBlock
    requests). The session is given up when nothing at all came for ``stall_timeout_s``, or
    when the node's tip has been ahead of our last frame for ``stall_timeout_s`` without a new
    frame. At the tip Ogmios legitimately waits for the next block as long as it takes (about
    20 s on mainnet, longer on test networks): that is not a stall, it still answers.

    Answered requests are renewed ``burst`` at a time, in one socket write, each frame queued
    (``out.put``) before its request is renewed, so a slow writer still holds Ogmios back."""

    HEALTHY_FRAMES = 100
    HEALTHY_SESSION_S = 60.0
    MAX_BURST = 32  # answered requests renewed together (see ``burst``)

    def __init__(self, url: str, *, in_flight: int = 100, max_message_mib: int = 64,
                 reconnect_max_s: float = 30.0, connect_timeout_s: float = 10.0,
                 stall_timeout_s: float = 60.0, ssl_context: ssl.SSLContext | None = None,
                 link: LinkState | None = None) -> None:
        self.url, self.in_flight = url, max(1, in_flight)
        self.max_message_mib = max_message_mib
        self.backoff = Backoff(reconnect_max_s)
        self.connect_timeout_s, self.stall_timeout_s = connect_timeout_s, stall_timeout_s
        self.ssl_context = ssl_context
        self.link = link if link is not None else LinkState()
        self._healthy = False  # the current session made real progress

    @property
    def connections(self) -> int:
        return self.link.connections

    async def run(self, points: Callable[[], Awaitable[list[Point | None]]],
                  out: asyncio.Queue[bytes]) -> None:
        while True:
            await out.join()  # everything received so far is committed
            self._healthy = False
            try:
                await self._session(await points(), out)
            except FrameTooLarge:
                await out.join()  # the database stays exactly at the last good block
                raise
            except (*TRANSIENT, ChainSyncStalled) as exc:
                refuse_tls(self.url, exc)
                if isinstance(exc, ChainSyncStalled):
                    self.link.stalls += 1
                    log.warning("ogmios.chainsync.stalled", reason=str(exc),
                                stall_timeout_s=self.stall_timeout_s)
                if self._healthy:
                    self.backoff.reset()
                await self.backoff.wait("ogmios.chainsync.reconnect", exc)

    async def _session(self, points: list[Point | None], out: asyncio.Queue[bytes]) -> None:
        async with connect(self.url, max_size=self.max_message_mib * 2**20, compression=None,
                           ping_interval=None, max_queue=16, ssl=self.ssl_context,
                           open_timeout=self.connect_timeout_s) as ws:
            try:
                await self._follow(ws, await self._intersect(ws, points), out)
            except BaseException:
                # no closing handshake: a stalled server would not answer it, and while the
                # writer holds us back we read nothing, its answer included (10 s lost)
                ws.transport.abort()
                raise

    async def _follow(self, ws: ClientConnection, last: bytes, out: asyncio.Queue[bytes]
                      ) -> None:
        """Pipelined nextBlock requests on an intersected connection, until it fails."""
        link = self.link
        link.connections += 1
        link.connected, link.at_tip = True, None
        link.last_frame = link.last_alive = started = time.monotonic()
        frames = 0
        # Re-asked in bursts, not one request per answer: each send is a syscall and a pass
        # through websockets' send machinery (6-10% of the daemon's time when it was one per
        # frame). At least ``in_flight - burst + 1`` requests stay in flight all along.
        burst = self.burst
        owed = 0  # answers received whose request is not yet renewed
        try:
            await self._request(ws, self.in_flight)
            while True:
                raw = await self._receive(ws, last)
                last, frames = raw, frames + 1
                link.last_frame = link.last_alive = now = time.monotonic()
                link.at_tip = None
                if frames >= self.HEALTHY_FRAMES or now - started >= self.HEALTHY_SESSION_S:
                    self._healthy = True
                await out.put(raw)  # bounded: waits here while the writer is behind
                owed += 1
                if owed >= burst:
                    await self._request(ws, owed)
                    owed = 0
        finally:
            link.connected = False
            if time.monotonic() - started >= self.HEALTHY_SESSION_S:
                self._healthy = True

    @property
    def burst(self) -> int:
        """How many answers are awaited before their requests are renewed at once: a third of
        ``in_flight``, at most ``MAX_BURST`` (so 100 in flight never fall below 69)."""
        return max(1, min(self.MAX_BURST, self.in_flight // 3))

    async def _request(self, ws: ClientConnection, n: int) -> None:
        try:
            async with asyncio.timeout(self.stall_timeout_s):
                await send_repeated(ws, NEXT_BLOCK_UTF8, n)
        except TimeoutError:
            raise ChainSyncStalled(f"Ogmios took no request for "
                                   f"{self.stall_timeout_s} s") from None

    async def _receive(self, ws: ClientConnection, last: bytes) -> bytes:
        """The next chain-sync frame (answers to our tip probes are taken out here); raises
        ChainSyncStalled (see the class) or FrameTooLarge."""
        heard = time.monotonic()
        ours: tuple[Any, Any] | None = None  # (point, tip) of ``last``: parsed once, if needed
        behind_since: float | None = None
        node_tip: Any = None  # as the last probe said
        probed = False
        while True:
            raw = await self._recv_within(ws, self.stall_timeout_s / 4, last)
            now = time.monotonic()
            if raw is not None and not _is_probe_answer(raw):
                return raw
            if ours is None:
                ours = _point_and_tip(last)
                if _same_point(*ours) is False:  # the last frame says the tip is further on
                    behind_since = heard
            if raw is not None:  # the node's tip, asked on this very connection
                heard, probed = now, False
                node_tip = _probe_tip(raw)
                self.link.at_tip = at_tip = _same_point(ours[0], node_tip)
                if at_tip is False:
                    behind_since = behind_since or now
                else:
                    behind_since, self.link.last_alive = None, now
                continue
            if now - heard > self.stall_timeout_s:
                raise ChainSyncStalled(f"Ogmios answered neither a block nor a query for "
                                       f"{self.stall_timeout_s} s")
            if behind_since is not None and now - behind_since > self.stall_timeout_s:
                raise ChainSyncStalled(f"no block for {self.stall_timeout_s} s although the "
                                       f"node's tip is ahead ({_describe(last, tip=node_tip)})")
            if not probed:
                probed = True
                await ws.send(PROBE)

    async def _recv_within(self, ws: ClientConnection, timeout_s: float, last: bytes
                           ) -> bytes | None:
        """A frame, or None if none came within ``timeout_s`` (cancelling recv() is safe:
        websockets keeps a frame that arrives meanwhile for the next call)."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self._frame(ws, last)
        except TimeoutError:
            return None

    async def _frame(self, ws: ClientConnection, last: bytes) -> bytes:
        try:
            return await ws.recv(decode=False)
        except ConnectionClosed as exc:
            if too_big(exc):
                raise FrameTooLarge(
                    f"{_describe(last, 'the next block after')} is larger than [ogmios] "
                    f"max_message_mib = {self.max_message_mib} MiB; raise it and restart") from exc
            raise

    async def _intersect(self, ws: ClientConnection, points: list[Point | None]) -> bytes:
        """Find the intersection; returns Ogmios' reply (it names our point and the tip)."""
        await ws.send(orjson.dumps({
            "jsonrpc": "2.0", "method": "findIntersection",
            "params": {"points": [point_json(p) for p in points]}, "id": "intersect",
        }).decode())
        try:
            async with asyncio.timeout(self.stall_timeout_s):
                raw = await ws.recv(decode=False)
        except TimeoutError:
            raise ChainSyncStalled(f"no answer to findIntersection within "
                                   f"{self.stall_timeout_s} s") from None
        reply = orjson.loads(raw)
        if "error" in reply:
            err = reply["error"]
            raise IntersectionNotFound(
                f"Ogmios found none of our {len(points)} chain points (error {err.get('code')}: "
                f"{err.get('message')}); the database follows another chain or network. "
                f"Node tip: {err.get('data')}")
        log.info("ogmios.chainsync.intersection", point=reply["result"].get("intersection"),
                 tip=reply["result"].get("tip"))
        return raw


async def send_repeated(ws: ClientConnection, message: bytes, n: int) -> None:
    """Send the UTF-8 text ``message`` as ``n`` separate WebSocket messages in one write to the
    transport: one syscall instead of ``n``.

    websockets has no public call for this: ``send`` writes each message on its own, and given
    an iterable it sends ONE fragmented message, which Ogmios would read as a single request.
    So this goes one layer down, inside ``send_context()``, which does around it what ``send``
    does (checks that the connection is open, waits for the write buffer to drain, turns a
    failure into ConnectionClosed); the frames are built (and masked, each with its own key)
    by the Sans-I/O protocol, ``send_text``, and taken with ``data_to_send``."""
    async with ws.send_context():
        protocol = ws.protocol
        for _ in range(n):
            protocol.send_text(message)
        # joined (3.12+: sendmsg): one syscall. Text frames on an open connection never carry
        # the protocol's EOF marker (an empty chunk), which only follows a close frame.
        ws.transport.writelines(protocol.data_to_send())


def _point_and_tip(frame: bytes) -> tuple[Any, Any]:
    """Our position and the node's tip as a chain-sync frame (or the intersection's reply)
    states them: (point, tip), each ``"origin"`` or ``{slot, id, ...}``; (None, None) if the
    frame says neither."""
    try:
        result = orjson.loads(frame).get("result")
        if "intersection" in result:
            return result["intersection"], result.get("tip")
        if result.get("direction") == "forward":
            block = result["block"]
            return {"slot": block.get("slot"), "id": block.get("id")}, result.get("tip")
        return result.get("point"), result.get("tip")
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        return None, None


def _same_point(a: Any, b: Any) -> bool | None:
    """Whether two Ogmios points (``"origin"`` or ``{slot, id}``) are the same; None if
    either is unknown."""
    if a is None or b is None:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        return bool(a.get("id") == b.get("id"))
    return bool(a == b)


def _at_tip(frame: bytes) -> bool | None:
    """Whether the frame's own tip is the point it brings us to."""
    return _same_point(*_point_and_tip(frame))


def _is_probe_answer(frame: bytes) -> bool:
    # only a small frame can be the answer; blocks never are this small and carry another id
    if len(frame) > 1024 or PROBE_ID.encode() not in frame:
        return False
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return False
    return isinstance(msg, dict) and msg.get("id") == PROBE_ID


def _probe_tip(frame: bytes) -> Any:
    """The node's tip in a probe's answer (None if it answered an error)."""
    result = orjson.loads(frame).get("result")
    return result if result == "origin" or isinstance(result, dict) else None


def _describe(frame: bytes, prefix: str = "our last block is", tip: Any = None) -> str:
    """Where ``frame`` left us, in words (and the node's tip: ``tip``, else the frame's)."""
    point, said = _point_and_tip(frame)
    tip = tip or said
    if isinstance(point, dict):
        where = f"{prefix} slot {point.get('slot')} (block {point.get('id')})"
    elif point == "origin":
        where = f"{prefix} the origin" if prefix.startswith("our") else "the first block"
    else:
        where = f"{prefix} our cursor"
    node = f"; the node's tip is at slot {tip.get('slot')}" if isinstance(tip, dict) else ""
    return where + node


