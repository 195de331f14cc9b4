"""An Ogmios simulator: a real WebSocket JSON-RPC 2.0 server serving a scripted chain.

It speaks the Ogmios v6.13+/v7 protocol (docs/ogmios.md §1, §2, §4) for chain-sync
(``findIntersection``/``nextBlock``, pipelined, answered in order, parked at the tip) and for
the ledger-state queries the indexer uses (answered in ``ledger.py``), plus ``GET /health`` on
the same port. Tests drive the node's chain with ``extend``/``fork`` and inject faults with
``drop_connections``, ``inject_raw``, ``drop_after``, ``expire_acquired``, ``hold_chain_sync``
and ``freeze_connections``. ``start(ssl=context)`` serves ``wss://`` (and ``/health`` over https).

    sim = Simulator(Network())
    url = await sim.start()            # ws://127.0.0.1:PORT
    sim.extend(b0, b1)                 # wakes parked nextBlock requests
    sim.fork(b0["id"], [b1x, b2x])     # a rollback to b0, then a new branch
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

import indexer.simulator.queries as q
from indexer.simulator import ledger
from indexer.simulator.chain import block_point, block_tip
from indexer.simulator.network import Network

# websockets logs every connection at INFO; keep the simulator quiet unless something breaks.
_ws_logger = logging.getLogger("indexer.simulator.websockets")
_ws_logger.setLevel(logging.WARNING)

Json = dict[str, Any]
_NEXT = b'{"jsonrpc":"2.0","method":"nextBlock","result":'


class _Raw(NamedTuple):
    frame: bytes | str


class _Conn:
    """Per-connection protocol state (a new connection starts with its cursor at origin)."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.cursor: str | None = None  # id of the last block the client has; None = origin
        self.pending_backward: Json | str | None = "origin"  # owed answer, if any
        self.queue: asyncio.Queue[Any] = asyncio.Queue()  # ids of pending nextBlock requests
        self.outstanding = 0  # nextBlock requests received and not yet answered
        self.acquired: Json | str | None = None  # acquired block, "origin", or None
        self.expired = False
        self.frozen = False
        self.opened = time.monotonic()


