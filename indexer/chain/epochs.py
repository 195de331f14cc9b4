"""Slot / epoch / time arithmetic from Ogmios ``queryLedgerState/eraSummaries`` (pure).

Nothing network-specific is built in: every number comes from the summaries (docs/spec.md §2).
Each era has a fixed epoch length and slot length, eras meet at epoch boundaries, and within an era

    epoch(s)  = start_epoch + (s - start_slot) // epoch_length
    first(e)  = start_slot + (e - start_epoch) * epoch_length
    time(s)   = start_time + (s - start_slot) * slot_length

(docs/ledger.md §11). The ``end`` of the last era is only the node's forecast horizon (the safe zone
past its tip), not the end of the chain, so slots beyond it are extrapolated with the last era's
parameters; callers that care refresh the summaries once the chain passes ``horizon_slot``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from indexer.chain.types import EpochNo, Slot

__all__ = ["EpochCalendar", "EraSummary", "EraSummaryError", "parse_era_summaries"]


class EraSummaryError(ValueError):
    """Era summaries that are malformed or do not fit together."""


@dataclass(frozen=True, slots=True)
class EraSummary:
    start_slot: int
    start_epoch: int
    start_time_s: int  # seconds since the network's system start
    end_slot: int | None
    end_epoch: int | None
    epoch_length: int  # slots
    slot_length_ms: int


def _int(value: Any, path: str, *, minimum: int | None = 0) -> int:
    if type(value) is not int or (minimum is not None and value < minimum):
        raise EraSummaryError(f"{path}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _obj(value: Any, path: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise EraSummaryError(f"{path}: expected an object, got {value!r}")
    return value


def _slot_length_ms(value: Any, path: str) -> int:
    length = _obj(value, path)
    if "milliseconds" in length:
        return _int(length["milliseconds"], f"{path}.milliseconds", minimum=1)
    # Not in any v6/v7 schema; accepted in case an older server spells it in seconds.
    return 1000 * _int(length.get("seconds"), f"{path}.seconds", minimum=1)


def _parse_one(item: Any, path: str) -> EraSummary:
    item = _obj(item, path)
    start = _obj(item.get("start"), f"{path}.start")
    params = _obj(item.get("parameters"), f"{path}.parameters")
    end = item.get("end")
    end_slot = end_epoch = None
    if end is not None:
        end = _obj(end, f"{path}.end")
        end_slot = _int(end.get("slot"), f"{path}.end.slot")
        end_epoch = _int(end.get("epoch"), f"{path}.end.epoch")
    return EraSummary(
        start_slot=_int(start.get("slot"), f"{path}.start.slot"),
        start_epoch=_int(start.get("epoch"), f"{path}.start.epoch"),
        # RelativeTime has no lower bound in the schema; real networks never go below 0.
        start_time_s=_int(_obj(start.get("time"), f"{path}.start.time").get("seconds"),
                          f"{path}.start.time.seconds", minimum=None),
        end_slot=end_slot,
        end_epoch=end_epoch,
        epoch_length=_int(params.get("epochLength"), f"{path}.parameters.epochLength",
                          minimum=1),
        slot_length_ms=_slot_length_ms(params.get("slotLength"),
                                       f"{path}.parameters.slotLength"),
    )


def parse_era_summaries(result: list[Any]) -> tuple[EraSummary, ...]:
    """The ``result`` of ``queryLedgerState/eraSummaries`` -> summaries, in the given order.
    Checks shapes only; ``EpochCalendar`` checks that the eras fit together."""
    if type(result) is not list:
        raise EraSummaryError(f"era summaries: expected a list, got {result!r}")
    return tuple(_parse_one(item, f"[{i}]") for i, item in enumerate(result))


def _check(summaries: tuple[EraSummary, ...]) -> None:
    if not summaries:
        raise EraSummaryError("no era summaries")
    for i, era in enumerate(summaries):
        if era.end_slot is None or era.end_epoch is None:
            if i != len(summaries) - 1:
                raise EraSummaryError(f"era {i} has no end but is not the last era")
            continue
        span = era.end_slot - era.start_slot
        if span < 0 or span != (era.end_epoch - era.start_epoch) * era.epoch_length:
            raise EraSummaryError(f"era {i}: slots {era.start_slot}..{era.end_slot} are not "
                                  f"whole epochs {era.start_epoch}..{era.end_epoch} of "
                                  f"{era.epoch_length} slots")
        if i + 1 < len(summaries):
            nxt = summaries[i + 1]
            if (nxt.start_slot, nxt.start_epoch) != (era.end_slot, era.end_epoch):
                raise EraSummaryError(f"era {i + 1} does not start where era {i} ends")


class EpochCalendar:
    """Epoch and time of any slot, from era summaries; beyond the last era's end the last
    era's parameters are extrapolated."""

    __slots__ = ("_epoch_starts", "_eras", "_slot_starts")

    def __init__(self, summaries: Iterable[EraSummary]) -> None:
        eras = tuple(summaries)
        _check(eras)
        self._eras = eras
        self._slot_starts = [e.start_slot for e in eras]
        self._epoch_starts = [e.start_epoch for e in eras]

    @property
    def summaries(self) -> tuple[EraSummary, ...]:
        return self._eras

    @property
    def horizon_slot(self) -> Slot | None:
        """End of the last era (exclusive): the node's forecast horizon, or None if unbounded."""
        end = self._eras[-1].end_slot
        return None if end is None else Slot(end)

    def covers(self, slot: int) -> bool:
        """Whether ``slot`` lies inside the summaries (no extrapolation needed)."""
        horizon = self._eras[-1].end_slot
        return self._eras[0].start_slot <= slot and (horizon is None or slot < horizon)

    def _era_of_slot(self, slot: int) -> EraSummary:
        i = bisect_right(self._slot_starts, slot) - 1
        if i < 0:
            raise ValueError(f"slot {slot} is before the first era")
        return self._eras[i]

    def _era_of_epoch(self, epoch: int) -> EraSummary:
        i = bisect_right(self._epoch_starts, epoch) - 1
        if i < 0:
            raise ValueError(f"epoch {epoch} is before the first era")
        return self._eras[i]

    def epoch_of(self, slot: int) -> EpochNo:
        era = self._era_of_slot(slot)
        return EpochNo(era.start_epoch + (slot - era.start_slot) // era.epoch_length)

    def first_slot(self, epoch: int) -> Slot:
        era = self._era_of_epoch(epoch)
        return Slot(era.start_slot + (epoch - era.start_epoch) * era.epoch_length)

    def slot_time_ms(self, slot: int) -> int:
        """Milliseconds since the system start at the beginning of ``slot`` (exact)."""
        era = self._era_of_slot(slot)
        return era.start_time_s * 1000 + (slot - era.start_slot) * era.slot_length_ms

    def slot_time(self, slot: int) -> int:
        """Seconds since the system start at the beginning of ``slot`` (rounded down when the
        slot length is not a whole number of seconds)."""
        return self.slot_time_ms(slot) // 1000

    def epoch_start_time(self, epoch: int) -> int:
        """Seconds since the system start at the beginning of ``epoch``."""
        return self.slot_time(self.first_slot(epoch))
