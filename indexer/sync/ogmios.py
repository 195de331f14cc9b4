"""A thin asyncio Ogmios client on websockets + orjson (docs/ogmios.md §8).

Two connections, as Ogmios wants: chain-sync (the cursor lives on its connection) and ledger
queries (an acquired state lives on its own). Chain-sync frames are not decoded here: the raw
bytes go to a bounded queue and the writer decodes them, so a slow database pushes back all the
way to the node through TCP.

Faults, and what is done about them: a connection that drops is reopened with capped
exponential backoff (reset only after a session made real progress); a stalled Ogmios (no
frame although the node's tip is ahead, or no answer even to a ping) is given up after
``stall_timeout_s`` and reopened; a frame larger than ``max_message_mib`` is fatal and names
the block after which it came (retrying would fetch the same block again); a TLS certificate
that does not verify is fatal.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.frames import CloseCode

from indexer.chain.types import Point
from indexer.sync.state import LinkState

log = structlog.get_logger("indexer.sync.ogmios")

NEXT_BLOCK = '{"jsonrpc":"2.0","method":"nextBlock"}'
# Asked on the chain-sync connection when no frame comes: Ogmios answers state queries beside
# parked nextBlock requests (each connection runs its own chain-sync and state-query clients),
# so the answer shows both that it is alive and where the node's tip is.
PROBE_ID = "indexer-stall-probe"
PROBE = orjson.dumps({"jsonrpc": "2.0", "method": "queryNetwork/tip", "id": PROBE_ID}).decode()
MIN_VERSION = (6, 13, 0)
# The first major version we have not tested: its wire format may differ in ways a field-by-field
# decoder cannot notice (an amount or a certificate read wrongly), so it is refused.
UNTESTED_VERSION = (8, 0, 0)
TRANSIENT = (OSError, ConnectionClosed, InvalidHandshake, asyncio.TimeoutError, EOFError)


class OgmiosError(Exception):
    pass


class ServerTooOld(OgmiosError):
    pass


class ServerTooNew(OgmiosError):
    pass


class IntersectionNotFound(OgmiosError):
    pass


class FrameTooLarge(OgmiosError):
    """A chain-sync frame above ``max_message_mib``: fatal (the same block would come again)."""


class ChainSyncStalled(OgmiosError):
    """Ogmios stopped delivering: reconnect."""


class TlsRefused(OgmiosError):
    """Ogmios' TLS certificate does not verify against the trusted CAs: fatal."""


def client_ssl(url: str, ca_file: str | None = None) -> ssl.SSLContext | None:
    """The TLS context for a ``wss://`` URL: the system's CAs, or only those of ``ca_file``
    (PEM); host names are checked. None for ``ws://``."""
    if not url.startswith("wss:"):
        return None
    return ssl.create_default_context(cafile=ca_file)


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``exc`` (httpx and websockets wrap it)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ssl.SSLCertVerificationError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _refuse_tls(url: str, exc: BaseException) -> None:
    bad = _cert_error(exc)
    if bad is not None:
        raise TlsRefused(f"the TLS certificate of {url} does not verify "
                         f"({bad.verify_message or bad}): give its CA in [ogmios] ca_file, or "
                         "fix the server's certificate") from exc


def _too_big(exc: BaseException) -> bool:
    """We closed the connection because a message exceeded our max_size (close code 1009)."""
    return (isinstance(exc, ConnectionClosed) and exc.sent is not None
            and exc.sent.code == CloseCode.MESSAGE_TOO_BIG)


class QueryError(OgmiosError):
    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.code = error.get("code")
        self.data = error.get("data")
        super().__init__(f"{method}: error {self.code}: {error.get('message')}")


