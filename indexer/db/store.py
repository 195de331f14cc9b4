"""PostgreSQL access: the only module that imports asyncpg.

SQL lives in ``schema.sql`` (the catalog), ``migrations/`` (how older databases reach it) and
``queries/*.sql`` (named statements, by concern). This module loads and runs them: it holds no
business rules.
Bulk rows go in with COPY; set-based statements take arrays (``unnest``) so that a batch costs a
handful of round trips whatever its size.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from indexer.chain.types import Checkpoint, Point
from indexer.db.dsn import with_database

_HERE = Path(__file__).resolve().parent
SCHEMA_FILE = _HERE / "schema.sql"
MIGRATIONS_DIR = _HERE / "migrations"


class SchemaError(Exception):
    """The database schema is not one this version can use."""


class DatabaseBusy(Exception):
    """Another daemon holds this database (its advisory lock is taken)."""


class LostLock(Exception):
    """Another daemon took over this database while we ran: our batch must not commit."""


class DatabaseUnavailable(Exception):
    """PostgreSQL does not answer (yet): refused, timed out, starting up. Transient at start."""


class DatabaseLost(Exception):
    """PostgreSQL stopped answering while we used it: a statement timed out, the connection
    broke or the server shut down. Fatal (docs/spec.md §9: exit 1); every batch is atomic, so
    a restart resumes exactly at the last commit."""


@dataclass(frozen=True)
class Timeouts:
    """Client-side limits, so that a server that stops answering is noticed (asyncpg waits
    forever otherwise, and a frozen server's kernel still acknowledges TCP, so keepalives alone
    do not notice it). ``batch_s`` bounds each statement of a batch or an epoch boundary (COPY
    of a full batch, a boundary over thousands of pools); ``query_s`` every other statement,
    COMMIT included. Schema migrations are not time-limited: on a large database they may
    legitimately take long. ``keepalive_s``: TCP keepalive idle time (then 3 probes
    ``keepalive_s / 3`` apart, and TCP_USER_TIMEOUT to match), so that a dead host or network
    is noticed even on an idle connection."""

    connect_s: float = 10.0
    query_s: float = 60.0
    batch_s: float = 300.0
    keepalive_s: float = 30.0


# What a lost server looks like from asyncpg: a timeout, a socket error, the connection gone,
# or the server shutting down (57P01-57P03).
_LOST = (TimeoutError, OSError, asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError,
         asyncpg.CrashShutdownError, asyncpg.CannotConnectNowError)


def _lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the server is gone (not a bad statement or argument: asyncpg's
    DataError is an InterfaceError too; not a TLS certificate that does not verify: waiting
    cannot cure that)."""
    if isinstance(exc, ssl.SSLError):
        return False
    if isinstance(exc, _LOST):
        return True
    return (isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, asyncpg.DataError)
            and "closed" in str(exc))


def _keepalive(conn: asyncpg.Connection, idle_s: float) -> None:
    """Client-side TCP keepalives (asyncpg has no option for them: MagicStack/asyncpg#606)."""
    transport = conn._transport  # the only way to the socket
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a Unix socket: the server is on this host
    interval = max(1, int(idle_s / 3))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", max(1, int(idle_s))), ("TCP_KEEPINTVL", interval),
                        ("TCP_KEEPCNT", 3),
                        ("TCP_USER_TIMEOUT", int((idle_s + 3 * interval) * 1000))):
        if hasattr(socket, name):  # Linux; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}"


# The session-level advisory lock a daemon holds for its whole life (per database: advisory
# locks are scoped to the current database). An arbitrary constant, "SPIX" in ASCII.
DAEMON_LOCK_KEY = 0x53504958
APPLICATION_NAME = "shared-pool-indexer"


def _load_queries(path: Path) -> dict[str, str]:
    """``-- name: X`` sections; the comment lines that introduce the next section belong to it,
    not to the statement before, so they are cut off (with the closing semicolon)."""
    parts = re.split(r"^-- name: (\w+)\s*$", path.read_text(), flags=re.M)
    queries = {}
    for i in range(1, len(parts), 2):
        lines = parts[i + 1].strip().splitlines()
        while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("--")):
            lines.pop()
        queries[parts[i]] = "\n".join(lines).rstrip().rstrip(";")
    return queries


def _load_all(directory: Path) -> dict[str, str]:
    """Every ``queries/*.sql`` file, one namespace: a name defined twice is a bug."""
    queries: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        for name, sql in _load_queries(path).items():
            if name in queries:
                raise SchemaError(f"query {name} is defined twice ({path.name})")
            queries[name] = sql
    return queries


