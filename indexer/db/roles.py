"""``indexer db grant``: a role for dashboards that can read the public views and nothing else.

What the role gets: USAGE on schema public, SELECT on the public views (the views that
``schema.sql`` marks with a ``COMMENT … IS 'Public view …'``), a ``statement_timeout``, an
``idle_in_transaction_session_timeout``, read-only transactions by default and a connection
limit. What it must not have, and what ``grant`` takes away or refuses:

* TEMP on the indexer's database, which PostgreSQL grants to PUBLIC: revoked from PUBLIC
  (the database's owner keeps it, and it is granted back explicitly to the owner and to the
  role running the grant); likewise CREATE on schema public where PUBLIC still has it
  (PostgreSQL 14 and older).
* CONNECT on the cluster's other databases (``postgres``, ``template1``, …), also granted to
  PUBLIC: revoked from PUBLIC there only when asked (``lock_other_databases``: a cluster-wide
  change, their owners and superusers keep it), else reported.
* An existing role is changed only with ``reset``, and never when it holds more than these
  grants (superuser, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS, membership in a role, an
  object it owns, any other privilege or policy, in any database).

The password never reaches the server: its SCRAM-SHA-256 verifier is computed here
(``indexer.db.scram``) and only the verifier is sent. Everything happens in one transaction,
checked at the end as the role would see it: any failure leaves the database as it was.

``statement_timeout`` and the read-only default are only defaults: whoever holds the password
can ``SET`` them for a session (PostgreSQL has no way to pin them). They protect against
runaway dashboards, not against a hostile user of the role; the connection limit holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from indexer.db.scram import is_verifier, scram_sha_256_verifier
from indexer.db.store import SCHEMA_FILE, Store, StoreTx

__all__ = ["PUBLIC_VIEWS", "GrantOptions", "RoleRefused", "grant_readonly", "public_views"]

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_MARKER = re.compile(r"^COMMENT ON VIEW (\w+) IS 'Public view\b", re.M)


class RoleRefused(Exception):
    """The role cannot be made read-only as asked: nothing was changed."""


def public_views(schema_sql: str | None = None) -> tuple[str, ...]:
    """The views schema.sql marks as public (docs/spec.md §7), in the order it creates them."""
    return tuple(_MARKER.findall(SCHEMA_FILE.read_text() if schema_sql is None else schema_sql))


# docs/spec.md §7: the product's API. Everything else in the schema is internal.
PUBLIC_VIEWS = public_views()


@dataclass(frozen=True)
class GrantOptions:
    reset: bool = False  # the role may exist already (its password, settings, grants are reset)
    statement_timeout_s: float = 30.0
    idle_in_transaction_timeout_s: float = 60.0
    connection_limit: int = 10  # Grafana's provisioned datasource opens at most 5
    lock_other_databases: bool = False


def _ident(name: str) -> str:
    """A quoted SQL identifier (identifiers have no backslash escapes: doubling is enough)."""
    return '"' + name.replace('"', '""') + '"'


def _check_options(role: str, opts: GrantOptions) -> None:
    if not _ROLE_NAME.fullmatch(role) or role.startswith("pg_"):
        raise RoleRefused(f"invalid role name {role!r}: lower-case letters, digits and _, "
                          "not starting with a digit or pg_")
    if not 1 <= opts.connection_limit <= 10_000:
        raise RoleRefused("the connection limit must be between 1 and 10000")
    for name, value in (("statement timeout", opts.statement_timeout_s),
                        ("idle-in-transaction timeout", opts.idle_in_transaction_timeout_s)):
        if not 0.001 <= value <= 86_400:
            raise RoleRefused(f"the {name} must be between 1 ms and one day")


async def grant_readonly(store: Store, role: str, password: str | None = None,
                         options: GrantOptions | None = None) -> list[str]:
    """Create (or, with ``reset``, reset) the read-only role; returns notes for the operator
    (what was revoked from PUBLIC, what the role can still reach). Raises RoleRefused.
    ``password`` None: a new role cannot log in, an existing one keeps its password."""
    opts = options or GrantOptions()
    _check_options(role, opts)
    problems = await store.check()
    if problems:
        raise RoleRefused(f"the schema is not this indexer's: {problems[0]}")
    verifier = None
    if password is not None:
        if not password:
            raise RoleRefused("an empty password cannot log in: give none for a NOLOGIN role")
        verifier = scram_sha_256_verifier(password)
        if not is_verifier(verifier):  # the only text that goes between quotes
            raise RoleRefused("internal error: malformed SCRAM verifier")
    notes: list[str] = []
    async with store.transaction() as tx:
        ctx = (await tx.rows("grant_context"))[0]
        await _create_or_reset(tx, role, opts, verifier, ctx)
        await _apply(tx, role, opts)
        notes += await _revoke_from_public(tx, role, ctx)
        notes += await _other_databases(tx, role, opts.lock_other_databases)
        await _verify(tx, role)
    return notes


async def _sql(tx: StoreTx, sql: str) -> None:
    await tx.conn.execute(sql)


async def _create_or_reset(tx: StoreTx, role: str, opts: GrantOptions, verifier: str | None,
                           ctx: Any) -> None:
    q = _ident(role)
    login = f"LOGIN PASSWORD '{verifier}'" if verifier else ""
    limit = f"CONNECTION LIMIT {int(opts.connection_limit)}"
    if not await tx.rows("role_exists", role):
        await _sql(tx, f"CREATE ROLE {q} {login or 'NOLOGIN'} {limit}")
        return
    if role in (ctx["me"], ctx["owner"]):
        raise RoleRefused(f"role {role} runs this grant or owns the database: choose another "
                          "role for dashboards")
    if not opts.reset:
        raise RoleRefused(f"role {role} exists already: pass --reset to reset its password, "
                          "settings and grants (it must hold no more than a read-only role), "
                          "or choose another name")
    excess = [r["what"] for r in await tx.rows("role_excess", role, list(PUBLIC_VIEWS))]
    if excess:
        raise RoleRefused(f"role {role} holds more than read access to the public views, so it "
                          f"is left alone: it {'; it '.join(excess)}")
    await _sql(tx, f"ALTER ROLE {q} {login} {limit}")
    await _sql(tx, f"ALTER ROLE {q} RESET ALL")


async def _apply(tx: StoreTx, role: str, opts: GrantOptions) -> None:
    q = _ident(role)
    settings = {
        "statement_timeout": f"{round(opts.statement_timeout_s * 1000)}",
        "idle_in_transaction_session_timeout":
            f"{round(opts.idle_in_transaction_timeout_s * 1000)}",
        "default_transaction_read_only": "on",
    }
    for name, value in settings.items():  # values are digits or "on": no quoting needed
        await _sql(tx, f"ALTER ROLE {q} SET {name} = {value}")
    await _sql(tx, f"GRANT USAGE ON SCHEMA public TO {q}")
    views = ", ".join(f"public.{_ident(v)}" for v in PUBLIC_VIEWS)
    await _sql(tx, f"GRANT SELECT ON {views} TO {q}")


async def _revoke_from_public(tx: StoreTx, role: str, ctx: Any) -> list[str]:
    """TEMP on this database, CREATE on schema public: PUBLIC's, so the role's too."""
    check = (await tx.rows("readonly_role_check", role, list(PUBLIC_VIEWS)))[0]
    db, notes = _ident(ctx["database"]), []
    keepers = {ctx["owner"], ctx["me"]}
    if check["temporary"]:
        await _sql(tx, f"REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC")
        for who in sorted(keepers):
            await _sql(tx, f"GRANT TEMPORARY ON DATABASE {db} TO {_ident(who)}")
        notes.append(f"TEMPORARY on database {ctx['database']} revoked from PUBLIC (the role "
                     f"could create temporary tables); granted to {', '.join(sorted(keepers))}. "
                     "Other roles that need temporary tables there need GRANT TEMPORARY.")
    if check["create_in_public"]:
        await _sql(tx, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for who in sorted(keepers):
            await _sql(tx, f"GRANT CREATE ON SCHEMA public TO {_ident(who)}")
        notes.append(f"CREATE on schema public revoked from PUBLIC (PostgreSQL 15's default); "
                     f"granted to {', '.join(sorted(keepers))}.")
    return notes


async def _other_databases(tx: StoreTx, role: str, lock: bool) -> list[str]:
    others = await tx.rows("other_databases", role)
    if not others:
        return []
    names = ", ".join(r["name"] for r in others)
    if not lock:
        return [f"role {role} can still connect to database(s) {names} (PostgreSQL grants "
                "CONNECT to PUBLIC): pass --lock-other-databases on a cluster that serves the "
                "indexer only, or reject the role there in pg_hba.conf"]
    for r in others:
        await _sql(tx, f"REVOKE CONNECT ON DATABASE {_ident(r['name'])} FROM PUBLIC")
        await _sql(tx, f"GRANT CONNECT ON DATABASE {_ident(r['name'])} TO {_ident(r['owner'])}")
    still = await tx.rows("other_databases", role)
    if still:
        raise RoleRefused(f"could not revoke CONNECT on {', '.join(r['name'] for r in still)} "
                          "from PUBLIC: run the grant as a superuser or as their owner")
    return [f"CONNECT on database(s) {names} revoked from PUBLIC (their owners and superusers "
            "keep it; other roles need GRANT CONNECT)"]


async def _verify(tx: StoreTx, role: str) -> None:
    """What the role can do now, as PostgreSQL answers it; anything wrong rolls back."""
    check = (await tx.rows("readonly_role_check", role, list(PUBLIC_VIEWS)))[0]
    wrong = []
    if check["temporary"]:
        wrong.append("it could still create temporary tables (revoking TEMPORARY from PUBLIC "
                     "needs the database's owner or a superuser)")
    if check["create_in_public"] or check["create_schema"]:
        wrong.append("it could create objects (CREATE on schema public or on the database)")
    if check["unreadable"]:
        wrong.append(f"it cannot read {', '.join(check['unreadable'])}")
    if check["internal"]:
        wrong.append(f"it could read or write internal relations "
                     f"{', '.join(check['internal'])} (granted to PUBLIC?)")
    if wrong:
        raise RoleRefused(f"role {role} would not be read-only, nothing was changed: "
                          + "; ".join(wrong))
