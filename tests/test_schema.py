"""schema.sql is the truth; the numbered migrations must build the same catalog. And every
named query the code runs exists, and every query in the files is used."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import asyncpg

from indexer.db.store import LATEST_VERSION, Q, Store, migrations

ROOT = Path(__file__).resolve().parent.parent


async def _replay_migrations(dsn: str, upto: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for version, path in migrations():
            if version <= upto:
                async with conn.transaction():
                    await conn.execute(path.read_text())
    finally:
        await conn.close()


async def _catalog(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """A comparable description of the schema: columns, indexes, views, constraints,
    functions and comments (the public views' markers)."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, numeric_precision, "
                   "numeric_scale, is_nullable, column_default FROM information_schema.columns "
                   "WHERE table_schema = current_schema() ORDER BY 1, 2",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
                   "WHERE schemaname = current_schema() ORDER BY 1, 2",
        "views": "SELECT viewname, definition FROM pg_views "
                 "WHERE schemaname = current_schema() ORDER BY 1",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                       "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
                       "ORDER BY 1, 2",
        "functions": "SELECT proname, pg_get_function_identity_arguments(oid), "
                     "pg_get_functiondef(oid) FROM pg_proc "
                     "WHERE pronamespace = current_schema()::regnamespace ORDER BY 1, 2",
        "comments": "SELECT relname, obj_description(oid, 'pg_class') FROM pg_class "
                    "WHERE relnamespace = current_schema()::regnamespace "
                    "AND obj_description(oid, 'pg_class') IS NOT NULL ORDER BY 1",
    }
    conn = await asyncpg.connect(dsn)
    try:
        return {k: [tuple(r) for r in await conn.fetch(sql)] for k, sql in queries.items()}
    finally:
        await conn.close()


async def test_migrations_build_the_same_catalog_as_schema_sql(empty_dsn: str,
                                                               dsn: str) -> None:
    await _replay_migrations(empty_dsn, LATEST_VERSION)
    assert await _catalog(empty_dsn) == await _catalog(dsn)
    fresh = await Store.connect(dsn)
    try:
        assert await fresh.schema_version() == LATEST_VERSION
    finally:
        await fresh.close()


async def test_migrate_is_idempotent_and_check_passes(dsn: str) -> None:
    store = await Store.connect(dsn)
    try:
        assert await store.migrate() == []
        assert await store.check() == []
    finally:
        await store.close()


async def test_newer_database_is_refused(dsn: str) -> None:
    store = await Store.connect(dsn)
    try:
        await store.execute("UPDATE schema_version SET version = $1", LATEST_VERSION + 1)
        problems = await store.check()
        assert problems and "needs" in problems[0]
        try:
            await store.migrate()
        except Exception as exc:  # SchemaError
            assert "newer" in str(exc)
        else:
            raise AssertionError("a newer schema must be refused")
    finally:
        await store.close()


def test_migration_files_are_numbered_from_one() -> None:
    numbers = [n for n, _ in migrations()]
    assert numbers == list(range(1, len(numbers) + 1))


def _names_used_in_code() -> set[str]:
    """Query names passed to the store's runners: ``.run("x"``, ``.rows("x"``,
    ``.query("x"`` and ``Q["x"]`` in the product and its scripts."""
    pattern = re.compile(r"""(?:\.(?:run|rows|query)\(|Q\[)\s*["'](\w+)["']""")
    used: set[str] = set()
    for path in [*(ROOT / "indexer").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")]:
        used |= set(pattern.findall(path.read_text()))
    return used


def test_every_query_name_exists_and_every_query_is_used() -> None:
    used = _names_used_in_code()
    assert used - set(Q) == set(), "named in the code, missing from indexer/db/queries/*.sql"
    assert set(Q) - used == set(), "defined in indexer/db/queries/*.sql, used nowhere"


async def test_a_migration_keeps_the_grants_on_views(empty_dsn: str) -> None:
    """Migrations drop and re-create the views; a dashboard role keeps what it was granted."""
    role = f"view_reader_{abs(hash(empty_dsn)) % 10**8}"
    await _replay_migrations(empty_dsn, 1)  # a v1 database, as the first build left it
    conn = await asyncpg.connect(empty_dsn)
    try:
        await conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        await conn.execute(f"CREATE ROLE {role} NOLOGIN")
        await conn.execute(f"GRANT SELECT ON pool_epoch, pool_owner_epoch TO {role}")
        store = await Store.connect(empty_dsn)
        try:
            assert await store.migrate() == list(range(2, LATEST_VERSION + 1))
        finally:
            await store.close()
        granted = {r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.role_table_grants "
            "WHERE grantee = $1 AND privilege_type = 'SELECT'", role)}
        assert granted == {"pool_epoch", "pool_owner_epoch"}
    finally:
        await conn.execute(f"DROP OWNED BY {role}")
        await conn.execute(f"DROP ROLE {role}")
        await conn.close()
