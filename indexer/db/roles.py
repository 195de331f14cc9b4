"""Database roles: the read-only role for dashboards, which sees the public views only."""

from __future__ import annotations

from indexer.db.store import Store

# docs/spec.md §7: the product's API. Everything else in the schema is internal.
PUBLIC_VIEWS = ("chain_tip", "pool_certificate", "withdrawal", "reward_event", "pool_epoch",
                "pool_owner_epoch", "pledge_watch", "owner_payout", "owner_settlement")


async def grant_readonly(store: Store, role: str, password: str | None) -> None:
    """A role that can read the public views and nothing else (for dashboards)."""
    if not role.replace("_", "").isalnum():
        raise ValueError(f"invalid role name {role!r}")
    exists = await store.query("role_exists", role)
    if not exists:
        login = "LOGIN" if password else "NOLOGIN"
        await store.execute(f'CREATE ROLE "{role}" {login}')
    if password:
        escaped = password.replace("'", "''")
        await store.execute(f"ALTER ROLE \"{role}\" LOGIN PASSWORD '{escaped}'")
    await store.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
    await store.execute(f'GRANT SELECT ON {", ".join(PUBLIC_VIEWS)} TO "{role}"')
