"""`indexer status`: where the database stands (tip, lag, last materialized epoch) and, if
Ogmios answers, how far behind the node it is."""

from __future__ import annotations

import datetime as dt

import httpx

from indexer.config import Config
from indexer.db.store import Store
from indexer.sync.ogmios import fetch_health


async def status(cfg: Config) -> str:
    store = await Store.connect(cfg.database.dsn)
    try:
        tip = (await store.query("status"))[0]
        net = await store.get_meta("network") or {}
        statements = await _statement_lines(store)
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
    return "\n".join(lines + statements)


async def _statement_lines(store: Store) -> list[str]:
    """Settlement and pledge watch per tracked pool (indexer/accounting/settlement.py)."""
    from indexer.accounting.settlement import settlement_lines

    return settlement_lines(await store.query("settlement_all"),
                            await store.query("pledge_watch_now"))


async def _node_lag(cfg: Config, slot: int | None, height: int | None) -> str:
    """Distance to the node's tip, from Ogmios' /health (if it answers)."""
    try:
        _, health = await fetch_health(cfg.ogmios.url, timeout_s=3.0)
    except (OSError, TimeoutError, ValueError, httpx.HTTPError) as exc:
        return f"unknown: Ogmios at {cfg.ogmios.url} does not answer ({type(exc).__name__})"
    node = health.get("lastKnownTip")
    if not isinstance(node, dict):
        return "unknown: the node has no tip yet"
    blocks = node.get("height", 0) - (height or 0)
    return f"{node.get('slot', 0) - (slot or 0)} slots, {blocks} blocks behind the node"


def _lag(updated: dt.datetime) -> str:
    seconds = int((dt.datetime.now(dt.UTC) - updated).total_seconds())
    return f"{seconds} s since the last commit"


