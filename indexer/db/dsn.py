"""PostgreSQL connection strings (URL form): pure rewriting, no connection."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def with_database(dsn: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def without_password(dsn: str) -> tuple[str, bool]:
    """The DSN with a ``user:password@`` password removed, and whether there was one."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn, False
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{parts.username or ''}@{host}", parts.path, parts.query,
                       parts.fragment)), True
