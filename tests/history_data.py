"""What Koios and Blockfrost would serve about a chain, in their real response shapes, for
``tests/fake_api.py``. Two origins:

- **A simulated chain** (the reward story of tests/reward_scenarios.py): the snapshot stakes,
  blocks made and the simulated ledger's R and L (``StoryLedger``), then what db-sync (behind
  both APIs) records of them: a leader row only when L > 0 and RA(e) is registered at B(e+2),
  member rows likewise, the APIs' fees from the distributed total.
- **The 11 real db-sync pool-epochs** (tests/data/realdata/dbsync_pool_rewards/): their L,
  member rewards, epoch stakes, cost and margin are real; db-sync gives numeric ids only, so
  the pool ids and stake addresses are stand-ins derived from those numbers
  (``dbsync_pool_id``, ``dbsync_stake_address``).

Both APIs compute their fee from the distributed total R_dist = L + Σ members: Koios
``pool_fees`` = round(c + m·(R_dist − c)) (grest.pool_history_cache, double precision),
Blockfrost ``fees`` = c + floor(m·(R_dist − c)); both give L itself when L < c.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from indexer.chain.address import pool_bech32, stake_address
from indexer.chain.decode import decode_block
from indexer.simulator.server import Simulator
from tests.fake_api import FakeApi
from tests.model import Model
from tests.reward_scenarios import POOLS, StoryLedger

REALDATA = Path(__file__).parent / "data" / "realdata"
MAINNET_MAGIC = 764824073  # tests/data/realdata/genesis: mainnet-shelley-genesis.json


@dataclass
class PoolEpoch:
    """One pool-epoch as db-sync knows it."""

    pool_id: str
    epoch: int
    cost: int
    margin: Fraction
    blocks: int
    stakes: dict[str, int]  # stake address -> stake in S_e (delegated to this pool)
    rewards: list[tuple[str, str, int]] = field(default_factory=list)  # addr, type, amount

    @property
    def sigma(self) -> int:
        return sum(self.stakes.values())

    @property
    def leader(self) -> int:
        return sum(a for _, t, a in self.rewards if t == "leader")

    @property
    def distributed(self) -> int:
        return sum(a for _, _, a in self.rewards)

    def koios_fee(self) -> int:
        if self.leader < self.cost:
            return self.leader
        return math.floor(self.cost + self.margin * (self.distributed - self.cost)
                          + Fraction(1, 2))

    def blockfrost_fee(self) -> int:
        if self.leader < self.cost:
            return self.leader
        return self.cost + math.floor(self.margin * (self.distributed - self.cost))


@dataclass
class Chain:
    magic: int
    tip_epoch: int
    pool_epochs: list[PoolEpoch]
    pools: list[str]


# --- serving ------------------------------------------------------------------------------------


def _koios_history(pe: PoolEpoch) -> dict[str, Any]:
    """A Koios v1 pool_history row (schema pool_history_info; values as Koios renders them)."""
    paid = pe.distributed > 0
    fee = pe.koios_fee() if pe.blocks else 0
    return {"epoch_no": pe.epoch, "active_stake": str(pe.sigma), "active_stake_pct": None,
            "saturation_pct": 0.0, "block_cnt": pe.blocks, "delegator_cnt": len(pe.stakes),
            "margin": float(pe.margin), "fixed_cost": str(pe.cost),
            "pool_fees": (str(fee) if paid or not pe.blocks else None),
            "deleg_rewards": (str(pe.distributed - fee) if paid or not pe.blocks else None),
            "member_rewards": str(sum(a for _, t, a in pe.rewards if t == "member")),
            "epoch_ros": 0}


def serve_koios(api: FakeApi, chain: Chain) -> None:
    history = [(pe.pool_id, _koios_history(pe)) for pe in chain.pool_epochs
               if pe.epoch <= chain.tip_epoch - 2 and pe.stakes]
    rewards = [{"stake_address": addr, "earned_epoch": pe.epoch, "spendable_epoch": pe.epoch + 2,
                "amount": str(amount), "type": kind, "pool_id_bech32": pe.pool_id}
               for pe in chain.pool_epochs for addr, kind, amount in pe.rewards]
    stakes = [{"stake_address": addr, "pool_id_bech32": pe.pool_id, "epoch_no": pe.epoch,
               "active_stake": str(s)} for pe in chain.pool_epochs for addr, s in pe.stakes.items()]
    api.koios_get["/genesis"] = lambda p: [{
        "networkmagic": str(chain.magic),
        "networkid": "Mainnet" if chain.magic == MAINNET_MAGIC else "Testnet",
        "epochlength": "432000", "slotlength": "1", "maxlovelacesupply": "45000000000000000",
        "systemstart": 1506203091, "activeslotcoeff": "0.05", "slotsperkesperiod": "129600",
        "maxkesrevolutions": "62", "securityparam": "2160", "updatequorum": "5",
        "alonzogenesis": "{}"}]
    api.koios_get["/tip"] = lambda p: [{
        "hash": "00" * 32, "epoch_no": chain.tip_epoch, "abs_slot": 0, "epoch_slot": 0,
        "block_height": 0, "block_time": 0}]
    api.koios_get["/pool_history"] = lambda p: sorted(
        (h for pool, h in history if pool == p.get("_pool_bech32")),
        key=lambda h: -h["epoch_no"])  # Koios: newest first unless ordered
    api.koios_post["/account_reward_history"] = lambda b: [
        r for r in rewards if r["stake_address"] in b["_stake_addresses"]]
    api.koios_post["/account_stake_history"] = lambda b: [
        r for r in stakes if r["stake_address"] in b["_stake_addresses"]]
    api.koios_post["/pool_info"] = lambda b: [
        {"pool_id_bech32": p} for p in chain.pools if p in b["_pool_bech32_ids"]]


def serve_blockfrost(api: FakeApi, chain: Chain) -> None:
    api.blockfrost["/genesis"] = {
        "active_slots_coefficient": 0.05, "update_quorum": 5,
        "max_lovelace_supply": "45000000000000000", "network_magic": chain.magic,
        "epoch_length": 432000, "system_start": 1506203091, "slots_per_kes_period": 129600,
        "slot_length": 1, "max_kes_evolutions": 62, "security_param": 2160}
    api.blockfrost["/epochs/latest"] = {"epoch": chain.tip_epoch, "start_time": 0,
                                        "end_time": 0, "block_count": 0, "tx_count": 0,
                                        "output": "0", "fees": "0", "active_stake": None}
    for pool in chain.pools:
        api.blockfrost[f"/pools/{pool}/history"] = [
            {"epoch": pe.epoch, "blocks": pe.blocks, "active_stake": str(pe.sigma),
             "active_size": 0.0, "delegators_count": len(pe.stakes),
             "rewards": str(pe.distributed), "fees": str(pe.blockfrost_fee())}
            for pe in sorted(chain.pool_epochs, key=lambda x: x.epoch)
            if pe.pool_id == pool and pe.epoch <= chain.tip_epoch]
    accounts: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for pe in sorted(chain.pool_epochs, key=lambda x: x.epoch):
        for addr, s in pe.stakes.items():
            accounts.setdefault(addr, {"rewards": [], "history": []})["history"].append(
                {"active_epoch": pe.epoch, "amount": str(s), "pool_id": pe.pool_id})
        for addr, kind, amount in pe.rewards:
            accounts.setdefault(addr, {"rewards": [], "history": []})["rewards"].append(
                {"epoch": pe.epoch, "amount": str(amount), "pool_id": pe.pool_id, "type": kind})
    for addr, lists in accounts.items():
        for what, rows in lists.items():
            api.blockfrost[f"/accounts/{addr}/{what}"] = rows


# --- the reward story -------------------------------------------------------------------------


def _replay(sim: Simulator, before_slot: int) -> Model:
    net = sim.network
    model = Model(network_id=net.network_id, epoch_of=net.epoch_of)
    for raw in sim.chain:
        if raw["slot"] < before_slot:
            block = decode_block(raw)
            if block is not None:
                model.apply(block)
    return model


def story_chain(sim: Simulator, ledger: StoryLedger, tip_epoch: int) -> Chain:
    """What db-sync records of the story's pools, epochs 2 .. tip_epoch (as served at the
    start of ``tip_epoch``: only rewards credited by then)."""
    net = sim.network
    nid = net.network_id
    out: list[PoolEpoch] = []
    for e in range(2, tip_epoch + 1):
        snap = _replay(sim, net.first_slot(e - 1))  # S_e: after the last block of e-2
        paid = _replay(sim, net.first_slot(e + 2))  # who is registered at B(e+2)
        figures = ledger.figures(e) if e <= tip_epoch - 1 else {}
        params = snap._params(e)
        for pool in POOLS:
            pc = params.get(pool.hash)
            if pc is None:
                continue
            cert: Any = pc.cert
            delegators = {c: snap._balance(c, True) for c in snap.registered
                          if snap.registered[c] and snap._delegated(c, pool.hash)}
            blocks = sum(1 for raw in sim.chain if net.epoch_of(raw["slot"]) == e
                         and raw.get("issuer", {}).get("verificationKey") == pool.vkey)
            pe = PoolEpoch(pool.id, e, cert.cost, Fraction(cert.margin), blocks,
                           {stake_address(c, nid): s for c, s in delegators.items()})
            f = figures.get(pool.id)
            if f is not None and e + 2 <= tip_epoch:
                pe.rewards = _credited(pe, f.total, f.leader, cert, delegators, paid, nid)
            out.append(pe)
    return Chain(net.network_magic, tip_epoch, out, [p.id for p in POOLS])


def _credited(pe: PoolEpoch, total: int, leader: int, cert: Any, delegators: dict[bytes, int],
              paid: Model, nid: int) -> list[tuple[str, str, int]]:
    rows = []
    if leader > 0 and paid.registered.get(cert.reward_account):
        rows.append((stake_address(cert.reward_account, nid), "leader", leader))
    sigma = sum(delegators.values())
    for c, s in sorted(delegators.items()):
        if c in cert.owners or total <= pe.cost or not sigma:
            continue
        amount = math.floor((total - pe.cost) * (1 - pe.margin) * Fraction(s, sigma))
        if amount > 0 and paid.registered.get(c):
            rows.append((stake_address(c, nid), "member", amount))
    return rows


# --- the real db-sync pool-epochs ----------------------------------------------------------------


def _h224(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=28).digest()


def dbsync_pool_id(n: int) -> str:
    return pool_bech32(_h224(f"dbsync-pool-{n}"))


def dbsync_cred(n: int) -> bytes:
    return b"\x00" + _h224(f"dbsync-stake-{n}")


def dbsync_stake_address(n: int) -> str:
    return stake_address(dbsync_cred(n), 1)


def dbsync_cases() -> list[dict[str, Any]]:
    folder = REALDATA / "dbsync_pool_rewards"
    return [dict(json.loads(p.read_text()), file=p.name)
            for p in sorted(folder.glob("epoch*_pool*.json"))]


def dbsync_chain(cases: list[dict[str, Any]], tip_epoch: int = 507) -> Chain:
    out = []
    for case in cases:
        pool = dbsync_pool_id(case["dbsync_pool_id"])
        pe = PoolEpoch(pool, case["epoch"], case["cost"], Fraction(case["margin"]),
                       case["blocks_by_pool"] or 1,  # not recorded where d >= 0.8
                       {dbsync_stake_address(a): s for a, s in case["epoch_stake"]})
        pe.rewards = [(dbsync_stake_address(a), kind.lower(), amount)
                      for a, kind, amount, _, _ in case["rewards"]]
        out.append(pe)
    return Chain(MAINNET_MAGIC, tip_epoch, out, sorted({pe.pool_id for pe in out}))
