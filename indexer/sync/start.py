"""Where an empty database starts following the chain (``[indexer] start``, docs/spec.md §9).

Balances are sums over the UTxO (docs/spec.md §4), so a database that starts after origin
misses every output created before its start and still unspent, and every delegation and
pool certificate before it too: balances, shares, ``delegated_to_pool``, the chain estimate of
``pledge_met`` and the stake split would be wrong, for every later epoch, not only the first.

* Byron had no stake: no staked output, delegation or pool certificate exists before the first
  Shelley slot. A start inside Byron (mainnet's last Byron block, slot 4492799; preprod's, slot
  84242) therefore loses nothing: accepted, balances complete.
* A start at or after the end of Byron is refused unless ``accept_incomplete_balances = true``;
  then it is recorded with ``balances_complete = false``, which ``pool_epoch`` and
  ``pool_owner_epoch`` show on every row, so that no wrong balance passes for a right one.

The Byron era is the first era summary when its slots last 20 s (every Cardano network that has
one; preview's lasts zero slots). The record is written once, on an empty database, before the
first block; a database that already has a cursor resumes from it and ignores ``start``.
"""

from __future__ import annotations

import structlog

from indexer.chain.epochs import EpochCalendar
from indexer.chain.types import Checkpoint
from indexer.config import Config, ConfigError
from indexer.db.store import Store

log = structlog.get_logger("indexer.sync.start")

BYRON_SLOT_MS = 20_000


def byron_end_slot(calendar: EpochCalendar) -> int:
    """The first slot after Byron (0 when the network has no Byron era)."""
    first = calendar.summaries[0]
    if first.slot_length_ms != BYRON_SLOT_MS or first.end_slot is None:
        return 0
    return first.end_slot


def start_is_complete(slot: int, calendar: EpochCalendar) -> bool:
    return slot < byron_end_slot(calendar)


async def record_start(store: Store, cfg: Config, cursor: Checkpoint,
                       calendar: EpochCalendar) -> None:
    """Check ``[indexer] start`` against the policy above and record it (empty database)."""
    start = cfg.indexer.start
    if cursor.slot is not None or start is None:
        return
    complete = start_is_complete(start.slot, calendar)
    if not complete and not cfg.indexer.accept_incomplete_balances:
        raise ConfigError(
            f"[indexer] start = {{ slot = {start.slot}, id = \"{start.id}\" }} lies after the "
            f"Byron era (which ends before slot {byron_end_slot(calendar)}): the outputs, "
            "delegations and pool certificates before it would be unknown, so every balance, "
            "share and delegation flag would be wrong. Start from \"origin\" or from a point "
            "inside Byron (deploy/README.md lists each network's last Byron block), or set "
            "[indexer] accept_incomplete_balances = true to index anyway, with "
            "balances_complete = false on every pool_epoch and pool_owner_epoch row.")
    await store.query("set_chain_start", start.slot, bytes.fromhex(start.id), complete)
    log.info("start.recorded", slot=start.slot, block_id=start.id, balances_complete=complete)
