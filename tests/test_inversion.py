"""Tests for ``indexer.accounting.inversion``: F from the exact leader reward L (docs/spec.md §5
"History"), proved on the 11 real db-sync pool-epochs of tests/data/realdata/ and by property.

The real cases hold L (db-sync's LEADER row), the owners' stake o and the pool's stake σ
(db-sync's epoch_stake, what Koios and Blockfrost serve as active stake), c and m, and enough
of the global state to recompute the exact R (tests/test_rewards.py checks that recomputation
against every recorded reward). The inversion sees only what an API gives (L, o, σ, blocks, an
API fee) and the chain's c and m; R is used only to judge it.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from indexer.accounting.inversion import InversionError, fee_candidates, reconstruct
from indexer.accounting.rewards import operator_split
from tests.test_rewards import CASES, DATA, ledger_leader_reward, ledger_pool_reward


def _case(name: str) -> dict[str, Any]:
    case = json.loads((DATA / name).read_text())
    stake = dict(case["epoch_stake"])
    owners_stake = sum(stake.get(o, 0) for o in case["owner_ids"])
    total = ledger_pool_reward(case, owners_stake)
    (leader,) = [r[2] for r in case["rewards"] if r[1] == "LEADER"]
    members = sum(r[2] for r in case["rewards"] if r[1] == "MEMBER")
    cost, margin = case["cost"], Fraction(case["margin"])
    return {"name": name, "cost": cost, "margin": margin, "o": owners_stake,
            "sigma": case["pool_stake"], "leader": leader,
            # not recorded for the d >= 0.8 epochs, where performance is 1; L > 0 means the
            # pool made blocks (docs/spec.md §5: no block, no reward)
            "blocks": case["blocks_by_pool"] or 1,
            "true_total": total, "true_fees": operator_split(total, leader, cost, margin)[0],
            "distributed": leader + members}


REAL = [_case(name) for name in CASES]


def koios_fee(c: dict[str, Any]) -> int:
    """Koios' ``pool_fees`` (grest.pool_history_cache): round(c + m * (R_dist - c)) over what
    was distributed, R_dist = L + Σ member rewards (L itself when L < c)."""
    if c["leader"] < c["cost"]:
        return int(c["leader"])
    exact = c["cost"] + c["margin"] * (c["distributed"] - c["cost"])
    return math.floor(exact + Fraction(1, 2))


def blockfrost_fee(c: dict[str, Any]) -> int:
    """Blockfrost's ``fees``: c + floor(m * (R_dist - c)) (docs/ledger.md §13.5)."""
    return int(c["cost"] + math.floor(c["margin"] * (c["distributed"] - c["cost"])))


def test_the_real_cases_leave_one_value_in_4_and_two_adjacent_in_7() -> None:
    sizes = []
    for c in REAL:
        found = fee_candidates(c["leader"], c["cost"], c["margin"], c["o"], c["sigma"])
        fees = [f for f, _ in found]
        assert fees == list(range(fees[0], fees[0] + len(fees))), c["name"]  # adjacent
        assert c["true_fees"] in fees, c["name"]  # the true F is always among them
        # each candidate's R is the smallest giving L: one lovelace less gives another L
        for f, r in found:
            assert ledger_leader_reward(r, c["cost"], c["margin"], c["o"], c["sigma"]) == \
                c["leader"]
            assert ledger_leader_reward(r - 1, c["cost"], c["margin"], c["o"], c["sigma"]) \
                != c["leader"] or operator_split(r - 1, c["leader"], c["cost"],
                                                 c["margin"])[0] != f
            assert operator_split(r, c["leader"], c["cost"], c["margin"])[0] == f
        assert found[0][1] <= c["true_total"]  # the true R is consistent, never below
        sizes.append(len(fees))
    assert (sizes.count(1), sizes.count(2)) == (4, 7)  # the measurement


def test_without_an_api_fee_the_lower_value_with_uncertainty_one() -> None:
    for c in REAL:
        got = reconstruct(c["leader"], c["cost"], c["margin"], c["o"], c["sigma"], c["blocks"])
        assert got.fee_low <= c["true_fees"] <= got.fee_high
        assert got.operator_fees == got.fee_low
        assert got.fee_uncertainty_lovelace == got.fee_high - got.fee_low
        assert got.operator_fees <= c["true_fees"] <= got.operator_fees \
            + got.fee_uncertainty_lovelace
        assert got.stake_rewards == c["leader"] - got.operator_fees
        assert got.total_rewards <= c["true_total"]


