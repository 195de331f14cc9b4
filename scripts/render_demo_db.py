#!/usr/bin/env python3
"""Build a database with real indexer output for scripts/render_dashboard.py.

    python scripts/render_demo_db.py --db shared_pool_render --drop
    python scripts/render_dashboard.py \\
        --dsn postgresql://grafana_render:render@127.0.0.1:5432/shared_pool_render \\
        --screenshot /tmp/shared-pool-dashboard.png

Starts the bundled Ogmios simulator (`python -m indexer.simulator --scenario demo`), runs
`indexer run` on a fresh database until chain_tip stops moving, stops it with SIGTERM, then
feeds `indexer rewards import` a CSV of **illustrative** reward figures for the epochs that
made blocks but have no figures (the simulator's ledger reports no rewards), so that the
reward panels have something to draw. Finally `indexer db grant` creates a read-only role.
Every row comes from the indexer's own commands; only those reward figures are made up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from indexer.db.store import DatabaseError, Store, recreate_database

ROOT = Path(__file__).resolve().parent.parent


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), e.get("PYTHONPATH")]))
    return e


def with_db(dsn: str, db: str, user: str | None = None, password: str | None = None) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if user:
        netloc = f"{user}:{password}@{netloc}" if password else f"{user}@{netloc}"
    elif "@" in parts.netloc:
        netloc = parts.netloc
    return urlunsplit((parts.scheme, netloc, "/" + db, parts.query, parts.fragment))


def indexer(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "indexer.cli", *args], check=True, env=env(),
                   cwd=ROOT)


async def create_db(admin: str, db: str, drop: bool) -> None:
    store = await Store.connect(admin, max_size=1)
    try:
        exists = await store.fetch("SELECT 1 FROM pg_database WHERE datname = $1", db)
    finally:
        await store.close()
    if exists and not drop:
        raise SystemExit(f"database {db} exists: pass --drop to rebuild it")
    await recreate_database(admin, db)


async def wait_for_tip(dsn: str, timeout_s: float) -> str:
    """Poll chain_tip until the same non-null hash is read for 3 s."""
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        try:
            store = await Store.connect(dsn, max_size=1)
            try:
                rows = await store.fetch("SELECT block_hash FROM chain_tip")
            finally:
                await store.close()
        except DatabaseError:
            continue  # schema not there yet
        tip = rows[0]["block_hash"] if rows else None
        if tip != last:
            last, since = tip, time.monotonic()
        elif tip is not None and time.monotonic() - since >= 3:
            return str(tip)
    raise SystemExit(f"chain_tip did not settle within {timeout_s} s")


async def illustrative_rewards(dsn: str) -> str:
    store = await Store.connect(dsn, max_size=1)
    try:
        rows = await store.fetch(
            "SELECT pool_id, epoch_no, blocks_made FROM pool_epoch "
            "WHERE rewards_status = 'unavailable' AND blocks_made > 0 ORDER BY 1, 2")
    finally:
        await store.close()
    lines = ["pool_id,epoch,total_rewards_lovelace,leader_reward_lovelace,blocks_made,source"]
    for i, r in enumerate(rows):
        total = r["blocks_made"] * 440_000_000 + (i % 3) * 150_000_000  # ~3,000 ADA an epoch
        leader = total * 3 // 4
        lines.append(f"{r['pool_id']},{r['epoch_no']},{total},{leader},{r['blocks_made']},"
                     "illustrative (scripts/render_demo_db.py)")
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> int:
    dsn = with_db(args.admin_dsn, args.db)
    await create_db(args.admin_dsn, args.db, args.drop)
    sim = subprocess.Popen([sys.executable, "-m", "indexer.simulator", "--port", "0",
                            "--scenario", "demo"], stdout=subprocess.PIPE, text=True,
                           env=env(), cwd=ROOT)
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        if not url.startswith("ws://"):
            raise SystemExit(f"the simulator did not print its URL (got {url!r})")
        with tempfile.TemporaryDirectory(prefix="render-demo-") as tmp:
            cfg = Path(tmp) / "config.toml"
            cfg.write_text(f'[ogmios]\nurl = "{url}"\n[database]\ndsn = "{dsn}"\n'
                           '[log]\nlevel = "warning"\n')
            daemon = subprocess.Popen([sys.executable, "-m", "indexer.cli", "run", "--config",
                                       str(cfg)], env=env(), cwd=ROOT)
            try:
                tip = await wait_for_tip(dsn, args.timeout)
                print(f"chain_tip settled at {tip}", file=sys.stderr)
            finally:
                daemon.send_signal(signal.SIGTERM)
                code = daemon.wait(60)
            if code != 0:
                raise SystemExit(f"indexer run exited {code} after SIGTERM")
            csv_path = Path(tmp) / "rewards.csv"
            csv_path.write_text(await illustrative_rewards(dsn))
            indexer("rewards", "import", str(csv_path), "--dsn", dsn)
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(30)
    indexer("db", "grant", "--dsn", dsn, "--role", args.role, "--password", args.password)
    print(with_db(args.admin_dsn, args.db, args.role, args.password))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="a role that may CREATE DATABASE and CREATE ROLE")
    ap.add_argument("--db", default="shared_pool_render", help="database to create")
    ap.add_argument("--drop", action="store_true", help="drop the database first if it exists")
    ap.add_argument("--role", default="grafana_render", help="read-only role to (re)create")
    ap.add_argument("--password", default="render", help="its password")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the tip")
    return asyncio.run(main_async(ap.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
