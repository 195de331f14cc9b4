"""Measure one epoch boundary (SNAP of every pool + MIR, reaping, settling) at scale.

Fills a fresh database with N pools x 3 accounts (2 owners + a reward account), M staked
outputs (a share of them spent), the registrations and delegations, then times
``boundary.cross`` inside a transaction, several times (rolled back each time).

    python scripts/bench_boundary.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import statistics
import time

from indexer.chain.address import pool_bech32, stake_address
from indexer.db.store import Store, drop_database, recreate_database
from indexer.sync import boundary
from indexer.sync.network import NetworkInfo


def _h(label: str, size: int) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=size).digest()


def _cred(i: int) -> bytes:
    return b"\x00" + _h(f"cred{i}", 28)


async def populate(store: Store, pools: int, outputs: int, spent_share: float,
                   per_account: int = 5) -> None:
    rnd = random.Random(1)
    accounts = pools * 3
    async with store.transaction() as tx:
        certs = []
        for p in range(pools):
            ph = _h(f"pool{p}", 28)
            owners = [_cred(3 * p), _cred(3 * p + 1)]
            ra = _cred(3 * p + 2)
            certs.append((10 + p, 0, 0, _h(f"tx{p}", 32), 1, ph, pool_bech32(ph), "registration",
                          3, 10**9, 340_000_000, 1, 50, ra, stake_address(ra, 0), owners,
                          [stake_address(o, 0) for o in owners], "00" * 32, None, None, "[]",
                          None))
        await tx.insert_pool_certs(certs)
        events: list[tuple[object, ...]] = [(5, i, 0, 0, _cred(i), 0, None)
                                            for i in range(accounts)]
        events += [(6, i, 0, 0, _cred(i), 2, _h(f"pool{i // 3}", 28)) for i in range(accounts)]
        await tx.copy("stake_event", ("slot", "tx_index", "cert_index", "epoch_no", "cred",
                                      "kind", "pool_hash"), events)
        # outputs: `per_account` on average belong to each pool account, the rest to 200,000
        # other credentials (the rest of the chain)
        utxos, spends = [], []
        mine = accounts * per_account
        for i in range(outputs):
            cred = _cred(i % accounts) if i < mine else _cred(10**6 + i % 200_000)
            txid = _h(f"u{i}", 32)
            utxos.append((txid, 0, cred, None, None, None, rnd.randrange(1, 10**10), 100 + i))
            if rnd.random() < spent_share:
                spends.append((txid, 0, 200 + i))
        await tx.copy("utxo", ("tx_id", "idx", "cred", "ptr_slot", "ptr_tx", "ptr_cert",
                               "lovelace", "slot"), utxos)
        await tx.copy("utxo_spent", ("tx_id", "idx", "spent_slot"), spends)
    await store.execute("ANALYZE")


async def time_boundary(store: Store, repeat: int) -> list[float]:
    net = NetworkInfo(network_id=0, k=2160, pool_deposit=500_000_000, pools=None)
    times = []
    for _ in range(repeat):
        try:
            async with store.transaction() as tx:
                started = time.perf_counter()
                await boundary.cross(tx, 5, net, era="babbage")
                times.append(time.perf_counter() - started)
                rows = await tx.conn.fetch("SELECT count(*) AS n FROM pool_owner_epoch_row")
                assert rows[0]["n"] > 0
                raise _Rollback
        except _Rollback:
            pass
    return times


class _Rollback(Exception):
    pass


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--pools", type=int, default=3000)
    ap.add_argument("--outputs", type=int, default=1_000_000)
    ap.add_argument("--spent", type=float, default=0.2, help="share of outputs spent (window)")
    ap.add_argument("--per-account", type=int, default=5, help="outputs per pool account")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    name = "indexer_bench_boundary"
    dsn = await recreate_database(args.dsn, name)
    store = await Store.connect(dsn)
    try:
        await store.migrate()
        t0 = time.perf_counter()
        await populate(store, args.pools, args.outputs, args.spent, args.per_account)
        print(f"populated {args.pools} pools x 3 accounts ({args.per_account} outputs each), "
              f"{args.outputs} staked outputs ({args.spent:.0%} spent) "
              f"in {time.perf_counter() - t0:.1f} s")
        times = await time_boundary(store, args.repeat)
        print(f"boundary: median {statistics.median(times):.3f} s, min {min(times):.3f} s, "
              f"max {max(times):.3f} s over {len(times)} runs")
    finally:
        await store.close()
        await drop_database(args.dsn, name)


if __name__ == "__main__":
    asyncio.run(main())
