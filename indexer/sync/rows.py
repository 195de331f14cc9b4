"""Pure conversion of decoded blocks into the rows the store writes (no I/O).

``BatchRows.add_block`` is on the hot path: it appends plain tuples, ready for COPY, and does no
work for what the indexer does not keep (outputs without stake never reach it).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from indexer.chain.address import pool_bech32
from indexer.chain.address import stake_address as _stake_address
from indexer.chain.types import (
    Block,
    Cred,
    PoolRegistration,
    PoolRetirement,
    StakeDelegation,
    StakeDeregistration,
    StakeRegistration,
)
from indexer.sync import payouts

BLOCK_COLUMNS = ("slot", "height", "hash", "epoch_no", "era", "pool_hash", "tx_count")
UTXO_COLUMNS = ("tx_id", "idx", "cred", "ptr_slot", "ptr_tx", "ptr_cert", "lovelace", "slot")
STAKE_EVENT_COLUMNS = ("slot", "tx_index", "cert_index", "epoch_no", "cred", "kind", "pool_hash")
WITHDRAWAL_COLUMNS = ("slot", "tx_index", "tx_id", "epoch_no", "cred", "stake_address", "amount")
MIR_COLUMNS = ("slot", "tx_index", "seq", "epoch_no", "era", "cred", "stake_address", "amount")

KIND_REGISTRATION, KIND_DEREGISTRATION, KIND_DELEGATION = 0, 1, 2

_FIRST = operator.itemgetter(0)  # the tx_id of a utxo row

# bech32 in pure Python costs ~20 µs, and the same reward accounts withdraw again and again.
stake_address = functools.lru_cache(maxsize=1 << 14)(_stake_address)


@dataclass(frozen=True, slots=True)
class PoolCertRow:
    """A pool certificate waiting for its ``active_epoch_no`` (needs the pool's history)."""

    slot: int
    tx_index: int
    tx_id: bytes
    epoch_no: int
    cert: PoolRegistration | PoolRetirement


@dataclass(slots=True)
class BatchRows:
    network_id: int
    blocks: list[tuple[Any, ...]] = field(default_factory=list)
    utxos: list[tuple[Any, ...]] = field(default_factory=list)
    spend_ids: list[bytes] = field(default_factory=list)
    spend_idxs: list[int] = field(default_factory=list)
    spend_slots: list[int] = field(default_factory=list)
    stake_events: list[tuple[Any, ...]] = field(default_factory=list)
    pool_certs: list[PoolCertRow] = field(default_factory=list)
    withdrawals: list[tuple[Any, ...]] = field(default_factory=list)
    mirs: list[tuple[Any, ...]] = field(default_factory=list)
    # payouts (indexer/sync/payouts.py): the reward accounts seen so far (the writer's set,
    # shared), and the flows of the transactions that withdraw from one of them
    payers: set[Cred] = field(default_factory=set)
    payout_outputs: list[tuple[Any, ...]] = field(default_factory=list)
    payout_inputs: list[tuple[Any, ...]] = field(default_factory=list)

    def add_block(self, block: Block, epoch: int, *, keep_pointers: bool = True) -> None:
        """``keep_pointers`` false (blocks of Conway on): pointer outputs get no row, as no
        later snapshot counts them."""
        slot = block.slot
        self.blocks.append((slot, block.height, bytes.fromhex(block.id), epoch, block.era,
                            block.issuer, len(block.transactions)))
        utxos, ids, idxs, slots = self.utxos, self.spend_ids, self.spend_idxs, self.spend_slots
        for tx in block.transactions:
            txid = tx.id
            for out in tx.outputs:
                ptr = out.pointer
                if ptr is None:
                    utxos.append((txid, out.index, out.cred, None, None, None, out.lovelace, slot))
                elif keep_pointers:
                    utxos.append((txid, out.index, None, ptr.slot, ptr.tx_index, ptr.cert_index,
                                  out.lovelace, slot))
            for txin in tx.inputs:
                ids.append(txin.tx_id)
                idxs.append(txin.index)
                slots.append(slot)
            if tx.certificates or tx.withdrawals or tx.mir:
                self._add_events(block, epoch, tx.index, tx.id, tx)

    def sort_by_key(self) -> None:
        """Outputs in primary-key order (a stable sort by transaction id: a transaction's
        outputs are already in index order). At mainnet scale the ``utxo`` key (random
        transaction ids) far outgrows PostgreSQL's buffers; rows in key order touch each index
        page once per batch. (The spends are sorted by ``apply_spends`` itself.)"""
        self.utxos.sort(key=_FIRST)

    def _add_events(self, block: Block, epoch: int, tx_index: int, tx_id: bytes, tx: Any) -> None:
        slot, net = block.slot, self.network_id
        for cert in tx.certificates:
            if isinstance(cert, StakeRegistration):
                self.stake_events.append(
                    (slot, tx_index, cert.cert_index, epoch, cert.cred, KIND_REGISTRATION, None))
            elif isinstance(cert, StakeDeregistration):
                self.stake_events.append(
                    (slot, tx_index, cert.cert_index, epoch, cert.cred, KIND_DEREGISTRATION, None))
            elif isinstance(cert, StakeDelegation):
                self.stake_events.append(
                    (slot, tx_index, cert.cert_index, epoch, cert.cred, KIND_DELEGATION,
                     cert.pool))
            else:
                self.pool_certs.append(PoolCertRow(slot, tx_index, tx_id, epoch, cert))
                if isinstance(cert, PoolRegistration):
                    self.payers.add(cert.reward_account)
        for w in tx.withdrawals:
            self.withdrawals.append(
                (slot, tx_index, tx_id, epoch, w.cred, stake_address(w.cred, net), w.amount))
        if tx.withdrawals and not self.payers.isdisjoint([w.cred for w in tx.withdrawals]):
            payouts.add_flows(self.payout_outputs, self.payout_inputs, slot, epoch, tx)
        for seq, m in enumerate(tx.mir):
            self.mirs.append((slot, tx_index, seq, epoch, block.era, m.cred,
                              stake_address(m.cred, net), m.amount))


# --- pool certificates: when do parameters apply (docs/spec.md §3) ----------------------------


@dataclass(frozen=True, slots=True)
class PoolEvent:
    """What the pool's history needs to know of one earlier certificate."""

    epoch_no: int
    is_registration: bool
    retirement_epoch: int | None


def is_registered(history: Iterable[PoolEvent], epoch: int) -> bool:
    """Whether the pool is registered during ``epoch`` given its earlier certificates: it has
    a registration, and no retirement issued after the last registration took effect at a
    boundary B(R) with R <= epoch (a later retirement certificate replaces R)."""
    registered = False
    pending: int | None = None  # retirement epoch R announced since the last registration
    for ev in history:
        if pending is not None and pending <= ev.epoch_no:
            registered, pending = False, None  # reaped at B(R), before this certificate
        if ev.is_registration:
            registered, pending = True, None  # a re-registration cancels the retirement
        else:
            pending = ev.retirement_epoch
    if pending is not None and pending <= epoch:
        return False
    return registered


def active_epoch(history: list[PoolEvent], cert_epoch: int) -> int:
    """First epoch whose snapshot uses a registration made in ``cert_epoch``: +2 for a first
    registration, +3 for a re-registration (it becomes 'future params' until B(x+1))."""
    return cert_epoch + (3 if is_registered(history, cert_epoch) else 2)


def pool_cert_record(row: PoolCertRow, active: int | None, network_id: int) -> tuple[Any, ...]:
    c = row.cert
    head = (row.slot, row.tx_index, c.cert_index, row.tx_id, row.epoch_no, c.pool,
            pool_bech32(c.pool))
    if isinstance(c, PoolRetirement):
        return (*head, "retirement", None, None, None, None, None, None, None, None, None,
                None, None, None, None, int(c.retirement_epoch))
    return (*head, "registration", active, c.pledge, c.cost, c.margin.numerator,
            c.margin.denominator, c.reward_account, stake_address(c.reward_account, network_id),
            list(c.owners), [stake_address(o, network_id) for o in c.owners], c.vrf_key_hash,
            c.metadata_url, c.metadata_hash, c.relays_json.decode(), None)
