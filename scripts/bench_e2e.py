"""End-to-end throughput: the real daemon syncs a mainnet-like chain served by the simulator
(in another process, over a real WebSocket) into a fresh PostgreSQL database.

Also measures the writer alone (decode + COPY + spends + checkpoint, frames already in memory),
which is the hot path without the socket.

    python scripts/bench_e2e.py --blocks 300 --txs 80
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import time
from typing import Any

import orjson

from indexer import daemon
from indexer.chain.decode import decode_message
from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.config import Config, DatabaseConfig, IndexerConfig, LogConfig, OgmiosConfig
from indexer.db.store import Store, drop_database, recreate_database
from indexer.simulator.chain import ChainBuilder, Pool, Wallet
from indexer.simulator.network import Network
from indexer.sync.network import Epochs, NetworkInfo
from indexer.sync.writer import Writer

Json = dict[str, Any]


def mainnet_like_chain(net: Network, n_blocks: int, txs: int, seed: int = 1) -> list[Json]:
    """Blocks of `txs` transactions, each spending 2 outputs and producing 3 (base addresses
    of 5,000 wallets, a tenth enterprise), 20-byte-ish metadata-free like most mainnet txs."""
    rnd = random.Random(seed)
    cb = ChainBuilder(net)
    nid = net.network_id
    wallets = [Wallet(f"m{i}") for i in range(5000)]
    addrs = [w.address(nid) for w in wallets]
    ent = [w.enterprise(nid) for w in wallets[:500]]
    pools = [Pool(f"mp{i}") for i in range(50)]
    utxos: list[tuple[tuple[str, int], int]] = [
        (cb.genesis_input(f"g{i}"), 10**12) for i in range(4 * txs)]
    blocks = [cb.block(None, 0)]
    slot = net.first_slot(1)
    while len(blocks) < n_blocks:
        slot += rnd.randint(1, 40)
        body = []
        for _ in range(txs):
            ins = [utxos.pop(rnd.randrange(len(utxos))) for _ in range(2)]
            value = sum(v for _, v in ins) - 200_000
            outs = [(rnd.choice(addrs), value // 3), (rnd.choice(addrs), value // 3),
                    (rnd.choice(ent) if rnd.random() < 0.1 else rnd.choice(addrs),
                     value - 2 * (value // 3))]
            tx = cb.tx(inputs=[r for r, _ in ins], outputs=outs, fee=200_000)
            body.append(tx)
            utxos += [((tx["id"], i), v) for i, (_, v) in enumerate(outs)]
        blocks.append(cb.block(blocks[-1], slot, body, issuer=rnd.choice(pools)))
    return blocks


def _serve(net: Network, chain: list[Json], port: Any, ready: Any) -> None:
    from indexer.simulator.server import Simulator

    async def main() -> None:
        sim = Simulator(net)
        sim.extend(*chain)
        url = await sim.start()
        port.value = int(url.rsplit(":", 1)[1])
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


async def bench_daemon(net: Network, chain: list[Json], dsn: str, in_flight: int) -> float:
    port, ready = mp.Value("i", 0), mp.Event()
    proc = mp.Process(target=_serve, args=(net, chain, port, ready), daemon=True)
    proc.start()
    ready.wait(60)
    cfg = Config(ogmios=OgmiosConfig(url=f"ws://127.0.0.1:{port.value}", in_flight=in_flight),
                 database=DatabaseConfig(dsn), indexer=IndexerConfig(live_distance_blocks=-1),
                 log=LogConfig(level="warning"))
    stop = asyncio.Event()
    store = await Store.connect(dsn)
    await store.migrate()
    started = time.perf_counter()
    task = asyncio.create_task(daemon.run(cfg, stop))
    tip = chain[-1]["id"]
    while True:
        rows = await store.fetch("SELECT block_hash FROM chain_tip")
        if rows[0]["block_hash"] == tip:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    rows = await store.fetch("SELECT pg_database_size(current_database()) AS b, "
                             "(SELECT count(*) FROM utxo) AS u")
    print(f"database after the sync: {rows[0]['b'] / 2**20:.0f} MiB "
          f"({rows[0]['u']} staked outputs kept, spent ones pruned past k)")
    await store.close()
    proc.terminate()
    return elapsed


async def bench_writer(net: Network, chain: list[Json], dsn: str, batch: int) -> float:
    tip = chain[-1]
    frames = [orjson.dumps({"jsonrpc": "2.0", "method": "nextBlock", "result": {
        "direction": "forward", "block": b,
        "tip": {"slot": tip["slot"], "id": tip["id"], "height": tip["height"]}}})
        for b in chain]
    store = await Store.connect(dsn)
    await store.migrate()
    cal = EpochCalendar(parse_era_summaries(net.era_summaries_json(tip["slot"])))
    info = NetworkInfo(network_id=net.network_id, k=net.k, pool_deposit=500_000_000, pools=None)
    writer = Writer(store, Epochs(cal), info, batch_max_blocks=batch)
    started = time.perf_counter()
    for i in range(0, len(frames), batch):
        await writer.apply([decode_message(f) for f in frames[i:i + batch]])
    elapsed = time.perf_counter() - started
    await store.close()
    return elapsed


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--blocks", type=int, default=300)
    ap.add_argument("--txs", type=int, default=80, help="transactions per block")
    ap.add_argument("--in-flight", type=int, default=100)
    ap.add_argument("--batch", type=int, default=200)
    args = ap.parse_args()
    net = Network.two_era(byron_epochs=1, byron_len=10, shelley_len=4000, k=100)
    t0 = time.perf_counter()
    chain = mainnet_like_chain(net, args.blocks, args.txs)
    n_tx = sum(len(b.get("transactions", ())) for b in chain)
    size = sum(len(orjson.dumps(b)) for b in chain)
    print(f"chain: {len(chain)} blocks, {n_tx} txs, {size / 2**20:.1f} MiB of block JSON "
          f"(built in {time.perf_counter() - t0:.1f} s)")
    w = await bench_writer(net, chain, await recreate_database(args.dsn, "indexer_bench_w"),
                           args.batch)
    print(f"writer only (decode + store, batches of {args.batch}): {n_tx / w:,.0f} tx/s, "
          f"{len(chain) / w:,.0f} blocks/s")
    d = await bench_daemon(net, chain, await recreate_database(args.dsn, "indexer_bench_d"),
                           args.in_flight)
    print(f"daemon end to end (simulator process -> WebSocket -> Postgres): {n_tx / d:,.0f} "
          f"tx/s, {len(chain) / d:,.0f} blocks/s, {size / 2**20 / d:.1f} MiB/s")
    for name in ("indexer_bench_w", "indexer_bench_d"):
        await drop_database(args.dsn, name)


if __name__ == "__main__":
    asyncio.run(main())
