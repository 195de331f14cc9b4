"""Settlement: payouts recorded by hand (``indexer payout add``, docs/spec.md §9) and the
``owner_settlement`` / ``pledge_watch`` lines of ``indexer status``.

A recorded payout is the operator's word for a transfer the chain cannot show (another wallet,
fiat, an exchange). It is refused unless the stake address is an account of the pool, and when
the chain already shows that very transfer (same pool, address and transaction), which would
count it twice; if the chain shows it only later, the view ``owner_payout`` keeps the chain's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from indexer.chain.address import AddressError, cred_from_stake_address, pool_hash_from_bech32
from indexer.db.store import Store

__all__ = ["PayoutError", "record_payout", "settlement_lines"]

_TX_ID = re.compile(r"[0-9a-fA-F]{64}")
_MAX = 2**63 - 1
STATUS_POOLS = 10  # pools listed by `indexer status`; more are summed up


class PayoutError(ValueError):
    """A payout that cannot be recorded (what is wrong is in the message)."""


def _check(pool_id: str, stake_address: str, amount: int, tx_id: str | None) -> None:
    try:
        pool_hash_from_bech32(pool_id, checked=True)
    except (AddressError, ValueError) as exc:
        raise PayoutError(f"--pool {pool_id!r}: {exc}") from exc
    try:
        cred_from_stake_address(stake_address, checked=True)
    except (AddressError, ValueError) as exc:
        raise PayoutError(f"--stake-address {stake_address!r}: {exc}") from exc
    if not 0 < amount <= _MAX:
        raise PayoutError(f"--amount-lovelace must be a positive integer, not {amount}")
    if tx_id is not None and not _TX_ID.fullmatch(tx_id):
        raise PayoutError(f"--tx {tx_id!r}: a transaction id is 64 hex digits")


async def record_payout(store: Store, pool_id: str, stake_address: str, amount: int,
                        tx_id: str | None = None, note: str | None = None) -> dict[str, Any]:
    """Record a payout (``owner_payout.kind = 'recorded'``); returns the stored row."""
    pool_id, stake_address = pool_id.lower(), stake_address.lower()
    _check(pool_id, stake_address, amount, tx_id)
    if not await store.query("pool_account_known", pool_id, stake_address):
        raise PayoutError(f"{stake_address} is not an account of pool {pool_id} in any "
                          "materialized epoch (see the view pool_owner_epoch)")
    if tx_id is not None and await store.query("chain_payout_of_tx", pool_id, stake_address,
                                               tx_id.lower()):
        raise PayoutError(f"the chain already shows this payout (transaction {tx_id.lower()}):"
                          " see the view owner_payout")
    rows = await store.query("insert_recorded_payout", pool_id, stake_address,
                             bytes.fromhex(tx_id) if tx_id else None, amount, note)
    return dict(rows[0])


def _ada(lovelace: int) -> str:
    whole, frac = divmod(abs(int(lovelace)), 1_000_000)
    return f"{'-' if lovelace < 0 else ''}{whole:,}.{frac:06d} ADA"


def settlement_lines(settlement: Sequence[Any], pledge: Sequence[Any]) -> list[str]:
    """`indexer status` lines: per tracked pool, the settlement totals (``owner_settlement``)
    and the pledge watch (``pledge_watch``), the first ``STATUS_POOLS`` pools by id."""
    pools: dict[str, dict[str, int]] = {}
    for r in settlement:
        p = pools.setdefault(r["pool_id"], {"owed": 0, "paid": 0, "to_transfer": 0})
        p["owed"] += r["owed_lovelace"]
        p["paid"] += r["paid_lovelace"]
        p["to_transfer"] += r["to_transfer_lovelace"]
    watch = {r["pool_id"]: r for r in pledge}
    ids = sorted(set(pools) | set(watch))
    lines = []
    for pool_id in ids[:STATUS_POOLS]:
        lines.append(f"pool {pool_id}:")
        if pool_id in pools:
            p = pools[pool_id]
            lines.append(f"  settlement:            owed {_ada(p['owed'])}, paid "
                         f"{_ada(p['paid'])}, still to transfer {_ada(p['to_transfer'])}")
        if pool_id in watch:
            w = watch[pool_id]
            state = (f"SHORT by {_ada(w['shortfall_lovelace'])}" if w["at_risk"]
                     else "met")
            left = w["seconds_to_snapshot"]
            when = ("" if left is None else f", in {left:,} s" if left >= 0
                    else f", due {-left:,} s ago by the wall clock")
            lines.append(f"  pledge, next snapshot: {state} (pledge "
                         f"{_ada(w['pledge_lovelace'])}; snapshot after slot "
                         f"{w['snapshot_slot']}{when})")
    if len(ids) > STATUS_POOLS:
        at_risk = sum(1 for r in pledge if r["at_risk"])
        lines.append(f"… and {len(ids) - STATUS_POOLS} more pools ({at_risk} in all with the "
                     "pledge at risk): see the views owner_settlement and pledge_watch")
    return lines
