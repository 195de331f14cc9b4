"""Splitting a pool's leader reward among its owners (docs/spec.md §5), exactly.

Pure and exact: money is ``int`` lovelace, ratios are ``fractions.Fraction``; a ``float`` is
refused wherever a ratio is accepted, because a float margin (db-sync stores ``margin`` as a
double) would move floors by a lovelace.

* ``operator_split`` turns the ledger's ``totalRewards`` R and ``leaderReward`` L into operator
  fees F and the owners' stake rewards S = L - F.
* ``apportion`` divides an amount by weights to the lovelace (largest remainder, ties by key).
* ``split_pool_epoch`` does both for one pool-epoch: F equally among the owners, S by stake
  share among the accounts that take part (owners ∪ {reward account} by balance on the
  "certificate" basis, or the weights the share basis gives them: docs/spec.md §4).
* ``member_reward`` is the ledger's reward of a delegator that is not an owner.

Keys are stake credential hex strings; only their sort order matters here (it breaks ties).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import lcm
from numbers import Rational

__all__ = ["PoolSplit", "apportion", "member_reward", "operator_split", "split_pool_epoch"]


def _check_lovelace(name: str, value: object) -> int:
    # bool is an int subclass; True lovelace is a bug upstream, not an amount.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int (lovelace), got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _check_ratio(name: str, value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, Rational):
        raise TypeError(f"{name} must be an int or Fraction (never float), got {value!r}")
    return Fraction(value)


def operator_split(
    total_rewards: int, leader_reward: int, cost: int, margin: Fraction
) -> tuple[int, int]:
    """Return ``(F, S)``: operator fees and the owners' stake rewards of one pool-epoch.

    docs/spec.md §5: if ``R <= c`` then ``F = L`` and ``S = 0``; else
    ``F = c + floor((R - c) * m)`` and ``S = L - F``. The ledger's own leader formula is
    ``L = c + floor((R - c) * (m + (1 - m) * ostake / poolStake))``, so ``L >= F`` always holds
    for ledger figures, and ``S`` is ``floor((R - c)(1 - m) ostake / poolStake)`` or one more
    (two floors taken separately).

    Raises ``ValueError`` for inconsistent figures instead of clamping: ``L > R``, or ``F > L``
    (which no ledger output produces; it means a wrong R, L, cost or margin, e.g. a mistyped
    import). Clamping would silently hand the owners a wrong split; the caller decides what to
    do with the row. A pool whose pledge was not met has ``R = L = 0``, which is consistent.
    """
    r = _check_lovelace("total_rewards", total_rewards)
    lead = _check_lovelace("leader_reward", leader_reward)
    c = _check_lovelace("cost", cost)
    m = _check_ratio("margin", margin)
    if not 0 <= m <= 1:
        raise ValueError(f"margin must be within [0, 1], got {m}")
    if lead > r:
        raise ValueError(f"leader reward {lead} exceeds the pool's total rewards {r}")
    if r <= c:
        return lead, 0
    fees = c + (r - c) * m.numerator // m.denominator
    if fees > lead:
        raise ValueError(
            f"inconsistent rewards: operator fees c + floor((R - c) * m) = {fees} exceed the "
            f"leader reward {lead} (R={r}, c={c}, m={m})"
        )
    return fees, lead - fees


def _integer_weights(weights: Mapping[str, int | Fraction]) -> dict[str, int]:
    """Scale rational weights to integers with the same ratios (common denominator)."""
    fracs = {key: _check_ratio(f"weight of {key!r}", w) for key, w in weights.items()}
    for key, w in fracs.items():
        if w < 0:
            raise ValueError(f"weight of {key!r} must be >= 0, got {w}")
    scale = lcm(*(w.denominator for w in fracs.values())) if fracs else 1
    return {key: w.numerator * (scale // w.denominator) for key, w in fracs.items()}


def apportion(total: int, weights: Mapping[str, int | Fraction]) -> dict[str, int]:
    """Divide ``total`` lovelace by ``weights``, exactly (largest-remainder method).

    Each key first gets ``floor(total * w / W)``; the lovelace left over (fewer than the number
    of keys) go one each to the largest fractional remainders, ties broken by ascending key, so
    the result is deterministic and independent of the mapping's order. ``Σ result == total``
    always; each part is within 1 lovelace of its exact share. A key with weight 0 gets 0
    (its remainder is 0 and the leftover never reaches it), unless every weight is 0, in which
    case all keys count equally. ``total`` may be 0. Raises ``ValueError`` if ``total > 0``
    and there is no key to give it to. The result lists keys in ascending order.
    """
    _check_lovelace("total", total)
    ints = _integer_weights(weights)
    if not ints:
        if total:
            raise ValueError(f"cannot apportion {total} lovelace among no accounts")
        return {}
    if sum(ints.values()) == 0:
        ints = dict.fromkeys(ints, 1)
    denom = sum(ints.values())
    parts: dict[str, int] = {}
    remainders: dict[str, int] = {}
    for key, w in ints.items():
        parts[key], remainders[key] = divmod(total * w, denom)
    leftover = total - sum(parts.values())
    # All remainders share the denominator W, so comparing the integers compares the fractions.
    for key in sorted(ints, key=lambda k: (-remainders[k], k))[:leftover]:
        parts[key] += 1
    return {key: parts[key] for key in sorted(parts)}


@dataclass(frozen=True)
class PoolSplit:
    """One pool-epoch's split (docs/spec.md §5). All dicts are keyed by every account, sorted.

    ``operator_fees`` is the SPEC's F, ``stake_rewards`` its S (``F``/``S`` are aliases).
    ``op[i]`` is i's part of F (0 for a reward account that is not an owner), ``stake[i]`` its
    part of S, ``share[i]`` its exact balance share. Σ op == F, Σ stake == S, F + S == L.
    """

    operator_fees: int
    stake_rewards: int
    op: dict[str, int]
    stake: dict[str, int]
    share: dict[str, Fraction]

    @property
    def F(self) -> int:  # the SPEC's symbol
        return self.operator_fees

    @property
    def S(self) -> int:  # the SPEC's symbol
        return self.stake_rewards

    @property
    def rewards(self) -> dict[str, int]:
        """``op + stake`` per account: what each account is owed for the epoch."""
        return {key: self.op[key] + self.stake[key] for key in self.op}


def _shares(weights: Mapping[str, int], keys: Sequence[str]) -> dict[str, Fraction]:
    """Each key's share of ``weights`` (equal among the weighted keys if they weigh 0); 0 for
    a key without weight."""
    total = sum(weights.values())
    return {key: Fraction(0) if key not in weights
            else Fraction(1, len(weights)) if total == 0 else Fraction(weights[key], total)
            for key in sorted(keys)}


def _check_accounts(owners: Sequence[str], balances: Mapping[str, int]) -> None:
    if not balances:
        raise ValueError("balances must hold every account (owners and the reward account)")
    for key, value in balances.items():
        _check_lovelace(f"balance of {key!r}", value)
    missing = sorted(set(owners) - set(balances))
    if missing:
        raise ValueError(f"owners without a balance: {missing}")
    extra = sorted(set(balances) - set(owners))
    if len(extra) > 1:
        # Accounts = owners ∪ {reward account}: at most one account is not an owner.
        raise ValueError(f"more than one non-owner account in balances: {extra}")


def split_pool_epoch(
    total_rewards: int,
    leader_reward: int,
    cost: int,
    margin: Fraction,
    owners: Sequence[str],
    balances: Mapping[str, int],
    weights: Mapping[str, int] | None = None,
) -> PoolSplit:
    """Split one pool-epoch's leader reward among Accounts = owners ∪ {reward account}.

    ``balances`` maps every account (owners and the reward account) to ``balance_i(e)``; the
    reward account is the one key that is not in ``owners``, or an owner. F goes to the owners
    in equal parts. S goes by ``weights``: the accounts that take part in the stake share and
    their weights (docs/spec.md §4; default: every account by balance, the "certificate"
    basis), in equal parts if they all weigh 0; an account without weight gets no part of S.

    A certificate with no owners at all (the ledger allows an empty owner set) has nobody to
    share F with equally; F then goes to the reward account, the only account, which receives
    the whole leader reward anyway. Raises ``ValueError`` as ``operator_split`` does, and for
    balances or weights that do not match the owners.
    """
    _check_accounts(owners, balances)
    weights = dict(balances) if weights is None else dict(weights)
    for key, value in weights.items():
        _check_lovelace(f"weight of {key!r}", value)
    if not weights or set(weights) - set(balances):
        raise ValueError(f"weights {sorted(weights)} must name some of the accounts "
                         f"{sorted(balances)}")
    fees, stake_rewards = operator_split(total_rewards, leader_reward, cost, margin)
    fee_takers = list(dict.fromkeys(owners)) or list(balances)
    op_owners = apportion(fees, dict.fromkeys(fee_takers, 1))
    op = {key: op_owners.get(key, 0) for key in sorted(balances)}
    stake_parts = apportion(stake_rewards, weights)
    return PoolSplit(
        operator_fees=fees,
        stake_rewards=stake_rewards,
        op=op,
        stake={key: stake_parts.get(key, 0) for key in sorted(balances)},
        share=_shares(weights, list(balances)),
    )


def member_reward(total_rewards: int, cost: int, margin: Fraction, stake: int,
                  pool_stake: int) -> int:
    """The ledger's member reward of a delegator that is not an owner (docs/spec.md §5):
    ``floor((R - c) * (1 - m) * t / σ)`` for ``R > c``, else 0; ``t`` the member's stake and
    ``σ`` the pool's stake in the snapshot."""
    r = _check_lovelace("total_rewards", total_rewards)
    c = _check_lovelace("cost", cost)
    t = _check_lovelace("stake", stake)
    sigma = _check_lovelace("pool_stake", pool_stake)
    m = _check_ratio("margin", margin)
    if r <= c or sigma == 0:
        return 0
    rest = 1 - m
    return (r - c) * rest.numerator * t // (rest.denominator * sigma)
