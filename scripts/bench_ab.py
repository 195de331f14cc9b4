"""A/B of two (or more) checkouts of the daemon on the benchmark chain: how README "Measured"
compares a change with the code before it.

Each checkout's own ``scripts/bench_clients.py daemon`` runs in turn (the order rotated from
round to round, so that they share the machine's noise) against one ``bench_serve.py`` of this
checkout, each into a fresh database (``--mode fresh``) or a clone of that checkout's
mainnet-scale template (``--mode scale``, built by its own ``bench_scale.py`` if missing).
Before each run the server is checkpointed and the OS's dirty pages written out. Per run it
prints blocks/s, the daemon's CPU share and peak RSS, PostgreSQL's CPU, and what the server did
meanwhile (``pg_stat_wal``, ``pg_stat_bgwriter``, ``pg_stat_database``): WAL written, full-page
images, checkpoints, buffers the backends wrote out themselves, blocks read.

    python scripts/bench_ab.py before=/tmp/old-checkout after=. --rounds 5
    python scripts/bench_ab.py before=/tmp/old after=. --mode scale --dsn postgresql://…/postgres

A checkout must hold the same benchmark chain (``.bench-cache/``, or a link to this one's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_chain import load_or_build  # noqa: E402
from bench_e2e import Server, _run, _settle  # noqa: E402
from bench_scale import clone  # noqa: E402

from indexer.db.store import drop_database, recreate_database  # noqa: E402

DB = "indexer_bench_ab"

_STATS = """
SELECT (SELECT wal_bytes FROM pg_stat_wal) AS wal_bytes,
       (SELECT wal_fpi FROM pg_stat_wal) AS wal_fpi,
       (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS checkpoints,
       (SELECT buffers_backend FROM pg_stat_bgwriter) AS backend_writes,
       (SELECT sum(blks_read) FROM pg_stat_database) AS blocks_read
"""


async def _server_stats(admin: str) -> dict[str, float]:
    conn = await asyncpg.connect(admin)
    try:
        row = await conn.fetchrow(_STATS)
    finally:
        await conn.close()
    assert row is not None
    return {k: float(v) for k, v in dict(row).items()}


def _template(checkout: Path, admin: str, blocks: int) -> str:
    """The checkout's own mainnet-scale template (its schema), built by its own script."""
    code = ("import sys, asyncio; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/scripts']; "
            "import bench_scale, bench_chain; print(asyncio.run(bench_scale.ensure_template("
            "sys.argv[2], 11_000_000, bench_chain.load_or_build(int(sys.argv[3])))))")
    out = subprocess.run([sys.executable, "-c", code, str(checkout), admin, str(blocks)],
                         env={**os.environ, "PYTHONPATH": str(checkout)}, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


async def _database(admin: str, template: str | None) -> str:
    """A fresh database, or a clone of ``template``."""
    if template is None:
        return await recreate_database(admin, DB)
    return await clone(admin, template, DB)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkouts", nargs="+", metavar="LABEL=PATH")
    ap.add_argument("--mode", choices=("fresh", "scale"), default="fresh")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--blocks", type=int, default=20_000)
    ap.add_argument("--dsn", default=os.environ.get(
        "INDEXER_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="an admin DSN: the database indexer_bench_ab is created and dropped")
    args = ap.parse_args()
    pairs = [c.split("=", 1) for c in args.checkouts]
    checkouts = [(label, Path(path).resolve()) for label, path in pairs]
    tip = load_or_build(args.blocks, quiet=True).index[-1][0]
    templates = {label: (_template(path, args.dsn, args.blocks) if args.mode == "scale"
                         else None) for label, path in checkouts}
    rates: dict[str, list[float]] = {label: [] for label, _ in checkouts}
    server = Server(args.blocks, 1)
    try:
        for r in range(args.rounds):
            shift = r % len(checkouts)
            for label, path in checkouts[shift:] + checkouts[:shift]:
                dsn = asyncio.run(_database(args.dsn, templates[label]))
                asyncio.run(_settle(args.dsn))
                before = asyncio.run(_server_stats(args.dsn))
                res = _run(["daemon", "--url", server.url, "--tip", tip, "--dsn", dsn],
                           root=path)
                after = asyncio.run(_server_stats(args.dsn))
                d = {k: after[k] - before[k] for k in before}
                rate = res["blocks"] / res["wall_s"]
                rates[label].append(rate)
                print(f"round {r + 1} {label:10s} {rate:7,.0f} blocks/s  cpu "
                      f"{res['cpu_s'] / res['wall_s']:.0%}  rss {res['peak_rss_mib']:.0f} MiB  "
                      f"postgres cpu {res.get('postgres_cpu_s', 0):.1f} s  wal "
                      f"{d['wal_bytes'] / 2**20:,.0f} MiB  fpi {d['wal_fpi']:,.0f}  "
                      f"checkpoints {d['checkpoints']:.0f}  backend writes "
                      f"{d['backend_writes']:,.0f}  read {d['blocks_read']:,.0f}", flush=True)
    finally:
        server.close()
        asyncio.run(drop_database(args.dsn, DB))
    for label, values in rates.items():
        print(f"{label}: median {statistics.median(values):,.0f} "
              f"({min(values):,.0f}-{max(values):,.0f}) blocks/s over {len(values)} runs")


if __name__ == "__main__":
    main()
