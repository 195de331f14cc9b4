"""A ledger view consistent with a scripted chain: the simulator's pluggable answers to Ogmios'
``rewardsProvenance`` and ``rewardAccountSummaries`` for the demo chain
(``indexer.demo.scenarios``), used by ``indexer demo``.

The simulator has no ledger, so ``DemoLedger`` stands in for it: it counts the demo pool's
blocks on the simulated chain and applies the ledger's reward formulas to the stake snapshot
replayed from that chain. The amounts are made up (a fixed reward per block); the way they are
split is the ledger's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from indexer.chain.address import pool_bech32
from indexer.chain.decode import decode_block
from indexer.chain.types import (
    Block,
    Cred,
    PoolRegistration,
    StakeDelegation,
    StakeDeregistration,
    StakeRegistration,
)
from indexer.demo.scenarios import DEMO_POOL
from indexer.simulator.chain import Pool
from indexer.simulator.server import Simulator

__all__ = ["KEY_DEPOSIT", "REWARD_PER_BLOCK", "DemoLedger", "PoolRewards", "leader_reward"]

Json = dict[str, Any]
REWARD_PER_BLOCK = 654_321_987  # lovelace the demo pool earns per block made (before splits)
KEY_DEPOSIT = 2_000_000  # the simulated network's stakeCredentialDeposit


def _ada(n: int) -> Json:
    return {"ada": {"lovelace": n}}


def _ratio(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


@dataclass
class _Snapshot:
    """The stake state after some block: UTxO per stake credential, delegations, pool certs."""

    utxo: dict[tuple[bytes, int], tuple[Cred, int]] = field(default_factory=dict)
    delegation: dict[Cred, bytes] = field(default_factory=dict)
    registered: set[Cred] = field(default_factory=set)
    pool_certs: list[tuple[int, PoolRegistration]] = field(default_factory=list)  # active, cert

    def apply(self, block: Block, epoch: int) -> None:
        for tx in block.transactions:
            for txin in tx.inputs:
                self.utxo.pop((txin.tx_id, txin.index), None)
            for out in tx.outputs:
                if out.cred is not None:
                    self.utxo[(tx.id, out.index)] = (out.cred, out.lovelace)
            for cert in tx.certificates:
                if isinstance(cert, StakeRegistration):
                    self.registered.add(cert.cred)
                elif isinstance(cert, StakeDeregistration):
                    self.registered.discard(cert.cred)
                    self.delegation.pop(cert.cred, None)
                elif isinstance(cert, StakeDelegation):
                    self.delegation[cert.cred] = cert.pool
                elif isinstance(cert, PoolRegistration):
                    known = any(c.pool == cert.pool for _, c in self.pool_certs)
                    self.pool_certs.append((epoch + (3 if known else 2), cert))

    def balances(self) -> dict[Cred, int]:
        out: dict[Cred, int] = {}
        for cred, lovelace in self.utxo.values():
            out[cred] = out.get(cred, 0) + lovelace
        return out

    def params(self, pool: bytes, epoch: int) -> PoolRegistration | None:
        found = [c for active, c in self.pool_certs if c.pool == pool and active <= epoch]
        return found[-1] if found else None


@dataclass(frozen=True)
class PoolRewards:
    """What the stand-in ledger pays one pool for one epoch."""

    blocks: int
    total: int  # R
    leader: int  # L
    params: PoolRegistration
    members: dict[Cred, int]  # every registered credential delegated to the pool: its stake
    owner_stake: int
    pool_stake: int

    def member_reward(self, stake: int) -> int:
        """The ledger's member reward: floor((R - c) * (1 - m) * t / poolStake)."""
        c, m = self.params.cost, self.params.margin
        if self.total <= c or not self.pool_stake:
            return 0
        return int((self.total - c) * (1 - m) * Fraction(stake, self.pool_stake))


