"""PostgreSQL: ``schema.sql`` (the whole current schema), ``migrations/``, the named queries
in ``queries/`` and ``store`` (the only module that imports asyncpg)."""
