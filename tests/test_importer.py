"""Tests for ``indexer.accounting.importer``: the ``indexer rewards import FILE`` CSV format."""

from __future__ import annotations

import pytest

from indexer.accounting.importer import ImportedReward, RewardImportError, parse_rewards_csv
from indexer.chain.address import pool_bech32

POOL_A = pool_bech32(bytes(range(28)))
POOL_B = pool_bech32(bytes([255] * 28))
HEADER = "pool_id,epoch,total_rewards_lovelace,leader_reward_lovelace"


def test_minimal_file() -> None:
    text = f"{HEADER}\n{POOL_A},260,41482128795,1053359291\n"
    assert parse_rewards_csv(text) == (
        ImportedReward(pool_id=POOL_A, epoch=260, total_rewards=41482128795,
                       leader_reward=1053359291, blocks_made=None, owners_stake=None,
                       source="import"),
    )


def test_all_columns_any_order_and_defaults() -> None:
    text = (
        "\ufeffsource, blocks_made ,leader_reward_lovelace,owners_stake_lovelace,epoch,"
        "total_rewards_lovelace,pool_id\r\n"
        f"db-sync reward + recompute,55,1053359291,532643967012,260,41482128795,{POOL_A}\r\n"
        "\r\n"  # blank lines are skipped
        f",0,0,,261,0,{POOL_A.upper()}\r\n"  # all-upper-case bech32 is valid
        f" , , 7 , , 260 , 9 , {POOL_B} \r\n"
    )
    rows = parse_rewards_csv(text, default_source="rewards.csv")
    assert rows == (
        ImportedReward(POOL_A, 260, 41482128795, 1053359291, 55, 532643967012,
                       "db-sync reward + recompute"),
        ImportedReward(POOL_A, 261, 0, 0, 0, None, "rewards.csv"),
        ImportedReward(POOL_B, 260, 9, 7, None, None, "rewards.csv"),
    )


def test_header_only_and_quoted_cells() -> None:
    assert parse_rewards_csv(HEADER + "\n") == ()
    text = f'{HEADER},source\n"{POOL_A}","1","2","1","Koios, then fixed"\n'
    assert parse_rewards_csv(text)[0].source == "Koios, then fixed"


def _error(text: str) -> RewardImportError:
    with pytest.raises(RewardImportError) as info:
        parse_rewards_csv(text)
    return info.value


@pytest.mark.parametrize(
    ("header", "column"),
    [
        (HEADER + ",comment", "comment"),  # unknown column
        ("pool_id,epoch,total_rewards_lovelace", "leader_reward_lovelace"),  # missing
        (HEADER + ",epoch", "epoch"),  # given twice
        ("Pool_ID,epoch,total_rewards_lovelace,leader_reward_lovelace", "Pool_ID"),
    ],
)
def test_header_errors(header: str, column: str) -> None:
    err = _error(header + f"\n{POOL_A},1,2,1\n")
    assert (err.line, err.column) == (1, column)
    assert "line 1" in str(err) and repr(column) in str(err)


def test_empty_file() -> None:
    assert _error("").line == 1


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("{a},260,1.5,1", "total_rewards_lovelace", "not ADA"),
        ("{a},260,100,-1", "leader_reward_lovelace", "negative"),
        ("{a},-3,100,1", "epoch", "negative"),
        ("{a},260,1e6,1", "total_rewards_lovelace", "not an integer"),
        ("{a},260,1_000,1", "total_rewards_lovelace", "not an integer"),
        ("{a},260,+5,1", "total_rewards_lovelace", "not an integer"),
        ("{a},260,100,101", "leader_reward_lovelace", "exceeds"),
        ("{a},260,,1", "total_rewards_lovelace", "empty"),
        ("{a},260,99999999999999999999,1", "total_rewards_lovelace", "too large"),
        ("pool1notapool,260,100,1", "pool_id", "pool"),
        ("{bad},260,100,1", "pool_id", "checksum"),
        ("stake1uyqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq,260,100,1", "pool_id", ""),
    ],
)
def test_value_errors(row: str, column: str, fragment: str) -> None:
    bad_checksum = POOL_A[:-1] + ("q" if POOL_A[-1] != "q" else "p")
    text = f"{HEADER}\n{POOL_B},259,0,0\n" + row.format(a=POOL_A, bad=bad_checksum) + "\n"
    err = _error(text)
    assert (err.line, err.column) == (3, column)
    assert fragment in str(err)


def test_blocks_made_zero_with_rewards() -> None:
    err = _error(f"{HEADER},blocks_made\n{POOL_A},260,5,1,0\n")
    assert (err.line, err.column) == (2, "blocks_made")


def test_duplicate_pool_epoch() -> None:
    text = (f"{HEADER}\n{POOL_A},260,5,1\n{POOL_B},260,5,1\n\n"
            f"{POOL_A.upper()},260,6,1\n")
    err = _error(text)
    assert err.line == 5
    assert "line 2" in str(err)


def test_wrong_field_count_and_bad_csv() -> None:
    err = _error(f"{HEADER}\n{POOL_A},260,5\n")
    assert (err.line, err.column) == (2, None)
    err = _error(f'{HEADER}\n{POOL_A},260,"5"x,1\n')
    assert err.line == 2 and "malformed" in str(err)
