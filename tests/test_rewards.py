"""Tests for ``indexer.accounting.rewards``: properties (Hypothesis), hand cases, real mainnet
data.

The real-data part recomputes each pool's reward with the ledger formulas (written out below as
a reference; the product takes R and L from the ledger and never computes them) and checks that
the recorded db-sync LEADER reward is what we think it is before splitting it.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from indexer.accounting.rewards import (
    PoolSplit,
    apportion,
    member_reward,
    operator_split,
    split_pool_epoch,
)

MAX_SUPPLY = 45_000_000_000_000_000
CRED = st.binary(min_size=29, max_size=29).map(bytes.hex)
LOVELACE = st.integers(min_value=0, max_value=MAX_SUPPLY)
MARGIN = st.fractions(min_value=0, max_value=1, max_denominator=10**6)


# --- apportion -------------------------------------------------------------------------------

def test_apportion_hand_cases() -> None:
    assert apportion(10, {"a": 1, "b": 2}) == {"a": 3, "b": 7}  # remainders 1/3 < 2/3
    # Equal remainders: the leftover goes by ascending key, whatever the mapping's order.
    assert apportion(1, {"bb": 1, "aa": 1}) == {"aa": 1, "bb": 0}
    assert apportion(5, {"c": 1, "b": 1, "a": 1}) == {"a": 2, "b": 2, "c": 1}
    assert apportion(7, {"x": Fraction(1, 3), "y": Fraction(2, 3)}) == {"x": 2, "y": 5}
    assert apportion(0, {"a": 5, "b": 0}) == {"a": 0, "b": 0}
    assert apportion(3, {"a": 0, "b": 0}) == {"a": 2, "b": 1}  # all zero: equal weights
    assert apportion(3, {"a": 0, "b": 4}) == {"a": 0, "b": 3}
    assert apportion(0, {}) == {}


@pytest.mark.parametrize(
    ("total", "weights", "error"),
    [
        (1, {}, ValueError),
        (-1, {"a": 1}, ValueError),
        (1, {"a": -1}, ValueError),
        (1, {"a": 0.5}, TypeError),
        (1.0, {"a": 1}, TypeError),
        (True, {"a": 1}, TypeError),
    ],
)
def test_apportion_rejects(total: Any, weights: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        apportion(total, weights)


WEIGHTS = st.one_of(
    st.dictionaries(CRED, LOVELACE, min_size=1, max_size=40),
    st.dictionaries(CRED, st.just(0), min_size=1, max_size=10),
    st.dictionaries(CRED, st.integers(0, 3), min_size=1, max_size=10),
    st.dictionaries(CRED, st.fractions(min_value=0, max_value=10), min_size=1, max_size=10),
)


@given(total=LOVELACE, weights=WEIGHTS)
def test_apportion_properties(total: int, weights: dict[str, int | Fraction]) -> None:
    result = apportion(total, weights)
    assert sum(result.values()) == total
    assert list(result) == sorted(weights)
    w_sum = sum(Fraction(w) for w in weights.values())
    for key, part in result.items():
        if w_sum == 0:
            exact = Fraction(total, len(weights))
        else:
            exact = total * Fraction(weights[key]) / w_sum
        assert abs(part - exact) < 1
        if w_sum and weights[key] == 0:
            assert part == 0
    # Deterministic and independent of insertion order.
    assert apportion(total, dict(reversed(list(weights.items())))) == result


# --- operator_split --------------------------------------------------------------------------

def test_operator_split_hand_cases() -> None:
    m = Fraction(1, 100)
    assert operator_split(1_340_000_000, 400_000_000, 340_000_000, m) == (350_000_000, 50_000_000)
    assert operator_split(300_000_000, 300_000_000, 340_000_000, m) == (300_000_000, 0)  # R < c
    assert operator_split(340_000_000, 340_000_000, 340_000_000, m) == (340_000_000, 0)  # R = c
    assert operator_split(0, 0, 340_000_000, m) == (0, 0)  # no block or pledge not met
    assert operator_split(1_000, 500, 100, Fraction(0)) == (100, 400)  # margin 0: F = c
    assert operator_split(1_000, 1_000, 100, Fraction(1)) == (1_000, 0)  # margin 1: F = R
    assert operator_split(1_001, 450, 100, Fraction(1, 3)) == (400, 50)  # floor(901/3) = 300


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((1_000, 1_001, 100, Fraction(1, 2)), ValueError),  # L > R
        ((1_000, 500, 100, Fraction(1)), ValueError),  # F = 1000 > L
        ((1_000, 200, 100, Fraction(1, 2)), ValueError),  # F = 550 > L
        ((-1, 0, 100, Fraction(0)), ValueError),
        ((1_000, 500, -1, Fraction(0)), ValueError),
        ((1_000, 500, 100, Fraction(3, 2)), ValueError),
        ((1_000, 500, 100, Fraction(-1, 2)), ValueError),
        ((1_000, 500, 100, 0.01), TypeError),
        ((1_000.0, 500, 100, Fraction(0)), TypeError),
    ],
)
def test_operator_split_rejects(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        operator_split(*args)


@st.composite
def pool_epochs(draw: st.DrawFn) -> tuple[int, int, int, Fraction, list[str], dict[str, int]]:
    """Ledger-consistent (R, L, c, m) and an account set with balances of every shape."""
    cost = draw(st.integers(0, 500_000_000))
    margin = draw(MARGIN)
    total = draw(st.integers(0, 10**14))
    pool_stake = draw(st.integers(1, MAX_SUPPLY))
    ostake = draw(st.integers(0, pool_stake))
    leader = ledger_leader_reward(total, cost, margin, ostake, pool_stake)
    owners = draw(st.lists(CRED, min_size=1, max_size=8, unique=True))
    accounts = list(owners)
    if draw(st.booleans()):  # a reward account that is not an owner
        ra = draw(CRED)
        assume(ra not in owners)
        accounts.append(ra)
    kind = draw(st.sampled_from(["any", "zero", "one_huge"]))
    if kind == "zero":
        balances = dict.fromkeys(accounts, 0)
    else:
        small = st.integers(0, 10**6) if kind == "one_huge" else LOVELACE
        balances = {a: draw(small) for a in accounts}
        if kind == "one_huge":
            balances[draw(st.sampled_from(accounts))] = MAX_SUPPLY
    return total, leader, cost, margin, owners, balances


@given(pool_epochs())
def test_split_pool_epoch_properties(
    case: tuple[int, int, int, Fraction, list[str], dict[str, int]],
) -> None:
    total, leader, cost, margin, owners, balances = case
    split = split_pool_epoch(total, leader, cost, margin, owners, balances)
    assert (split.operator_fees, split.stake_rewards) == operator_split(total, leader, cost, margin)
    assert sum(split.op.values()) == split.operator_fees
    assert sum(split.stake.values()) == split.stake_rewards
    assert sum(split.rewards.values()) == leader
    assert set(split.op) == set(split.stake) == set(split.share) == set(balances)
    assert sum(split.share.values()) == 1
    owner_ops = [split.op[o] for o in owners]
    assert max(owner_ops) - min(owner_ops) <= 1
    for key in set(balances) - set(owners):
        assert split.op[key] == 0
    for key, part in split.stake.items():
        assert abs(part - split.stake_rewards * split.share[key]) < 1
    assert split_pool_epoch(total, leader, cost, margin, owners[::-1], balances) == split


def test_split_pool_epoch_hand_case() -> None:
    # Two owners, reward account "cc" not an owner; F = 100 + floor(901 * 1/10) = 190, S = 210.
    split = split_pool_epoch(1_001, 400, 100, Fraction(1, 10), ["bb", "aa"],
                             {"aa": 1, "bb": 1, "cc": 2})
    assert split == PoolSplit(
        operator_fees=190,
        stake_rewards=210,
        op={"aa": 95, "bb": 95, "cc": 0},
        stake={"aa": 53, "bb": 52, "cc": 105},  # 52.5 each: the tie goes to "aa"
        share={"aa": Fraction(1, 4), "bb": Fraction(1, 4), "cc": Fraction(1, 2)},
    )
    assert split.rewards == {"aa": 148, "bb": 147, "cc": 105}
    assert split.F == 190
    assert split.S == 210


def test_split_pool_epoch_edges() -> None:
    zero = split_pool_epoch(0, 0, 340, Fraction(1, 50), ["aa", "bb"], {"aa": 5, "bb": 7})
    assert zero.op == zero.stake == {"aa": 0, "bb": 0}
    below_cost = split_pool_epoch(300, 300, 340, Fraction(0), ["aa", "bb"], {"aa": 0, "bb": 0})
    assert below_cost.op == {"aa": 150, "bb": 150}
    assert below_cost.stake == {"aa": 0, "bb": 0}
    assert below_cost.share == {"aa": Fraction(1, 2), "bb": Fraction(1, 2)}
    # No owners at all: the reward account, the only account, takes F as well.
    lonely = split_pool_epoch(1_000, 500, 100, Fraction(0), [], {"ra": 10})
    assert (lonely.op, lonely.stake) == ({"ra": 100}, {"ra": 400})


@given(pool_epochs(), st.data())
def test_split_by_weights_keeps_s_whole(
    case: tuple[int, int, int, Fraction, list[str], dict[str, int]], data: st.DataObject,
) -> None:
    """The delegated-owners basis (docs/spec.md §4) as the materialization gives it: weights
    for some accounts only (their balances, or 1 each); Σ stake = S still, nothing for the
    others, and F is untouched."""
    total, leader, cost, margin, owners, balances = case
    takers = data.draw(st.lists(st.sampled_from(sorted(balances)), min_size=1, unique=True))
    equal = data.draw(st.booleans())
    weights = {k: 1 if equal else balances[k] for k in takers}
    split = split_pool_epoch(total, leader, cost, margin, owners, balances, weights)
    plain = split_pool_epoch(total, leader, cost, margin, owners, balances)
    assert (split.operator_fees, split.stake_rewards, split.op) == (
        plain.operator_fees, plain.stake_rewards, plain.op)
    assert sum(split.stake.values()) == split.stake_rewards
    assert sum(split.share.values()) == 1
    for key in set(balances) - set(takers):
        assert split.stake[key] == 0 and split.share[key] == 0
    for key in takers:
        assert abs(split.stake[key] - split.stake_rewards * split.share[key]) < 1


def test_split_by_weights_hand_case() -> None:
    # The hand case above on the delegated-owners basis: "cc" (the reward account) takes no
    # part, "aa" and "bb" share S = 210 by their balances 1 : 1; if neither were delegated they
    # would share it equally (weights 1 : 1) all the same.
    split = split_pool_epoch(1_001, 400, 100, Fraction(1, 10), ["bb", "aa"],
                             {"aa": 1, "bb": 1, "cc": 2}, {"aa": 1, "bb": 1})
    assert split.stake == {"aa": 105, "bb": 105, "cc": 0}
    assert split.share == {"aa": Fraction(1, 2), "bb": Fraction(1, 2), "cc": Fraction(0)}
    assert split.rewards == {"aa": 200, "bb": 200, "cc": 0}
    only_bb = split_pool_epoch(1_001, 400, 100, Fraction(1, 10), ["bb", "aa"],
                               {"aa": 5, "bb": 0, "cc": 2}, {"bb": 0})
    assert only_bb.stake == {"aa": 0, "bb": 210, "cc": 0}  # its weight is 0: it alone takes part
    with pytest.raises(ValueError, match="weights"):
        split_pool_epoch(1_001, 400, 100, Fraction(1, 10), ["aa"], {"aa": 1, "cc": 1},
                         {"zz": 1})


def test_member_reward_hand_cases() -> None:
    # floor((R - c) * (1 - m) * t / σ): (10_340 - 340) * 49/50 * 1/4 = 2_450
    assert member_reward(10_340, 340, Fraction(1, 50), 25, 100) == 2_450
    # 9_999 * 9/10 * 1/3 = 2_999.7: the floor
    assert member_reward(10_339, 340, Fraction(1, 10), 1, 3) == 2_999
    assert member_reward(340, 340, Fraction(1, 50), 1, 2) == 0  # R <= c
    assert member_reward(10_340, 340, Fraction(1, 50), 0, 100) == 0
    assert member_reward(10_340, 340, Fraction(1, 50), 1, 0) == 0  # no stake at all
    with pytest.raises(TypeError):
        member_reward(10_340, 340, 0.02, 1, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("owners", "balances"),
    [
        (["aa"], {}),
        (["aa", "bb"], {"aa": 1}),  # an owner without a balance
        (["aa"], {"aa": 1, "x": 1, "y": 1}),  # two non-owners
        (["aa"], {"aa": -1}),
    ],
)
def test_split_pool_epoch_rejects_accounts(owners: list[str], balances: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        split_pool_epoch(1_000, 500, 100, Fraction(0), owners, balances)


# --- the ledger's formulas, as a reference for the real data ----------------------------------
# Shelley ledger `Rewards.hs` / `SnapShots.hs` (docs/ledger.md §4; realdata/README.md §1).
# Exact rationals throughout; floor only where the ledger floors.

def ledger_reward_pot(case: dict[str, Any]) -> int:
    """R of the epoch: the pot shared by all pools, after the treasury cut."""
    d, rho, tau = Fraction(case["d"]), Fraction(case["rho"]), Fraction(case["tau"])
    if d >= Fraction(4, 5):
        eta = Fraction(1)
    else:
        eta = min(Fraction(1), Fraction(case["total_blocks"]) / ((1 - d) * 21_600))
    pot = case["epoch_fees"] + math.floor(eta * rho * case["reserves_next_epoch"])
    return pot - math.floor(tau * pot)


def ledger_max_pool(case: dict[str, Any], reward_pot: int) -> int:
    total_stake = MAX_SUPPLY - case["reserves_next_epoch"]  # circulation, not active stake
    a0, z0 = Fraction(case["a0"]), Fraction(1, case["k"])
    sigma = min(Fraction(case["pool_stake"], total_stake), z0)
    s = min(Fraction(case["pledge"], total_stake), z0)  # declared pledge, not owner stake
    factor = sigma + s * a0 * (sigma - s * (z0 - sigma) / z0) / z0
    return math.floor(reward_pot / (1 + a0) * factor)


def ledger_apparent_performance(case: dict[str, Any]) -> Fraction:
    if Fraction(case["d"]) >= Fraction(4, 5):
        return Fraction(1)
    blocks = Fraction(case["blocks_by_pool"], case["total_blocks"])
    return blocks / Fraction(case["pool_stake"], case["total_active_stake"])


def ledger_pool_reward(case: dict[str, Any], owner_stake: int) -> int:
    if owner_stake < case["pledge"]:
        return 0
    max_pool = ledger_max_pool(case, ledger_reward_pot(case))
    return math.floor(ledger_apparent_performance(case) * max_pool)


def ledger_leader_reward(pool_reward: int, cost: int, margin: Fraction, owner_stake: int,
                         pool_stake: int) -> int:
    if pool_reward <= cost:
        return pool_reward
    return cost + math.floor(
        (pool_reward - cost) * (margin + (1 - margin) * Fraction(owner_stake, pool_stake)))


def ledger_member_reward(pool_reward: int, cost: int, margin: Fraction, stake: int,
                         pool_stake: int) -> int:
    if pool_reward <= cost:
        return 0
    return math.floor((pool_reward - cost) * (1 - margin) * Fraction(stake, pool_stake))


# --- real mainnet data (db-sync exports, see tests/data/realdata/NOTICE.md) -------------------

DATA = Path(__file__).parent / "data" / "realdata" / "dbsync_pool_rewards"
CASES = sorted(p.name for p in DATA.glob("epoch*_pool*.json"))
SUMMARY = {row["file"]: row for row in json.loads((DATA / "EXPECTED_SUMMARY.json").read_text())}


def cred_key(stake_address_id: int) -> str:
    """A stand-in credential hex for a db-sync stake_address.id; sorts like the number."""
    return f"{stake_address_id:058x}"


def test_all_cases_present() -> None:
    assert len(CASES) == 11


@pytest.mark.parametrize("name", CASES)
def test_real_pool_epoch(name: str) -> None:
    case = json.loads((DATA / name).read_text())
    stake = dict(case["epoch_stake"])  # every entry is delegated to this pool (S_e)
    owners, ra = case["owner_ids"], case["reward_address_id"]
    cost, margin, pool_stake = case["cost"], Fraction(case["margin"]), case["pool_stake"]
    owner_stake = sum(stake.get(o, 0) for o in owners)
    assert sum(stake.values()) == pool_stake

    # 1. Our understanding of R and L reproduces the ledger (db-sync's recorded rows).
    pool_reward = ledger_pool_reward(case, owner_stake)
    assert pool_reward == SUMMARY[name]["derived_pool_reward"]
    assert pool_reward > cost  # every case exercises the margin branch
    leader = ledger_leader_reward(pool_reward, cost, margin, owner_stake, pool_stake)
    recorded = [r for r in case["rewards"] if r[1] == "LEADER"]
    assert [(r[0], r[2], r[3], r[4]) for r in recorded] == [
        (ra, leader, case["epoch"], case["epoch"] + 2)]
    for addr, kind, amount, _, _ in case["rewards"]:
        if kind == "MEMBER":  # owners never get a member reward from their own pool
            assert addr not in owners
            assert amount == ledger_member_reward(pool_reward, cost, margin, stake[addr],
                                                  pool_stake)

    # 2. The SPEC's split of the recorded L.
    balances = {cred_key(a): stake.get(a, 0) for a in {*owners, ra}}
    split = split_pool_epoch(pool_reward, recorded[0][2], cost, margin,
                             [cred_key(o) for o in owners], balances)
    assert split.operator_fees == cost + math.floor((pool_reward - cost) * margin)
    assert split.stake_rewards == leader - split.operator_fees
    assert sum(split.op.values()) + sum(split.stake.values()) == leader
    # L floors (R-c)(m + (1-m)o/P) once, F floors (R-c)m alone, so S = L - F is the owners'
    # ledger stake reward floor((R-c)(1-m)o/P) or one lovelace more, never anything else.
    owners_member_equivalent = ledger_member_reward(pool_reward, cost, margin, owner_stake,
                                                    pool_stake)
    assert split.stake_rewards - owners_member_equivalent in (0, 1)
    for key, part in split.stake.items():  # by balance share, to within a lovelace
        assert abs(part - Fraction(split.stake_rewards * balances[key], sum(balances.values()))) < 1


def test_real_two_owner_pool() -> None:
    """epoch260_pool1: owners 2383 (also the reward account) and 353018 (0 stake in S_260)."""
    case = json.loads((DATA / "epoch260_pool1.json").read_text())
    stake = dict(case["epoch_stake"])
    a, b = cred_key(2383), cred_key(353018)
    split = split_pool_epoch(41_482_128_795, 1_053_359_291, case["cost"],
                             Fraction(case["margin"]), [a, b],
                             {a: stake[2383], b: stake[353018]})
    assert (split.operator_fees, split.stake_rewards) == (710_279_159, 343_080_132)
    # F is odd: equal halves, the extra lovelace to the lower credential.
    assert split.op == {a: 355_139_580, b: 355_139_579}
    # Stake rewards follow epoch_stake: 532 643 967 012 vs 0.
    assert split.share == {a: Fraction(1), b: Fraction(0)}
    assert split.stake == {a: 343_080_132, b: 0}


@pytest.mark.parametrize("name", ["epoch260_pool184.json", "epoch400_pool30.json"])
def test_real_non_owner_reward_account(name: str) -> None:
    """The reward account is delegated to the pool but is not an owner (Allegra onwards).

    The ledger computes S from the owners' stake only and pays the reward account a separate
    MEMBER reward for its own stake. docs/spec.md §4 still gives the reward account a balance
    share of S, so the owner's part of S is smaller than its ledger-equivalent member reward.
    """
    case = json.loads((DATA / name).read_text())
    stake = dict(case["epoch_stake"])
    (owner,), ra = case["owner_ids"], case["reward_address_id"]
    member_rows = [r for r in case["rewards"] if r[0] == ra and r[1] == "MEMBER"]
    assert len(member_rows) == 1 and member_rows[0][2] > 0
    pool_reward = SUMMARY[name]["derived_pool_reward"]
    leader = SUMMARY[name]["recorded_leader_reward"]
    balances = {cred_key(owner): stake[owner], cred_key(ra): stake[ra]}
    split = split_pool_epoch(pool_reward, leader, case["cost"], Fraction(case["margin"]),
                             [cred_key(owner)], balances)
    assert split.op[cred_key(ra)] == 0
    assert 0 < split.stake[cred_key(ra)] < split.stake[cred_key(owner)]
