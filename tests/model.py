"""A from-scratch reference model of docs/spec.md §3-§4 and §6 over decoded blocks, written
independently of the SQL: a plain in-memory replay. Tests compare the database's public views
with it after arbitrary sequences of forward blocks, rollbacks and restarts."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from indexer.chain.address import pool_bech32, stake_address
from indexer.chain.types import (
    Block,
    PoolRegistration,
    PoolRetirement,
    StakeDelegation,
    StakeDeregistration,
    StakeRegistration,
)


@dataclass
class PoolCert:
    slot: int
    tx_index: int
    cert_index: int
    epoch: int
    cert: PoolRegistration | PoolRetirement
    active: int | None = None


@dataclass
class Model:
    network_id: int
    epoch_of: Any  # slot -> epoch
    pool_deposit: int = 500_000_000
    pools: set[bytes] | None = None
    utxo: dict[tuple[bytes, int], tuple[Any, int]] = field(default_factory=dict)
    registered: dict[bytes, bool] = field(default_factory=dict)
    delegation: dict[bytes, tuple[bytes, int]] = field(default_factory=dict)  # pool, epoch
    reg_pointer: dict[tuple[int, int, int], bytes] = field(default_factory=dict)
    certs: list[PoolCert] = field(default_factory=list)
    reaped: dict[bytes, list[int]] = field(default_factory=dict)
    mirs: list[tuple[int, str, bytes, int]] = field(default_factory=list)  # epoch, era, cred, amt
    epoch: int | None = None
    era: str = "byron"
    pool_epoch: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    owner_epoch: dict[tuple[str, int, str], dict[str, Any]] = field(default_factory=dict)
    credits: list[tuple[Any, ...]] = field(default_factory=list)
    withdrawals: list[tuple[Any, ...]] = field(default_factory=list)
    blocks_made: dict[tuple[bytes, int], int] = field(default_factory=dict)

    # --- chain ---------------------------------------------------------------------------------

    def apply(self, block: Block) -> None:
        epoch = self.epoch_of(block.slot)
        if self.epoch is not None:
            for x in range(self.epoch + 1, epoch + 1):
                self.boundary(x, block.era)
        self.epoch, self.era = epoch, block.era
        if block.issuer is not None:
            key = (block.issuer, epoch)
            self.blocks_made[key] = self.blocks_made.get(key, 0) + 1
        for tx in block.transactions:
            for txin in tx.inputs:
                self.utxo.pop((txin.tx_id, txin.index), None)
            for out in tx.outputs:
                self.utxo[(tx.id, out.index)] = (out.cred or out.pointer, out.lovelace)
            for w in tx.withdrawals:
                self.withdrawals.append((tx.id.hex(), block.slot, epoch,
                                         stake_address(w.cred, self.network_id), w.amount))
            for m in tx.mir:
                self.mirs.append((epoch, block.era, m.cred, m.amount))
            for cert in tx.certificates:
                self._cert(block.slot, tx.index, epoch, cert)

    def _cert(self, slot: int, tx_index: int, epoch: int, cert: Any) -> None:
        if isinstance(cert, StakeRegistration):
            self.registered[cert.cred] = True
            self.delegation.pop(cert.cred, None)
            self.reg_pointer[(slot, tx_index, cert.cert_index)] = cert.cred
        elif isinstance(cert, StakeDeregistration):
            self.registered[cert.cred] = False
            self.delegation.pop(cert.cred, None)
        elif isinstance(cert, StakeDelegation):
            self.delegation[cert.cred] = (cert.pool, epoch)
        else:
            pc = PoolCert(slot, tx_index, cert.cert_index, epoch, cert)
            if isinstance(cert, PoolRegistration):
                pc.active = epoch + (3 if self._pool_registered(cert.pool, epoch) else 2)
            self.certs.append(pc)

    def _pool_registered(self, pool: bytes, epoch: int) -> bool:
        regs = [c for c in self.certs
                if c.cert.pool == pool and isinstance(c.cert, PoolRegistration)]
        if not regs:
            return False
        last_reg = regs[-1]
        return not any(r > last_reg.epoch for r in self.reaped.get(pool, []))

    # --- boundaries ----------------------------------------------------------------------------

    def boundary(self, x: int, era: str) -> None:
        self._credit_mir(x)
        self._snap(x + 1, era not in ("conway", "dijkstra"))
        self._reap(x)

    def _credit_mir(self, x: int) -> None:
        per: dict[bytes, int] = {}
        for epoch, era, cred, amount in self.mirs:
            if epoch != x - 1:
                continue
            if era in ("shelley", "allegra", "mary"):
                per[cred] = amount
            else:
                per[cred] = per.get(cred, 0) + amount
        for cred, amount in per.items():
            if self.registered.get(cred) and amount > 0:
                self.credits.append((stake_address(cred, self.network_id), None, "mir", x - 1,
                                     x, amount))

    def _params(self, e: int) -> dict[bytes, PoolCert]:
        out: dict[bytes, PoolCert] = {}
        for c in self.certs:  # in chain order: the latest wins
            if isinstance(c.cert, PoolRegistration) and c.active is not None and c.active <= e:
                out[c.cert.pool] = c
        return {p: c for p, c in out.items()
                if not any(r > c.epoch and r + 1 < e for r in self.reaped.get(p, []))
                and (self.pools is None or p in self.pools)}

    def _balance(self, cred: bytes, pointers: bool) -> int:
        total = 0
        for ref, amount in self.utxo.values():
            by_pointer = (pointers and isinstance(ref, tuple)
                          and self.reg_pointer.get(ref) == cred and self.registered.get(cred))
            if ref == cred or by_pointer:
                total += amount
        return total

    def _delegated(self, cred: bytes, pool: bytes) -> bool:
        d = self.delegation.get(cred)
        if d is None or d[0] != pool:
            return False
        return not any(r > d[1] for r in self.reaped.get(pool, []))

    def _snap(self, e: int, pointers: bool) -> None:
        for pool, pc in self._params(e).items():
            cert = pc.cert
            assert isinstance(cert, PoolRegistration)
            accounts = list(dict.fromkeys([*cert.owners, cert.reward_account]))
            bal = {a: self._balance(a, pointers) for a in accounts}
            total = sum(bal.values())
            pid = pool_bech32(pool)
            for a in accounts:
                share = Fraction(bal[a], total) if total else Fraction(1, len(accounts))
                self.owner_epoch[(pid, e, stake_address(a, self.network_id))] = {
                    "is_owner": a in cert.owners, "is_reward_account": a == cert.reward_account,
                    "delegated_to_pool": self._delegated(a, pool), "balance_lovelace": bal[a],
                    "stake_share": share}
            self.pool_epoch[(pid, e)] = {
                "pool_hash": pool,
                "reward_account": stake_address(cert.reward_account, self.network_id),
                "owners": [stake_address(o, self.network_id) for o in cert.owners],
                "pledge_lovelace": cert.pledge, "cost_lovelace": cert.cost,
                "margin": cert.margin, "accounts_balance_lovelace": total,
                "owners_balance_lovelace": sum(bal[o] for o in set(cert.owners)),
                "pledge_met": sum(bal[o] for o in set(cert.owners)
                                  if self._delegated(o, pool)) >= cert.pledge}

    def _reap(self, x: int) -> None:
        by_pool: dict[bytes, list[PoolCert]] = {}
        for c in self.certs:
            by_pool.setdefault(c.cert.pool, []).append(c)
        for pool, certs in by_pool.items():
            last = certs[-1]
            regs = [c for c in certs if isinstance(c.cert, PoolRegistration)]
            if isinstance(last.cert, PoolRetirement) and last.cert.retirement_epoch == x \
                    and regs and self._pool_registered(pool, x - 1):
                self.reaped.setdefault(pool, []).append(x)
                ra = regs[-1].cert.reward_account  # type: ignore[union-attr]
                if self.registered.get(ra):
                    self.credits.append((stake_address(ra, self.network_id), pool_bech32(pool),
                                         "pool_deposit_refund", x, x, self.pool_deposit))
