"""``indexer demo``: index the bundled scripted chain and show one shared pool's accounting.

Nothing needs to be installed or running beforehand: without ``--dsn`` an embedded PostgreSQL
is started (``indexer.embedded_pg``), the bundled Ogmios simulator serves the demo chain
(``indexer.simulator.scenarios``: owners alice and bob, later frank, rewards to carol), and the
real daemon follows it into a fresh database ``indexer_demo``.

The chain is served an epoch at a time, as a node would produce it, and the daemon is let to
catch up each time: it captures each epoch's reward figures from the ledger while it is live
(SPEC §5), exactly as in production. The simulator has no ledger, so ``DemoLedger`` stands in
for Ogmios' ``rewardsProvenance`` and ``rewardAccountSummaries``: it counts the demo pool's
blocks on the simulated chain and applies the ledger's reward formulas to the stake snapshot
replayed from that chain. The amounts are made up (a fixed reward per block); the way they
are split is the product's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from indexer import daemon
from indexer import log as logsetup
from indexer.address import pool_bech32
from indexer.config import Config, DatabaseConfig, IndexerConfig, LogConfig, OgmiosConfig
from indexer.decode import decode_block
from indexer.embedded_pg import EmbeddedPostgres
from indexer.simulator.chain import Pool, Wallet
from indexer.simulator.network import Network
from indexer.simulator.scenarios import (
    DEMO_POOL,
    DEMO_WALLETS,
    build_demo_chain,
    demo_network,
)
from indexer.simulator.server import Simulator
from indexer.store import Store
from indexer.types import (
    Block,
    Cred,
    PoolRegistration,
    StakeDelegation,
    StakeDeregistration,
    StakeRegistration,
)

__all__ = [
    "DEFAULT_DATABASE",
    "DemoLedger",
    "DemoReport",
    "PoolRewards",
    "build_report",
    "connect_help",
    "fresh_database",
    "index_demo_chain",
    "leader_reward",
    "run_demo",
    "short_address",
]

Json = dict[str, Any]
DEFAULT_DATABASE = "indexer_demo"
REWARD_PER_BLOCK = 654_321_987  # lovelace the demo pool earns per block made (before splits)
KEY_DEPOSIT = 2_000_000  # the simulated network's stakeCredentialDeposit
LIVE_DISTANCE = 5  # blocks from the tip within which the daemon asks the ledger (see _steps)
STEP_TIMEOUT_S = 60.0
WIDTH = 100


class DemoError(RuntimeError):
    pass


# --- a stand-in for the ledger's reward calculation ---------------------------------------------


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


# --- driving the daemon -------------------------------------------------------------------------


def _steps(net: Network, chain: list[Json]) -> list[list[Json]]:
    """The chain in the order a node would make it: everything up to the end of the first
    Praos epoch at once (the Byron blocks have no ledger rewards to ask for), then one epoch at
    a time. Served that way, the daemon is live (within LIVE_DISTANCE blocks of the tip) in
    every Praos epoch and asks the ledger for the previous epoch's rewards."""
    first_praos = net.first_praos_era
    assert first_praos is not None
    steps: list[list[Json]] = [[]]
    for block in chain:
        epoch = net.epoch_of(block["slot"])
        if epoch > first_praos.start_epoch and steps[-1] and \
                net.epoch_of(steps[-1][-1]["slot"]) != epoch:
            steps.append([])
        steps[-1].append(block)
    return steps


def demo_config(url: str, dsn: str) -> Config:
    return Config(ogmios=OgmiosConfig(url=url, reconnect_max_s=1.0),
                  database=DatabaseConfig(dsn),
                  indexer=IndexerConfig(live_distance_blocks=LIVE_DISTANCE,
                                        progress_interval_s=3600.0),
                  log=LogConfig(level="warning"))