class DemoLedger:
    """The ledger side of the simulator for the demo chain: ``rewardsProvenance`` (docs/ogmios.md
    §4.2) and ``rewardAccountSummaries``. Install with :meth:`install`.

    Asked during epoch X, ``rewardsProvenance`` describes the blocks made in X-1: the pool's
    ``totalRewards`` R is ``REWARD_PER_BLOCK`` per block it made in X-1; its stake is the
    snapshot used for X-1 (the UTxO of every registered credential delegated to it after the
    last block of X-3; reward balances are left out); ``leaderReward`` is the ledger's
    ``L = c + floor((R - c) * (m + (1 - m) * ownerStake / poolStake))`` (``L = R`` if ``R <= c``)
    with the cost and margin in effect for X-1; a pool whose owners' stake does not cover its
    pledge gets R = L = 0. Only the demo pool is described: the other block producer of the
    demo chain never registered.

    The reward accounts replay the same figures: at B(e+2) L goes to the pool's reward account
    and each non-owner member gets its member reward; MIRs are credited at the next boundary;
    withdrawals take what they say."""

    def __init__(self, sim: Simulator, pool: Pool = DEMO_POOL,
                 reward_per_block: int = REWARD_PER_BLOCK) -> None:
        self.sim, self.pool, self.reward_per_block = sim, pool, reward_per_block
        self._decoded: dict[str, Block | None] = {}

    def install(self) -> DemoLedger:
        self.sim.rewards_provenance = self.rewards_provenance
        self.sim.reward_account_summaries = self.reward_account_summaries
        return self

    def _blocks(self, up_to: Json) -> list[tuple[Block, int]]:
        net, out = self.sim.network, []
        for raw in self.sim.chain:
            if raw["id"] not in self._decoded:
                self._decoded[raw["id"]] = decode_block(raw, net.network_id)
            block = self._decoded[raw["id"]]
            if block is not None:
                out.append((block, net.epoch_of(block.slot)))
            if raw["id"] == up_to["id"]:
                break
        return out

    @staticmethod
    def _snapshot(blocks: list[tuple[Block, int]], last_epoch: int) -> _Snapshot:
        snap = _Snapshot()
        for block, e in blocks:
            if e > last_epoch:
                break
            snap.apply(block, e)
        return snap

    def pool_rewards(self, blocks: list[tuple[Block, int]], earned: int) -> PoolRewards | None:
        """The demo pool's rewards for the blocks it made in ``earned``; None if it made none
        (or had no parameters in effect)."""
        pool_hash = self.pool.hash
        n_blocks = sum(1 for b, e in blocks if e == earned and b.issuer == pool_hash)
        snap = self._snapshot(blocks, earned - 2)
        params = snap.params(pool_hash, earned)
        if not n_blocks or params is None:
            return None
        balances = snap.balances()
        members = {c: balances.get(c, 0) for c, p in snap.delegation.items()
                   if p == pool_hash and c in snap.registered}
        pool_stake = sum(members.values())
        owner_stake = sum(s for c, s in members.items() if c in params.owners)
        total = n_blocks * self.reward_per_block if owner_stake >= params.pledge else 0
        leader = leader_reward(total, params.cost, params.margin, owner_stake, pool_stake)
        return PoolRewards(n_blocks, total, leader, params, members, owner_stake, pool_stake)

    def rewards_provenance(self, epoch: int, ledger_tip: Json) -> Json:
        earned = epoch - 1
        blocks = self._blocks(ledger_tip)
        made = [b for b, e in blocks if e == earned]
        snap = self._snapshot(blocks, earned - 2)
        balances = snap.balances()
        total_stake = sum(balances.values())
        active_stake = sum(balances.get(c, 0) for c in snap.delegation if c in snap.registered)
        fees = sum(_fee(raw) for raw in self.sim.chain
                   if self.sim.network.epoch_of(raw["slot"]) == earned)
        pools: Json = {}
        found = self.pool_rewards(blocks, earned)
        if found is not None:
            pools[self.pool.id] = {
                "relativeStake": _ratio(Fraction(found.pool_stake, total_stake or 1)),
                "blocksMade": found.blocks,
                "totalRewards": _ada(found.total),
                "leaderReward": _ada(found.leader),
                "delegators": [
                    {"from": "verificationKey" if c[0] == 0 else "script",
                     "credential": c[1:].hex(), "stake": _ada(s)}
                    for c, s in sorted(found.members.items())],
            }
        expected = max(1, self.sim.network.epoch_length(max(earned, 0)) // 20)  # f = 1/20
        incentives = 2 * (found.total if found else 0)  # the pool gets about half the pot
        return {
            "totalStake": _ada(total_stake), "activeStake": _ada(active_stake),
            "fees": _ada(fees), "incentives": _ada(incentives),
            "treasuryTax": _ada((incentives + fees) // 5),
            "totalRewards": _ada(incentives + fees),
            "efficiency": _ratio(Fraction(len(made), expected)),
            "stakePools": pools,
        }

    def reward_balances(self, ledger_tip: Json) -> tuple[dict[Cred, int], _Snapshot]:
        """Every reward account's balance after ``ledger_tip``, and the stake state there."""
        blocks = self._blocks(ledger_tip)
        snap, rewards = _Snapshot(), dict[Cred, int]()
        mirs: dict[int, list[tuple[Cred, int]]] = {}
        prev: int | None = None

        def credit(cred: Cred, amount: int) -> None:
            if cred in snap.registered and amount:
                rewards[cred] = rewards.get(cred, 0) + amount

        for block, e in blocks:
            for x in range(e + 1 if prev is None else prev + 1, e + 1):  # boundaries B(x)
                for cred, amount in mirs.pop(x - 1, []):
                    credit(cred, amount)
                paid = self.pool_rewards(blocks, x - 2)
                if paid is not None:
                    credit(paid.params.reward_account, paid.leader)
                    for cred, stake in paid.members.items():
                        if cred not in paid.params.owners:
                            credit(cred, paid.member_reward(stake))
            prev = e
            snap.apply(block, e)
            for tx in block.transactions:
                for w in tx.withdrawals:
                    rewards[w.cred] = rewards.get(w.cred, 0) - w.amount
                for m in tx.mir:
                    mirs.setdefault(e, []).append((m.cred, m.amount))
        return rewards, snap

    def reward_account_summaries(self, creds_hex: list[str], ledger_tip: Json) -> list[Json]:
        rewards, snap = self.reward_balances(ledger_tip)
        out = []
        for h in creds_hex:
            cred = Cred(b"\x00" + bytes.fromhex(h))  # the demo's credentials are all keys
            if cred not in snap.registered:
                continue
            entry: Json = {"from": "verificationKey", "credential": h}
            pool = snap.delegation.get(cred)
            if pool is not None:
                entry["stakePool"] = {"id": pool_bech32(pool)}
            entry["rewards"] = _ada(max(0, rewards.get(cred, 0)))
            entry["deposit"] = _ada(KEY_DEPOSIT)
            out.append(entry)
        return out


def _fee(raw_block: Json) -> int:
    return sum(int(t.get("fee", {}).get("ada", {}).get("lovelace", 0))
               for t in raw_block.get("transactions") or ())


def leader_reward(total: int, cost: int, margin: Fraction, owner_stake: int,
                  pool_stake: int) -> int:
    """The ledger's leader reward of a pool (exact; ``total`` = the pool's R)."""
    if total <= cost:
        return total
    share = Fraction(owner_stake, pool_stake) if pool_stake else Fraction(0)
    return cost + int((total - cost) * (margin + (1 - margin) * share))
