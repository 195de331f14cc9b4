"""What crossing the epoch boundary B(x) does, in the ledger's order (docs/ledger.md §0):
reward update and MIR credits first, then the snapshot (our materialization of epoch x+1), then
POOLREAP (deposit refunds). Every row written here is tagged ``boundary_epoch = x`` so that a
rollback before B(x) removes exactly this work."""

from __future__ import annotations

import structlog

from indexer.accounting.fetched import resplit_fetched
from indexer.accounting.splits import resplit_imports
from indexer.db.store import StoreTx
from indexer.sync.network import NetworkInfo

log = structlog.get_logger("indexer.sync.boundary")

POINTERLESS_ERAS = frozenset({"conway", "dijkstra"})  # pointer addresses carry no stake there


async def cross(tx: StoreTx, x: int, net: NetworkInfo, *, era: str) -> None:
    await tx.run("settle_rewards", x)  # the reward update: rewards of epoch x-2 land at B(x)
    await tx.run("credit_mir", x)
    pools = list(net.pools) if net.pools is not None else None
    await tx.run("materialize_epoch", x + 1, x, pools, era not in POINTERLESS_ERAS,
                 net.share_accounts)
    await resplit_imports(tx, x + 1)
    await resplit_fetched(tx, x + 1)
    reaped = await tx.rows("reap_pools", x)
    if reaped:
        await tx.run("credit_pool_refunds", x, net.pool_deposit)
    log.debug("boundary.crossed", epoch=x, reaped=len(reaped))
