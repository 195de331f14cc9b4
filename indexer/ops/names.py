"""Names operators can read: each tracked pool's metadata (ticker, name) and the config's
aliases for stake addresses (docs/spec.md §7 ``pool_name``, ``account_alias``, the product's
own).

**Pool metadata** (CIP-6). A pool registration certificate names a URL and the blake2b-256 hash
of the JSON document served there. The fetcher runs as its own daemon task on a timer, off the
hot path (the writer never waits for it): every ``refresh_s`` it looks for current certificates
whose metadata was never fetched, or whose last fetch failed more than ``retry_s`` ago. One
fetch follows at most 3 redirects, stops after ``timeout_s`` and after 512 bytes (CIP-6's limit
for the document), and keeps ticker and name only when the bytes served hash to the
certificate's hash. Anything else is recorded as what it was, never trusted:

``hash_mismatch`` (the bytes do not hash to the certificate's hash), ``too_large`` (over 512
bytes), ``invalid`` (not a JSON object with a 3-5 character ``ticker`` and a ``name`` of at
most 50 characters), ``http_error`` (an HTTP status other than 200), ``timeout``,
``unreachable`` (DNS, TCP, TLS), ``refused_url`` (not http or https).

A verified document is pinned by its hash, so it is never fetched again; a new certificate
with a new URL or hash is a new fetch. The URLs come from the chain, i.e. from whoever
registered the pool: only ``http``/``https`` are fetched, and with ``[indexer] pools = []``
(every pool) the daemon requests every pool's URL, so keep ``[metadata] fetch = false`` where
outgoing requests to arbitrary hosts are unwelcome.

**Aliases**: ``[aliases] "stake1…" = "Alice"`` (validated by ``indexer.config``), written to
the database at every daemon start so that the dashboard and the exports read them from the
``account_alias`` view.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import structlog

from indexer.config import MetadataConfig
from indexer.db.store import Store

log = structlog.get_logger("indexer.ops.names")

MAX_METADATA_BYTES = 512  # CIP-6
MAX_REDIRECTS = 3
CONCURRENCY = 4
TICKER_CHARS = (3, 5)
NAME_MAX_CHARS = 50


@dataclass(frozen=True)
class Fetched:
    status: str
    http_status: int | None = None
    size_bytes: int | None = None
    ticker: str | None = None
    name: str | None = None
    description: str | None = None
    homepage: str | None = None
    detail: str | None = None


def metadata_hash(raw: bytes) -> str:
    """blake2b-256 of the bytes served, hex: what a certificate's metadata hash commits to."""
    return hashlib.blake2b(raw, digest_size=32).hexdigest()


def _text(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


def check_document(raw: bytes, expected_hash: str, http_status: int | None = 200) -> Fetched:
    """What ``raw`` (the whole body served) says, checked against the certificate (pure)."""
    size = len(raw)
    if size > MAX_METADATA_BYTES:
        return Fetched("too_large", http_status, size,
                       detail=f"more than {MAX_METADATA_BYTES} bytes (CIP-6)")
    got = metadata_hash(raw)
    if got != expected_hash.lower():
        return Fetched("hash_mismatch", http_status, size,
                       detail=f"blake2b-256 of the {size} bytes served is {got}")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Fetched("invalid", http_status, size, detail=f"not JSON: {exc}"[:200])
    if not isinstance(doc, dict):
        return Fetched("invalid", http_status, size, detail="not a JSON object")
    ticker, name = _text(doc, "ticker"), _text(doc, "name")
    low, high = TICKER_CHARS
    if ticker is None or not low <= len(ticker) <= high or name is None \
            or len(name) > NAME_MAX_CHARS:
        return Fetched("invalid", http_status, size,
                       detail=f"needs a ticker of {low}-{high} characters and a name of at most "
                              f"{NAME_MAX_CHARS}")
    return Fetched("ok", http_status, size, ticker=ticker, name=name,
                   description=_text(doc, "description"), homepage=_text(doc, "homepage"))


async def fetch_metadata(client: httpx.AsyncClient, url: str, expected_hash: str,
                         timeout_s: float) -> Fetched:
    """GET ``url`` (at most MAX_METADATA_BYTES + 1 bytes read) and check it."""
    if urlsplit(url).scheme not in ("http", "https"):
        return Fetched("refused_url", detail="only http and https URLs are fetched")
    try:
        async with asyncio.timeout(timeout_s):  # connection to last byte; not wait_for
            async with client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    return Fetched("http_error", resp.status_code,
                                   detail=f"HTTP {resp.status_code}")
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_METADATA_BYTES:
                        return Fetched("too_large", resp.status_code, len(body),
                                       detail=f"more than {MAX_METADATA_BYTES} bytes (CIP-6)")
                status = resp.status_code
    except TimeoutError:
        return Fetched("timeout", detail=f"no complete answer within {timeout_s} s")
    except (httpx.HTTPError, OSError) as exc:
        return Fetched("unreachable", detail=f"{type(exc).__name__}: {exc}"[:200])
    return check_document(bytes(body), expected_hash, status)


def http_client(cfg: MetadataConfig, user_agent: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(follow_redirects=True, max_redirects=MAX_REDIRECTS,
                             timeout=cfg.timeout_s, headers={"User-Agent": user_agent})


class MetadataFetcher:
    """The daemon task (and the demo's one-shot ``fetch_due``)."""

    def __init__(self, store: Store, cfg: MetadataConfig, pools: tuple[bytes, ...] | None,
                 user_agent: str = "shared-pool-indexer") -> None:
        self.store, self.cfg, self.pools, self.user_agent = store, cfg, pools, user_agent

    async def fetch_due(self) -> dict[str, int]:
        """Fetch what is due once; returns how many fetches ended in each status."""
        due = await self.store.query("metadata_due", list(self.pools) if self.pools else None,
                                     self.cfg.retry_s)
        counts: dict[str, int] = {}
        if not due:
            return counts
        gate = asyncio.Semaphore(CONCURRENCY)
        async with http_client(self.cfg, self.user_agent) as client:
            async def one(row: Any) -> None:
                async with gate:
                    got = await fetch_metadata(client, row["metadata_url"],
                                               row["metadata_hash"], self.cfg.timeout_s)
                await self.store.query(
                    "record_metadata", row["pool_id"], row["metadata_url"],
                    row["metadata_hash"], got.status, got.http_status, got.size_bytes,
                    got.ticker, got.name, got.description, got.homepage, got.detail)
                counts[got.status] = counts.get(got.status, 0) + 1
                if got.status != "ok":
                    log.warning("metadata.unusable", pool_id=row["pool_id"],
                                url=row["metadata_url"], status=got.status, detail=got.detail)
            async with asyncio.TaskGroup() as tg:
                for row in due:
                    tg.create_task(one(row))
        log.info("metadata.fetched", **counts)
        return counts

    async def run(self) -> None:
        while True:
            try:
                await self.fetch_due()
            except Exception as exc:  # names are a convenience: they never stop the accounting
                log.error("metadata.failed", error=repr(exc), retry_in_s=self.cfg.refresh_s)
            await asyncio.sleep(self.cfg.refresh_s)


async def store_aliases(store: Store, aliases: tuple[tuple[str, str], ...]) -> None:
    """The config's [aliases] replace the stored ones, in one transaction."""
    async with store.transaction() as tx:
        await tx.run("clear_aliases")
        if aliases:
            await tx.run("add_aliases", [a for a, _ in aliases], [n for _, n in aliases])
