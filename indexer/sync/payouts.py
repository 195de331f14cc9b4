"""Payouts on chain (docs/spec.md §7 ``owner_payout``): what the writer keeps of a transaction
that withdraws from a pool's reward account.

Such a transaction is the usual "withdraw and distribute": the reward account's holder pays
the owners their part. The writer keeps, for it alone, every staked output it produces (+) and
every staked output it spends (-), in ``payout_flow``, tagged by slot like every chain row; the
view ``owner_payout`` nets them per owner credential. Withdrawals are rare, so the hot path only
pays a set lookup per withdrawal:

* ``BatchRows`` calls ``add_flows`` for a transaction that withdraws from a credential of
  ``payers``: the reward accounts of every pool registration seen so far (a superset is
  harmless: ``record`` keeps only transactions whose withdrawal the stored certificates make a
  tracked pool's reward account's, so the result does not depend on batching, restarts or
  rollbacks; like the materialized epochs, a pool added to ``[indexer] pools`` later has its
  payouts from then on);
* the writer calls ``record`` once per flush, after the batch's outputs and pool certificates
  are stored (the spent outputs are looked up in ``utxo``).

What it needs from a decoded transaction: ``id``, ``index``, ``withdrawals[].cred``, ``outputs``
(``index``, ``cred``, ``pointer``, ``lovelace``: staked outputs only) and ``inputs`` (``tx_id``,
``index``); from a block its ``slot``; and ``PoolRegistration.reward_account``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from indexer.chain.types import Tx

if TYPE_CHECKING:
    from indexer.db.store import StoreTx

Row = tuple[Any, ...]


def add_flows(outputs: list[Row], inputs: list[Row], slot: int, epoch: int, tx: Tx) -> None:
    """Append the transaction's staked outputs and its inputs (resolved by ``record``)."""
    for out in tx.outputs:
        ptr = out.pointer
        outputs.append((slot, tx.index, tx.id, epoch, out.index, out.cred,
                        None if ptr is None else ptr.slot, None if ptr is None else ptr.tx_index,
                        None if ptr is None else ptr.cert_index, out.lovelace))
    for txin in tx.inputs:
        inputs.append((slot, tx.index, tx.id, epoch, txin.tx_id, txin.index))


async def record(tx: StoreTx, outputs: list[Row], inputs: list[Row],
                 pools: Sequence[bytes] | None) -> None:
    """Store the flows of the candidates that withdraw from the reward account of a pool
    registered before them, of ``pools`` (the tracked ones; None: all), in one statement."""
    if not outputs and not inputs:
        return
    out_cols = [list(c) for c in zip(*outputs, strict=True)] if outputs else [[]] * 10
    in_cols = [list(c) for c in zip(*inputs, strict=True)] if inputs else [[]] * 6
    await tx.run("record_payout_flows", *out_cols, *in_cols,
                 None if pools is None else list(pools))
