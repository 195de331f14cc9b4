"""Tests for ``indexer.accounting.export``: our CSV and JSON, and Adastry's Multi-Owner SPO CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.accounting.export import (
    ADASTRY_COLUMNS,
    COLUMNS,
    ExportError,
    ada,
    share_text,
    to_adastry_multiowner,
    to_csv,
    to_json,
)

POOL = "pool1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk35lkuk"
OWNER = "stake1uyowner"  # the exporter does not parse addresses
RA = "stake1uyrewardaccount"


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "pool_id": POOL, "epoch_no": 450, "stake_address": OWNER, "is_owner": True,
        "is_reward_account": False, "delegated_to_pool": True,
        "balance_lovelace": 600_000_000_001, "stake_share": Fraction(3, 4),
        "op_rewards_lovelace": 170_000_001, "stake_rewards_lovelace": 1,
        "rewards_lovelace": 170_000_002, "spendable_epoch": 452, "rewards_status": "credited",
        "epoch_start": datetime(2023, 11, 21, 21, 44, 51, tzinfo=UTC),
        "mir_lovelace": 0, "withdrawn_lovelace": 12_345_678, "real_rewards_lovelace": 0,
        "reward_balance_lovelace": None, "member_rewards_lovelace": 0,
        "owed_lovelace": 340_000_004, "paid_lovelace": 170_000_002, "due_lovelace": 170_000_002,
    }
    base.update(changes)
    return base


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# --- ada / share_text ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("lovelace", "text"),
    [(0, "0.000000"), (1, "0.000001"), (999_999, "0.999999"), (1_000_000, "1.000000"),
     (45_000_000_000_000_000, "45000000000.000000"), (-1_500_000, "-1.500000"), (-1, "-0.000001")],
)
def test_ada(lovelace: int, text: str) -> None:
    assert ada(lovelace) == text


@given(st.integers(-(2**63), 2**63 - 1))
def test_ada_round_trip(lovelace: int) -> None:
    assert Decimal(ada(lovelace)) * 1_000_000 == lovelace


def test_ada_rejects_non_int() -> None:
    with pytest.raises(TypeError):
        ada(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("share", "places", "text"),
    [
        (Fraction(3, 4), None, "0.75"),
        (Fraction(1, 3), None, "0." + "3" * 30),  # no finite expansion: 30 places
        (Fraction(1, 2**40), None, "0.0000000000009094947017729282379150390625"),
        (Decimal("0.69960000"), None, "0.69960000"),  # a numeric as stored
        (Decimal("1E-40"), None, "0." + "0" * 39 + "1"),
        (Fraction(1), None, "1"),
        (Fraction(0), None, "0"),
        (Fraction(2, 3), 10, "0.6666666667"),
        (Fraction(1, 2), 0, "0"),  # half-even
        (Decimal("0.12345678905"), 10, "0.1234567890"),
        (Decimal("0.12345678915"), 10, "0.1234567892"),
        (Fraction(1), 10, "1.0000000000"),
    ],
)
def test_share_text(share: Decimal | Fraction, places: int | None, text: str) -> None:
    assert share_text(share, places) == text


@pytest.mark.parametrize("bad", [0.5, True, "0.5", Decimal("NaN")])
def test_share_text_rejects(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        share_text(bad)


# --- our CSV and JSON ----------------------------------------------------------------------

def test_csv_header_and_values() -> None:
    rows = parse_csv(to_csv([row(), row(stake_address=RA, is_owner=False, rewards_lovelace=None,
                                     stake_share=Decimal("0.25"))]))
    assert tuple(rows[0]) == COLUMNS
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["balance_lovelace"] == "600000000001"
    assert first["stake_share"] == "0.75"
    assert first["is_owner"] == "true" and first["is_reward_account"] == "false"
    assert first["epoch_start"] == "2023-11-21T21:44:51Z"
    assert first["reward_balance_lovelace"] == ""  # unknown
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["rewards_lovelace"] == "" and second["stake_share"] == "0.25"


@given(
    balance=st.integers(0, 45 * 10**15),
    rewards=st.integers(0, 10**13),
    num=st.integers(0, 10**12),
    den=st.integers(1, 10**12),
)
def test_csv_round_trip(balance: int, rewards: int, num: int, den: int) -> None:
    share = Fraction(min(num, den), den)
    original = row(balance_lovelace=balance, rewards_lovelace=rewards, stake_share=share)
    header, line = parse_csv(to_csv([original]))
    back = dict(zip(header, line, strict=True))
    for column in COLUMNS:
        if column.endswith("_lovelace") and original[column] is not None:
            assert int(back[column]) == original[column]
    exact = share_text(share)
    assert back["stake_share"] == exact
    if "." not in exact or len(exact.split(".")[1]) < 30:  # finite expansions are exact
        assert Fraction(Decimal(back["stake_share"])) == share
    else:
        assert abs(Fraction(Decimal(back["stake_share"])) - share) <= Fraction(1, 2 * 10**30)


def test_extras_are_optional_in_csv_and_json() -> None:
    bare = {c: v for c, v in row().items() if c not in COLUMNS[13:]}
    assert parse_csv(to_csv([bare]))[1][13:] == [""] * len(COLUMNS[13:])
    assert orjson.loads(to_json([bare]))[0]["epoch_start"] is None


def test_json() -> None:
    big = 2**62 + 1  # beyond a double's exact range: must stay an integer
    data = orjson.loads(to_json([row(balance_lovelace=big, stake_share=Fraction(1, 3))]))
    assert list(data[0]) == list(COLUMNS)
    assert data[0]["balance_lovelace"] == big
    assert data[0]["stake_share"] == "0." + "3" * 30
    assert data[0]["is_owner"] is True
    assert data[0]["reward_balance_lovelace"] is None
    assert data[0]["epoch_start"] == "2023-11-21T21:44:51Z"
    assert orjson.loads(to_json([])) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"balance_lovelace": 1.5},
        {"balance_lovelace": True},
        {"is_owner": 1},
        {"stake_share": 0.75},
        {"epoch_start": "2023-11-21"},
    ],
)
def test_bad_rows(bad: dict[str, Any]) -> None:
    for fmt in (to_csv, to_json, to_adastry_multiowner):
        with pytest.raises(ExportError, match="row 1"):
            fmt([row(), row(**bad)])


def test_missing_column() -> None:
    incomplete = row()
    del incomplete["stake_share"]
    for fmt in (to_csv, to_json, to_adastry_multiowner):
        with pytest.raises(ExportError, match=r"row 0: column 'stake_share' is missing"):
            fmt([incomplete])


# --- Adastry Multi-Owner SPO ---------------------------------------------------------------

def test_adastry_header_order() -> None:
    assert ADASTRY_COLUMNS == (
        "Date", "Epoch", "Rewards", "MIR", "Net Worth Amount", "Net Worth Currency",
        "Active Stake", "Account Balance", "Real Rewards", "Stake Rewards", "Op Rewards",
        "Stake Share", "Withdrawable", "Withdrawn", "Description",
    )
    assert parse_csv(to_adastry_multiowner([])) == [list(ADASTRY_COLUMNS)]


def test_adastry_owner_row() -> None:
    header, line = parse_csv(to_adastry_multiowner([row()]))
    assert dict(zip(header, line, strict=True)) == {
        "Date": "2023-11-21 21:44:51",
        "Epoch": "452",  # the spendable epoch
        "Rewards": "170.000002",
        "MIR": "0.000000",
        "Net Worth Amount": "",
        "Net Worth Currency": "",
        "Active Stake": "600000.000001",  # reward balance unknown: the balance alone
        "Account Balance": "600000.000001",
        "Real Rewards": "0.000000",
        "Stake Rewards": "0.000001",
        "Op Rewards": "170.000001",
        "Stake Share": "0.7500000000",
        "Withdrawable": "",
        "Withdrawn": "12.345678",
        "Description": "Epoch 452 rewards (earned 450)",
    }


def test_adastry_reward_account_row() -> None:
    tz = timezone(timedelta(hours=2))
    ra = row(stake_address=RA, is_owner=False, is_reward_account=True, stake_share=Fraction(1, 3),
             balance_lovelace=1, reward_balance_lovelace=2_000_000, mir_lovelace=5,
             real_rewards_lovelace=1_053_359_291, rewards_lovelace=None,
             epoch_start=datetime(2023, 11, 21, 23, 44, 51, tzinfo=tz))
    header, line = parse_csv(to_adastry_multiowner([ra]))
    got = dict(zip(header, line, strict=True))
    assert got["Date"] == "2023-11-21 21:44:51"  # converted to UTC
    assert got["Active Stake"] == "2.000001"
    assert got["Withdrawable"] == "2.000000"
    assert got["MIR"] == "0.000005"
    assert got["Real Rewards"] == "1053.359291"
    assert got["Rewards"] == ""  # not known yet
    assert got["Stake Share"] == "0.3333333333"


def test_adastry_totals_are_exact() -> None:
    # Three accounts splitting 10 lovelace 4/3/3: the ADA columns add up to the lovelace.
    rows = [row(stake_address=f"stake1u{i}", rewards_lovelace=r) for i, r in enumerate((4, 3, 3))]
    lines = parse_csv(to_adastry_multiowner(rows))[1:]
    assert sum(Decimal(line[2]) for line in lines) == Decimal("0.000010")