@pytest.mark.parametrize("api_fee", [koios_fee, blockfrost_fee], ids=["koios", "blockfrost"])
def test_the_api_fee_breaks_a_tie_only_when_it_equals_a_candidate(api_fee: Any) -> None:
    """The APIs compute their fee from distributed rewards (below R), so it rarely equals a
    candidate; when it does, it is trusted (uncertainty 0), else the lower is kept."""
    picked = []
    for c in REAL:
        fee = api_fee(c)
        got = reconstruct(c["leader"], c["cost"], c["margin"], c["o"], c["sigma"], c["blocks"],
                          api_fee=fee)
        two = got.fee_low != got.fee_high
        assert got.picked_by_api_fee == (two and fee in (got.fee_low, got.fee_high))
        if got.picked_by_api_fee:
            picked.append(c["name"])
            assert (got.operator_fees, got.fee_uncertainty_lovelace) == (fee, 0)
        else:
            assert got.operator_fees == got.fee_low
        # whatever was chosen, the true F is within the stated uncertainty
        assert got.operator_fees <= c["true_fees"] <= got.operator_fees \
            + got.fee_uncertainty_lovelace, c["name"]
        assert fee <= c["true_fees"] + 1  # below R: never more than one above the true F
    # The branch is exercised on real data: here both styles settle one of the seven ties,
    # epoch 213 (36 lovelace of unpaid dust, 0.54 lovelace of fee at m = 1.5 %: both the
    # rounding and the floor land on the true F); the other six stay at uncertainty 1.
    assert picked


def test_r_at_most_c_and_no_block() -> None:
    m = Fraction(1, 50)
    assert reconstruct(0, 340, m, 10, 100, blocks=0).total_rewards == 0
    with pytest.raises(InversionError, match="no block"):
        reconstruct(5, 340, m, 10, 100, blocks=0)
    low = reconstruct(200, 340, m, 10, 100, blocks=1)  # L < c: R = L, F = L, S = 0
    assert (low.total_rewards, low.operator_fees, low.stake_rewards,
            low.fee_uncertainty_lovelace) == (200, 200, 0, 0)
    at = reconstruct(340, 340, m, 10, 100, blocks=1)  # L = c: F = c whatever R
    assert (at.total_rewards, at.operator_fees, at.stake_rewards) == (340, 340, 0)
    nothing = reconstruct(0, 340, m, 10, 100, blocks=3)  # pledge not met: R = L = 0
    assert (nothing.total_rewards, nothing.operator_fees) == (0, 0)


def test_inconsistent_inputs() -> None:
    with pytest.raises(InversionError, match="exceeds the pool's stake"):
        reconstruct(1000, 340, Fraction(1, 10), 200, 100, blocks=1)
    with pytest.raises(InversionError, match="margin 0"):
        reconstruct(1000, 340, Fraction(0), 0, 100, blocks=1)
    with pytest.raises(TypeError):
        reconstruct(1000, 340, 0.1, 10, 100, blocks=1)  # type: ignore[arg-type]


LOVELACE = st.integers(0, 10**14)


@given(total=LOVELACE, cost=st.integers(0, 10**9),
       margin=st.fractions(min_value=0, max_value=1, max_denominator=10**4),
       pool=st.integers(1, 10**16), owners_part=st.fractions(0, 1, max_denominator=10**6),
       unpaid=st.integers(0, 10**4))
def test_property_true_fee_within_the_uncertainty(total: int, cost: int, margin: Fraction,
                                                  pool: int, owners_part: Fraction,
                                                  unpaid: int) -> None:
    """Any ledger outcome: the true F is in [F, F + uncertainty], R is never overstated, at
    most two values remain; and a fee computed Blockfrost's way (a floor over what was paid,
    never above the true F) that picks the higher value picks the true one. (One that equals
    the lower value proves nothing: see the module docstring.)"""
    owners = math.floor(pool * owners_part)
    leader = ledger_leader_reward(total, cost, margin, owners, pool)
    true_fees = operator_split(total, leader, cost, margin)[0]
    assume(not (margin == 0 and owners == 0 and leader > cost))  # impossible for a ledger
    got = reconstruct(leader, cost, margin, owners, pool, blocks=1)
    assert got.operator_fees <= true_fees <= got.operator_fees + got.fee_uncertainty_lovelace
    assert got.fee_high - got.fee_low in (0, 1)
    assert got.total_rewards <= total
    assert got.leader_reward == leader
    assert operator_split(got.total_rewards, leader, cost, margin)[0] == got.operator_fees
    paid = max(leader, total - unpaid)
    fee = leader if leader < cost else cost + math.floor(margin * (paid - cost))
    assert fee <= true_fees
    picked = reconstruct(leader, cost, margin, owners, pool, blocks=1, api_fee=fee)
    if picked.picked_by_api_fee and fee == got.fee_high:
        assert picked.operator_fees == true_fees
