"""What owner statements cost (README, "Owner statements").

* ``writer``: the writer alone (decode + store, frames in memory) on a mainnet-like chain where
  a tenth of the transactions withdraw rewards, a few of them from pools' reward accounts: the
  payout detection's share of the hot path. To compare, run this part with ``PYTHONPATH`` on a
  tree from before (``--part writer``), alternating, on a quiet machine.
* ``views``: ``pledge_watch`` and ``owner_settlement`` on bench_boundary.py's database (3,000
  pools x 3 accounts, 1,000,000 staked outputs) plus 1,500,000 stake certificates of other
  credentials, every pool tracked, one pool asked for, and one pool tracked.

    python scripts/bench_statements.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

import orjson
from bench_boundary import populate

from indexer.chain.decode import decode_message
from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.db.store import Store, drop_database, recreate_database
from indexer.simulator.chain import ChainBuilder, Pool, Wallet, pool_reg_cert, reg_cert
from indexer.simulator.network import Network
from indexer.sync import boundary
from indexer.sync.network import Epochs, NetworkInfo
from indexer.sync.writer import Writer

Json = dict[str, Any]
NET_INFO = NetworkInfo(network_id=0, k=2160, pool_deposit=500_000_000, pools=None)


def withdrawal_chain(net: Network, n_blocks: int, txs: int, seed: int = 1) -> list[Json]:
    """2 inputs and 3 outputs per transaction (5,000 wallets); 10% withdraw 5 ADA, 1 in 20 of
    those from one of 50 pools' reward accounts."""
    rnd = random.Random(seed)
    cb, nid = ChainBuilder(net), net.network_id
    wallets = [Wallet(f"m{i}") for i in range(5000)]
    addrs = [w.address(nid) for w in wallets]
    pools = [Pool(f"mp{i}") for i in range(50)]
    regs = [pool_reg_cert(p, owners=[wallets[2 * i]], reward=wallets[2 * i + 1], pledge=1,
                          cost=340_000_000, margin="1/50", network_id=nid)
            for i, p in enumerate(pools)]
    first = cb.tx(inputs=[cb.genesis_input("regs")], outputs=[(addrs[0], 10**9)],
                  certificates=[reg_cert(w) for w in wallets[:100]] + regs)
    utxos = [(cb.genesis_input(f"g{i}"), 10**12) for i in range(4 * txs)]
    blocks = [cb.block(None, 0)]
    slot = net.first_slot(1)
    blocks.append(cb.block(blocks[-1], slot, [first], issuer=pools[0]))
    while len(blocks) < n_blocks:
        slot += rnd.randint(1, 40)
        body = []
        for _ in range(txs):
            ins = [utxos.pop(rnd.randrange(len(utxos))) for _ in range(2)]
            value = sum(v for _, v in ins) - 200_000
            withdrawals = {}
            if rnd.random() < 0.1:
                w = (wallets[2 * rnd.randrange(50) + 1] if rnd.random() < 0.05
                     else rnd.choice(wallets[100:]))
                withdrawals = {w.stake_address(nid): 5_000_000}
                value += 5_000_000
            outs = [(rnd.choice(addrs), value // 3), (rnd.choice(addrs), value // 3),
                    (rnd.choice(addrs), value - 2 * (value // 3))]
            tx = cb.tx(inputs=[r for r, _ in ins], outputs=outs, fee=200_000,
                       withdrawals=withdrawals)
            body.append(tx)
            utxos += [((tx["id"], i), v) for i, (_, v) in enumerate(outs)]
        blocks.append(cb.block(blocks[-1], slot, body, issuer=rnd.choice(pools)))
    return blocks


async def bench_writer(admin: str, rounds: int) -> None:
    net = Network.two_era(byron_epochs=1, byron_len=10, shelley_len=40_000, k=100)
    chain = withdrawal_chain(net, 300, 80)
    tip = chain[-1]
    frames = [orjson.dumps({"jsonrpc": "2.0", "method": "nextBlock", "result": {
        "direction": "forward", "block": b,
        "tip": {"slot": tip["slot"], "id": tip["id"], "height": tip["height"]}}})
        for b in chain]
    n_tx = sum(len(b.get("transactions", ())) for b in chain)
    cal = EpochCalendar(parse_era_summaries(net.era_summaries_json(tip["slot"])))
    for _ in range(rounds):
        store = await Store.connect(await recreate_database(admin, "indexer_bench_stmt_w"))
        try:
            await store.migrate()
            writer = Writer(store, Epochs(cal), NET_INFO, batch_max_blocks=200)
            await writer.load()
            started = time.perf_counter()
            for i in range(0, len(frames), 200):
                await writer.apply([decode_message(f) for f in frames[i:i + 200]])
            elapsed = time.perf_counter() - started
            flows = "no" if not await store.fetch(
                "SELECT 1 WHERE to_regclass('payout_flow') IS NOT NULL") else (
                await store.fetch("SELECT count(DISTINCT (slot, tx_index)) AS n "
                                  "FROM payout_flow"))[0]["n"]  # an older tree has no table
        finally:
            await store.close()
            await drop_database(admin, "indexer_bench_stmt_w")
        print(f"writer: {n_tx / elapsed:,.0f} tx/s ({elapsed:.2f} s; {flows} payout "
              "transactions kept)")


async def _time(store: Store, sql: str, *args: Any, repeat: int = 5) -> tuple[int, float]:
    times, rows = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        rows = await store.fetch(sql, *args)
        times.append(time.perf_counter() - started)
    return len(rows), statistics.median(times)


async def bench_views(admin: str) -> None:
    dsn = await recreate_database(admin, "indexer_bench_stmt_v")
    store = await Store.connect(dsn)
    try:
        await store.migrate()
        await populate(store, 3000, 1_000_000, 0.2)
        await store.execute("""INSERT INTO stake_event
            SELECT 7, 100000 + i, k, 0, decode(lpad(to_hex(i), 58, '0'), 'hex'), k * 2,
                   CASE WHEN k = 1 THEN decode(md5(i::text), 'hex') END
            FROM generate_series(1, 750000) i, generate_series(0, 1) k""")
        async with store.transaction() as tx:
            for x in (2, 3):
                await boundary.cross(tx, x, NET_INFO, era="babbage")
        await store.execute("INSERT INTO block VALUES (1000000, 1, '\\x00', 3, 'babbage', "
                            "NULL, 0)")
        await store.execute("UPDATE checkpoint SET slot = 1000000, epoch_no = 3")
        await store.execute("ANALYZE")
        one = (await store.fetch("SELECT pool_id, encode(pool_hash, 'hex') AS h "
                                 "FROM pool_epoch_row LIMIT 1"))[0]
        cases: list[tuple[str, str, tuple[Any, ...]]] = [
            ("pledge_watch, every pool tracked", "SELECT * FROM pledge_watch", ()),
            ("pledge_watch, one pool of them", "SELECT * FROM pledge_watch WHERE pool_id = $1",
             (one["pool_id"],)),
            ("owner_settlement, every pool", "SELECT * FROM owner_settlement", ()),
            ("owner_settlement, one pool", "SELECT * FROM owner_settlement WHERE pool_id = $1",
             (one["pool_id"],)),
        ]
        for name, sql, args in cases:
            n, median = await _time(store, sql, *args)
            print(f"{name}: {n} rows, median {median * 1000:.0f} ms")
        await store.set_meta("tracked_pools", {"pools": [one["h"]]})
        n, median = await _time(store, "SELECT * FROM pledge_watch")
        print(f"pledge_watch, one pool tracked: {n} rows, median {median * 1000:.0f} ms")
    finally:
        await store.close()
        await drop_database(admin, "indexer_bench_stmt_v")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--part", choices=["writer", "views", "all"], default="all")
    ap.add_argument("--rounds", type=int, default=3, help="writer runs")
    args = ap.parse_args()
    if args.part in ("writer", "all"):
        await bench_writer(args.dsn, args.rounds)
    if args.part in ("views", "all"):
        await bench_views(args.dsn)


if __name__ == "__main__":
    asyncio.run(main())
