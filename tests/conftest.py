from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from indexer import log
from tests.pg import Databases, admin_dsn

# the daemon runs in-process in many tests: keep their output to warnings and errors
log.configure("console", "warning")


@pytest.fixture(scope="session")
async def databases() -> AsyncIterator[Databases]:
    dbs = Databases(await admin_dsn())
    await dbs.build_template()
    yield dbs
    await dbs.drop_all()


@pytest.fixture
async def dsn(databases: Databases) -> str:
    """A fresh database holding the current schema."""
    return await databases.new()


@pytest.fixture
async def empty_dsn(databases: Databases) -> str:
    return await databases.new(empty=True)
