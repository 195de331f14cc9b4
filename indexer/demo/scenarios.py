"""Bundled chains for the simulator (``python -m indexer.simulator --scenario demo``) and the
``indexer demo`` command.

The demo story, over ~9 Praos epochs after the Byron ones (``E0`` = first Praos epoch):

- E0: a faucet funds alice, bob (the owners), carol (the pool's reward account, not an owner),
  dave and erin (delegators) and frank; they register their stake keys; alice registers the
  pool ``demo`` (owners alice+bob, rewards to carol) and everyone delegates to it.
- E0+1: payments alice→bob and dave→erin.
- E0+2: an MIR to carol and dave (a Conway treasury-withdrawal proposal if that era is Conway).
- E0+3: frank registers and delegates; the pool is re-registered with frank as a third owner.
- E0+3: carol withdraws her whole reward balance: the MIR, credited at B(E0+3), before any
  leader reward lands (the first, for E0+2, arrives at B(E0+4)).
- E0+5: a phase-2-invalid transaction (bob's collateral consumed, collateral returned), and
  alice pays to her own enterprise address (stake-less).
- E0+6..E0+8: more payments. ``demo`` makes 2 of 3 blocks from E0+2 on, ``other`` the rest.
- E0+7, last block: carol withdraws her whole reward balance (the leader rewards of E0+2 to
  E0+5 and her own member rewards, as the stand-in ledger ``indexer.demo.ledger`` credits them)
  and pays the owners out of it: alice 2,000 ADA, bob 1,000 ADA, frank 200 ADA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from indexer.simulator.chain import (
    ChainBuilder,
    Pool,
    Wallet,
    deleg_cert,
    mir_proposal,
    pool_reg_cert,
    reg_cert,
    treasury_withdrawal_proposal,
)
from indexer.simulator.network import EraSpec, Network

Json = dict[str, Any]
ADA = 1_000_000
Ref = tuple[str, int]

ALICE, BOB, CAROL = Wallet("alice"), Wallet("bob"), Wallet("carol")
DAVE, ERIN, FRANK = Wallet("dave"), Wallet("erin"), Wallet("frank")
DEMO_POOL, OTHER_POOL = Pool("demo"), Pool("other")
DEMO_WALLETS = (ALICE, BOB, CAROL, DAVE, ERIN, FRANK)
PAYOUTS = {ALICE: 2_000 * ADA, BOB: 1_000 * ADA, FRANK: 200 * ADA}  # carol pays, in E0+7


def demo_aliases(net: Network | None = None) -> tuple[tuple[str, str], ...]:
    """``[aliases]`` for the demo's accounts: the names operators would give them."""
    nid = (net or demo_network()).network_id
    return tuple(sorted((w.stake_address(nid), w.name)
                        for w in (ALICE, BOB, CAROL, DAVE, ERIN, FRANK)))


def demo_network() -> Network:
    """Byron epochs 0-1, Shelley epochs 2-5, Alonzo from epoch 6 (k = 10)."""
    return Network(name="demo", eras=(EraSpec("byron", 0, 100, 20000),
                                      EraSpec("shelley", 2, 200, 1000),
                                      EraSpec("alonzo", 6, 200, 1000)))