async def _wait_step(conn: asyncpg.Connection, task: asyncio.Task[None], tip: Json,
                     epoch: int, praos: bool) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        if task.done():
            task.result()  # the daemon's error
            raise DemoError("the indexer stopped unexpectedly")
        row = await conn.fetchrow("SELECT block_hash FROM chain_tip")
        at_tip = row is not None and row["block_hash"] == tip["id"]
        if at_tip and (not praos or await conn.fetchval(
                "SELECT count(*) FROM live_epoch WHERE boundary_epoch = $1", epoch)):
            return
        if time.monotonic() > deadline:
            if at_tip:
                raise DemoError(f"the indexer reached the tip of epoch {epoch} but did not "
                                f"capture the rewards of epoch {epoch - 1} from the simulated "
                                f"ledger within {STEP_TIMEOUT_S:.0f} s")
            raise DemoError(f"the indexer did not reach the simulator's tip (slot {tip['slot']}"
                            f", epoch {epoch}) within {STEP_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.02)


async def index_demo_chain(dsn: str, net: Network | None = None) -> Simulator:
    """Serve the demo chain step by step and let the real daemon index it into ``dsn``."""
    net = net or demo_network()
    chain = build_demo_chain(net)
    sim = Simulator(net)
    DemoLedger(sim).install()
    await sim.start()
    stop = asyncio.Event()
    store = await Store.connect(dsn, max_size=1)
    try:
        await store.migrate()  # the daemon would; done first so that progress can be polled
    finally:
        await store.close()
    conn = await asyncpg.connect(dsn)
    task: asyncio.Task[None] | None = None
    try:
        for step in _steps(net, chain):
            sim.extend(*step)
            if task is None:
                task = asyncio.create_task(daemon.run(demo_config(sim.url or "", dsn), stop))
            tip = step[-1]
            epoch = net.epoch_of(tip["slot"])
            await _wait_step(conn, task, tip, epoch, net.era_of(tip["slot"]) != "byron")
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 30)  # the daemon commits and exits
    finally:
        stop.set()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await conn.close()
        await sim.stop()
    return sim


# --- the database ---------------------------------------------------------------------------------


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise DemoError(f"--dsn must be a postgresql:// URL, got {dsn!r}")
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _without_password(dsn: str) -> tuple[str, bool]:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn, False
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "")
    return urlunsplit((parts.scheme, f"{user}@{netloc[1]}", parts.path, parts.query,
                       parts.fragment)), True


