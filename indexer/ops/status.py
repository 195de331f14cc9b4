"""``indexer status [--json] [--max-lag-blocks N]``: where the database stands (tip, last
materialized epoch, last commit) and, from Ogmios' ``/health``, how far behind the node it is.

For cron and monitoring the exit status says it all (docs/spec.md §9, the product's own):

* ``0``: Ogmios answers, its node is connected, and the database is within ``N`` blocks of the
  node's tip (default ``N`` = ``k`` of the network, the distance within which the ledger's
  reward figures can still be captured);
* ``4``: Ogmios does not answer, or answers that it has no connection to its node;
* ``5``: further behind the node's tip than ``N`` blocks (or nothing indexed yet);
* ``1``: the database cannot be read (as for every command).
"""

from __future__ import annotations

import datetime as dt
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import Any

import httpx
import orjson

from indexer.config import Config
from indexer.db.dsn import mask
from indexer.db.store import Store
from indexer.sync.ogmios import client_ssl, fetch_health

EXIT_OK, EXIT_NODE_UNREACHABLE, EXIT_BEHIND = 0, 4, 5
DISTRIBUTION = "shared-pool-indexer"


def indexer_version() -> str:
    try:
        return dist_version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


async def _database(cfg: Config) -> dict[str, Any]:
    store = await Store.connect(cfg.database.dsn)
    try:
        tip = dict((await store.query("status"))[0])
        net = await store.get_meta("network") or {}
        statements = await _statement_lines(store)
    finally:
        await store.close()
    return {"tip": tip, "network": net, "statements": statements}


async def _node(url: str, ca_file: str | None) -> dict[str, Any]:
    try:
        status, body = await fetch_health(url, timeout_s=3.0,
                                          ssl_context=client_ssl(url, ca_file))
    except (OSError, TimeoutError, ValueError, httpx.HTTPError) as exc:
        return {"reachable": False, "error": type(exc).__name__, "url": mask(url)}
    tip = body.get("lastKnownTip")
    return {"reachable": True, "url": mask(url), "http_status": status,
            "connection_status": body.get("connectionStatus"),
            "network_synchronization": body.get("networkSynchronization"),
            "version": body.get("version"), "network": body.get("network"),
            "tip": tip if isinstance(tip, dict) else None}


async def status(cfg: Config, max_lag_blocks: int | None = None) -> dict[str, Any]:
    """The report (JSON-ready) with its ``exit_code``."""
    db = await _database(cfg)
    node = await _node(cfg.ogmios.url, cfg.ogmios.ca_file)
    tip, net = db["tip"], db["network"]
    threshold = max_lag_blocks if max_lag_blocks is not None else int(net.get("k") or 2160)
    updated: dt.datetime = tip["updated_at"]
    node_tip = node.get("tip")
    distance = None
    if node_tip is not None:
        distance = {"blocks": int(node_tip.get("height", 0)) - (tip["block_height"] or -1),
                    "slots": int(node_tip.get("slot", 0)) - (tip["slot"] or 0)}
    if not node["reachable"] or node.get("connection_status") != "connected":
        code, verdict = EXIT_NODE_UNREACHABLE, "Ogmios or its node is unreachable"
    elif distance is None or tip["slot"] is None or distance["blocks"] > threshold:
        code, verdict = EXIT_BEHIND, f"behind the node's tip by more than {threshold} blocks"
    else:
        code, verdict = EXIT_OK, f"within {threshold} blocks of the node's tip"
    return {
        "network": net.get("name"), "network_magic": net.get("magic"),
        "tip": {"slot": tip["slot"], "height": tip["block_height"], "id": tip["block_hash"],
                "epoch": tip["epoch_no"]},
        "updated_at": updated.isoformat(),
        "seconds_since_last_commit": int((dt.datetime.now(dt.UTC) - updated).total_seconds()),
        "blocks_stored": tip["blocks"],
        "last_materialized_epoch": tip["last_materialized_epoch"],
        "start_slot": tip["start_slot"], "balances_complete": tip["balances_complete"],
        "node": node, "distance_to_node_tip": distance, "max_lag_blocks": threshold,
        "verdict": verdict, "exit_code": code, "version": indexer_version(),
        "statements": db["statements"],  # settlement and pledge watch, one line each
    }


def render(report: dict[str, Any], as_json: bool = False) -> str:
    if as_json:
        return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
    tip, node, dist = report["tip"], report["node"], report["distance_to_node_tip"]
    if not node["reachable"]:
        node_line = f"unknown: Ogmios at {node['url']} does not answer ({node['error']})"
    elif dist is None:
        node_line = "unknown: the node has no tip yet"
    else:
        node_line = f"{dist['slots']} slots, {dist['blocks']} blocks behind the node"
    balances = {None: "complete (started at origin)", True: "complete (started inside Byron)",
                False: "INCOMPLETE (started after Byron: see docs/spec.md §9)"}
    lines = [
        f"network:                 {report['network'] or '?'} "
        f"(magic {report['network_magic'] or '?'})",
        f"tip slot:                {tip['slot']}",
        f"tip block:               {tip['height']} {tip['id'] or ''}",
        f"tip epoch:               {tip['epoch']}",
        f"last update:             {report['updated_at']}",
        f"lag behind wall clock:   {report['seconds_since_last_commit']} s since the last commit",
        f"blocks stored:           {report['blocks_stored']}",
        f"last materialized epoch: {report['last_materialized_epoch']}",
        f"balances:                {balances[report['balances_complete']]}",
        f"ogmios:                  {node.get('version') or '?'}, node "
        f"{node.get('connection_status') or 'unknown'}",
        f"distance to node tip:    {node_line}",
        f"verdict:                 {report['verdict']} (exit {report['exit_code']})",
    ]
    return "\n".join(lines + report["statements"])


async def _statement_lines(store: Store) -> list[str]:
    """Settlement and pledge watch per tracked pool (indexer/accounting/settlement.py)."""
    from indexer.accounting.settlement import settlement_lines

    return settlement_lines(await store.query("settlement_all"),
                            await store.query("pledge_watch_now"))
