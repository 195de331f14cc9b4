"""Random but ledger-plausible chains for property tests: payments to base, enterprise and
"franken" addresses, stake (de)registrations and delegations, pool registrations,
re-registrations and retirements, MIR, withdrawals and phase-2-invalid transactions."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import strategies as st

from indexer.simulator.chain import (
    ChainBuilder,
    Pool,
    Wallet,
    deleg_cert,
    dereg_cert,
    mir_proposal,
    pool_reg_cert,
    pool_retire_cert,
    reg_cert,
)
from indexer.simulator.network import Network

Json = dict[str, Any]
WALLETS = tuple(Wallet(f"w{i}") for i in range(5))
POOLS = (Pool("pa"), Pool("pb"))


def small_network(k: int = 6) -> Network:
    """One short Byron epoch, then 20-slot Shelley epochs: boundaries come often."""
    return Network.two_era(byron_epochs=1, byron_len=10, shelley_len=20, k=k)


@dataclass
class World:
    """What the generator knows of the chain so far (for plausible transactions)."""

    utxos: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)
    pools: set[str] = field(default_factory=set)
    faucet: int = 0


class RandomChain:
    def __init__(self, network: Network) -> None:
        self.net, self.cb = network, ChainBuilder(network)
        self.blocks: list[Json] = []
        self.worlds: list[World] = [World()]
        self.forks = 0
        self.max_len = 0  # the node never rolls back more than k below the highest tip

    def max_rollback(self) -> int:
        return max(0, min(len(self.blocks), self.net.k - (self.max_len - len(self.blocks))))

    @property
    def world(self) -> World:
        return self.worlds[-1]

    def rollback(self, depth: int) -> None:
        del self.blocks[len(self.blocks) - depth:]
        del self.worlds[len(self.worlds) - depth:]
        self.forks += 1

    def forward(self, data: st.DataObject, n: int) -> list[Json]:
        new = []
        for _ in range(n):
            parent = self.blocks[-1] if self.blocks else None
            slot = (parent["slot"] if parent and "slot" in parent else -1) + \
                data.draw(st.integers(1, 7))
            world = copy.deepcopy(self.world)
            txs = []
            if self.net.era_of(slot) != "byron":
                for _ in range(data.draw(st.integers(0, 3))):
                    txs.append(self._tx(data, world, self.net.epoch_of(slot), slot))
            block = self.cb.block(parent, slot, txs, issuer=data.draw(st.sampled_from(POOLS)),
                                  salt=f"f{self.forks}")
            self.blocks.append(block)
            self.worlds.append(world)
            new.append(block)
        self.max_len = max(self.max_len, len(self.blocks))
        return new

    # --- transactions --------------------------------------------------------------------------

    def _pay_input(self, data: st.DataObject, world: World) -> tuple[tuple[str, int], int]:
        if world.utxos and data.draw(st.booleans()):
            ref = data.draw(st.sampled_from(sorted(world.utxos)))
            return ref, world.utxos.pop(ref)[1]
        world.faucet += 1
        return self.cb.genesis_input(f"faucet{world.faucet}"), data.draw(
            st.integers(5_000_000, 900_000_000_000))

    def _address(self, data: st.DataObject, w: Wallet) -> str:
        nid = self.net.network_id
        kind = data.draw(st.sampled_from(["base", "base", "enterprise", "franken"]))
        if kind == "enterprise":
            return w.enterprise(nid)
        if kind == "franken":
            return w.address(nid, other_payment=data.draw(st.sampled_from(WALLETS)).payment)
        return w.address(nid)

    def _tx(self, data: st.DataObject, world: World, epoch: int, slot: int) -> Json:
        ref, amount = self._pay_input(data, world)
        n_out = data.draw(st.integers(1, 2))
        parts = [amount // n_out] * (n_out - 1)
        parts.append(amount - sum(parts))
        outs = [(self._address(data, data.draw(st.sampled_from(WALLETS))), p) for p in parts]
        valid = data.draw(st.integers(0, 9)) > 0
        # an invalid transaction's certificates never apply: draw them against a copy
        certs, props, wdrl = self._events(data, world if valid else copy.deepcopy(world),
                                          epoch, slot)
        if not valid:
            ret = (self._address(data, data.draw(st.sampled_from(WALLETS))), amount // 2)
            tx = self.cb.tx(inputs=[ref], outputs=outs, certificates=certs, proposals=props,
                            withdrawals=wdrl, valid=False, collaterals=[ref],
                            collateral_return=ret)
            world.utxos[(tx["id"], len(outs))] = (ret[0], ret[1])
            return tx
        tx = self.cb.tx(inputs=[ref], outputs=outs, certificates=certs, proposals=props,
                        withdrawals=wdrl)
        for i, (addr, value) in enumerate(outs):
            world.utxos[(tx["id"], i)] = (addr, value)
        return tx

    def _events(self, data: st.DataObject, world: World, epoch: int, slot: int
                ) -> tuple[list[Json], list[Json], dict[str, int]]:
        certs: list[Json] = []
        props: list[Json] = []
        wdrl: dict[str, int] = {}
        nid = self.net.network_id
        for _ in range(data.draw(st.integers(0, 2))):
            kind = data.draw(st.sampled_from(
                ["reg", "dereg", "deleg", "deleg", "pool", "pool", "retire", "mir", "wdrl"]))
            w = data.draw(st.sampled_from(WALLETS))
            pool = data.draw(st.sampled_from(POOLS))
            if kind == "reg" and w.name not in world.registered:
                certs.append(reg_cert(w))
                world.registered.add(w.name)
            elif kind == "dereg" and w.name in world.registered:
                certs.append(dereg_cert(w))
                world.registered.discard(w.name)
            elif kind == "deleg" and w.name in world.registered and pool.name in world.pools:
                certs.append(deleg_cert(w, pool))
            elif kind == "pool":
                owners = data.draw(st.lists(st.sampled_from(WALLETS), min_size=0, max_size=3,
                                            unique_by=lambda x: x.name))
                certs.append(pool_reg_cert(
                    pool, owners=owners, reward=w, network_id=nid,
                    pledge=data.draw(st.integers(0, 3)) * 100_000_000_000,
                    cost=340_000_000, margin=data.draw(st.sampled_from(["0/1", "1/50", "3/7"]))))
                world.pools.add(pool.name)
            elif kind == "retire" and pool.name in world.pools:
                # the ledger refuses to retire an unregistered pool; a retiring pool takes no
                # new delegations here until it registers again (simple and always valid)
                certs.append(pool_retire_cert(pool, epoch + data.draw(st.integers(1, 3))))
                world.pools.discard(pool.name)
            elif kind == "mir":
                props.append(mir_proposal({w: data.draw(st.integers(-5, 50)) * 1_000_000}))
            elif kind == "wdrl":
                wdrl[w.stake_address(nid)] = data.draw(st.integers(0, 20)) * 1_000_000
        return certs, props, wdrl


def frame(block: Json, tip: Json) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": "nextBlock", "result": {
        "direction": "forward", "block": block,
        "tip": {"slot": tip["slot"], "id": tip["id"], "height": tip["height"]}}})


def back_frame(block: Json | None, tip: Json) -> bytes:
    point: Any = "origin" if block is None else {"slot": block["slot"], "id": block["id"]}
    return orjson.dumps({"jsonrpc": "2.0", "method": "nextBlock", "result": {
        "direction": "backward", "point": point,
        "tip": {"slot": tip["slot"], "id": tip["id"], "height": tip["height"]}}})