class Purse:
    """Tracks who owns which made-up UTxO, so that scenario transactions balance."""

    def __init__(self, builder: ChainBuilder) -> None:
        self.cb = builder
        self.nid = builder.network.network_id
        self.utxos: dict[Wallet, list[tuple[Ref, int]]] = {}
        self._faucets = 0

    def balance(self, w: Wallet) -> int:
        return sum(n for _, n in self.utxos.get(w, []))

    def _record(self, tx: Json, outs: Iterable[tuple[Wallet, int]], start: int = 0) -> None:
        for i, (w, n) in enumerate(outs, start):
            self.utxos.setdefault(w, []).append(((tx["id"], i), n))

    def faucet(self, amounts: dict[Wallet, int], **tx_args: Any) -> Json:
        outs = [(w, n) for w, n in amounts.items()]
        self._faucets += 1
        tx = self.cb.tx(inputs=[self.cb.genesis_input(f"faucet-{self._faucets}")],
                        outputs=[(w.address(self.nid), n) for w, n in outs], **tx_args)
        self._record(tx, outs)
        return tx

    def pay(self, sender: Wallet, outs: list[tuple[Wallet, str, int]], *, deposit: int = 0,
            withdrawn: int = 0, fee: int = 180_000, **tx_args: Any) -> Json:
        """Spend all of ``sender``'s UTxO; ``outs`` = (owner, address, lovelace); the change
        goes back to the sender's base address."""
        spent = self.utxos.pop(sender, [])
        change = sum(n for _, n in spent) + withdrawn - fee - deposit - sum(o[2] for o in outs)
        if change < 0:
            raise ValueError(f"{sender.name} cannot afford this transaction")
        outputs = [(addr, n) for _, addr, n in outs] + [(sender.address(self.nid), change)]
        tx = self.cb.tx(inputs=[r for r, _ in spent], outputs=outputs, fee=fee, **tx_args)
        self._record(tx, [(w, n) for w, _, n in outs] + [(sender, change)])
        return tx

    def failed_script_tx(self, sender: Wallet, to: Wallet, amount: int,
                         collateral_fee: int = 400_000) -> Json:
        """A phase-2-invalid transaction: its collateral (the sender's first UTxO) is consumed
        and the rest returned at output index ``len(outputs)`` (the Babbage rule)."""
        ref, value = self.utxos[sender].pop(0)
        tx = self.cb.tx(inputs=[ref], outputs=[(to.address(self.nid), amount)], valid=False,
                        collaterals=[ref], total_collateral=collateral_fee,
                        collateral_return=(sender.address(self.nid), value - collateral_fee))
        self._record(tx, [(sender, value - collateral_fee)], start=1)
        return tx


def _pool_reg(owners: list[Wallet], nid: int) -> Json:
    return pool_reg_cert(DEMO_POOL, owners=owners, reward=CAROL, pledge=900_000 * ADA,
                         cost=340 * ADA, margin="1/50", network_id=nid,
                         metadata_url="https://example.com/demo-pool.json")


