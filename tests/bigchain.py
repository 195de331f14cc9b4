"""A deterministic, longer chain with many transactions (crash tests and benchmarks)."""

from __future__ import annotations

import random
from typing import Any

from indexer.simulator.chain import (
    ChainBuilder,
    Pool,
    Wallet,
    deleg_cert,
    pool_reg_cert,
    reg_cert,
)
from indexer.simulator.network import Network

Json = dict[str, Any]


def big_network(k: int = 10, epoch_length: int = 50) -> Network:
    return Network.two_era(byron_epochs=1, byron_len=10, shelley_len=epoch_length, k=k)


def big_chain(net: Network, n_blocks: int, txs_per_block: int, *, seed: int = 1,
              n_wallets: int = 40, outputs_per_tx: int = 2) -> list[Json]:
    rnd = random.Random(seed)
    cb = ChainBuilder(net)
    nid = net.network_id
    wallets = [Wallet(f"bw{i}") for i in range(n_wallets)]
    pools = [Pool(f"bp{i}") for i in range(3)]
    funding = cb.tx(inputs=[cb.genesis_input("big")],
                    outputs=[(w.address(nid), 1_000_000_000_000) for w in wallets],
                    certificates=[reg_cert(w) for w in wallets]
                    + [pool_reg_cert(p, owners=wallets[3 * i:3 * i + 3], reward=wallets[30 + i],
                                     pledge=10**9, cost=340_000_000, margin="1/20",
                                     network_id=nid) for i, p in enumerate(pools)]
                    + [deleg_cert(w, pools[j % 3]) for j, w in enumerate(wallets)])
    utxos = [((funding["id"], i), 1_000_000_000_000) for i in range(len(wallets))]
    slot = net.first_slot(1)
    blocks = [cb.block(None, 0)]
    blocks.append(cb.block(blocks[-1], slot, [funding], issuer=pools[0]))
    while len(blocks) < n_blocks:
        slot += rnd.randint(1, 3)
        txs = []
        for _ in range(txs_per_block):
            ref, value = utxos.pop(rnd.randrange(len(utxos)))
            parts = [value // outputs_per_tx] * outputs_per_tx
            outs = [(rnd.choice(wallets).address(nid), p) for p in parts]
            tx = cb.tx(inputs=[ref], outputs=outs)
            txs.append(tx)
            utxos += [((tx["id"], i), p) for i, p in enumerate(parts)]
        blocks.append(cb.block(blocks[-1], slot, txs, issuer=rnd.choice(pools)))
    return blocks
