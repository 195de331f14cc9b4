"""A real PostgreSQL for the tests: INDEXER_TEST_DSN, else the PG* environment / the local
server on 127.0.0.1:5432, else a throwaway cluster started here (initdb + pg_ctl) so the suite
passes on a fresh machine. Each test gets its own database, cloned from a template that holds
the schema (CREATE DATABASE … TEMPLATE is a file copy: fast)."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    return None


def start_throwaway_cluster() -> str:
    """initdb + pg_ctl in a temporary directory; returns its DSN. As root, runs as `postgres`
    (initdb refuses root)."""
    initdb, pg_ctl = _find_bin("initdb"), _find_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("no PostgreSQL server answers and no initdb/pg_ctl found: install "
                           "PostgreSQL or set INDEXER_TEST_DSN")
    data = Path(tempfile.mkdtemp(prefix="indexer-pg-"))
    port = _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "-A", "trust"],
                   check=True, capture_output=True)
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    atexit.register(lambda: subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate",
                                            "stop"], capture_output=True))
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


async def _answers(dsn: str | None) -> bool:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), 5)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def admin_dsn() -> str:
    if os.environ.get("INDEXER_TEST_DSN"):
        return os.environ["INDEXER_TEST_DSN"]
    pg_env = any(k in os.environ for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE"))
    if pg_env and await _answers(None):
        return await _libpq_dsn()
    if await _answers(DEFAULT_DSN):
        return DEFAULT_DSN
    return start_throwaway_cluster()


async def _libpq_dsn() -> str:
    host = os.environ.get("PGHOST", "127.0.0.1")
    port = os.environ.get("PGPORT", "5432")
    user = os.environ.get("PGUSER", "postgres")
    password = os.environ.get("PGPASSWORD", "")
    db = os.environ.get("PGDATABASE", "postgres")
    auth = f"{user}:{password}@" if password else f"{user}@"
    if host.startswith("/"):
        return f"postgresql://{auth}/{db}?host={host}&port={port}"
    return f"postgresql://{auth}{host}:{port}/{db}"


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class Databases:
    """Creates per-test databases from a schema template; drops them at the end."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.template = f"indexer_tpl_{os.getpid()}"
        self.created: list[str] = []

    async def _exec(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def build_template(self) -> None:
        from indexer.db.store import Store

        await self._exec(f"DROP DATABASE IF EXISTS {self.template}")
        await self._exec(f"CREATE DATABASE {self.template}")
        store = await Store.connect(with_database(self.admin, self.template))
        try:
            await store.migrate()
        finally:
            await store.close()

    async def new(self, *, empty: bool = False) -> str:
        name = f"indexer_t_{uuid.uuid4().hex[:12]}"
        template = "template0" if empty else self.template
        await self._exec(f"CREATE DATABASE {name} TEMPLATE {template}")
        self.created.append(name)
        return with_database(self.admin, name)

    async def drop_all(self) -> None:
        for name in [*self.created, self.template]:
            await self._exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.created.clear()
