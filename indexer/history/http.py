"""The HTTP client of ``indexer rewards fetch``: public APIs as users meet them.

- A token bucket keeps to the API's public rate limit client-side (Blockfrost: 10 requests/s
  with bursts of 500; Koios' public tier: 100 requests per 10 s per IP and endpoint).
- Timeouts, transport errors, 429 and 5xx are retried with capped exponential backoff; a 429's
  ``Retry-After`` (seconds or an HTTP date) is honoured, and holds every request back, not
  only the one refused. The first retry of a request is a warning, later ones debug lines, and
  at most one warning per 30 s overall.
- What retrying cannot fix (400, 402, 403, 404, 418, a body that is not JSON) raises at once,
  naming the request.
- Secrets (Blockfrost's project id travels in a header) never appear in a message: headers are
  never logged, and ``mask`` removes them from any text that could echo them.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import structlog

from indexer.config import HistoryConfig
from indexer.sync.ogmios import backoff_delay_s

__all__ = ["ApiClient", "ApiError", "ApiNotFound", "ApiRefused", "ApiResponse",
           "ApiShapeError", "ApiUnavailable", "RateLimiter", "retry_after_s"]

log = structlog.get_logger("indexer.history.http")

WARN_EVERY_S = 30.0
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class ApiError(Exception):
    """A request that did not give a usable answer."""


class ApiUnavailable(ApiError):
    """Transient failures (timeouts, 429, 5xx) outlasted the retries."""


class ApiRefused(ApiError):
    """An answer retrying cannot change (4xx)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ApiNotFound(ApiRefused):
    """404: the API knows no such thing (a pool, an account, an endpoint)."""


class ApiShapeError(ApiError):
    """The answer is not what the API's documentation says: it changed, or it is another API."""


@dataclass(frozen=True, slots=True)
class ApiResponse:
    data: Any
    headers: httpx.Headers
    url: str  # the request's URL (provenance; never carries a secret)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After``: delay-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent or
    unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RateLimiter:
    """A token bucket: ``burst`` requests at once, refilled at ``rate_per_s``; ``hold`` stops
    everything until a moment (after a 429)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate, self.capacity = rate_per_s, float(burst)
        self.tokens, self._updated = float(burst), time.monotonic()
        self._not_before = 0.0
        self._lock = asyncio.Lock()

    def hold(self, seconds: float) -> None:
        self._not_before = max(self._not_before, time.monotonic() + seconds)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._not_before:
                    await asyncio.sleep(self._not_before - now)
                    continue
                self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


def _api_message(response: httpx.Response) -> str:
    """The API's own explanation (Blockfrost ``message``, PostgREST ``message``/``hint``)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message", "hint") if body.get(k)]
        return ": ".join(parts)[:300]
    return str(body)[:200]


class ApiClient:
    """One API's base URL, headers, rate limit and retry policy; counts the requests sent."""

    def __init__(self, source: str, cfg: HistoryConfig, *, rate_per_s: float, burst: int,
                 headers: Mapping[str, str] | None = None, secrets: Sequence[str] = ()) -> None:
        self.source, self.cfg = source, cfg
        self.base_url = cfg.base_url()
        self._secrets = [s for s in secrets if s]
        self._http = httpx.AsyncClient(base_url=self.base_url + "/", headers=dict(headers or {}),
                                       timeout=httpx.Timeout(cfg.timeout_s))
        self.limiter = RateLimiter(rate_per_s, burst)
        self.requests = 0  # sent, retries included
        self._warned_at = -WARN_EVERY_S

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def get(self, path: str, params: Sequence[tuple[str, str | int]] = ()
                  ) -> ApiResponse:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any, params: Sequence[tuple[str, str | int]] = ()
                   ) -> ApiResponse:
        return await self.request("POST", path, params=params, body=body)

    async def request(self, method: str, path: str, *,
                      params: Sequence[tuple[str, str | int]] = (), body: Any = None,
                      headers: Mapping[str, str] | None = None) -> ApiResponse:
        request = self._http.build_request(
            method, path.lstrip("/"), params=list(params), headers=headers,
            content=None if body is None else orjson.dumps(body),
        )
        if body is not None:
            request.headers["Content-Type"] = "application/json"
        url = self.mask(str(request.url))
        for attempt in range(1, self.cfg.max_attempts + 1):
            await self.limiter.acquire()
            self.requests += 1
            try:
                response = await self._http.send(request)
            except httpx.TimeoutException as exc:
                reason, delay = f"timeout after {self.cfg.timeout_s} s ({type(exc).__name__})", \
                    self._backoff(attempt)
            except httpx.TransportError as exc:
                reason, delay = f"{type(exc).__name__}: {self.mask(str(exc))}", \
                    self._backoff(attempt)
            else:
                if response.is_success:
                    return ApiResponse(self._json(response, method, url), response.headers, url)
                reason, delay = self._refusal(response, method, url, attempt)
            if attempt == self.cfg.max_attempts:
                raise ApiUnavailable(f"{self.source}: {method} {url} failed {attempt} times; "
                                     f"last: {reason}")
            self._log_retry(method, url, attempt, reason, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _backoff(self, attempt: int) -> float:
        return backoff_delay_s(attempt, self.cfg.backoff_first_s, self.cfg.backoff_max_s)

    def _refusal(self, response: httpx.Response, method: str, url: str, attempt: int
                 ) -> tuple[str, float]:
        """(reason, delay) of a retryable status; raises for the others."""
        status, message = response.status_code, self.mask(_api_message(response))
        what = f"{self.source}: {method} {url} answered {status}" + \
            (f" ({message})" if message else "")
        if status not in RETRY_STATUS:
            hint = {402: "the project's daily request limit is reached",
                    403: "check BLOCKFROST_PROJECT_ID, and that its network is the URL's"
                    if self.source == "blockfrost" else None,
                    418: "this IP is banned for a while after too many requests over the "
                         "limit"}.get(status)
            cls = ApiNotFound if status == 404 else ApiRefused
            raise cls(what + (f": {hint}" if hint else ""), status)
        delay = self._backoff(attempt)
        if status == 429:
            asked = retry_after_s(response.headers.get("Retry-After"))
            if asked is not None:
                if asked > self.cfg.max_retry_after_s:
                    raise ApiUnavailable(f"{what}: Retry-After {asked:.0f} s is beyond "
                                         f"[history] max_retry_after_s")
                delay = asked
            self.limiter.hold(delay)
        return what, delay

    def _json(self, response: httpx.Response, method: str, url: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ApiShapeError(f"{self.source}: {method} {url}: the answer is not JSON "
                                f"({exc}): {self.mask(response.text[:120])!r}") from exc

    def _log_retry(self, method: str, url: str, attempt: int, reason: str,
                   delay: float) -> None:
        now = time.monotonic()
        loud = attempt == 1 and now - self._warned_at >= WARN_EVERY_S
        if loud:
            self._warned_at = now
        (log.warning if loud else log.debug)("history.retry", source=self.source,
                                              method=method, url=url, attempt=attempt,
                                              reason=reason, retry_in_s=round(delay, 3))
