"""Pledge watch (docs/spec.md §7 ``pledge_watch``): warn before the snapshot, not after the loss.

If the owners' delegated stake is below the pledge in a snapshot, the ledger pays the whole
pool nothing for that epoch. After commits, while the daemon is within reach of the tip, this
hook reads the ``pledge_watch`` view (at most every ``interval_s``), keeps the rows for the
metrics, and logs ``pledge.at_risk`` once per pool and epoch while a pool falls short.

Metrics (``series``, read by the metrics registry at each scrape), one series per tracked
pool, label ``pool_id`` (bech32):

* ``indexer_pledge_shortfall_lovelace``: what the owners' delegated stake lacks (0 = met);
* ``indexer_pledge_at_risk``: 1 while it lacks anything, else 0;
* ``indexer_pledge_seconds_to_snapshot``: seconds until the snapshot is taken (B(E+1)).

The Grafana alert rule (deploy/grafana/provisioning/alerting/pledge.yml) fires on the first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from indexer.db.store import DatabaseError, Store
from indexer.sync.state import SyncState

log = structlog.get_logger("indexer.sync.pledge")

GAUGES = (
    ("indexer_pledge_shortfall_lovelace", "shortfall",
     "Lovelace the owners' delegated stake lacks for the pledge of the next snapshot (0 = met)"),
    ("indexer_pledge_at_risk", "at_risk_value",
     "1 while the owners' delegated stake is below the pledge of the next snapshot"),
    ("indexer_pledge_seconds_to_snapshot", "seconds_to_snapshot",
     "Seconds until the next stake snapshot (the start of the next epoch)"),
)


@dataclass(frozen=True, slots=True)
class PledgeRow:
    """One ``pledge_watch`` row (lovelace as int)."""

    pool_id: str
    epoch_no: int
    pledge: int
    owners_utxo: int
    owners_rewards: int
    shortfall: int
    snapshot_slot: int
    seconds_to_snapshot: int | None
    at_risk: bool
    undelegated_owners: tuple[str, ...]

    @property
    def at_risk_value(self) -> int:
        return int(self.at_risk)


async def read_pledge_watch(store: Store) -> list[PledgeRow]:
    return [PledgeRow(r["pool_id"], r["epoch_no"], int(r["pledge_lovelace"]),
                      r["owners_delegated_balance_lovelace"], r["owners_reward_balance_lovelace"],
                      int(r["shortfall_lovelace"]), r["snapshot_slot"], r["seconds_to_snapshot"],
                      r["at_risk"], tuple(r["undelegated_owners"]))
            for r in await store.query("pledge_watch_now")]


class PledgeWatch:
    """The writer's after-commit hook (see the module docstring)."""

    def __init__(self, store: Store, state: SyncState, *, live_distance: int,
                 interval_s: float = 60.0) -> None:
        self.store, self.state = store, state
        self.live_distance, self.interval_s = live_distance, interval_s
        self.rows: list[PledgeRow] = []
        self._warned: set[tuple[str, int]] = set()
        self._due = 0.0
        self._failures = 0

    async def on_commit(self) -> None:
        lag = self.state.lag_blocks()
        if lag is None or lag > self.live_distance or time.monotonic() < self._due:
            return
        self._due = time.monotonic() + self.interval_s
        try:
            self.rows = await read_pledge_watch(self.store)
        except DatabaseError as exc:  # the writer meets a lost database itself; never stop here
            self._failures += 1
            (log.warning if self._failures == 1 else log.debug)(
                "pledge.check_failed", error=str(exc), failures=self._failures)
            return
        self._failures = 0
        for row in self.rows:
            if row.at_risk and (row.pool_id, row.epoch_no) not in self._warned:
                self._warned.add((row.pool_id, row.epoch_no))
                log.warning("pledge.at_risk", pool_id=row.pool_id, epoch=row.epoch_no,
                            pledge_lovelace=row.pledge, owners_utxo_lovelace=row.owners_utxo,
                            owners_rewards_lovelace=row.owners_rewards,
                            shortfall_lovelace=row.shortfall, snapshot_slot=row.snapshot_slot,
                            seconds_to_snapshot=row.seconds_to_snapshot,
                            undelegated_owners=list(row.undelegated_owners))

    def gauges(self) -> list[tuple[str, str, dict[str, str], int]]:
        """(name, help, labels, value) per gauge and pool, from the last check."""
        return [(name, help_text, {"pool_id": row.pool_id}, value)
                for name, attr, help_text in GAUGES for row in self.rows
                if (value := getattr(row, attr)) is not None]

    def series(self, name: str) -> list[tuple[tuple[str], float]]:
        """The samples of gauge ``name`` from the last check: ((pool_id,), value) per pool,
        as the metrics registry reads them at scrape time."""
        return [((labels["pool_id"],), float(v)) for n, _, labels, v in self.gauges()
                if n == name]