class Simulator:
    """A simulated Ogmios server over a chain of Ogmios block JSON dicts (see chain.py)."""

    def __init__(self, network: Network, *, version: str = "v6.14.0 (simulator)",
                 max_in_flight: int = 1000) -> None:
        self.network = network
        self.version = version
        self.max_in_flight = max_in_flight  # informational: the queue is unbounded anyway
        self.chain: list[Json] = []
        self._index: dict[str, int] = {}
        self._known: dict[str, Json] = {}  # every block ever on the chain, for ancestor walks
        self._encoded: dict[str, tuple[Json, bytes]] = {}  # id -> (block, its JSON)
        self._changed = asyncio.Event()
        self._conns: set[_Conn] = set()
        self._server: Server | None = None
        self.url: str | None = None
        self.port: int | None = None
        self._raw: deque[bytes | str] = deque()
        self._drop_after: int | None = None
        self._held = False
        self._sessions_ms: list[float] = []
        self.connections_total = 0
        self.health_requests = 0  # GET /health answered
        self.requests_total = 0
        self.messages_total = 0
        self.started_at = datetime.now(UTC)
        self.last_tip_update: datetime | None = None
        # /health knobs: 500 when disconnected, 202 when networkSynchronization < 1.
        self.connection_status = "connected"
        self.network_synchronization = 1.0
        # Ledger state the simulator does not model (see queries.py for the defaults).
        self.rewards_provenance: q.RewardsProvenanceFn = q.default_rewards_provenance
        self.reward_account_summaries: q.RewardAccountSummariesFn = (
            q.default_reward_account_summaries)
        self.stake_pools: q.StakePoolsFn = q.default_stake_pools

    # --- chain control ------------------------------------------------------------------

    @property
    def tip(self) -> Json | str:
        """The node's tip as Ogmios ``Tip`` JSON (``{slot, id, height}``) or ``"origin"``."""
        return block_tip(self.chain[-1]) if self.chain else "origin"

    @property
    def tip_block(self) -> Json | None:
        return self.chain[-1] if self.chain else None

    def block_by_id(self, block_id: str) -> Json | None:
        """A block of the current chain."""
        i = self._index.get(block_id)
        return None if i is None else self.chain[i]

    def position(self, block_id: str) -> int | None:
        """Where ``block_id`` stands on the chain (0 for the first block), None if off it."""
        return self._index.get(block_id)

    def extend(self, *blocks: Json) -> None:
        """Append blocks to the node's chain (each must be the child of the previous)."""
        for b in blocks:
            self._append(b)
        self._touch()

    def fork(self, at: str | Json | None, new_blocks: list[Json] | tuple[Json, ...]) -> None:
        """Truncate the chain after block ``at`` (an id or a block; None = origin), then
        append ``new_blocks``. Connections past ``at`` get a ``backward`` answer next."""
        at_id = at["id"] if isinstance(at, dict) else at
        if at_id is None:
            keep = 0
        elif at_id in self._index:
            keep = self._index[at_id] + 1
        else:
            raise ValueError(f"fork point {at_id} is not on the current chain")
        if new_blocks and at_id is not None and new_blocks[0].get("ancestor") != at_id:
            raise ValueError(f"block {new_blocks[0]['id']} is not a child of {at_id}")
        for b in self.chain[keep:]:
            del self._index[b["id"]]
        del self.chain[keep:]
        for b in new_blocks:
            self._append(b)
        self._touch()

    def _append(self, block: Json) -> None:
        if self.chain and block.get("ancestor") != self.chain[-1]["id"]:
            raise ValueError(f"block {block['id']} is not a child of the tip")
        if block["id"] in self._index:
            raise ValueError(f"block {block['id']} is already on the chain")
        self._index[block["id"]] = len(self.chain)
        self.chain.append(block)
        self._known[block["id"]] = block

    def _touch(self) -> None:
        self.last_tip_update = datetime.now(UTC)
        self._notify()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # --- fault injection ----------------------------------------------------------------

    def inject_raw(self, frame: bytes | str) -> None:
        """The next chain-sync message (on whichever connection answers first, parked
        requests included) is ``frame`` instead of the real answer. ``str`` and UTF-8
        ``bytes`` go out as a text frame, other bytes as a binary frame."""
        self._raw.append(frame)
        self._notify()

    def drop_after(self, n_messages: int | None) -> None:
        """Abort every connection right after ``n_messages`` more messages have been sent."""
        self._drop_after = n_messages

    def expire_acquired(self) -> None:
        """The next ledger query of every connection holding an acquired state fails with
        2003 (acquired state expired) and the acquisition is dropped."""
        for conn in self._conns:
            if conn.acquired is not None:
                conn.expired = True

    def hold_chain_sync(self, held: bool = True) -> None:
        """While held, no chain-sync answer goes out on any connection, new ones included (a
        node that stopped sending blocks); queries and pings are still answered."""
        self._held = held
        self._notify()

    def freeze_connections(self) -> None:
        """The connections open now stop reading and answering anything, pings included (a
        frozen process or a black-holed network); new connections work."""
        for conn in self._conns:
            conn.frozen = True
            conn.ws.transport.pause_reading()
        self._notify()

    async def drop_connections(self) -> None:
        """Close every client connection abruptly (TCP abort, no close frame)."""
        for conn in list(self._conns):
            conn.ws.transport.abort()
        for _ in range(200):
            if not self._conns:
                break
            await asyncio.sleep(0.005)

    # --- server lifecycle ---------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0,
                    ssl: ssl.SSLContext | None = None) -> str:
        """Listen; returns the URL (``wss://`` with an ``ssl`` server context)."""
        self._server = await serve(
            self._handler, host, port, process_request=self._process_request,
            compression=None, max_size=None, ping_interval=30, server_header=None,
            logger=_ws_logger, ssl=ssl)
        sock_port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"{'wss' if ssl is not None else 'ws'}://{host}:{sock_port}"
        self.port = sock_port
        return self.url

    async def stop(self) -> None:
        self.hold_chain_sync(False)  # held handlers would keep the server from closing
        for conn in list(self._conns):
            if conn.frozen:  # it would never answer a closing handshake
                conn.ws.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handler(self, ws: ServerConnection) -> None:
        conn = _Conn(ws)
        self.connections_total += 1
        self._conns.add(conn)
        worker = asyncio.create_task(self._chain_sync_worker(conn))
        try:
            async for raw in ws:
                self.requests_total += 1
                await self._dispatch(conn, raw)
        except ConnectionClosed:
            pass
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await worker
            self._conns.discard(conn)
            self._sessions_ms.append((time.monotonic() - conn.opened) * 1000)

    # --- sending ------------------------------------------------------------------------

    async def _send(self, conn: _Conn, payload: bytes) -> None:
        await conn.ws.send(payload, text=True)
        self._count_sent()

    async def _send_chain_sync(self, conn: _Conn, payload: bytes) -> None:
        await self._unless_held(conn)
        if self._raw:
            await self._send_raw(conn, self._raw.popleft())
        else:
            await self._send(conn, payload)

    async def _send_raw(self, conn: _Conn, frame: bytes | str) -> None:
        if isinstance(frame, bytes):
            try:
                frame.decode()
                await conn.ws.send(frame, text=True)
            except UnicodeDecodeError:
                await conn.ws.send(frame, text=False)
        else:
            await conn.ws.send(frame)
        self._count_sent()

    def _count_sent(self) -> None:
        self.messages_total += 1
        if self._drop_after is not None:
            self._drop_after -= 1
            if self._drop_after <= 0:
                self._drop_after = None
                for c in list(self._conns):
                    c.ws.transport.abort()

    # --- dispatch -----------------------------------------------------------------------

    async def _dispatch(self, conn: _Conn, raw: str | bytes) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            fault = q.RpcFault(-32700, f"Parse error: {exc}")
            await self._send(conn, q.fault_frame(None, None, fault))
            return
        rid = msg.get("id") if isinstance(msg, dict) else None
        method = msg.get("method") if isinstance(msg, dict) else None
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or not isinstance(method, str):
            fault = q.RpcFault(-32600, "Invalid request: expected a JSON-RPC 2.0 object.")
            await self._send(conn, q.fault_frame(None, rid, fault))
            return
        if method == "nextBlock":
            conn.outstanding += 1
            conn.queue.put_nowait(rid)
            return
        try:
            payload = self._answer(conn, method, msg.get("params"), rid)
        except q.RpcFault as fault:
            payload = q.fault_frame(method, rid, fault)
        if method == "findIntersection":
            await self._send_chain_sync(conn, payload)
        else:
            await self._send(conn, payload)

    def _answer(self, conn: _Conn, method: str, params: Any, rid: Any) -> bytes:
        if params is not None and not isinstance(params, dict):
            raise q.invalid_params("'params' must be an object")
        if method == "findIntersection":
            return q.ok_frame(method, rid, self._find_intersection(conn, params))
        handler = ledger.QUERIES.get(method)
        if handler is None:
            raise q.RpcFault(-32601, f"Method not found: unknown method '{method}'.")
        return q.ok_frame(method, rid, handler(self, conn, params))

    # --- chain-sync ---------------------------------------------------------------------

    def _find_intersection(self, conn: _Conn, params: Json | None) -> Json:
        if conn.outstanding:
            raise q.RpcFault(1001, "Intersection interleaved: requests were interleaved "
                             "(a findIntersection was sent with nextBlock requests in flight).")
        points = (params or {}).get("points")
        if not isinstance(points, list):
            raise q.invalid_params("'points' must be a list")
        for point in map(q.parse_point, points):
            if point == "origin":
                conn.cursor, conn.pending_backward = None, "origin"
                return {"intersection": "origin", "tip": self.tip}
            assert isinstance(point, dict)
            block = self.block_by_id(point["id"])
            if block is not None and block["slot"] == point["slot"]:
                conn.cursor, conn.pending_backward = block["id"], point
                return {"intersection": point, "tip": self.tip}
        raise q.RpcFault(1000, "No intersection found.", {"tip": self.tip})

    async def _chain_sync_worker(self, conn: _Conn) -> None:
        try:
            while True:
                rid = await conn.queue.get()
                payload = await self._await_next(conn)
                if isinstance(payload, _Raw):
                    await self._send_raw(conn, payload.frame)
                else:
                    await self._send(conn, payload + b',"id":' + orjson.dumps(rid) + b"}")
                conn.outstanding -= 1
        except ConnectionClosed:
            pass

    async def _unless_held(self, conn: _Conn) -> None:
        while self._held or conn.frozen:
            await self._changed.wait()

    async def _await_next(self, conn: _Conn) -> bytes | _Raw:
        """The next answer without its id, or an injected raw frame; parks at the tip until
        the chain changes (and while chain-sync is held)."""
        while True:
            changed = self._changed
            if self._held or conn.frozen:
                await changed.wait()
                continue
            if self._raw:
                return _Raw(self._raw.popleft())
            payload = self._next_answer(conn)
            if payload is not None:
                return payload
            await changed.wait()

    def _next_answer(self, conn: _Conn) -> bytes | None:
        if conn.pending_backward is not None:
            point, conn.pending_backward = conn.pending_backward, None
            return self._backward(point)
        if conn.cursor is not None and conn.cursor not in self._index:
            ancestor = self._common_ancestor(conn.cursor)
            conn.cursor = None if ancestor is None else ancestor["id"]
            return self._backward("origin" if ancestor is None else block_point(ancestor))
        nxt = 0 if conn.cursor is None else self._index[conn.cursor] + 1
        if nxt >= len(self.chain):
            return None
        block = self.chain[nxt]
        conn.cursor = block["id"]
        return (_NEXT + b'{"direction":"forward","block":' + self._encode(block)
                + b',"tip":' + orjson.dumps(self.tip) + b"}")

    def _backward(self, point: Json | str) -> bytes:
        return _NEXT + orjson.dumps({"direction": "backward", "point": point, "tip": self.tip})

    def _encode(self, block: Json) -> bytes:
        cached = self._encoded.get(block["id"])
        if cached is None or cached[0] is not block:
            cached = self._encoded[block["id"]] = (block, orjson.dumps(block))
        return cached[1]

    def _common_ancestor(self, block_id: str) -> Json | None:
        """The last block of ``block_id``'s branch that is still on the chain."""
        block = self._known.get(block_id)
        while block is not None and block["id"] not in self._index:
            block = self._known.get(block.get("ancestor", ""))
        return block

    def ledger_block(self, conn: _Conn) -> Json | None:
        """The block the ledger-state queries run on: the acquired one, else the node's tip
        (None: origin). A method, so that a test can model a server that ignores acquire."""
        if conn.expired:
            conn.expired, conn.acquired = False, None
            raise q.RpcFault(2003, "Previously acquired ledger state is no longer available.",
                             "The acquired point has expired; acquire a new one.")
        acquired = conn.acquired
        if acquired is None:
            return self.tip_block
        return None if isinstance(acquired, str) else acquired

    # --- /health ------------------------------------------------------------------------

    def health_json(self) -> Json:
        tip = self.tip_block
        slot = tip["slot"] if tip is not None else 0
        return {
            "startTime": q.iso(self.started_at),
            "lastKnownTip": self.tip,
            "lastTipUpdate": q.iso(self.last_tip_update),
            "networkSynchronization": self.network_synchronization,
            "currentEra": self.network.era_of(slot),
            "metrics": {
                "activeConnections": len(self._conns),
                "totalConnections": self.connections_total,
                "sessionDurations": q.session_stats(self._sessions_ms),
                "totalMessages": self.requests_total,
                "totalUnrouted": 0,
                "runtimeStats": {"cpuTime": 0, "currentHeapSize": 0, "gcCpuTime": 0,
                                 "maxHeapSize": 0},
            },
            "connectionStatus": self.connection_status,
            "currentEpoch": self.network.epoch_of(slot),
            "slotInEpoch": self.network.slot_in_epoch(slot),
            "version": self.version,
            "network": self.network.name,
        }

    def health_status(self) -> int:
        if self.connection_status != "connected":
            return 500
        return 200 if self.network_synchronization >= 1 else 202

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0] != "/health":
            return None
        self.health_requests += 1
        response = connection.respond(self.health_status(),
                                      orjson.dumps(self.health_json()).decode())
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json;charset=utf-8"
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response