async def fresh_database(admin_dsn: str, name: str) -> str:
    """Drop and create database ``name`` on the server of ``admin_dsn``; returns its DSN."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise DemoError(f"invalid database name {name!r}")
    try:
        conn = await asyncpg.connect(admin_dsn, timeout=15)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise DemoError(f"cannot connect to PostgreSQL ({_without_password(admin_dsn)[0]}): "
                        f"{exc}") from exc
    try:
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except asyncpg.PostgresSyntaxError:  # before PostgreSQL 13
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


# --- the report -----------------------------------------------------------------------------------


def ada(lovelace: int | None) -> str:
    """Lovelace as ADA with 6 decimals and thousands separators; None as a dash."""
    if lovelace is None:
        return "—"
    sign = "-" if lovelace < 0 else ""
    whole, frac = divmod(abs(int(lovelace)), 1_000_000)
    return f"{sign}{whole:,}.{frac:06d}"


def short_address(addr: str) -> str:
    head, _, body = addr.partition("1")
    return f"{head}1…{body[-4:]}"


def percent(share: Decimal | None) -> str:
    return "—" if share is None else f"{Decimal(share) * 100:.4f}%"


def _names(network_id: int, wallets: Iterable[Wallet] = DEMO_WALLETS) -> dict[str, str]:
    return {w.stake_address(network_id): w.name for w in wallets}


def _account(addr: str, names: dict[str, str]) -> str:
    return f"{short_address(addr)} {names.get(addr, '')}".rstrip()


@dataclass
class DemoReport:
    sim: Simulator
    pool_id: str
    pool_epochs: list[asyncpg.Record]
    owner_rows: list[asyncpg.Record]
    certs: list[asyncpg.Record]
    events: list[asyncpg.Record]
    withdrawals: list[asyncpg.Record]
    tip: asyncpg.Record
    index_s: float

    def render(self) -> str:
        names = _names(self.sim.network.network_id)
        out: list[str] = []
        self._header(out, names)
        self._summary(out)
        self._accounts(out, names)
        self._events(out, names)
        return "\n".join(out)

    def _header(self, out: list[str], names: dict[str, str]) -> None:
        net, chain = self.sim.network, self.sim.chain
        txs = sum(len(b.get("transactions") or ()) for b in chain)
        eras = ", ".join(f"{e.name} from epoch {e.start_epoch}" for e in net.eras)
        out.append(_wrap(
            f"Indexed the bundled demo chain: network '{net.name}' (magic {net.network_magic}, "
            f"k = {net.k}; {eras}), {len(chain)} blocks and {txs} transactions in epochs "
            f"0-{self.tip['epoch_no']}, served an epoch at a time by the Ogmios simulator and "
            f"followed by the daemon in {self.index_s:.1f} s. Tip: slot {self.tip['slot']}, "
            f"height {self.tip['block_height']}, epoch {self.tip['epoch_no']}."))
        out.append("")
        out.append(f"Shared pool {self.pool_id} (\"demo\"), its certificates:")
        for c in self.certs:
            if c["kind"] != "registration":
                out.append(f"  epoch {c['epoch_no']}: retirement at epoch "
                           f"{c['retirement_epoch']}")
                continue
            owners = ", ".join(names.get(o, short_address(o)) for o in c["owners"])
            ra = c["reward_account"]
            out.append(_wrap(
                f"epoch {c['epoch_no']}: registration, in effect from epoch "
                f"{c['active_epoch_no']}: owners {owners}; reward account "
                f"{names.get(ra, short_address(ra))}; pledge "
                f"{ada(c['pledge_lovelace']).split('.')[0]} ADA, cost "
                f"{ada(c['cost_lovelace']).split('.')[0]} ADA, margin "
                f"{c['margin_num']}/{c['margin_den']}", indent="  ", then="      "))
        out.append("")

    def _summary(self, out: list[str]) -> None:
        out.append("Per epoch, in ADA. R = the pool's total rewards, L = its leader reward "
                   "(paid to the reward")
        out.append("account), F = operator fees, S = the owners' stake rewards = L - F. Rewards "
                   "of epoch e are")
        out.append("known during e+1 (provisional) and credited at the start of e+2.")
        out.append("")
        out.append(f"{'epoch':>5} {'blocks':>6}  {'status':<11} {'pledge':<6} {'R':>15} "
                   f"{'L':>15} {'F':>15} {'S':>15}")
        for p in self.pool_epochs:
            pledge = "met" if p["pledge_met"] else "NOT met"
            out.append(f"{p['epoch_no']:>5} {p['blocks_made']:>6}  {p['rewards_status']:<11} "
                       f"{pledge:<6} {ada(p['total_rewards_lovelace']):>15} "
                       f"{ada(p['leader_reward_lovelace']):>15} "
                       f"{ada(p['operator_fees_lovelace']):>15} "
                       f"{ada(p['stake_rewards_lovelace']):>15}")
        out.append("")

    def _accounts(self, out: list[str], names: dict[str, str]) -> None:
        out.append("Per epoch and account: balance = UTxO stake in the epoch's snapshot "
                   "(rewards excluded),")
        out.append("share = balance / all accounts' balance, op = F split equally among "
                   "owners, stake = S split")
        out.append("by share (owners and reward account RA), total = op + stake.")
        by_epoch: dict[int, list[asyncpg.Record]] = {}
        for r in self.owner_rows:
            by_epoch.setdefault(r["epoch_no"], []).append(r)
        head = (f"  {'account':<22} {'role':<8} {'balance':>16} {'share':>9} "
                f"{'op (F)':>12} {'stake (S)':>12} {'total':>12}")
        undelegated = False
        for p in self.pool_epochs:
            rows = by_epoch.get(p["epoch_no"], [])
            out.append("")
            out.append(f"epoch {p['epoch_no']} · {p['rewards_status']} · "
                       f"{self._epoch_note(p['epoch_no'])}")
            out.append(head)
            for r in rows:
                role = "+".join(x for x, on in (("owner", r["is_owner"]),
                                                ("RA", r["is_reward_account"])) if on)
                if not r["delegated_to_pool"]:
                    role, undelegated = role + "*", True
                out.append(f"  {_account(r['stake_address'], names):<22} {role:<8} "
                           f"{ada(r['balance_lovelace']):>16} {percent(r['stake_share']):>9} "
                           f"{ada(r['op_rewards_lovelace']):>12} "
                           f"{ada(r['stake_rewards_lovelace']):>12} "
                           f"{ada(r['rewards_lovelace']):>12}")
            known = [r for r in rows if r["rewards_lovelace"] is not None]
            out.append(f"  {'sum':<22} {'':<8} "
                       f"{ada(sum(r['balance_lovelace'] for r in rows)):>16} "
                       f"{percent(sum((Decimal(r['stake_share']) for r in rows), Decimal(0))):>9}"
                       f" {ada(_sum(known, 'op_rewards_lovelace')):>12} "
                       f"{ada(_sum(known, 'stake_rewards_lovelace')):>12} "
                       f"{ada(_sum(known, 'rewards_lovelace')):>12}")
        if undelegated:
            out.append("  * not delegated to the pool in that snapshot")
        out.append("")

    def _epoch_note(self, epoch: int) -> str:
        current = self.tip["epoch_no"]
        if epoch == current:
            return (f"the current epoch: its rewards are asked for during epoch {epoch + 1}")
        if epoch == current + 1:
            return "the next epoch: its stake snapshot is already taken"
        return f"spendable from epoch {epoch + 2}"

    def _events(self, out: list[str], names: dict[str, str]) -> None:
        out.append("Credits to reward accounts (view reward_event): MIR, and leader rewards "
                   "once credited.")
        out.append(f"  {'kind':<20} {'account':<22} {'earned':>6} {'spendable':>9} "
                   f"{'amount':>16}  source")
        for e in self.events:
            out.append(f"  {e['kind']:<20} {_account(e['stake_address'], names):<22} "
                       f"{e['earned_epoch']:>6} {e['spendable_epoch']:>9} "
                       f"{ada(e['amount_lovelace']):>16}  {e['source']}")
        if not self.events:
            out.append("  (none)")
        out.append("")
        out.append("Withdrawals from reward accounts (view withdrawal):")
        out.append(f"  {'epoch':>5} {'slot':>6} {'account':<22} {'amount':>16}  transaction")
        for w in self.withdrawals:
            out.append(f"  {w['epoch_no']:>5} {w['slot']:>6} "
                       f"{_account(w['stake_address'], names):<22} "
                       f"{ada(w['amount_lovelace']):>16}  {w['tx_id'][:16]}…")
        if not self.withdrawals:
            out.append("  (none)")
        out.append("")


def _wrap(text: str, indent: str = "", then: str = "") -> str:
    return textwrap.fill(text, WIDTH - 1, initial_indent=indent,
                         subsequent_indent=then or indent, break_on_hyphens=False)


def _sum(rows: Sequence[asyncpg.Record], key: str) -> int | None:
    return sum(r[key] for r in rows) if rows else None


async def build_report(dsn: str, sim: Simulator, pool_id: str, index_s: float) -> DemoReport:
    conn = await asyncpg.connect(dsn)
    try:
        return DemoReport(
            sim=sim, pool_id=pool_id,
            pool_epochs=await conn.fetch(
                "SELECT * FROM pool_epoch WHERE pool_id = $1 ORDER BY epoch_no", pool_id),
            owner_rows=await conn.fetch(
                "SELECT * FROM pool_owner_epoch WHERE pool_id = $1"
                " ORDER BY epoch_no, is_owner DESC, balance_lovelace DESC, stake_address",
                pool_id),
            certs=await conn.fetch(
                "SELECT * FROM pool_certificate WHERE pool_id = $1"
                " ORDER BY slot, tx_index, cert_index", pool_id),
            events=await conn.fetch(
                "SELECT * FROM reward_event ORDER BY spendable_epoch, kind, stake_address"),
            withdrawals=await conn.fetch("SELECT * FROM withdrawal ORDER BY slot, stake_address"),
            tip=await conn.fetchrow("SELECT * FROM chain_tip"),
            index_s=index_s)
    finally:
        await conn.close()


def _psql(embedded: EmbeddedPostgres | None) -> str:
    if shutil.which("psql"):
        return "psql"
    if embedded is not None and embedded.binaries is not None and embedded.binaries.psql:
        return str(embedded.binaries.psql)
    return "psql"


def connect_help(dsn: str, pool_id: str, last_epoch: int, psql: str,
                 note: str | None = None) -> str:
    shown, had_password = _without_password(dsn)
    lines = [f'  {psql} "{shown}"']
    if had_password:
        lines.append("  (password left out: add it, or set PGPASSWORD)")
    if note:
        lines.append(f"  ({note})")
    lines += [
        "",
        "and try, for example:",
        "  -- the pool, epoch by epoch",
        "  SELECT epoch_no, rewards_status, blocks_made, pledge_met, total_rewards_lovelace,",
        "         leader_reward_lovelace, operator_fees_lovelace, stake_rewards_lovelace",
        "    FROM pool_epoch ORDER BY epoch_no;",
        f"  -- each account's balance, share and part of the rewards of epoch {last_epoch}",
        "  SELECT stake_address, is_owner, is_reward_account, balance_lovelace,",
        "         round(stake_share * 100, 4) AS share_pct, op_rewards_lovelace,",
        "         stake_rewards_lovelace, rewards_lovelace, rewards_status",
        f"    FROM pool_owner_epoch WHERE epoch_no = {last_epoch} ORDER BY stake_address;",
        "  -- what each account has earned from the pool over all credited epochs",
        "  SELECT stake_address, sum(rewards_lovelace) / 1e6 AS ada",
        "    FROM pool_owner_epoch WHERE rewards_status = 'credited'",
        "   GROUP BY stake_address ORDER BY ada DESC;",
        "",
        "(views: chain_tip, pool_certificate, withdrawal, reward_event, pool_epoch, "
        "pool_owner_epoch;",
        f" pool {pool_id})",
    ]
    return "\n".join(lines)


# --- the command ----------------------------------------------------------------------------------


async def _wait_for_ctrl_c() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def run_demo(args: Any, *, print_fn: Callable[[str], None] = print) -> int:
    """``indexer demo``. ``args``: ``dsn`` (None = embedded PostgreSQL), ``keep`` (keep the
    embedded cluster running until Ctrl-C), optional ``database`` (default indexer_demo)."""
    dsn: str | None = getattr(args, "dsn", None)
    keep = bool(getattr(args, "keep", False))
    name = getattr(args, "database", None) or DEFAULT_DATABASE
    saved_logging = structlog.get_config()
    logsetup.configure("console", "warning")
    started = time.monotonic()
    try:
        async with AsyncExitStack() as stack:
            embedded: EmbeddedPostgres | None = None
            if dsn is None:
                embedded = EmbeddedPostgres()
                print_fn("Starting an embedded PostgreSQL (no --dsn given)…")
                dsn = await stack.enter_async_context(embedded)
                assert embedded.binaries is not None
                print_fn(_wrap(f"PostgreSQL {embedded.binaries.version()} from the "
                               f"{embedded.binaries.source} on port {embedded.port}, data in "
                               f"{embedded.data_dir} (started in {embedded.start_s:.1f} s)",
                               indent="  "))
            demo_dsn = await fresh_database(dsn, name)
            print_fn(f"Indexing the demo chain into database {name}…")
            print_fn("")
            index_started = time.monotonic()
            sim = await index_demo_chain(demo_dsn)
            index_s = time.monotonic() - index_started
            pool_id = DEMO_POOL.id
            report = await build_report(demo_dsn, sim, pool_id, index_s)
            print_fn(report.render())
            last = max((p["epoch_no"] for p in report.pool_epochs
                        if p["rewards_status"] in ("credited", "provisional")), default=0)
            psql = _psql(embedded)
            print_fn(f"The demo took {time.monotonic() - started:.1f} s in all.")
            print_fn("")
            if embedded is None:
                if keep:
                    print_fn("(--keep only matters for the embedded PostgreSQL.)")
                print_fn(f"Database {name} stays on your server. Explore the views with")
                print_fn(connect_help(demo_dsn, pool_id, last, psql))
                return 0
            if not keep:
                print_fn("The embedded PostgreSQL stops now and its data is deleted. To explore "
                         "the views, run")
                print_fn("`indexer demo --keep`: the database then keeps running until Ctrl-C, "
                         "and you connect with")
                placeholder = embedded.dsn_for(name).replace(f":{embedded.port}/", ":PORT/")
                print_fn(connect_help(placeholder, pool_id, last, psql,
                                      "PORT: the port that `indexer demo --keep` prints"))
                return 0
            print_fn("The embedded PostgreSQL keeps running until you press Ctrl-C (its data "
                     "is then deleted).")
            print_fn("Connect from another terminal with")
            print_fn(connect_help(embedded.dsn_for(name), pool_id, last, psql))
            sys.stdout.flush()
            with contextlib.suppress(asyncio.CancelledError):
                await _wait_for_ctrl_c()
            print_fn("\nStopping the embedded PostgreSQL.")
            return 0
    finally:
        structlog.configure(**saved_logging)


