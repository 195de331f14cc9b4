"""A reward story for the end-to-end reward tests, and a simulated ledger consistent with it.

The story (epochs of 100 one-second slots, 8 blocks each, Shelley from slot 0, k = 10):

- E0: a faucet funds everyone; all but FRANK register their stake keys; five pools register
  (active from E2) and their owners/accounts delegate:
  ``alpha`` owners ALICE+BOB, reward account CAROL (not an owner, but a delegator), member DAVE;
  ``beta``  owner+RA BEA, pledge far above her stake (the ledger pays it nothing);
  ``gamma`` owner+RA GUS, earns less than its cost (F = L, S = 0);
  ``delta`` owner DINA, RA DAN, who deregisters in E3 (rewards of E2 and E3 are lost); it
            retires at E4 (no refund: DAN is unregistered);
  ``eps``   owner EVE, RA ED; never makes a block (R = L = 0); retires at E4 (refund to ED, who
            withdraws it in the first block of E4).
- E1: an MIR to ERIN (registered) and FRANK (not registered); ALICE pays DAVE (the shares of
  E3 differ from those of E2).
- E2: the retirement certificates of delta and eps (retirement epoch 4).
- E3: DAN deregisters.

``StoryLedger`` answers ``rewardsProvenance`` and ``rewardAccountSummaries`` for a Simulator
serving such a chain: blocks made are counted on the simulator's chain, stakes come from an
independent replay (``tests.model.Model``) of the chain up to the snapshot, and the leader
reward follows the ledger's formula (``leader_reward`` of the demo's simulated ledger,
``indexer.demo.ledger``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from indexer.chain.decode import decode_block
from indexer.demo.ledger import leader_reward
from indexer.demo.scenarios import Purse
from indexer.simulator.chain import (
    ChainBuilder,
    Pool,
    Wallet,
    ada,
    deleg_cert,
    dereg_cert,
    mir_proposal,
    pool_reg_cert,
    pool_retire_cert,
    reg_cert,
)
from indexer.simulator.network import Network
from indexer.simulator.server import Simulator
from tests.model import Model

Json = dict[str, Any]
ADA = 1_000_000
BLOCKS_PER_EPOCH = 8
EPOCH_LENGTH = 100

ALICE, BOB, CAROL, DAVE = Wallet("r-alice"), Wallet("r-bob"), Wallet("r-carol"), Wallet("r-dave")
BEA, GUS, DINA, DAN = Wallet("r-bea"), Wallet("r-gus"), Wallet("r-dina"), Wallet("r-dan")
EVE, ED, ERIN, FRANK = Wallet("r-eve"), Wallet("r-ed"), Wallet("r-erin"), Wallet("r-frank")
ALPHA, BETA, GAMMA = Pool("r-alpha"), Pool("r-beta"), Pool("r-gamma")
DELTA, EPS, OTHER = Pool("r-delta"), Pool("r-eps"), Pool("r-other")
POOLS = (ALPHA, BETA, GAMMA, DELTA, EPS)

# total rewards R per block made (the simulated ledger's "pool pot"; not the real formula)
RATE = {ALPHA.id: 1_234_567_891, BETA.id: 2_000_000_000, GAMMA.id: 100 * ADA,
        DELTA.id: 987_654_321, EPS.id: 1_000_000_000}
COST = 340 * ADA
MIR = {ERIN: 1_000 * ADA, FRANK: 500 * ADA}
POOL_DEPOSIT = 500 * ADA  # the simulator's genesis stakePoolDeposit
RETIRE_AT = 4


def reward_network() -> Network:
    return Network.two_era(byron_epochs=0, shelley_len=EPOCH_LENGTH, name="rewards")


def _issuer(epoch: int, j: int, variant: str) -> Pool:
    if epoch < 2:
        return OTHER
    if variant == "fork" and epoch == 2 and j >= 6:
        return ALPHA
    late = epoch >= RETIRE_AT  # delta and eps are reaped at B(4)
    return [ALPHA, ALPHA, BETA, GAMMA, OTHER if late else DELTA, ALPHA, OTHER, ALPHA][j]


@dataclass
class Story:
    net: Network
    blocks: list[Json]
    by_epoch: dict[int, list[Json]] = field(default_factory=dict)

    @property
    def last_epoch(self) -> int:
        return max(self.by_epoch)


Extra = Mapping[tuple[int, int], Callable[[Purse], list[Json]]]


def build_story(*, epochs: int = 7, variant: str = "main", fork_from: tuple[int, int] = (2, 6),
                extra: Extra | None = None) -> Story:
    """The story's chain over ``epochs`` epochs. ``variant="fork"`` is the same chain up to
    block ``fork_from`` (epoch, index), then another branch: other issuers there (alpha makes
    two more blocks in E2) and other block ids from there on; the transactions are the same.
    ``extra`` adds transactions, made with the story's purse, at (epoch, block index) places
    the story leaves empty."""
    net = reward_network()
    nid = net.network_id
    cb = ChainBuilder(net, default_issuer=OTHER)
    purse = Purse(cb)

    def fund() -> list[Json]:
        amounts = {ALICE: 1_000_000 * ADA, BOB: 400_000 * ADA, CAROL: 50_000 * ADA,
                   DAVE: 200_000 * ADA, BEA: 50_000 * ADA, GUS: 30_000 * ADA,
                   DINA: 80_000 * ADA, DAN: 10_000 * ADA, EVE: 60_000 * ADA, ED: 5_000 * ADA,
                   ERIN: 7_000 * ADA, FRANK: 3_000 * ADA}
        regs = [reg_cert(w) for w in amounts if w != FRANK]
        return [purse.faucet(amounts, certificates=regs)]

    def register_pools() -> list[Json]:
        def reg(pool: Pool, owners: list[Wallet], ra: Wallet, pledge: int, margin: str) -> Json:
            return pool_reg_cert(pool, owners=owners, reward=ra, pledge=pledge, cost=COST,
                                 margin=margin, network_id=nid)
        certs = [reg(ALPHA, [ALICE, BOB], CAROL, 500_000 * ADA, "1/50"),
                 reg(BETA, [BEA], BEA, 1_000_000_000 * ADA, "1/10"),
                 reg(GAMMA, [GUS], GUS, 10_000 * ADA, "3/100"),
                 reg(DELTA, [DINA], DAN, 50_000 * ADA, "1/20"),
                 reg(EPS, [EVE], ED, 50_000 * ADA, "0/1")]
        delegs = {ALICE: ALPHA, BOB: ALPHA, CAROL: ALPHA, DAVE: ALPHA, BEA: BETA, GUS: GAMMA,
                  DINA: DELTA, DAN: DELTA, EVE: EPS, ED: EPS}
        certs += [deleg_cert(w, p) for w, p in delegs.items()]
        return [purse.pay(ALICE, [], deposit=5 * POOL_DEPOSIT, certificates=certs)]

    def mir() -> list[Json]:
        return [purse.pay(ERIN, [], proposals=[mir_proposal(MIR)])]

    def payment() -> list[Json]:
        return [purse.pay(ALICE, [(DAVE, DAVE.address(nid), 100_000 * ADA)])]

    def retire() -> list[Json]:
        return [purse.pay(DINA, [], certificates=[pool_retire_cert(DELTA, RETIRE_AT),
                                                  pool_retire_cert(EPS, RETIRE_AT)])]

    def deregister() -> list[Json]:
        return [purse.pay(DAN, [], certificates=[dereg_cert(DAN)])]

    def withdraw_refund() -> list[Json]:
        return [purse.pay(ED, [], withdrawn=POOL_DEPOSIT,
                          withdrawals={ED.stake_address(nid): POOL_DEPOSIT})]

    events: dict[tuple[int, int], Callable[[], list[Json]]] = {
        (0, 0): fund, (0, 1): register_pools, (1, 2): mir, (1, 4): payment, (2, 5): retire,
        (3, 1): deregister, (4, 0): withdraw_refund}
    for at, make_extra in (extra or {}).items():
        assert at not in events, f"the story already has a transaction at {at}"
        events[at] = lambda make_extra=make_extra: make_extra(purse)
    story = Story(net, [])
    parent: Json | None = None
    for epoch in range(epochs):
        for j in range(BLOCKS_PER_EPOCH):
            make = events.get((epoch, j))
            txs = make() if make else []
            forked = variant == "fork" and (epoch, j) >= fork_from
            slot = net.first_slot(epoch) + j * (EPOCH_LENGTH // BLOCKS_PER_EPOCH) + 3
            parent = cb.block(parent, slot, txs, _issuer(epoch, j, variant),
                              salt="fork" if forked else "")
            story.blocks.append(parent)
            story.by_epoch.setdefault(epoch, []).append(parent)
    return story


# --- the simulated ledger -----------------------------------------------------------------------


@dataclass(frozen=True)
class PoolFigures:
    total: int  # R
    leader: int  # L
    blocks: int
    owners_stake: int
    pool_stake: int
    delegators: dict[str, int]  # credential hex -> stake


class StoryLedger:
    """The ledger-state answers of a simulator serving a story chain."""

    def __init__(self, sim: Simulator, *, rates: dict[str, int] | None = None,
                 rewards: Callable[[str, int], int] | None = None) -> None:
        self.sim, self.net = sim, sim.network
        self.rates = rates or RATE
        self.rewards = rewards or (lambda cred_hex, epoch: 10**15)
        self.queries: list[tuple[str, int]] = []
        self.summaries_asked: list[tuple[int, list[str]]] = []

    def install(self) -> StoryLedger:
        self.sim.rewards_provenance = self.rewards_provenance
        self.sim.reward_account_summaries = self.reward_account_summaries
        return self

    def _chain_upto(self, tip: Json) -> list[Json]:
        chain = self.sim.chain
        upto = next(i for i, b in enumerate(chain) if b["id"] == tip["id"])
        return chain[:upto + 1]

    def figures(self, epoch: int, tip: Json | None = None) -> dict[str, PoolFigures]:
        """What the ledger says about the rewards of blocks made in ``epoch`` (asked during
        epoch + 1, at ``tip``, default the simulator's tip): only pools that made blocks."""
        chain = self._chain_upto(tip or self.sim.chain[-1])
        by_vkey = {p.vkey: p for p in (*POOLS, OTHER)}
        made: dict[str, int] = {}
        for b in chain:
            if self.net.epoch_of(b["slot"]) == epoch and b.get("type") == "praos":
                pool = by_vkey[b["issuer"]["verificationKey"]]
                made[pool.id] = made.get(pool.id, 0) + 1
        # the "go" snapshot: the chain after the last block of epoch - 2
        snap_end = self.net.first_slot(epoch - 1) if epoch >= 1 else 0
        model = Model(network_id=self.net.network_id, epoch_of=self.net.epoch_of)
        for b in chain:
            if b["slot"] < snap_end:
                decoded = decode_block(b)
                if decoded is not None:
                    model.apply(decoded)
        params = {c.cert.pool: c.cert for c in model._params(epoch).values()}  # type: ignore[union-attr]
        out: dict[str, PoolFigures] = {}
        for pool in POOLS:
            cert = params.get(pool.hash)
            if cert is None or not made.get(pool.id):
                continue
            delegators = {cred[1:].hex(): model._balance(cred, True)
                          for cred in model.registered
                          if model.registered[cred] and model._delegated(cred, pool.hash)}
            pool_stake = sum(delegators.values())
            owners_hex = {o[1:].hex() for o in cert.owners}
            owners_stake = sum(s for c, s in delegators.items() if c in owners_hex)
            if owners_stake < cert.pledge:
                total = leader = 0
            else:
                total = self.rates[pool.id] * made[pool.id]
                leader = leader_reward(total, cert.cost, Fraction(cert.margin), owners_stake,
                                       pool_stake)
            out[pool.id] = PoolFigures(total, leader, made[pool.id], owners_stake, pool_stake,
                                       delegators)
        return out

    def rewards_provenance(self, epoch: int, tip: Json) -> Json:
        self.queries.append((tip["id"], epoch))
        pools = self.figures(epoch - 1, tip) if epoch >= 1 else {}
        total_stake = sum(f.pool_stake for f in pools.values()) or 1
        return {
            "totalStake": ada(total_stake), "activeStake": ada(total_stake), "fees": ada(0),
            "incentives": ada(sum(f.total for f in pools.values())), "treasuryTax": ada(0),
            "totalRewards": ada(sum(f.total for f in pools.values())), "efficiency": "1/1",
            "stakePools": {pid: {
                "relativeStake": f"{f.pool_stake}/{total_stake}",
                "blocksMade": f.blocks,
                "totalRewards": ada(f.total),
                "leaderReward": ada(f.leader),
                "delegators": [{"from": "verificationKey", "credential": c, "stake": ada(s)}
                               for c, s in sorted(f.delegators.items())],
            } for pid, f in pools.items()},
        }

    def reward_account_summaries(self, creds_hex: list[str], tip: Json) -> list[Json]:
        epoch = self.net.epoch_of(tip["slot"])
        self.summaries_asked.append((epoch, list(creds_hex)))
        return [{"from": "verificationKey", "credential": c,
                 "rewards": ada(self.rewards(c, epoch)), "deposit": ada(2 * ADA)}
                for c in creds_hex]
