"""The contenders of ``make bench``, each run in a process of its own by scripts/bench_e2e.py
(which prints the one JSON line each writes on stdout):

- ``daemon``: the real daemon (``indexer.daemon.run``) into the database ``--dsn``, until its
  ``chain_tip`` is the chain's last block; also the time of each epoch boundary it crosses;
- ``orjson``: a bare consumer, ``websockets`` + ``orjson.loads`` with 100 ``nextBlock`` in
  flight, touching every input and output (the ceiling: no decoding, no database);
- ``ogmios-python``: a bare read loop of the ``ogmios`` package (sync, on websockets; its own
  pydantic block models and stdlib ``json``), with 100 requests in flight, ``send()`` then
  ``receive()`` (docs/ogmios.md §6).

Each reports wall time, CPU time (user + system) and peak RSS of its own process.

    python scripts/bench_clients.py orjson --url ws://127.0.0.1:PORT --tip BLOCK_ID
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NEXT = '{"jsonrpc":"2.0","method":"nextBlock"}'
FIND_ORIGIN = '{"jsonrpc":"2.0","method":"findIntersection","params":{"points":["origin"]}}'


def _peak_rss_mib() -> float:
    """VmHWM: the high-water mark of this process's own memory (``ru_maxrss`` would count the
    parent's RSS at fork time: it survives exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _proc_cpu_s(pid: int) -> float:
    """CPU time of another process on this machine (a PostgreSQL backend of the daemon's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _usage(started: float, cpu0: float) -> dict[str, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": time.perf_counter() - started,
            "cpu_s": ru.ru_utime + ru.ru_stime - cpu0,
            "peak_rss_mib": _peak_rss_mib()}


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# --- the ceiling: websockets + orjson ------------------------------------------------------------


async def orjson_consumer(url: str, tip: str, in_flight: int = 100) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    blocks = txs = ins = outs = 0
    lovelace = 0
    async with connect(url, max_size=64 * 2**20, compression=None, max_queue=16) as ws:
        started, cpu0 = time.perf_counter(), _cpu()
        await ws.send(FIND_ORIGIN)
        await ws.recv(decode=False)
        for _ in range(in_flight):
            await ws.send(NEXT)
        while True:
            raw = await ws.recv(decode=False)
            await ws.send(NEXT)
            res = orjson.loads(raw)["result"]
            if res["direction"] != "forward":
                continue
            block = res["block"]
            blocks += 1
            for t in block.get("transactions", ()):
                txs += 1
                ins += len(t["inputs"])
                for o in t["outputs"]:
                    outs += 1
                    lovelace += o["value"]["ada"]["lovelace"]
            if block["id"] == tip:
                break
        usage = _usage(started, cpu0)
    return {"blocks": blocks, "txs": txs, "inputs": ins, "outputs": outs, **usage}


# --- the peer: ogmios-python --------------------------------------------------------------------


def ogmios_python(url: str, tip: str, in_flight: int = 100) -> dict[str, Any]:
    import ogmios
    import ogmios.datatypes as odt
    from ogmios.datatypes import Origin

    # ogmios-python 1.4.3 formats every block for an INFO log line, even with INFO off, and
    # that f-string calls len(block.transactions): a TypeError for every block without
    # transactions (Ogmios omits the empty list; 2% of mainnet blocks). The same formatting,
    # with the empty case allowed, so that the loop can read a real chain at its own cost.
    types = odt.mm.Types

    def block_str(self: Any) -> str:
        kind = {types.ebb.value: "EBB", types.bft.value: "BFT"}.get(self.blocktype, "Praos")
        if kind == "EBB":
            return f"Block(Type=EBB, Era={self.era}, ID={self.id}, Height={self.height:,})"
        return (f"Block(Type={kind}, Era={self.era}, ID={self.id}, Ancestor={self.ancestor}, "
                f"Height={self.height:,}, Slot={self.slot:,}, "
                f"Size={self.size.get('bytes'):,}, TXs={len(self.transactions or ())})")

    odt.Block.__str__ = block_str

    host, port = url.removeprefix("ws://").rsplit(":", 1)
    blocks = 0
    with ogmios.Client(host=host, port=int(port)) as client:
        started, cpu0 = time.perf_counter(), _cpu()
        client.find_intersection.execute([Origin()])
        for _ in range(in_flight):
            client.next_block.send()
        while True:
            direction, _tip, block, _id = client.next_block.receive()
            client.next_block.send()
            if direction.value != "forward":
                continue
            blocks += 1
            if block.id == tip:
                break
        usage = _usage(started, cpu0)
    return {"blocks": blocks, **usage}


# --- the daemon ---------------------------------------------------------------------------------


async def daemon_run(url: str, tip: str, dsn: str, in_flight: int = 100) -> dict[str, Any]:
    from indexer import daemon
    from indexer.config import Config, DatabaseConfig, IndexerConfig, LogConfig, OgmiosConfig
    from indexer.db.store import APPLICATION_NAME, Store
    from indexer.log import configure
    from indexer.sync import boundary

    configure("console", "warning")
    crossings: list[float] = []
    cross = boundary.cross

    async def timed_cross(*args: Any, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        await cross(*args, **kwargs)
        crossings.append(time.perf_counter() - t0)

    boundary.cross = timed_cross
    cfg = Config(ogmios=OgmiosConfig(url=url, in_flight=in_flight),
                 database=DatabaseConfig(dsn), indexer=IndexerConfig(live_distance_blocks=-1),
                 log=LogConfig(level="warning"))
    stop = asyncio.Event()
    store = await Store.connect(dsn)
    await store.migrate()
    tip_hash = bytes.fromhex(tip)
    started, cpu0 = time.perf_counter(), _cpu()
    task = asyncio.create_task(daemon.run(cfg, stop))
    while True:
        rows = await store.fetch("SELECT block_hash FROM checkpoint")
        if rows and rows[0]["block_hash"] == tip_hash:
            break
        if task.done():
            task.result()
            raise RuntimeError("the daemon stopped before the tip")
        await asyncio.sleep(0.02)
    usage = _usage(started, cpu0)
    pids = await store.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
                             "AND pid <> pg_backend_pid()", APPLICATION_NAME)
    usage["postgres_cpu_s"] = sum(_proc_cpu_s(r["pid"]) for r in pids)
    stop.set()
    await task
    found = await store.fetch(
        "SELECT (SELECT count(*) FROM block) AS blocks, (SELECT sum(tx_count) FROM block) AS txs,"
        " (SELECT count(*) FROM utxo) AS kept, pg_database_size(current_database()) AS db,"
        " pg_total_relation_size('utxo') + pg_total_relation_size('utxo_spent') AS utxo_bytes")
    await store.close()
    row = found[0]
    return {"blocks": row["blocks"], "txs": int(row["txs"] or 0), "kept_outputs": row["kept"],
            "db_bytes": row["db"], "utxo_bytes": row["utxo_bytes"], "boundaries_s": crossings,
            **usage}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("contender", choices=("daemon", "orjson", "ogmios-python"))
    ap.add_argument("--url", required=True)
    ap.add_argument("--tip", required=True, help="id of the chain's last block")
    ap.add_argument("--dsn")
    ap.add_argument("--in-flight", type=int, default=100)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.contender == "orjson":
        result = asyncio.run(orjson_consumer(args.url, args.tip, args.in_flight))
    elif args.contender == "ogmios-python":
        result = ogmios_python(args.url, args.tip, args.in_flight)
    else:
        result = asyncio.run(daemon_run(args.url, args.tip, args.dsn, args.in_flight))
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
