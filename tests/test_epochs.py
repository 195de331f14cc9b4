"""indexer.chain.epochs: slot/epoch/time arithmetic from era summaries."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.chain.epochs import EpochCalendar, EraSummary, EraSummaryError, parse_era_summaries

VECTORS = sorted(
    (Path(__file__).parent / "data/ogmios/vectors/QueryLedgerStateEraSummaries").glob("*.json"))


def bound(seconds: int, slot: int, epoch: int) -> dict[str, Any]:
    return {"time": {"seconds": seconds}, "slot": slot, "epoch": epoch}


def era(start: dict[str, Any], end: dict[str, Any] | None, epoch_length: int,
        slot_ms: int, safe_zone: int | None = 0) -> dict[str, Any]:
    item: dict[str, Any] = {"start": start, "parameters": {
        "epochLength": epoch_length, "slotLength": {"milliseconds": slot_ms},
        "safeZone": safe_zone}}
    if end is not None:
        item["end"] = end
    return item


# A small test network: "byron" epochs 0-1 of 100 slots × 20 s, then 500-slot epochs of 1 s
# from epoch 2; the node forecasts up to epoch 10.
TWO_ERAS = [
    era(bound(0, 0, 0), bound(4000, 200, 2), 100, 20_000),
    era(bound(4000, 200, 2), bound(8000, 4200, 10), 500, 1000, None),
]


def _mainnet_like() -> list[dict[str, Any]]:
    """docs/ogmios.md §4 and docs/ledger.md §11: Byron then Shelley…Conway, 432,000-slot epochs."""
    eras = [era(bound(0, 0, 0), bound(89_856_000, 4_492_800, 208), 21_600, 20_000, 4320)]
    starts = [208, 236, 251, 290, 365, 507, 580]  # shelley allegra mary alonzo babbage conway
    for a, b in pairwise(starts):
        slot_a, slot_b = 4_492_800 + (a - 208) * 432_000, 4_492_800 + (b - 208) * 432_000
        time_a, time_b = 89_856_000 + slot_a - 4_492_800, 89_856_000 + slot_b - 4_492_800
        eras.append(era(bound(time_a, slot_a, a), bound(time_b, slot_b, b), 432_000, 1000,
                        129_600))
    return eras


MAINNET_LIKE = _mainnet_like()


def test_parse_shape() -> None:
    (first, second) = parse_era_summaries(TWO_ERAS)
    assert first == EraSummary(0, 0, 0, 200, 2, 100, 20_000)
    assert second == EraSummary(200, 2, 4000, 4200, 10, 500, 1000)
    (open_ended,) = parse_era_summaries([era(bound(0, 0, 0), None, 10, 1000)])
    assert (open_ended.end_slot, open_ended.end_epoch) == (None, None)


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.name)
def test_ogmios_vectors_parse_but_do_not_fit_together(path: Path) -> None:
    result = json.loads(path.read_bytes())["result"]
    summaries = parse_era_summaries(result)
    assert len(summaries) == len(result)
    assert summaries[0].start_slot == result[0]["start"]["slot"]
    with pytest.raises(EraSummaryError):  # random data: eras overlap or run backwards
        EpochCalendar(summaries)


def test_two_era_network() -> None:
    cal = EpochCalendar(parse_era_summaries(TWO_ERAS))
    assert [cal.epoch_of(s) for s in (0, 99, 100, 199, 200, 699, 700, 4199)] == [
        0, 0, 1, 1, 2, 2, 3, 9]
    assert [cal.first_slot(e) for e in (0, 1, 2, 3, 9)] == [0, 100, 200, 700, 4200 - 500]
    assert [cal.epoch_start_time(e) for e in (0, 1, 2, 3)] == [0, 2000, 4000, 4500]
    assert cal.slot_time(150) == 3000 and cal.slot_time(250) == 4050
    assert cal.horizon_slot == 4200
    assert cal.covers(0) and cal.covers(4199) and not cal.covers(4200)


def test_extrapolation_past_the_horizon() -> None:
    cal = EpochCalendar(parse_era_summaries(TWO_ERAS))
    assert cal.epoch_of(4200) == 10 and cal.first_slot(10) == 4200
    assert cal.epoch_of(10**9) == 2 + (10**9 - 200) // 500
    assert cal.first_slot(1000) == 200 + 998 * 500
    assert cal.epoch_start_time(11) == 8000 + 500
    assert cal.slot_time(4200 + 10) == 8010


def test_mainnet_like() -> None:
    cal = EpochCalendar(parse_era_summaries(MAINNET_LIKE))
    assert cal.epoch_of(4_492_799) == 207 and cal.epoch_of(4_492_800) == 208
    assert cal.first_slot(208) == 4_492_800 and cal.first_slot(207) == 4_492_800 - 21_600
    for epoch, slot in ((236, 16_588_800), (251, 23_068_800), (290, 39_916_800),
                        (365, 72_316_800), (507, 133_660_800)):
        assert cal.first_slot(epoch) == slot and cal.epoch_of(slot) == epoch
    # Shelley started 2020-07-29T21:44:51Z, 89,856,000 s after the 2017-09-23T21:44:51Z start.
    assert cal.epoch_start_time(208) == 89_856_000
    assert cal.slot_time(4_492_800 + 1) == 89_856_001
    horizon = 4_492_800 + (580 - 208) * 432_000
    assert cal.horizon_slot == horizon
    # Far beyond the forecast: Shelley arithmetic, whatever the era.
    slot = horizon + 123_456_789
    assert cal.epoch_of(slot) == 208 + (slot - 4_492_800) // 432_000
    assert not cal.covers(slot)


def test_eras_starting_together_at_genesis() -> None:
    # Test networks often fork through several eras at epoch 0: zero-length eras.
    eras = [era(bound(0, 0, 0), bound(0, 0, 0), 4320, 20_000),
            era(bound(0, 0, 0), bound(0, 0, 0), 86_400, 1000),
            era(bound(0, 0, 0), bound(86_400 * 3, 86_400 * 3, 3), 86_400, 1000)]
    cal = EpochCalendar(parse_era_summaries(eras))
    assert cal.epoch_of(0) == 0 and cal.epoch_of(86_400) == 1 and cal.first_slot(2) == 172_800
    assert cal.epoch_start_time(1) == 86_400


def test_unbounded_last_era() -> None:
    cal = EpochCalendar(parse_era_summaries([era(bound(0, 0, 0), None, 10, 1000)]))
    assert cal.horizon_slot is None and cal.covers(10**12) and cal.epoch_of(25) == 2


def test_sub_second_slots() -> None:
    cal = EpochCalendar(parse_era_summaries([era(bound(0, 0, 0), None, 500, 100)]))
    assert cal.slot_time_ms(15) == 1500 and cal.slot_time(15) == 1
    assert cal.epoch_start_time(1) == 50


@pytest.mark.parametrize("bad", [
    [],
    [era(bound(0, 0, 0), None, 100, 1000), era(bound(0, 0, 0), None, 100, 1000)],
    [era(bound(0, 0, 0), bound(150, 150, 1), 100, 1000)],  # not whole epochs
    [era(bound(0, 0, 0), bound(100, 100, 1), 100, 1000),
     era(bound(200, 200, 2), None, 100, 1000)],  # a gap
    [era(bound(0, 200, 2), bound(0, 100, 1), 100, 1000)],  # ends before it starts
])
def test_inconsistent_summaries(bad: list[dict[str, Any]]) -> None:
    with pytest.raises(EraSummaryError):
        EpochCalendar(parse_era_summaries(bad))


@pytest.mark.parametrize("bad", [
    {},
    {"start": bound(0, 0, 0)},
    {"start": bound(0, 0, 0), "parameters": {"epochLength": 0,
                                             "slotLength": {"milliseconds": 1000}}},
    {"start": bound(0, True, 0), "parameters": {"epochLength": 10,
                                                "slotLength": {"milliseconds": 1000}}},
    {"start": bound(0, 0, 0), "parameters": {"epochLength": 10, "slotLength": 1000}},
    {"start": {"slot": 0, "epoch": 0}, "parameters": {"epochLength": 10,
                                                      "slotLength": {"milliseconds": 1}}},
])
def test_malformed_shapes(bad: dict[str, Any]) -> None:
    with pytest.raises(EraSummaryError):
        parse_era_summaries([bad])
    with pytest.raises(EraSummaryError):
        parse_era_summaries(bad)  # type: ignore[arg-type]


def test_before_the_first_era() -> None:
    cal = EpochCalendar(parse_era_summaries([era(bound(0, 100, 5), None, 10, 1000)]))
    with pytest.raises(ValueError):
        cal.epoch_of(99)
    with pytest.raises(ValueError):
        cal.first_slot(4)
    assert not cal.covers(99)


CALENDARS = [EpochCalendar(parse_era_summaries(s)) for s in (TWO_ERAS, MAINNET_LIKE)]


@given(st.sampled_from(CALENDARS), st.integers(min_value=0, max_value=2**40))
def test_slot_lies_in_its_epoch(cal: EpochCalendar, slot: int) -> None:
    epoch = cal.epoch_of(slot)
    assert cal.first_slot(epoch) <= slot < cal.first_slot(epoch + 1)
    assert cal.epoch_of(cal.first_slot(epoch)) == epoch
    assert cal.epoch_start_time(epoch) <= cal.slot_time(slot) < cal.epoch_start_time(epoch + 1)
    assert cal.slot_time(slot) < cal.slot_time(slot + 1)
