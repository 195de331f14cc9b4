"""Operator fees F of a past epoch from its exact leader reward L (docs/spec.md §5 "History").

Public APIs (Koios, Blockfrost) publish L exactly (the leader reward credited to the reward
account) but not the pool's total reward R: what they call rewards is what was paid out, below
R. F = c + floor((R - c) * m) needs R, so R is recovered from L by inverting the ledger's leader
formula ``L = c + floor((R - c) * q)``, ``q = m + (1 - m) * o / σ`` (o: the owners' stake
delegated to the pool in S_e, σ: the pool's stake in S_e). Every integer x = R - c with
``floor(x * q) = L - c``, i.e. x in ``[(L - c) / q, (L - c + 1) / q)``, is consistent with L;
F(x) = c + floor(x * m) is non-decreasing in x and the interval for x * m has width
``m / q <= 1``, so at most two adjacent F values remain. When two remain, an API fee equal to
one of them picks it; otherwise the lower is kept with an uncertainty of 1 lovelace.

That tie-break is docs/spec.md's rule. An API fee is computed from the distributed total
R_dist <= R: Blockfrost's c + floor(m·(R_dist − c)) never exceeds the true F, so its equality
with the higher candidate proves it, but its equality with the lower one does not (the unpaid
part R − R_dist may hide the last lovelace of F); Koios rounds instead of flooring, so an
equality proves neither. On simulated pools with a few hundred lovelace of unpaid dust about
half of the matches are the wrong candidate; they are rare on mainnet data, where unpaid
rewards usually put the APIs' fees well below both candidates.

Pure and exact (``Fraction``, integer lovelace; a float is refused like everywhere else).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import ceil

from indexer.accounting.rewards import operator_split

__all__ = ["InversionError", "Reconstruction", "fee_candidates", "reconstruct"]


class InversionError(ValueError):
    """The inputs contradict the ledger's formula (no R can give this L)."""


@dataclass(frozen=True, slots=True)
class Reconstruction:
    """One pool-epoch rebuilt from L. ``fee_low``/``fee_high`` bound every F consistent with L;
    ``operator_fees`` is the one chosen, ``total_rewards`` the smallest R giving L and that F;
    ``fee_uncertainty_lovelace`` is 0 when F is determined, else 1 (the true F may be one
    more)."""

    total_rewards: int
    leader_reward: int
    operator_fees: int
    fee_low: int
    fee_high: int
    fee_uncertainty_lovelace: int
    picked_by_api_fee: bool

    @property
    def stake_rewards(self) -> int:
        return self.leader_reward - self.operator_fees


def _exact(leader: int, fees: int) -> Reconstruction:
    return Reconstruction(leader, leader, fees, fees, fees, 0, False)


def _quotient(margin: Fraction, owners_stake: int, pool_stake: int) -> Fraction:
    if not 0 <= margin <= 1:
        raise InversionError(f"margin {margin} is outside [0, 1]")
    if owners_stake < 0 or pool_stake < 0:
        raise InversionError(f"negative stake: owners {owners_stake}, pool {pool_stake}")
    if owners_stake > pool_stake:
        raise InversionError(f"the owners' stake {owners_stake} exceeds the pool's stake "
                             f"{pool_stake}")
    share = Fraction(owners_stake, pool_stake) if pool_stake else Fraction(0)
    return margin + (1 - margin) * share


def fee_candidates(leader: int, cost: int, margin: Fraction, owners_stake: int,
                   pool_stake: int) -> tuple[tuple[int, int], ...]:
    """Every F consistent with ``leader`` (L > c), each with the smallest R giving it, in
    ascending order (one or two entries). Raises ``InversionError`` when none exists."""
    q = _quotient(margin, owners_stake, pool_stake)
    y = leader - cost
    if y <= 0:
        raise InversionError("fee_candidates is for L > c")
    if q == 0:  # m = 0 and no owner stake: L = c for every R
        raise InversionError(f"leader reward {leader} above the cost {cost} with margin 0 "
                             "and no owner stake")
    lo, hi = ceil(Fraction(y) / q), ceil(Fraction(y + 1) / q)  # x = R - c in [lo, hi)
    if lo >= hi:  # only when q > 1, excluded above; kept as a guard
        raise InversionError(f"no total reward gives the leader reward {leader}")
    f_lo = cost + lo * margin.numerator // margin.denominator
    f_hi = cost + (hi - 1) * margin.numerator // margin.denominator
    if f_lo == f_hi:
        return ((f_lo, cost + lo),)
    # the smallest x with floor(x * m) = f_hi - c (m > 0 here, since the F values differ)
    x_hi = max(lo, ceil(Fraction(f_hi - cost) / margin))
    return (f_lo, cost + lo), (f_hi, cost + x_hi)


def reconstruct(leader: int, cost: int, margin: Fraction, owners_stake: int, pool_stake: int,
                blocks: int, api_fee: int | None = None) -> Reconstruction:
    """R, F and the uncertainty of one pool-epoch from its exact leader reward L (docs/spec.md
    §5 "History"). ``cost``, ``margin`` come from the chain's P_e; ``owners_stake`` (owners
    delegated to the pool) and ``pool_stake`` are the API's snapshot stakes; ``api_fee`` is
    the API's own operator fee (computed from distributed rewards), used only to pick between
    two adjacent candidates when it equals one exactly."""
    for name, value in (("leader", leader), ("cost", cost), ("blocks", blocks)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InversionError(f"{name} must be a non-negative int, got {value!r}")
    if not isinstance(margin, Fraction):
        raise TypeError(f"margin must be a Fraction (never float), got {margin!r}")
    if blocks == 0:
        if leader:
            raise InversionError(f"leader reward {leader} for a pool that made no block")
        return _exact(0, 0)  # docs/spec.md §5: no block, R = L = 0
    if leader <= cost:
        # R <= c gives F = L = R. With R > c, L = c + floor((R - c) * q) >= c, so L < c means
        # R = L exactly; L = c means R = c or floor((R - c) * q) = 0, and then F = c too.
        return _exact(leader, leader)
    candidates = fee_candidates(leader, cost, margin, owners_stake, pool_stake)
    (f_lo, r_lo), (f_hi, r_hi) = candidates[0], candidates[-1]
    fees, total, picked = f_lo, r_lo, False
    if len(candidates) == 2 and api_fee in (f_lo, f_hi):
        fees, total, picked = (f_hi, r_hi, True) if api_fee == f_hi else (f_lo, r_lo, True)
    uncertainty = 0 if picked else f_hi - f_lo
    # the split of (R, L) must give the chosen F: the same rule as every other source
    assert operator_split(total, leader, cost, margin)[0] == fees, (total, leader, fees)
    return Reconstruction(total, leader, fees, f_lo, f_hi, uncertainty, picked)
