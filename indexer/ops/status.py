"""The operator-facing commands that read or feed the database: status, reward imports,
exports and the read-only role. They use only the store (no Ogmios)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from indexer.accounting.export import to_adastry_multiowner, to_csv, to_json
from indexer.accounting.importer import ImportedReward, parse_rewards_csv
from indexer.accounting.splits import write_split
from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.config import Config
from indexer.db.store import Store
from indexer.sync.ogmios import fetch_health

PUBLIC_VIEWS = ("chain_tip", "pool_certificate", "withdrawal", "reward_event", "pool_epoch",
                "pool_owner_epoch")


async def status(cfg: Config) -> str:
    store = await Store.connect(cfg.database.dsn)
    try:
        tip = (await store.query("status"))[0]
        net = await store.get_meta("network") or {}
    finally:
        await store.close()
    lag = await _node_lag(cfg, tip["slot"], tip["block_height"])
    lines = [
        f"network:                 {net.get('name', '?')} (magic {net.get('magic', '?')})",
        f"tip slot:                {tip['slot']}",
        f"tip block:               {tip['block_height']} {tip['block_hash'] or ''}",
        f"tip epoch:               {tip['epoch_no']}",
        f"last update:             {tip['updated_at']:%Y-%m-%d %H:%M:%S %Z}",
        f"lag behind wall clock:   {_lag(tip['updated_at'])}",
        f"blocks stored:           {tip['blocks']}",
        f"last materialized epoch: {tip['last_materialized_epoch']}",
        f"distance to node tip:    {lag}",
    ]
    return "\n".join(lines)


async def _node_lag(cfg: Config, slot: int | None, height: int | None) -> str:
    """Distance to the node's tip, from Ogmios' /health (if it answers)."""
    try:
        _, health = await fetch_health(cfg.ogmios.url, timeout_s=3.0)
    except (OSError, TimeoutError, ValueError) as exc:
        return f"unknown: Ogmios at {cfg.ogmios.url} does not answer ({type(exc).__name__})"
    node = health.get("lastKnownTip")
    if not isinstance(node, dict):
        return "unknown: the node has no tip yet"
    blocks = node.get("height", 0) - (height or 0)
    return f"{node.get('slot', 0) - (slot or 0)} slots, {blocks} blocks behind the node"


def _lag(updated: dt.datetime) -> str:
    seconds = int((dt.datetime.now(dt.UTC) - updated).total_seconds())
    return f"{seconds} s since the last commit"


async def import_rewards(store: Store, items: tuple[ImportedReward, ...]) -> int:
    """Record imported figures and recompute those epochs' splits (status `imported`). Epochs
    whose B(e+2) has already passed get their `leader` credit from the import too (the
    credit is derived from the effective figures)."""
    async with store.transaction() as tx:
        for item in items:
            await tx.run("delete_pool_reward", item.pool_id, item.epoch, "import")
            rows = await tx.rows("pools_of_epoch", item.epoch, [item.pool_id])
            figures = (item.total_rewards, item.leader_reward, item.blocks_made,
                       item.owners_stake)
            if rows:
                await write_split(tx, -1, rows[0], item.epoch, "import", figures)
            else:
                await tx.run("insert_pool_reward", -1, item.pool_id, item.epoch,
                             item.total_rewards, item.leader_reward, item.blocks_made,
                             item.owners_stake, "import", None, None)
    return len(items)


async def import_rewards_file(cfg: Config, path: str) -> int:
    items = parse_rewards_csv(Path(path).read_text())
    store = await Store.connect(cfg.database.dsn)
    try:
        return await import_rewards(store, items)
    finally:
        await store.close()


async def export_rows(store: Store, pool_id: str, from_epoch: int | None,
                      to_epoch: int | None) -> list[dict[str, Any]]:
    summaries = await store.get_meta("era_summaries")
    net = await store.get_meta("network") or {}
    calendar = EpochCalendar(parse_era_summaries(summaries)) if summaries else None
    start = _parse_time(net.get("system_start"))
    rows = await store.query("export_owner_rows", pool_id, from_epoch, to_epoch)
    out = []
    for r in rows:
        row = dict(r)
        if calendar is not None and start is not None:
            row["epoch_start"] = start + dt.timedelta(
                seconds=calendar.epoch_start_time(row["spendable_epoch"]))
        out.append(row)
    return out


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


FORMATTERS = {"csv": to_csv, "json": to_json, "adastry-multiowner": to_adastry_multiowner}


async def export(cfg: Config, pool_id: str, fmt: str, from_epoch: int | None,
                 to_epoch: int | None) -> str:
    store = await Store.connect(cfg.database.dsn)
    try:
        rows = await export_rows(store, pool_id, from_epoch, to_epoch)
    finally:
        await store.close()
    return FORMATTERS[fmt](rows)


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
