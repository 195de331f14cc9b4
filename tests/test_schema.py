"""schema.sql is the truth; the numbered migrations must build the same catalog."""

from __future__ import annotations

from indexer.db.store import LATEST_VERSION, Store, migrations


async def test_migrations_build_the_same_catalog_as_schema_sql(empty_dsn: str,
                                                               dsn: str) -> None:
    replayed, fresh = await Store.connect(empty_dsn), await Store.connect(dsn)
    try:
        await replayed.apply_migration_files(LATEST_VERSION)
        assert await replayed.catalog() == await fresh.catalog()
        assert await fresh.schema_version() == LATEST_VERSION
    finally:
        await replayed.close()
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
