"""The simulated network: eras, slot/epoch/time arithmetic, era summaries and genesis.

Pure and deterministic. A network is a list of eras (``EraSpec``), each starting at an epoch
boundary; the first one starts at epoch 0 and slot 0. Byron is special only in its name: blocks
in a ``byron`` era are BFT blocks, every other era is a Praos era named after its ``EraSpec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Praos eras Ogmios knows (v6.14 schema; v7 adds dijkstra) and their protocol major version.
PROTOCOL_MAJOR = {
    "shelley": 2, "allegra": 3, "mary": 4, "alonzo": 6, "babbage": 8, "conway": 10,
    "dijkstra": 12,
}
ACTIVE_SLOTS_COEFF = (1, 20)


@dataclass(frozen=True)
class EraSpec:
    name: str  # byron, shelley, allegra, mary, alonzo, babbage, conway (dijkstra: v7 only)
    start_epoch: int
    epoch_length: int  # slots per epoch
    slot_length_ms: int


@dataclass(frozen=True)
class _EraBound:
    spec: EraSpec
    start_slot: int
    start_ms: int  # milliseconds since system start


def _default_eras() -> tuple[EraSpec, ...]:
    return (EraSpec("byron", 0, 100, 20000), EraSpec("shelley", 2, 200, 1000))


@dataclass(frozen=True)
class Network:
    name: str = "testnet"  # /health `network`
    network_id: int = 0  # 1 mainnet, 0 test networks (addresses)
    network_magic: int = 42
    system_start: str = "2026-01-01T00:00:00Z"
    k: int = 10  # securityParameter
    eras: tuple[EraSpec, ...] = field(default_factory=_default_eras)
    _bounds: tuple[_EraBound, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.eras or self.eras[0].start_epoch != 0:
            raise ValueError("the first era must start at epoch 0")
        bounds = [_EraBound(self.eras[0], 0, 0)]
        for spec in self.eras[1:]:
            prev = bounds[-1]
            n = spec.start_epoch - prev.spec.start_epoch
            if n <= 0:
                raise ValueError(f"era {spec.name} does not start after {prev.spec.name}")
            slots = n * prev.spec.epoch_length
            bounds.append(_EraBound(spec, prev.start_slot + slots,
                                    prev.start_ms + slots * prev.spec.slot_length_ms))
        object.__setattr__(self, "_bounds", tuple(bounds))

    @classmethod
    def two_era(cls, byron_epochs: int = 2, byron_len: int = 100, shelley_len: int = 200,
                k: int = 10, **kwargs: Any) -> Network:
        """Byron (20 s slots) for ``byron_epochs`` epochs, then Shelley (1 s slots)."""
        eras: tuple[EraSpec, ...] = (EraSpec("byron", 0, byron_len, 20000),
                EraSpec("shelley", byron_epochs, shelley_len, 1000))
        if byron_epochs == 0:
            eras = eras[1:]
        return cls(k=k, eras=eras, **kwargs)

    # --- arithmetic -----------------------------------------------------------------------

    def _bound_of_slot(self, slot: int) -> _EraBound:
        for b in reversed(self._bounds):
            if slot >= b.start_slot:
                return b
        raise ValueError(f"negative slot {slot}")

    def _bound_of_epoch(self, epoch: int) -> _EraBound:
        for b in reversed(self._bounds):
            if epoch >= b.spec.start_epoch:
                return b
        raise ValueError(f"negative epoch {epoch}")

    def epoch_of(self, slot: int) -> int:
        b = self._bound_of_slot(slot)
        return b.spec.start_epoch + (slot - b.start_slot) // b.spec.epoch_length

    def first_slot(self, epoch: int) -> int:
        b = self._bound_of_epoch(epoch)
        return b.start_slot + (epoch - b.spec.start_epoch) * b.spec.epoch_length

    def slot_in_epoch(self, slot: int) -> int:
        return slot - self.first_slot(self.epoch_of(slot))

    def era_of(self, slot: int) -> str:
        return self._bound_of_slot(slot).spec.name

    def era_of_epoch(self, epoch: int) -> str:
        return self._bound_of_epoch(epoch).spec.name

    def epoch_length(self, epoch: int) -> int:
        return self._bound_of_epoch(epoch).spec.epoch_length

    def relative_ms(self, slot: int) -> int:
        """Milliseconds from system start to the start of ``slot``."""
        b = self._bound_of_slot(slot)
        return b.start_ms + (slot - b.start_slot) * b.spec.slot_length_ms

    def start_datetime(self) -> datetime:
        return datetime.fromisoformat(self.system_start.replace("Z", "+00:00")).astimezone(UTC)

    def slot_datetime(self, slot: int) -> datetime:
        return self.start_datetime() + timedelta(milliseconds=self.relative_ms(slot))

    def safe_zone(self, spec: EraSpec) -> int:
        """Byron: 2k slots. Praos: 3k/f slots (the stability window)."""
        if spec.name == "byron":
            return 2 * self.k
        return 3 * self.k * ACTIVE_SLOTS_COEFF[1] // ACTIVE_SLOTS_COEFF[0]

    @property
    def first_praos_era(self) -> EraSpec | None:
        return next((e for e in self.eras if e.name != "byron"), None)

    # --- JSON -----------------------------------------------------------------------------

    def _bound_json(self, b: _EraBound, epoch: int) -> dict[str, Any]:
        slot = b.start_slot + (epoch - b.spec.start_epoch) * b.spec.epoch_length
        ms = b.start_ms + (slot - b.start_slot) * b.spec.slot_length_ms
        return {"time": {"seconds": ms // 1000}, "slot": slot, "epoch": epoch}

    def era_summaries_json(self, tip_slot: int | None) -> list[dict[str, Any]]:
        """``queryLedgerState/eraSummaries``: every era started by the forecast horizon (tip +
        safe zone, rounded up to the next epoch boundary); the last one ends at that horizon."""
        tip = tip_slot or 0
        tip_bound = self._bound_of_slot(tip)
        horizon_slot = tip + self.safe_zone(tip_bound.spec)
        bounds = self._bounds
        out: list[dict[str, Any]] = []
        for i, b in enumerate(bounds):
            nxt = bounds[i + 1] if i + 1 < len(bounds) else None
            if nxt is not None and nxt.start_slot <= horizon_slot:
                end_epoch = nxt.spec.start_epoch
            else:
                end_epoch = self.epoch_of(horizon_slot) + 1
                if nxt is not None:
                    end_epoch = min(end_epoch, nxt.spec.start_epoch)
            out.append({
                "start": self._bound_json(b, b.spec.start_epoch),
                "end": self._bound_json(b, end_epoch),
                "parameters": {
                    "epochLength": b.spec.epoch_length,
                    "slotLength": {"milliseconds": b.spec.slot_length_ms},
                    "safeZone": self.safe_zone(b.spec),
                },
            })
            if nxt is None or nxt.start_slot > horizon_slot:
                break
        return out

    def shelley_genesis_json(self) -> dict[str, Any]:
        """``queryNetwork/genesisConfiguration`` for era ``shelley`` (Genesis<Shelley>)."""
        praos = self.first_praos_era or EraSpec("shelley", 0, 432000, 1000)
        return {
            "era": "shelley",
            "startTime": self.system_start,
            "networkMagic": self.network_magic,
            "network": "mainnet" if self.network_id == 1 else "testnet",
            "activeSlotsCoefficient": f"{ACTIVE_SLOTS_COEFF[0]}/{ACTIVE_SLOTS_COEFF[1]}",
            "securityParameter": self.k,
            "epochLength": praos.epoch_length,
            "slotsPerKesPeriod": 129600,
            "maxKesEvolutions": 62,
            "slotLength": {"milliseconds": praos.slot_length_ms},
            "updateQuorum": 5,
            "maxLovelaceSupply": 45_000_000_000_000_000,
            "initialParameters": _initial_parameters(),
            "initialDelegates": [],
            "initialFunds": {},
            "initialStakePools": {"stakePools": {}, "delegators": {}},
        }


def _ada(n: int) -> dict[str, Any]:
    return {"ada": {"lovelace": n}}


def _initial_parameters() -> dict[str, Any]:
    return {
        "minFeeCoefficient": 44,
        "minFeeConstant": _ada(155381),
        "minUtxoDepositCoefficient": 0,
        "minUtxoDepositConstant": _ada(1_000_000),
        "maxBlockBodySize": {"bytes": 65536},
        "maxBlockHeaderSize": {"bytes": 1100},
        "maxTransactionSize": {"bytes": 16384},
        "stakeCredentialDeposit": _ada(2_000_000),
        "stakePoolDeposit": _ada(500_000_000),
        "stakePoolRetirementEpochBound": 18,
        "stakePoolPledgeInfluence": "3/10",
        "minStakePoolCost": _ada(340_000_000),
        "desiredNumberOfStakePools": 150,
        "federatedBlockProductionRatio": "0/1",
        "monetaryExpansion": "3/1000",
        "treasuryExpansion": "1/5",
        "extraEntropy": "neutral",
        "version": {"major": 2, "minor": 0},
    }