class _DemoStory:
    def __init__(self, network: Network) -> None:
        if network.first_praos_era is None:
            raise ValueError("the demo needs a network with a Praos era")
        self.net = network
        self.nid = network.network_id
        self.cb = ChainBuilder(network, default_issuer=OTHER_POOL)
        self.purse = Purse(self.cb)
        self.e0 = network.first_praos_era.start_epoch
        self.events: dict[tuple[int, int], Callable[[], list[Json]]] = {
            (0, 0): self.fund, (0, 2): self.register_pool, (1, 1): self.payments,
            (2, 4): self.mir, (3, 1): self.frank_joins, (3, 3): self.add_owner,
            (3, 5): self.withdraw, (5, 2): self.failed_tx, (5, 6): self.enterprise,
            (6, 3): self.more_payments, (7, 4): self.last_payment, (7, 9): self.payout,
        }
        self.blocks: list[Json] = []

    def fund(self) -> list[Json]:
        amounts = {ALICE: 1_000_000 * ADA, BOB: 400_000 * ADA, CAROL: 20_000 * ADA,
                   DAVE: 200_000 * ADA, ERIN: 100_000 * ADA, FRANK: 150_000 * ADA}
        regs = [reg_cert(w) for w in (ALICE, BOB, CAROL, DAVE, ERIN)]
        return [self.purse.faucet(amounts, certificates=regs)]

    def register_pool(self) -> list[Json]:
        certs = [_pool_reg([ALICE, BOB], self.nid)]
        certs += [deleg_cert(w, DEMO_POOL) for w in (ALICE, BOB, CAROL, DAVE, ERIN)]
        return [self.purse.pay(ALICE, [], deposit=500 * ADA, certificates=certs)]

    def payments(self) -> list[Json]:
        return [self.purse.pay(ALICE, [(BOB, BOB.address(self.nid), 50_000 * ADA)]),
                self.purse.pay(DAVE, [(ERIN, ERIN.address(self.nid), 10_000 * ADA)])]

    def mir(self) -> list[Json]:
        slot_era = self.net.era_of_epoch(self.e0 + 2)
        proposal = (treasury_withdrawal_proposal({CAROL: 1_000 * ADA}, self.nid)
                    if slot_era == "conway" else mir_proposal({CAROL: 1_000 * ADA,
                                                               DAVE: 500 * ADA}))
        return [self.purse.pay(ERIN, [], proposals=[proposal])]

    def frank_joins(self) -> list[Json]:
        certs = [reg_cert(FRANK), deleg_cert(FRANK, DEMO_POOL)]
        return [self.purse.pay(FRANK, [], deposit=2 * ADA, certificates=certs)]

    def add_owner(self) -> list[Json]:
        return [self.purse.pay(ALICE, [], certificates=[_pool_reg([ALICE, BOB, FRANK],
                                                                  self.nid)])]

    def withdraw(self) -> list[Json]:
        amount = 1_000 * ADA  # the whole balance (the ledger allows no partial withdrawal)
        return [self.purse.pay(CAROL, [], withdrawn=amount,
                               withdrawals={CAROL.stake_address(self.nid): amount})]

    def failed_tx(self) -> list[Json]:
        return [self.purse.failed_script_tx(BOB, DAVE, 1_000 * ADA)]

    def enterprise(self) -> list[Json]:
        return [self.purse.pay(ALICE, [(ALICE, ALICE.enterprise(self.nid), 5_000 * ADA)])]

    def more_payments(self) -> list[Json]:
        return [self.purse.pay(BOB, [(ALICE, ALICE.address(self.nid), 20_000 * ADA)]),
                self.purse.pay(ERIN, [(DAVE, DAVE.address(self.nid), 3_000 * ADA)])]

    def last_payment(self) -> list[Json]:
        return [self.purse.pay(ALICE, [(FRANK, FRANK.address(self.nid), 7_500 * ADA)])]

    def payout(self) -> list[Json]:
        """The usual "withdraw and distribute": the whole balance, as the ledger knows it."""
        from indexer.demo.ledger import DemoLedger  # it reads this module's chain: no cycle
        from indexer.simulator.server import Simulator

        sim = Simulator(self.net)
        sim.extend(*self.blocks)
        balance = DemoLedger(sim).reward_balances(self.blocks[-1])[0].get(CAROL.cred, 0)
        outs = [(ALICE, ALICE.address(self.nid), PAYOUTS[ALICE]),
                (BOB, BOB.address(self.nid), PAYOUTS[BOB]),
                (FRANK, FRANK.address(self.nid), PAYOUTS[FRANK])]
        return [self.purse.pay(CAROL, outs, withdrawn=balance,
                               withdrawals={CAROL.stake_address(self.nid): balance})]

    def build(self, praos_epochs: int) -> list[Json]:
        blocks = self.blocks
        first_praos = self.net.first_slot(self.e0)
        for slot in range(0, first_praos, 20):  # Byron: empty BFT blocks
            blocks.append(self.cb.block(blocks[-1] if blocks else None, slot))
        for i in range(praos_epochs):
            base, length = self.net.first_slot(self.e0 + i), self.net.epoch_length(self.e0 + i)
            n = min(10, length)
            for j in range(n):
                make = self.events.get((i, j))
                txs = make() if make else []
                issuer = DEMO_POOL if i >= 2 and j % 3 != 2 else OTHER_POOL
                slot = base + j * (length // n) + (3 if length // n > 3 else 0)
                blocks.append(self.cb.block(blocks[-1] if blocks else None, slot, txs, issuer))
        return blocks


def build_demo_chain(network: Network | None = None, *, praos_epochs: int = 9) -> list[Json]:
    """The demo chain's blocks, in order (see the module docstring for the story)."""
    return _DemoStory(network or demo_network()).build(praos_epochs)


SCENARIOS: dict[str, Callable[[Network], list[Json]]] = {
    "demo": build_demo_chain,
    "empty": lambda network: [],
}
