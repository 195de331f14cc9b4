"""A thin asyncio Ogmios client on websockets + orjson (docs/ogmios.md §8): the ledger-state
and network queries (``LedgerClient``), ``/health``, and what the chain-sync follower
(``sync/chainsync.py``) shares with them: errors, backoff, TLS.

Two connections, as Ogmios wants: chain-sync (the cursor lives on its connection) and ledger
queries (an acquired state lives on its own). A TLS certificate that does not verify is fatal,
never retried as if transient.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator
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
from indexer.db.dsn import mask

log = structlog.get_logger("indexer.sync.ogmios")

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


def refuse_tls(url: str, exc: BaseException) -> None:
    bad = _cert_error(exc)
    if bad is not None:
        raise TlsRefused(f"the TLS certificate of {url} does not verify "
                         f"({bad.verify_message or bad}): give its CA in [ogmios] ca_file, or "
                         "fix the server's certificate") from exc


def too_big(exc: BaseException) -> bool:
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
    target = health_url(url)
    # httpx builds its SSL context when the client is made, even for http: verify=True loads
    # the CA bundle, ~40 ms of CPU on every poll (each ogmios_poll_s); over http no
    # certificate is ever checked, so there it builds none of that
    verify: ssl.SSLContext | bool = (ssl_context if ssl_context is not None
                                     else target.startswith("https:"))
    async with httpx.AsyncClient(timeout=timeout_s, verify=verify) as client:
        resp = await client.get(target, headers={"Accept": "application/json"})
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
            refuse_tls(url, exc)
            await backoff.wait("ogmios.unreachable", exc)
        except (ValueError, IndexError) as exc:  # answered, but not the JSON we expect
            log.warning("ogmios.version_unknown", url=mask(url), error=repr(exc))
            return {}
    version = str(health.get("version", "unknown"))
    log.info("ogmios.server", version=version, http_status=status,
             network=health.get("network"), era=health.get("currentEra"))
    if "version" not in health:
        log.warning("ogmios.version_unknown", url=mask(url), http_status=status)
        return health
    if parse_version(version) < MIN_VERSION:
        raise ServerTooOld(
            f"Ogmios {version} at {mask(url)} is too old: this indexer needs Ogmios v6.13 or "
            "newer (rewardsProvenance and the list form of rewardAccountSummaries). Upgrade "
            "Ogmios.")
    if parse_version(version) >= UNTESTED_VERSION:
        raise ServerTooNew(
            f"Ogmios {version} at {mask(url)} is newer than this indexer knows (tested: v6.13 "
            "to v7.x); its block format may have changed. Upgrade the indexer or run Ogmios v7.")
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
                refuse_tls(self.url, exc)
                if too_big(exc):
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