QUERIES_DIR = _HERE / "queries"
Q = _load_all(QUERIES_DIR)


def migrations() -> list[tuple[int, Path]]:
    """Numbered migration files: ``NNNN_name.sql`` brings a database to version NNNN."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        found.append((int(path.name.split("_", 1)[0]), path))
    return found


LATEST_VERSION = migrations()[-1][0]


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: v if isinstance(v, str) else orjson.dumps(v).decode(),
        decoder=orjson.loads, schema="pg_catalog",
    )


class Store:
    def __init__(self, pool: asyncpg.Pool, dsn: str | None = None,
                 timeouts: Timeouts | None = None) -> None:
        self._pool, self._dsn = pool, dsn
        self.timeouts = timeouts or Timeouts()
        self._lock_conn: asyncpg.Connection | None = None
        self.writer_token: int | None = None  # set by claim_writer(); checked by every commit

    @classmethod
    async def connect(cls, dsn: str | None, *, max_size: int = 4,
                      timeouts: Timeouts | None = None) -> Store:
        """A pool on ``dsn``. Raises DatabaseUnavailable when the server does not answer
        (refused, timed out, starting up); other errors (authentication, no such database)
        as asyncpg raises them."""
        t = timeouts or Timeouts()

        async def init(conn: asyncpg.Connection) -> None:
            _keepalive(conn, t.keepalive_s)
            await _init_connection(conn)

        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=1, max_size=max_size, init=init, timeout=t.connect_s,
                command_timeout=t.query_s,
                server_settings={"application_name": APPLICATION_NAME},
            )
        except Exception as exc:
            if not _lost(exc):
                raise
            raise DatabaseUnavailable(f"PostgreSQL does not answer: {_describe(exc)}") from exc
        return cls(pool, dsn, t)

    async def _connect_one(self, application: str, command_timeout: float | None
                           ) -> asyncpg.Connection:
        try:
            conn = await asyncpg.connect(
                self._dsn, timeout=self.timeouts.connect_s, command_timeout=command_timeout,
                server_settings={"application_name": f"{APPLICATION_NAME} ({application})"})
        except Exception as exc:
            if not _lost(exc):
                raise
            raise DatabaseLost(f"PostgreSQL does not answer: {_describe(exc)}") from exc
        _keepalive(conn, self.timeouts.keepalive_s)
        return conn

    async def close(self) -> None:
        """Close every connection; one that does not answer (the server is gone) is dropped
        after the connect timeout instead of waited for."""
        if self._lock_conn is not None:
            conn, self._lock_conn = self._lock_conn, None
            await self._close(conn)
        try:
            async with asyncio.timeout(self.timeouts.connect_s):
                await self._pool.close()
        except Exception as exc:
            if not _lost(exc):
                raise
            self._pool.terminate()

    async def _close(self, conn: asyncpg.Connection) -> None:
        try:
            await conn.close(timeout=self.timeouts.connect_s)
        except Exception as exc:
            if not _lost(exc):
                raise
            conn.terminate()

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        """A pool connection; a lost server becomes DatabaseLost. The bodies inside run
        database statements only, so a timeout or socket error there is the database's."""
        t = self.timeouts
        try:  # acquire: maybe a new connection, maybe a wait for one to come back
            async with self._pool.acquire(timeout=t.connect_s + t.query_s) as conn:
                yield conn
        except Exception as exc:
            if not _lost(exc):
                raise
            raise DatabaseLost(f"lost the database: {_describe(exc)} (limits: statement "
                               f"{self.timeouts.query_s} s, batch statement "
                               f"{self.timeouts.batch_s} s)") from exc

    # --- one daemon per database ---------------------------------------------------------------

    async def lock_daemon(self) -> None:
        """Take the daemon's advisory lock on a connection of its own, held until close().
        Raises DatabaseBusy (naming the holder) if another session holds it."""
        conn = await self._connect_one("lock", self.timeouts.query_s)
        try:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", DAEMON_LOCK_KEY):
                self._lock_conn = conn
                return
            holder = await conn.fetchrow(Q["lock_holder"], DAEMON_LOCK_KEY)
        except Exception as exc:
            if not _lost(exc):
                raise
            raise DatabaseLost(f"lost the database while taking the daemon lock: "
                               f"{_describe(exc)}") from exc
        finally:
            if self._lock_conn is not conn:
                await self._close(conn)
        who = (f"PostgreSQL backend pid {holder['pid']} ({holder['application_name']}, "
               f"from {holder['client_addr'] or 'a local socket'}, since "
               f"{holder['backend_start']:%Y-%m-%d %H:%M:%S %Z})") if holder else "another session"
        raise DatabaseBusy(f"another indexer daemon already follows the chain into this database "
                           f"(its lock is held by {who}); run one daemon per database")

    async def watch_lock(self) -> None:
        """Check the lock's connection every ``keepalive_s`` until cancelled, so that a
        database lost while nothing is written (at the tip, between blocks) is noticed, and a
        lock connection that died (another daemon may then take the database) too. Raises
        DatabaseLost."""
        conn = self._lock_conn
        if conn is None:
            raise LostLock("the daemon lock is not held")
        while True:
            await asyncio.sleep(self.timeouts.keepalive_s)
            try:
                await conn.fetchval("SELECT 1", timeout=self.timeouts.query_s)
            except Exception as exc:
                if not _lost(exc):
                    raise
                what = (f"did not answer within {self.timeouts.query_s} s"
                        if isinstance(exc, TimeoutError) else f"was lost ({_describe(exc)})")
                raise DatabaseLost(f"the connection holding the daemon lock {what}: the "
                                   "server is gone, restarted or cut off, and another daemon "
                                   "may take this database, so this one stops") from exc

    async def claim_writer(self) -> None:
        """A fresh fencing token in the checkpoint row: if a second daemon ever takes over (our
        lock connection died and it took the lock), our next commit fails with LostLock
        instead of interleaving with its batches."""
        token = secrets.randbits(63)
        async with self._conn() as conn:
            await conn.execute(Q["claim_writer"], token)
        self.writer_token = token

    # --- schema ------------------------------------------------------------------------------

    async def schema_version(self) -> int | None:
        async with self._conn() as conn:
            exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
            if not exists:
                return None
            return int(await conn.fetchval("SELECT max(version) FROM schema_version"))

    @asynccontextmanager
    async def _schema_conn(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of its own for schema changes, without a statement time limit (a
        migration of a large database may take long); keepalives still notice a dead peer."""
        conn = await self._connect_one("schema", None)
        try:
            yield conn
        finally:
            await self._close(conn)

    async def init_schema(self) -> None:
        """Create the whole schema from schema.sql (empty database only)."""
        async with self._schema_conn() as conn, conn.transaction():
            await conn.execute(SCHEMA_FILE.read_text())

    async def migrate(self) -> list[int]:
        """Create or upgrade the schema; returns the versions applied. Refuses a database that
        is newer than this code."""
        current = await self.schema_version()
        if current is None:
            await self.init_schema()
            return [LATEST_VERSION]
        if current > LATEST_VERSION:
            raise SchemaError(f"database schema v{current} is newer than this indexer "
                              f"(v{LATEST_VERSION}); upgrade the indexer")
        applied = []
        for version, path in migrations():
            if version <= current:
                continue
            async with self._schema_conn() as conn, conn.transaction():
                # migrations re-create views, and a view's grants go with it: keep them
                grants = [r["statement"] for r in await conn.fetch(Q["view_grants"])]
                await conn.execute(path.read_text())
                for statement in grants:
                    await conn.execute(statement)
                await conn.execute(Q["set_schema_version"], version)
            applied.append(version)
        return applied

    async def check(self) -> list[str]:
        """Problems that stop the daemon from running against this database (empty = fine)."""
        version = await self.schema_version()
        if version is None:
            return ["no schema: run `indexer db init`"]
        if version != LATEST_VERSION:
            return [f"schema v{version}, this indexer needs v{LATEST_VERSION}: "
                    "run `indexer db migrate`"]
        return []

    # --- state -------------------------------------------------------------------------------

    async def checkpoint(self) -> Checkpoint:
        async with self._conn() as conn:
            row = await conn.fetchrow(Q["get_checkpoint"])
        block_hash = row["block_hash"]
        return Checkpoint(row["slot"], block_hash.hex() if block_hash is not None else None,
                          row["block_height"], row["epoch_no"])

    async def get_meta(self, key: str) -> Any:
        async with self._conn() as conn:
            return await conn.fetchval(Q["get_meta"], key)

    async def set_meta(self, key: str, value: Any) -> None:
        async with self._conn() as conn:
            await conn.execute(Q["set_meta"], key, value)

    async def intersection_points(self, k: int, recent: int = 10) -> list[Point]:
        """The last ``recent`` blocks, then blocks 2^j deep until past ``k`` (Kupo-style), so
        that an intersection is found after any rollback the node can make."""
        async with self._conn() as conn:
            rows = list(await conn.fetch(Q["recent_points"], recent))
            depth = recent * 2
            while depth <= 2 * k + recent:
                row = await conn.fetchrow(Q["point_at_offset"], depth)
                if row is None:
                    break
                rows.append(row)
                depth *= 2
        seen: set[int] = set()
        points = []
        for row in rows:
            if row["slot"] not in seen:
                seen.add(row["slot"])
                points.append(Point(row["slot"], row["hash"].hex()))
        return points

    async def query(self, name: str, *args: Any) -> list[asyncpg.Record]:
        """Run a named query from queries/*.sql (outside a batch transaction)."""
        async with self._conn() as conn:
            return list(await conn.fetch(Q[name], *args))

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Read-only ad-hoc query (CLI status, exports, tests)."""
        async with self._conn() as conn:
            return list(await conn.fetch(sql, *args))

    async def execute(self, sql: str, *args: Any) -> str:
        async with self._conn() as conn:
            return str(await conn.execute(sql, *args))

    @property
    def spare_connection(self) -> bool:
        """Whether the writer may hold two transactions at once (two batches overlapped,
        sync/writer.py) and still leave a connection to everyone else."""
        return int(self._pool.get_max_size()) >= 3

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StoreTx]:
        """One transaction; each statement in it may take ``batch_s`` (COMMIT: ``query_s``)."""
        async with self._conn() as conn, conn.transaction():
            yield StoreTx(conn, self.writer_token, self.timeouts.batch_s)


class StoreTx:
    """Statements inside one transaction (a batch, a rollback, a boundary), each limited to
    ``timeout_s``."""

    def __init__(self, conn: asyncpg.Connection, writer_token: int | None = None,
                 timeout_s: float | None = None) -> None:
        self.conn, self.writer_token, self.timeout_s = conn, writer_token, timeout_s

    async def copy(self, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
                   ) -> None:
        if records:
            await self.conn.copy_records_to_table(table, records=records, columns=columns,
                                                  timeout=self.timeout_s)

    async def run(self, name: str, *args: Any) -> str:
        return str(await self.conn.execute(Q[name], *args, timeout=self.timeout_s))

    async def rows(self, name: str, *args: Any) -> list[asyncpg.Record]:
        return list(await self.conn.fetch(Q[name], *args, timeout=self.timeout_s))

    async def spend(self, tx_ids: Sequence[bytes], idxs: Sequence[int], slots: Sequence[int]
                    ) -> None:
        """Packed (``apply_spends``): the ids end to end, the integers as text."""
        if not tx_ids:
            return
        packed = b"".join(tx_ids)
        if len(packed) != 32 * len(tx_ids):  # the decoder only lets 32-byte ids through
            raise ValueError("a transaction id of the spends is not 32 bytes")
        await self.conn.execute(Q["apply_spends"], packed, ",".join(map(str, idxs)),
                                ",".join(map(str, slots)), timeout=self.timeout_s)

    async def insert_pool_certs(self, records: list[tuple[Any, ...]]) -> None:
        if records:
            await self.conn.executemany(Q["insert_pool_cert"], records, timeout=self.timeout_s)

    async def set_checkpoint(self, slot: int | None, block_hash: bytes | None,
                             height: int | None, epoch_no: int | None) -> None:
        done = await self.conn.execute(Q["set_checkpoint"], slot, block_hash, height, epoch_no,
                                       self.writer_token, timeout=self.timeout_s)
        if done != "UPDATE 1":
            raise LostLock("another daemon took over this database (its fencing token replaced "
                           "ours): this one stops without committing")

    async def check_writer(self) -> asyncpg.Record:
        """Inside a transaction that writes beside the cursor (the reward capture): lock the
        checkpoint row, check that we still hold the database, return the row."""
        row = await self.conn.fetchrow(Q["lock_checkpoint"], timeout=self.timeout_s)
        if self.writer_token is not None and row["writer_token"] != self.writer_token:
            raise LostLock("another daemon took over this database: this one stops")
        return row


# --- administration (demo, benchmarks) ---------------------------------------------------------

Record = asyncpg.Record
DatabaseError = (OSError, asyncpg.PostgresError, TimeoutError, DatabaseUnavailable, DatabaseLost)


async def recreate_database(admin_dsn: str, name: str, *, timeout_s: float = 15.0) -> str:
    """Drop (if present) and create database ``name``; returns its DSN."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"invalid database name {name!r}")
    conn = await asyncpg.connect(admin_dsn, timeout=timeout_s)
    try:
        await _drop(conn, name)
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, name: str) -> None:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"invalid database name {name!r}")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await _drop(conn, name)
    finally:
        await conn.close()


async def _drop(conn: asyncpg.Connection, name: str) -> None:
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except asyncpg.PostgresSyntaxError:  # PostgreSQL before 13 has no FORCE
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