def parse_version(text: str) -> tuple[int, int, int]:
    m = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not m:
        raise OgmiosError(f"cannot read the Ogmios version from {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def health_url(url: str) -> str:
    """Ogmios' HTTP ``/health`` beside its WebSocket: ``ws`` -> ``http``, ``wss`` -> ``https``,
    same host and port (the scheme's default port when the URL names none)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "/health", "", ""))


async def fetch_health(url: str, timeout_s: float = 10.0, ssl_context: ssl.SSLContext | None = None
                       ) -> tuple[int, dict[str, Any]]:
    """GET /health. Returns (status, body); 202 means the node is still syncing and is not an
    error. Raises ``httpx.TransportError`` when Ogmios does not answer, ``ValueError`` when it
    answers something other than a JSON object. ``ssl_context``: for https (default: the
    system's CAs)."""
    verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
    async with httpx.AsyncClient(timeout=timeout_s, verify=verify) as client:
        resp = await client.get(health_url(url), headers={"Accept": "application/json"})
    body = orjson.loads(resp.content) if resp.content.strip() else {}
    if type(body) is not dict:
        raise ValueError(f"/health answered {str(body)[:80]}")
    return resp.status_code, body


async def check_server(url: str, *, reconnect_max_s: float = 30.0,
                       ssl_context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """Read /health, log the version and refuse servers older than 6.13. Waits (with backoff)
    while Ogmios does not answer yet (the caller cancels the wait on SIGTERM); a /health
    without a readable version only warns; a TLS certificate that does not verify is fatal."""
    backoff = Backoff(reconnect_max_s)
    while True:
        try:
            status, health = await fetch_health(url, ssl_context=ssl_context)
            break
        except (TimeoutError, OSError, httpx.TransportError) as exc:
            _refuse_tls(url, exc)
            await backoff.wait("ogmios.unreachable", exc)
        except (ValueError, IndexError) as exc:  # answered, but not the JSON we expect
            log.warning("ogmios.version_unknown", url=url, error=repr(exc))
            return {}
    version = str(health.get("version", "unknown"))
    log.info("ogmios.server", version=version, http_status=status,
             network=health.get("network"), era=health.get("currentEra"))
    if "version" not in health:
        log.warning("ogmios.version_unknown", url=url, http_status=status)
        return health
    if parse_version(version) < MIN_VERSION:
        raise ServerTooOld(
            f"Ogmios {version} at {url} is too old: this indexer needs Ogmios v6.13 or newer "
            "(rewardsProvenance and the list form of rewardAccountSummaries). Upgrade Ogmios.")
    if parse_version(version) >= UNTESTED_VERSION:
        raise ServerTooNew(
            f"Ogmios {version} at {url} is newer than this indexer knows (tested: v6.13 to v7.x);"
            " its block format may have changed. Upgrade the indexer or run Ogmios v7.")
    return health


def backoff_delay_s(failures: int, first_s: float, cap_s: float) -> float:
    """The wait after the ``failures``-th failure in a row: doubling from ``first_s``, capped."""
    return float(min(cap_s, first_s * 2.0 ** (max(1, failures) - 1)))


def ada_lovelace(value: Any) -> int:
    """An Ogmios ada amount (``{"ada": {"lovelace": n}}``, or 6.0's ``{"lovelace": n}``) as
    integer lovelace within a bigint; ``ValueError`` otherwise."""
    inner = value.get("ada", value) if isinstance(value, dict) else None
    if not isinstance(inner, dict) or type(inner.get("lovelace")) is not int \
            or not 0 <= inner["lovelace"] < 1 << 63:
        raise ValueError(f"not an ada amount: {str(value)[:80]}")
    return int(inner["lovelace"])


class Backoff:
    """Capped exponential backoff with rate-limited logs (first failure, then every 10th)."""

    def __init__(self, cap_s: float, first_s: float = 0.5) -> None:
        self.cap_s, self.first_s, self.failures = cap_s, first_s, 0

    async def wait(self, event: str, error: BaseException) -> None:
        self.failures += 1
        delay = backoff_delay_s(self.failures, self.first_s, self.cap_s)
        if self.failures == 1 or self.failures % 10 == 0:
            log.warning(event, error=repr(error), attempt=self.failures, retry_in_s=delay)
        await asyncio.sleep(delay)

    def reset(self) -> None:
        self.failures = 0


def point_json(p: Point | None) -> Any:
    return "origin" if p is None else {"slot": p.slot, "id": p.id}


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
    20 s on mainnet, longer on test networks): that is not a stall, it still answers."""

    HEALTHY_FRAMES = 100
    HEALTHY_SESSION_S = 60.0

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
                _refuse_tls(self.url, exc)
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
        try:
            for _ in range(self.in_flight):
                await ws.send(NEXT_BLOCK)
            while True:
                raw = await self._receive(ws, last)
                last, frames = raw, frames + 1
                link.last_frame = link.last_alive = now = time.monotonic()
                link.at_tip = None
                if frames >= self.HEALTHY_FRAMES or now - started >= self.HEALTHY_SESSION_S:
                    self._healthy = True
                await out.put(raw)  # bounded: waits here while the writer is behind
                try:
                    async with asyncio.timeout(self.stall_timeout_s):
                        await ws.send(NEXT_BLOCK)
                except TimeoutError:
                    raise ChainSyncStalled(f"Ogmios took no request for "
                                           f"{self.stall_timeout_s} s") from None
        finally:
            link.connected = False
            if time.monotonic() - started >= self.HEALTHY_SESSION_S:
                self._healthy = True

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
            if _too_big(exc):
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


class LedgerClient:
    """Ledger-state and network queries on their own connection, one at a time.

    An acquired ledger state lives on its connection. When the connection drops while a state
    is acquired (``async with client.acquired(point)``), the retry re-acquires the same point
    on the new connection before asking again, so that an answer never silently comes from
    the node's tip instead; if the point can no longer be acquired, the ``QueryError`` says so.

    An answer above ``max_query_mib`` is a ``QueryError`` saying so (not retried: it would be
    as large again). The small queries of ``QUICK`` (the writer waits for eraSummaries) must
    answer within ``quick_timeout_s``, the others (an acquire, rewardsProvenance, …) within
    ``timeout_s``; a timeout is retried on a new connection, as a drop is.
    """

    QUICK = frozenset({
        "queryLedgerState/eraSummaries", "queryLedgerState/epoch", "queryLedgerState/tip",
        "queryLedgerState/protocolParameters", "queryNetwork/tip", "queryNetwork/blockHeight",
        "queryNetwork/genesisConfiguration", "queryNetwork/startTime", "releaseLedgerState"})

    def __init__(self, url: str, *, timeout_s: float = 600.0, reconnect_max_s: float = 30.0,
                 connect_timeout_s: float = 10.0, max_query_mib: int = 512,
                 quick_timeout_s: float = 60.0, ssl_context: ssl.SSLContext | None = None
                 ) -> None:
        self.url, self.timeout_s, self.connect_timeout_s = url, timeout_s, connect_timeout_s
        self.quick_timeout_s = quick_timeout_s
        self.max_query_mib, self.ssl_context = max_query_mib, ssl_context
        self.backoff = Backoff(reconnect_max_s)
        self._ws: ClientConnection | None = None
        self._lock = asyncio.Lock()
        self._next_id = 0
        self._acquired: Point | None = None  # the state this client means to query, if any
        self.reacquired = 0  # how often a dropped connection's state was acquired again

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def _connection(self) -> ClientConnection:
        if self._ws is None:
            ws = await connect(self.url, max_size=self.max_query_mib * 2**20,
                               compression=None, ping_interval=20, ping_timeout=120,
                               ssl=self.ssl_context, open_timeout=self.connect_timeout_s)
            self._ws = ws
            if self._acquired is not None:  # a new connection holds no state yet
                self.reacquired += 1
                log.info("ogmios.query.reacquire", slot=self._acquired.slot)
                await self._call(ws, "acquireLedgerState",
                                 {"point": point_json(self._acquired)})
        return self._ws

    async def request(self, method: str, params: dict[str, Any] | None = None,
                      *, retries: int = 5) -> Any:
        """One JSON-RPC call; transient failures reconnect and retry (queries are reads)."""
        attempt = 0
        while True:
            try:
                return await self._request_once(method, params)
            except TRANSIENT as exc:
                if self._ws is not None:  # timed out: it may never answer, drop it
                    self._ws.transport.abort()
                    self._ws = None
                _refuse_tls(self.url, exc)
                if _too_big(exc):
                    raise QueryError(method, {"message": (
                        f"the answer is larger than [ogmios] max_query_mib = "
                        f"{self.max_query_mib} MiB")}) from exc
                attempt += 1
                if attempt > retries:
                    raise
                await self.backoff.wait("ogmios.query.retry", exc)

    async def _request_once(self, method: str, params: dict[str, Any] | None) -> Any:
        async with self._lock:
            ws = await self._connection()
            return await self._call(ws, method, params)

    async def _call(self, ws: ClientConnection, method: str, params: dict[str, Any] | None
                    ) -> Any:
        self._next_id += 1
        req_id = self._next_id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": req_id}
        if params is not None:
            msg["params"] = params
        started = time.monotonic()
        await ws.send(orjson.dumps(msg).decode())
        timeout_s = self.quick_timeout_s if method in self.QUICK else self.timeout_s
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that arrives
            # as the answer does, and a TaskGroup would then wait for this task forever
            async with asyncio.timeout(timeout_s):
                raw = await ws.recv(decode=False)
            # big answers (rewardsProvenance) are parsed off the event loop
            reply = (await asyncio.to_thread(orjson.loads, raw) if len(raw) > 1 << 20
                     else orjson.loads(raw))
            if reply.get("id") == req_id:
                break
        log.debug("ogmios.query", method=method, elapsed_s=round(time.monotonic() - started, 3))
        if "error" in reply:
            raise QueryError(method, reply["error"])
        self.backoff.reset()
        return reply.get("result")

    async def era_summaries(self) -> list[dict[str, Any]]:
        return list(await self.request("queryLedgerState/eraSummaries"))

    async def shelley_genesis(self) -> dict[str, Any]:
        return dict(await self.request("queryNetwork/genesisConfiguration", {"era": "shelley"}))

    @asynccontextmanager
    async def acquired(self, point: Point) -> AsyncIterator[None]:
        """Queries inside run on the ledger state at ``point`` (re-acquired after a drop)."""
        await self.request("acquireLedgerState", {"point": point_json(point)})
        self._acquired = point
        try:
            yield
        finally:
            self._acquired = None
            if self._ws is not None:
                try:
                    await self.request("releaseLedgerState", retries=0)
                except (QueryError, *TRANSIENT):
                    self._ws = None  # a fresh connection holds nothing: as good as released
