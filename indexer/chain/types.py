"""The pure domain model: what the decoder produces and the store consumes.

Everything here is immutable. Money is integer lovelace. Hashes are raw ``bytes``; bech32 strings
are made at the edges (``indexer.chain.address``). Hot-path records (``TxIn``, ``TxOut``,
``Tx``) are ``NamedTuple``s: immutable, cheap to build and directly usable as COPY rows.

A stake credential (``Cred``) is 29 bytes: one tag byte (``0`` key hash, ``1`` script hash)
followed by the 28-byte hash. The tag is needed to print ``stake1u…`` vs ``stake17…`` and because
the ledger keeps key and script credentials with the same hash apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple, NewType

Slot = NewType("Slot", int)
EpochNo = NewType("EpochNo", int)
BlockHeight = NewType("BlockHeight", int)
Cred = NewType("Cred", bytes)  # 29 bytes: tag (0 key / 1 script) + blake2b-224 hash
PoolHash = NewType("PoolHash", bytes)  # 28 bytes: blake2b-224 of the cold verification key

CRED_KEY = 0
CRED_SCRIPT = 1


@dataclass(frozen=True, slots=True)
class Point:
    """A chain point. The origin is represented by ``None`` wherever a point is optional."""

    slot: Slot
    id: str  # 64-hex block header hash


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where the indexer stands: its last applied block (every field None: the origin)."""

    slot: int | None = None
    block_id: str | None = None  # 64-hex
    height: int | None = None
    epoch: int | None = None

    @property
    def point(self) -> Point | None:
        if self.slot is None or self.block_id is None:
            return None
        return Point(Slot(self.slot), self.block_id)


@dataclass(frozen=True, slots=True)
class Tip:
    slot: Slot
    id: str
    height: BlockHeight


class Pointer(NamedTuple):
    """A pointer address's stake reference: (slot, transaction index, certificate index)."""

    slot: int
    tx_index: int
    cert_index: int


class TxIn(NamedTuple):
    tx_id: bytes  # 32 bytes
    index: int  # type: ignore[assignment]  # shadows tuple.index, harmless here


class TxOut(NamedTuple):
    """A produced output that carries stake: a base address (``cred``) or a pointer address
    (``pointer``, already normalised as the ledger does). Outputs without stake (enterprise,
    Byron) are not produced at all, but the decoder still checks their lovelace."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, harmless here
    cred: Cred | None
    pointer: Pointer | None
    lovelace: int


# --- certificates --------------------------------------------------------------------------
# ``cert_index`` is the certificate's position in the transaction's ``certificates`` list as
# Ogmios sends it (docs/spec.md §7), not the on-chain index (MIR removed, Conway combined certs
# split).


@dataclass(frozen=True, slots=True)
class StakeRegistration:
    cert_index: int
    cred: Cred


@dataclass(frozen=True, slots=True)
class StakeDeregistration:
    cert_index: int
    cred: Cred


@dataclass(frozen=True, slots=True)
class StakeDelegation:
    """Delegation to a pool. Conway vote-only delegations (no ``stakePool``) are not emitted."""

    cert_index: int
    cred: Cred
    pool: PoolHash


@dataclass(frozen=True, slots=True)
class PoolRegistration:
    cert_index: int
    pool: PoolHash
    vrf_key_hash: str
    pledge: int
    cost: int
    margin: Fraction
    reward_account: Cred
    owners: tuple[Cred, ...]  # owners are key hashes: tag 0
    metadata_url: str | None
    metadata_hash: str | None
    relays_json: bytes  # the relays list, re-serialised as JSON (stored as jsonb)


@dataclass(frozen=True, slots=True)
class PoolRetirement:
    cert_index: int
    pool: PoolHash
    retirement_epoch: EpochNo


Certificate = (
    StakeRegistration | StakeDeregistration | StakeDelegation | PoolRegistration | PoolRetirement
)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    cred: Cred
    amount: int


@dataclass(frozen=True, slots=True)
class MirTransfer:
    """A pre-Conway MIR to an account, carried by Ogmios as a ``treasuryWithdrawals`` proposal
    keyed by a bare hex credential. Ogmios drops the key/script flag; we read it as a key hash."""

    cred: Cred
    amount: int  # a delta: may be negative from Alonzo on


@dataclass(frozen=True, slots=True)
class TreasuryWithdrawalProposal:
    """A Conway governance proposal to pay from the treasury (bech32-keyed). Only a proposal:
    it is credited only if enacted, which chain-sync does not show."""

    proposal_index: int
    cred: Cred
    amount: int


class Tx(NamedTuple):
    """A transaction as it affects the ledger. For a phase-2-invalid transaction the decoder has
    already applied the rule: ``inputs`` are the collaterals, ``outputs`` the collateral return
    (if staked), and certificates, withdrawals and proposals are empty.

    A ``NamedTuple`` like ``TxIn`` and ``TxOut``: built by ``tuple.__new__`` instead of a
    frozen dataclass's ``__init__``, and cheaper for the collector to traverse while a decoded
    batch waits for its commit (README "Measured": +5%)."""

    id: bytes  # 32 bytes
    index: int  # type: ignore[assignment]  # position in the block; shadows tuple.index
    valid: bool
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    certificates: tuple[Certificate, ...] = ()
    withdrawals: tuple[Withdrawal, ...] = ()
    mir: tuple[MirTransfer, ...] = ()
    treasury_withdrawals: tuple[TreasuryWithdrawalProposal, ...] = ()


@dataclass(frozen=True, slots=True)
class Block:
    era: str  # byron, shelley, allegra, mary, alonzo, babbage, conway, dijkstra
    id: str  # 64-hex header hash
    ancestor: str  # the previous block's 64-hex id, or "genesis" (first block of a Praos chain)
    height: BlockHeight
    slot: Slot
    issuer: PoolHash | None  # blake2b-224 of issuer.verificationKey; None for Byron blocks
    transactions: tuple[Tx, ...]

    @property
    def point(self) -> Point:
        return Point(self.slot, self.id)


@dataclass(frozen=True, slots=True)
class EpochBoundary:
    """A Byron epoch-boundary block (EBB): no slot and no content, but it is a link of the chain:
    the next block's ``ancestor`` is this ``id``."""

    id: str  # 64-hex header hash
    ancestor: str  # 64-hex id of the previous block (for the first EBB: the genesis hash)


@dataclass(frozen=True, slots=True)
class RollForward:
    block: Block | None  # None for a Byron epoch-boundary block (no slot, no content) ...
    tip: Tip | None
    ebb: EpochBoundary | None = None  # ... which is then described here


@dataclass(frozen=True, slots=True)
class RollBackward:
    point: Point | None  # None = origin
    tip: Tip | None


ChainEvent = RollForward | RollBackward


class DecodeError(Exception):
    """A malformed known shape. Names the block, the slot and the field."""

    def __init__(self, message: str, *, block_id: str | None = None, slot: int | None = None,
                 field: str | None = None) -> None:
        self.block_id = block_id
        self.slot = slot
        self.field = field
        where = f" (block {block_id}, slot {slot}, field {field})"
        super().__init__(message + where)
