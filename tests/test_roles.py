"""`indexer db grant` on a throwaway cluster of its own (indexer.demo.postgres), configured as an
attacker would like it (standard_conforming_strings off) and as an auditor would (log_statement
= ddl), with SCRAM authentication for every role but the superuser: the password reaches the
server neither as SQL nor in its log, the role logs in with it, and as that role PostgreSQL
refuses everything but reading the public views."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from indexer.db.dsn import with_database
from indexer.db.roles import PUBLIC_VIEWS, GrantOptions, RoleRefused, grant_readonly
from indexer.db.scram import is_verifier, saslprep, scram_sha_256_verifier
from indexer.db.store import Store
from indexer.demo.postgres import EmbeddedPostgres
from tests.pg import Databases

pytestmark = pytest.mark.slow

OWNER = "indexer_owner"  # owns the indexer's database, may create roles; not a superuser
INJECTION = "x\\'; CREATE ROLE pwned_by_password; --"  # issue 14, verbatim


@dataclass
class Cluster:
    pg: EmbeddedPostgres
    admin: str  # superuser, trusted, database postgres
    indexer: str  # the indexer's database, as its owner (trusted)
    su_indexer: str  # the indexer's database, as the superuser

    async def connect(self, user: str, password: str, database: str = "indexer"
                      ) -> asyncpg.Connection:
        assert self.pg.port is not None
        return await asyncpg.connect(host="127.0.0.1", port=self.pg.port, user=user,
                                     password=password, database=database)

    def log(self) -> str:
        assert self.pg.log_file is not None
        return self.pg.log_file.read_text(errors="replace")

    async def sql(self, statement: str, dsn: str | None = None) -> None:
        conn = await asyncpg.connect(dsn or self.admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def fetchval(self, query: str, *args: object) -> object:
        conn = await asyncpg.connect(self.admin)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[Cluster]:
    pg = EmbeddedPostgres()
    admin = await asyncio.to_thread(pg.start)
    try:
        assert pg.data_dir is not None
        # superuser and the database owner are trusted; every other role logs in with SCRAM
        (pg.data_dir / "pg_hba.conf").write_text(
            f"local all postgres,{OWNER} trust\n"
            f"host all postgres,{OWNER} 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        su_indexer = with_database(admin, "indexer")
        c = Cluster(pg, admin, su_indexer.replace("postgres@", f"{OWNER}@"), su_indexer)
        await c.sql("ALTER SYSTEM SET log_statement = 'ddl'")
        await c.sql("ALTER SYSTEM SET standard_conforming_strings = off")
        await c.sql("SELECT pg_reload_conf()")
        await c.sql(f"CREATE ROLE {OWNER} LOGIN CREATEROLE")
        await c.sql(f"CREATE DATABASE indexer OWNER {OWNER}")
        store = await Store.connect(c.indexer)
        try:
            await store.migrate()
        finally:
            await store.close()
        yield c
    finally:
        await asyncio.to_thread(pg.stop)


async def _grant(c: Cluster, role: str, password: str | None = None, dsn: str | None = None,
                 **opts: Any) -> list[str]:
    store = await Store.connect(dsn or c.indexer)
    try:
        return await grant_readonly(store, role, password, GrantOptions(**opts))
    finally:
        await store.close()


def _role() -> str:
    return f"dash_{uuid.uuid4().hex[:10]}"


async def _exists(c: Cluster, role: str) -> bool:
    return bool(await c.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", role))


# --- the verifier ------------------------------------------------------------------------------

# ASCII with quotes and backslashes; SASLprep's mappings (non-ASCII space, soft hyphen, NFKC of
# full-width letters, a ligature, a Roman numeral); passwords it refuses, which PostgreSQL then
# uses raw (a prohibited character, an unassigned one, bad bidi, nothing left after mapping);
# right-to-left text that is fine; an emoji.
TRICKY = [INJECTION, "pencil", "päss wörd", "ｐａｓｓ１２３", "I\u00adX", "a\u00a0b", "ﬁnal",
          "\u2168x", "e\u0301t\u00e9", "a\u200eb", "\u0221x", "\u0627a", "\u00ad\u00ad",
          "\u0627\u0031\u0628", "\u05d0\u05d1", "\U0001f600pw"]


async def test_verifier_is_what_postgresql_computes_for_the_same_salt(databases: Databases
                                                                      ) -> None:
    """PostgreSQL hashes a cleartext password itself (its own SASLprep, PBKDF2, HMACs): ours,
    with the salt and iterations it chose, must be byte for byte the same."""
    conn = await asyncpg.connect(databases.admin)
    role = _role()
    try:
        await conn.execute("SET password_encryption = 'scram-sha-256'")
        await conn.execute(f"CREATE ROLE {role}")
        for password in TRICKY:
            # test data, not a secret: a parameter cannot be used in ALTER ROLE, so quote it
            literal = password.replace("\\", "\\\\").replace("'", "''")
            await conn.execute(f"ALTER ROLE {role} PASSWORD E'{literal}'")
            stored = await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                                         role)
            iterations, salt = stored.split("$")[1].split(":")
            ours = scram_sha_256_verifier(password, salt=base64.b64decode(salt),
                                          iterations=int(iterations))
            assert ours == stored, (password, saslprep(password))
    finally:
        await conn.execute(f"DROP ROLE IF EXISTS {role}")
        await conn.close()


def test_verifier_format_and_saslprep() -> None:
    v = scram_sha_256_verifier("pencil")
    assert is_verifier(v) and v.startswith("SCRAM-SHA-256$4096:")
    assert len(base64.b64decode(v.split("$")[1].split(":")[1])) == 16
    assert v != scram_sha_256_verifier("pencil")  # a fresh salt each time
    assert saslprep("ｐａｓｓ\u00a0\u00adword") == "pass word"
    assert saslprep("\u0627a") == "\u0627a"  # refused by SASLprep: used as it is
    for bad in ("SCRAM-SHA-256$4096:abc$x'y:z", v + "'", v.replace("$", "$ ", 1), "md5abc"):
        assert not is_verifier(bad)
    with pytest.raises(ValueError):
        scram_sha_256_verifier("")


# --- the password: never SQL, never logged, and it works --------------------------------------

async def test_the_issue_password_creates_no_role_is_not_logged_and_logs_in(cluster: Cluster
                                                                            ) -> None:
    role = _role()
    conn = await asyncpg.connect(cluster.indexer)
    try:  # the trap is armed: naive quoting (the old code) runs the injected statement
        assert await conn.fetchval("SHOW standard_conforming_strings") == "off"
        await conn.execute(f"CREATE ROLE {role}_control")
        doubled = INJECTION.replace("pwned_by_password", f"{role}_pwned").replace("'", "''")
        await conn.execute(f"ALTER ROLE {role}_control PASSWORD '{doubled}'")
        assert await _exists(cluster, f"{role}_pwned")
    finally:
        await conn.execute(f"DROP ROLE IF EXISTS {role}_control")
        await conn.execute(f"DROP ROLE IF EXISTS {role}_pwned")
        await conn.close()
    log_before = len(cluster.log())

    await _grant(cluster, role, INJECTION)

    assert not await _exists(cluster, "pwned_by_password")
    logged = cluster.log()[log_before:]
    assert f'CREATE ROLE "{role}" LOGIN PASSWORD \'SCRAM-SHA-256$4096:' in logged  # logging works
    assert "pwned_by_password" not in logged and INJECTION not in logged
    as_role = await cluster.connect(role, INJECTION)  # SCRAM (pg_hba), with the real password
    try:
        assert await as_role.fetchval("SELECT current_user") == role
        assert await as_role.fetchval("SELECT count(*) FROM chain_tip") == 1
    finally:
        await as_role.close()
    with pytest.raises(asyncpg.InvalidPasswordError):  # the password is really checked
        await cluster.connect(role, "x")


async def test_a_non_ascii_password_logs_in(cluster: Cluster) -> None:
    role, password = _role(), "Pässwörd ｆｕｌｌ\u00a0wïdth"
    await _grant(cluster, role, password)
    conn = await cluster.connect(role, password)
    await conn.close()


# --- what the role can do ---------------------------------------------------------------------

async def test_the_role_reads_the_public_views_and_nothing_else(cluster: Cluster) -> None:
    role, password = _role(), "s3cret-for-the-dashboard"
    notes = await _grant(cluster, role, password, dsn=cluster.su_indexer,
                         statement_timeout_s=0.5, connection_limit=2, lock_other_databases=True)
    try:
        assert any("CONNECT on database(s) postgres, template1 revoked" in n for n in notes)
        await _as_the_role(cluster, role, password)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="postgres"):
            await cluster.connect(role, password, database="postgres")
        owner = await asyncpg.connect(cluster.admin)  # the owner (a superuser) keeps it
        await owner.close()
    finally:
        await cluster.sql("GRANT CONNECT ON DATABASE postgres, template1 TO PUBLIC")


async def _as_the_role(cluster: Cluster, role: str, password: str) -> None:
    conn = await cluster.connect(role, password)
    try:
        for view in PUBLIC_VIEWS:
            await conn.fetch(f"SELECT * FROM {view} LIMIT 1")
        for internal in ("block", "pool_epoch_row", "meta", "pool_reward_effective"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"SELECT * FROM {internal} LIMIT 1")
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):  # the default
            await conn.execute("CREATE TEMP TABLE t (x int)")
        await conn.execute("SET default_transaction_read_only = off")  # a user can; still:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="temporary tables"):
            await conn.execute("CREATE TEMP TABLE t (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.t (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE SCHEMA s")
        with pytest.raises(asyncpg.QueryCanceledError, match="statement timeout"):
            await conn.fetchval("SELECT pg_sleep(3)")
        second = await cluster.connect(role, password)  # the limit is 2: this one is the last
        with pytest.raises(asyncpg.TooManyConnectionsError):
            await cluster.connect(role, password)
        await second.close()
    finally:
        await conn.close()


async def test_temp_stays_with_the_owner_and_other_databases_are_reported(cluster: Cluster
                                                                          ) -> None:
    await cluster.sql("GRANT TEMPORARY ON DATABASE indexer TO PUBLIC")  # PostgreSQL's default
    role = _role()
    notes = await _grant(cluster, role, "pw-pw-pw-pw")
    assert any(n.startswith("TEMPORARY on database indexer revoked from PUBLIC") for n in notes)
    assert any("can still connect to database(s) postgres, template1" in n for n in notes)
    conn = await asyncpg.connect(cluster.indexer)  # the owner, not a superuser
    try:
        await conn.execute("CREATE TEMP TABLE t (x int)")
    finally:
        await conn.close()
    conn = await cluster.connect(role, "pw-pw-pw-pw", database="postgres")  # not locked
    await conn.close()


async def test_create_on_schema_public_is_revoked_where_public_has_it(cluster: Cluster) -> None:
    """PostgreSQL 14 and older grant CREATE on schema public to PUBLIC."""
    await cluster.sql("GRANT CREATE ON SCHEMA public TO PUBLIC", cluster.indexer)
    role = _role()
    notes = await _grant(cluster, role, "pw-pw-pw-pw")
    assert any(n.startswith("CREATE on schema public revoked from PUBLIC") for n in notes)
    conn = await cluster.connect(role, "pw-pw-pw-pw")
    try:
        await conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.t (x int)")
    finally:
        await conn.close()
    await cluster.sql("CREATE TABLE public.owner_can (x int); DROP TABLE public.owner_can",
                      cluster.indexer)


async def test_what_cannot_be_revoked_rolls_everything_back(cluster: Cluster) -> None:
    role = _role()  # the owner of `indexer` cannot revoke CONNECT on the superuser's databases
    with pytest.raises(RoleRefused, match="could not revoke CONNECT on postgres, template1"):
        await _grant(cluster, role, "pw-pw-pw-pw", lock_other_databases=True)
    assert not await _exists(cluster, role)
    await cluster.sql("GRANT SELECT ON block TO PUBLIC", cluster.indexer)
    try:
        with pytest.raises(RoleRefused, match="internal relations block"):
            await _grant(cluster, role, "pw-pw-pw-pw")
        assert not await _exists(cluster, role)
    finally:
        await cluster.sql("REVOKE SELECT ON block FROM PUBLIC", cluster.indexer)


# --- existing roles ---------------------------------------------------------------------------

async def test_an_existing_role_needs_reset_and_reset_changes_the_password(cluster: Cluster
                                                                           ) -> None:
    role = _role()
    await _grant(cluster, role, "first-password")
    with pytest.raises(RoleRefused, match="exists already: pass --reset"):
        await _grant(cluster, role, "second-password")
    (await cluster.connect(role, "first-password")).terminate()
    await _grant(cluster, role, "second-password", reset=True)
    (await cluster.connect(role, "second-password")).terminate()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await cluster.connect(role, "first-password")
    await _grant(cluster, role, None, reset=True)  # no password: it keeps its own
    (await cluster.connect(role, "second-password")).terminate()


EXCESS = [
    ("ALTER ROLE {r} SUPERUSER", "is a superuser"),
    ("ALTER ROLE {r} CREATEDB", "CREATEDB"),
    ("ALTER ROLE {r} CREATEROLE", "CREATEROLE"),
    ("ALTER ROLE {r} REPLICATION", "REPLICATION"),
    ("ALTER ROLE {r} BYPASSRLS", "BYPASSRLS"),
    ("GRANT pg_read_all_data TO {r}", "member of role pg_read_all_data"),
    ("CREATE DATABASE {r}_db OWNER {r}", "owns database"),
    ("GRANT TEMPORARY ON DATABASE indexer TO {r}", "holds privileges on database indexer"),
]
EXCESS_HERE = [  # run in the indexer's database
    ("CREATE TABLE {r}_t (x int); ALTER TABLE {r}_t OWNER TO {r}", "owns table"),
    ("GRANT SELECT ON block TO {r}", "holds privileges on table block"),
    ("GRANT INSERT ON pool_epoch TO {r}", "holds privileges on view pool_epoch"),
    ("GRANT SELECT (slot) ON block TO {r}", "column slot of table block"),
    ("GRANT SELECT ON chain_tip TO {r} WITH GRANT OPTION", "view chain_tip"),
    ("GRANT CREATE ON SCHEMA public TO {r}", "schema public"),
    ("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {r}", "default privileges"),
]


@pytest.mark.parametrize(("statement", "reason"), EXCESS + EXCESS_HERE)
async def test_a_role_with_more_than_read_access_is_refused_even_with_reset(
        cluster: Cluster, statement: str, reason: str) -> None:
    role = _role()
    await _grant(cluster, role, "old-password")
    where = cluster.su_indexer if (statement, reason) in EXCESS_HERE else cluster.admin
    await cluster.sql(statement.format(r=role), where)
    with pytest.raises(RoleRefused, match=f"left alone: it .*{re.escape(reason)}"):
        await _grant(cluster, role, "new-password", dsn=cluster.su_indexer, reset=True)
    stored = await cluster.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
    assert isinstance(stored, str) and stored.startswith("SCRAM-SHA-256$")
    conn = await cluster.connect(role, "old-password")  # unchanged
    await conn.close()


async def test_privileges_in_another_database_are_refused(cluster: Cluster) -> None:
    role = _role()
    await _grant(cluster, role, "old-password")
    await cluster.sql(f"CREATE TABLE {role}_elsewhere (x int); "
                      f"GRANT SELECT ON {role}_elsewhere TO {role}")  # in `postgres`
    with pytest.raises(RoleRefused, match="holds privileges in database postgres"):
        await _grant(cluster, role, None, reset=True)


async def test_the_granting_role_and_the_owner_are_refused(cluster: Cluster) -> None:
    with pytest.raises(RoleRefused, match="runs this grant or owns the database"):
        await _grant(cluster, OWNER, "pw-pw-pw-pw", reset=True)
    with pytest.raises(RoleRefused, match="runs this grant or owns the database"):
        await _grant(cluster, OWNER, "pw-pw-pw-pw", dsn=cluster.su_indexer, reset=True)
    with pytest.raises(RoleRefused, match="left alone: it is a superuser"):
        await _grant(cluster, "postgres", "pw-pw-pw-pw", reset=True)
    with pytest.raises(RoleRefused, match="invalid role name"):
        await _grant(cluster, 'x"; DROP TABLE block; --', "pw-pw-pw-pw")
    with pytest.raises(RoleRefused, match="invalid role name"):
        await _grant(cluster, "pg_monitor", "pw-pw-pw-pw", reset=True)


def test_a_view_is_public_only_with_the_marker(tmp_path: Path) -> None:
    from indexer.db.roles import public_views

    sql = ("CREATE VIEW a AS SELECT 1;\nCOMMENT ON VIEW a IS 'Public view (x): y.';\n"
           "CREATE VIEW b AS SELECT 1;\nCOMMENT ON VIEW b IS 'Internal: Public view';\n"
           "CREATE VIEW c AS SELECT 1;\n")
    assert public_views(sql) == ("a",)


# --- the command line: the password never on it ------------------------------------------------

async def _cli(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None
               ) -> tuple[int, str]:
    import os
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer.cli", "db", "grant", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    return proc.returncode or 0, out.decode() + err.decode()


async def test_cli_takes_the_password_from_a_file_stdin_or_the_environment(
        cluster: Cluster, tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-a-file-123\n")  # `echo pw > file`: the newline is not the pw
    cases = [(["--password-file", str(secret_file)], b"", {}, "from-a-file-123"),
             (["--password-file", "-"], b"from-stdin-456\n", {}, "from-stdin-456"),
             ([], b"", {"INDEXER_ROLE_PASSWORD": "from-env-789"}, "from-env-789")]
    for args, stdin, env, password in cases:
        role = _role()
        code, text = await _cli("--dsn", cluster.indexer, "--role", role, *args, stdin=stdin,
                                env=env)
        assert code == 0, text
        assert f"role {role} may read the public views" in text and password not in text
        (await cluster.connect(role, password)).terminate()


async def test_cli_refuses_a_password_argument_and_two_sources(cluster: Cluster) -> None:
    role = _role()
    for dsn in (cluster.indexer, "postgresql://postgres@127.0.0.1:1/x"):  # before connecting
        code, text = await _cli("--dsn", dsn, "--role", role, "--password", "on-argv")
        assert code == 2 and "--password is refused" in text and "--password-file" in text
        assert "on-argv" not in text
    code, text = await _cli("--dsn", cluster.indexer, "--role", role, "--password-file", "-",
                            stdin=b"x\n", env={"INDEXER_ROLE_PASSWORD": "y"})
    assert code == 2 and "one way only" in text
    code, text = await _cli("--dsn", cluster.indexer, "--role", role, "--password-prompt")
    assert code == 2 and "needs a terminal" in text
    assert not await _exists(cluster, role)
    await _grant(cluster, role, "first-one")
    code, text = await _cli("--dsn", cluster.indexer, "--role", role,
                            env={"INDEXER_ROLE_PASSWORD": "second-one"})
    assert code == 2 and "exists already: pass --reset" in text
    code, text = await _cli("--dsn", cluster.indexer, "--role", role, "--reset",
                            env={"INDEXER_ROLE_PASSWORD": "second-one"})
    assert code == 0, text
    (await cluster.connect(role, "second-one")).terminate()


async def test_public_views_are_the_marked_ones_and_those_of_the_spec(dsn: str) -> None:
    """PUBLIC_VIEWS comes from schema.sql's markers; the database holds the same markers; and
    the views docs/spec.md §7 names are exactly the marked ones (a view added to the schema and
    the spec without its marker fails here)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') AS note FROM pg_class c "
            "WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace")
    finally:
        await conn.close()
    views = {r["relname"] for r in rows}
    marked = {r["relname"] for r in rows if (r["note"] or "").startswith("Public view")}
    assert marked == set(PUBLIC_VIEWS) and len(PUBLIC_VIEWS) >= 6
    spec = (Path(__file__).resolve().parent.parent / "docs" / "spec.md").read_text()
    section = spec.split("## 7.", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `(\w+)` \|", section, re.M)) | set(
        re.findall(r"^(?:- )?`(\w+)`, one row per", section, re.M))
    assert named & views == marked, "a view of docs/spec.md §7 lacks its 'Public view' marker"
