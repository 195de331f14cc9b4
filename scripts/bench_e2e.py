"""``make bench``: the daemon end to end against the bare clients, on one mainnet-like chain, in
one run, alternating.

1. The chain: scripts/bench_chain.py (generated once, cached in ``.bench-cache/``; the
   distributions and why are in its docstring).
2. The server: scripts/bench_serve.py in its own process, over a real WebSocket, every block
   already serialised (as fast as the socket allows).
3. Each round runs, in turn and each in a fresh process (scripts/bench_clients.py), with the
   order rotated from round to round so that they share the machine's noise:
   - ``daemon``: the real daemon into a fresh database (blocks/s, tx/s, MB/s, peak RSS, CPU
     share of the wall time, database size, its epoch boundaries);
   - ``orjson``: a bare websockets + orjson consumer, 100 requests in flight (the ceiling);
   - ``ogmios-python``: a bare read loop of the ``ogmios`` package (the peer);
   - ``daemon@scale``: the daemon into a clone of a database already holding 11 million
     staked outputs and 3,000 pools (scripts/bench_scale.py), whose boundaries then
     materialize 3,000 pools over that table.
   Before each contender the server is checkpointed and the OS's dirty pages written out, so
   that no run pays for the writeback of the clone or of the run before it.
4. Then one more daemon run under py-spy, summarised: where the daemon's time goes.

It prints medians with their spread (min-max), the ratios (of the medians, and within each
round), a projection of a full mainnet resync from the first Shelley block, and the database
size per million kept outputs.

    python scripts/bench_e2e.py                 # the full run (~5 min cached, ~9 the first time)
    python scripts/bench_e2e.py --quick         # a few minutes: 5,000 blocks, 2M outputs
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_chain import ChainFile, load_or_build, stats  # noqa: E402
from bench_scale import clone, ensure_template  # noqa: E402

from indexer.db.store import drop_database, recreate_database  # noqa: E402

# Mainnet from the first Shelley block (height 4,490,511, July 2020) to late 2026 (about
# 14.1 million): ~21,000 blocks per epoch over ~456 epochs.
MAINNET_SHELLEY_BLOCKS = 9_600_000
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _run(args: list[str], *, prefix: list[str] | None = None, root: Path = ROOT
         ) -> dict[str, Any]:
    """``root``'s bench_clients.py (its own code on PYTHONPATH); its last JSON line."""
    cmd = [*(prefix or []), PY, str(root / "scripts" / "bench_clients.py"), *args]
    out = subprocess.run(cmd, env={**ENV, "PYTHONPATH": str(root)}, capture_output=True,
                         text=True, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(args[:1])} failed ({out.returncode}):\n"
                           f"{out.stderr[-3000:]}")
    result: dict[str, Any] = orjson.loads(lines[-1])
    return result


class Server:
    def __init__(self, blocks: int, seed: int) -> None:
        self.proc = subprocess.Popen(
            [PY, str(ROOT / "scripts" / "bench_serve.py"), "--blocks", str(blocks),
             "--seed", str(seed)], env=ENV, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"the server did not start: {line!r}")
        self.url = line.split()[1]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _median(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    spread = f" ({min(values):,.0f}-{max(values):,.0f})" if len(values) > 1 else ""
    return f"{med:,.0f}{spread}"


def _profile_summary(raw_path: Path, top: int = 14) -> list[str]:
    """py-spy's collapsed stacks -> shares of the daemon's samples: by stage (inclusive) and
    by function (self)."""
    stages = {
        "decode (msgspec + checks)": ("decode_message", "_block.py", "_fast.py"),
        "rows for COPY (rows.py)": ("add_block",),
        "PostgreSQL client (asyncpg)": ("asyncpg/",),
        "WebSocket receive and send (websockets)": ("websockets/",),
        "epoch boundaries": ("boundary.py",),
    }
    by_stage: Counter[str] = Counter()
    by_self: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = frames[-1]
        by_self[leaf.split(" (")[0] + " " + leaf.rsplit("/", 1)[-1].split(":")[0]] += n
        for stage, marks in stages.items():
            if any(m in stack for m in marks):
                by_stage[stage] += n
                break
        else:
            idle = "select" in leaf.lower() or "epoll" in leaf.lower()
            by_stage["event loop idle (waiting)" if idle else "other"] += n
    if not total:
        return ["(no samples)"]
    lines = ["by stage (share of samples, first match wins):"]
    lines += [f"  {v / total:6.1%}  {k}" for k, v in by_stage.most_common()]
    lines.append(f"top {top} functions by own time:")
    lines += [f"  {v / total:6.1%}  {k}" for k, v in by_self.most_common(top)]
    return lines


_SETTINGS = ("server_version", "shared_buffers", "max_wal_size", "checkpoint_timeout",
             "wal_compression", "full_page_writes", "fsync")


async def _server_settings(admin: str) -> str:
    """The PostgreSQL settings that decide the rate at mainnet scale (README "Measured")."""
    conn = await asyncpg.connect(admin)
    try:
        rows = await conn.fetch("SELECT name, current_setting(name) AS v FROM pg_settings "
                                "WHERE name = ANY($1::text[])", list(_SETTINGS))
    finally:
        await conn.close()
    got = {r["name"]: r["v"] for r in rows}
    return "postgresql: " + ", ".join(f"{k} {got.get(k, '?')}" for k in _SETTINGS)


async def _fresh(admin: str, name: str) -> str:
    return await recreate_database(admin, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", default=os.environ.get(
        "INDEXER_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="an admin DSN: databases indexer_bench_* are created and dropped")
    ap.add_argument("--quick", action="store_true", help="5,000 blocks, 2M outputs, 1 round")
    ap.add_argument("--blocks", type=int)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--scale-outputs", type=int, help="0: no mainnet-scale run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    blocks = args.blocks or (5_000 if args.quick else 20_000)
    rounds = args.rounds or (1 if args.quick else 3)
    scale = args.scale_outputs if args.scale_outputs is not None else (
        2_000_000 if args.quick else 11_000_000)

    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}: {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    print(asyncio.run(_server_settings(args.dsn)))
    chain = load_or_build(blocks, args.seed)
    st = stats(chain)
    print("chain: " + ", ".join(f"{k} {v:,.3g}" for k, v in st.items()))
    template = asyncio.run(ensure_template(args.dsn, scale, chain)) if scale else None
    tip = chain.index[-1][0]
    mib = st["mib"]
    server = Server(blocks, args.seed)
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        contenders = ["daemon", "orjson", "ogmios-python"] + (["daemon@scale"] if scale else [])
        for r in range(rounds):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            for name in order:
                results.setdefault(name, []).append(
                    _contender(name, args.dsn, server.url, tip, template, chain))
                res = results[name][-1]
                print(f"  round {r + 1} {name:14s} {res['blocks'] / res['wall_s']:8,.0f} "
                      f"blocks/s  (cpu {res['cpu_s'] / res['wall_s']:.0%} of wall, "
                      f"rss {res['peak_rss_mib']:.0f} MiB)", flush=True)
        profile = [] if args.no_profile else _profile(args.dsn, server.url, tip)
    finally:
        server.close()
        for name in ("indexer_bench_fresh", "indexer_bench_scale", "indexer_bench_profile"):
            asyncio.run(drop_database(args.dsn, name))
    _report(results, st, mib, profile, scale)


async def _settle(admin: str) -> None:
    """Write out what the last run and the setup left dirty (a clone is 2.8 GiB) before the
    next contender starts, so that no run pays for the writeback of another's pages."""
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        pass  # not a superuser: the OS-level sync still drains the page cache
    finally:
        await conn.close()
    os.sync()


def _contender(name: str, admin: str, url: str, tip: str, template: str | None,
               chain: ChainFile) -> dict[str, Any]:
    dsn = None
    if name == "daemon":
        dsn = asyncio.run(_fresh(admin, "indexer_bench_fresh"))
    elif name == "daemon@scale":
        assert template is not None
        dsn = asyncio.run(clone(admin, template, "indexer_bench_scale"))
    asyncio.run(_settle(admin))
    if dsn is not None:
        return _run(["daemon", "--url", url, "--tip", tip, "--dsn", dsn])
    return _run([name, "--url", url, "--tip", tip])


def _profile(admin: str, url: str, tip: str) -> list[str]:
    if shutil.which("py-spy") is None:
        return ["(py-spy is not installed: pip install '.[bench]')"]
    dsn = asyncio.run(_fresh(admin, "indexer_bench_profile"))
    asyncio.run(_settle(admin))
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "daemon.txt"
        res = _run(["daemon", "--url", url, "--tip", tip, "--dsn", dsn],
                   prefix=["py-spy", "record", "-r", "200", "-f", "raw", "-o", str(raw), "--"])
        lines = [f"daemon under py-spy: {res['blocks'] / res['wall_s']:,.0f} blocks/s, its "
                 f"process on CPU {res['cpu_s'] / res['wall_s']:.0%} of the wall time"]
        return lines + _profile_summary(raw)


def _report(results: dict[str, list[dict[str, Any]]], st: dict[str, float], mib: float,
            profile: list[str], scale: int) -> None:
    def rates(name: str, key: str = "blocks") -> list[float]:
        return [r[key] / r["wall_s"] for r in results.get(name, [])]

    print("\n== results (median, min-max over rounds; a busy machine is noisy) ==")
    for name in results:
        b = rates(name)
        line = f"{name:14s} {_median(b)} blocks/s"
        if name.startswith("daemon"):
            line += (f", {_median(rates(name, 'txs'))} tx/s, "
                     f"{_median([x * mib / st['blocks'] for x in b])} MiB/s, peak RSS "
                     f"{_median([r['peak_rss_mib'] for r in results[name]])} MiB, CPU "
                     f"{statistics.median(r['cpu_s'] / r['wall_s'] for r in results[name]):.0%}"
                     " of wall")
        print(line)
    daemon, peer, ceiling = (statistics.median(rates(n)) for n in
                             ("daemon", "ogmios-python", "orjson"))
    print(f"\nratio daemon / ogmios-python: {daemon / peer:.2f} (target >= 1.0)")
    print(f"ratio daemon / orjson ceiling:  {daemon / ceiling:.2f} (target >= 0.35)")
    # The same ratios within each round (its contenders ran minutes apart): a machine that
    # slows down or speeds up over the run moves both sides of these alike.
    def per_round(a: str, b: str) -> str:
        xs = [x / y for x, y in zip(rates(a), rates(b), strict=True)]
        return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"

    line = (f"per round, median (min-max): daemon / ogmios-python "
            f"{per_round('daemon', 'ogmios-python')}, daemon / orjson "
            f"{per_round('daemon', 'orjson')}")
    if "daemon@scale" in results:
        line += f", at scale / fresh {per_round('daemon@scale', 'daemon')}"
    print(line)
    pairs = [d["blocks"] / d["wall_s"] for d in results["daemon"]]
    if "daemon@scale" in results:
        at_scale = statistics.median(rates("daemon@scale"))
        print(f"at scale ({scale:,} outputs) / fresh: {at_scale / daemon:.2f} (target >= 0.75)")
        # The chain's epochs are a fifth of mainnet's (four boundaries in 20,000 blocks, where
        # mainnet has one per ~21,600), and the boundary has its own target: the rate between
        # boundaries is the one a mainnet resync sees, bar one boundary a day.
        between = [r["blocks"] / (r["wall_s"] - sum(r["boundaries_s"]))
                   for r in results["daemon"]]
        between_scale = [r["blocks"] / (r["wall_s"] - sum(r["boundaries_s"]))
                         for r in results["daemon@scale"]]
        print(f"between boundaries: fresh {_median(between)}, at scale {_median(between_scale)}"
              f" blocks/s; at scale / fresh: "
              f"{statistics.median(between_scale) / statistics.median(between):.2f}")
        bounds = [max(r["boundaries_s"]) for r in results["daemon@scale"] if r["boundaries_s"]]
        if bounds:
            print(f"slowest epoch boundary at scale (3,000 pools): "
                  f"{statistics.median(bounds):.2f} s median of the rounds' slowest "
                  f"({min(bounds):.2f}-{max(bounds):.2f}; target < 5 s)")
        pairs += rates("daemon@scale")
    fresh = results["daemon"][-1]
    print(f"boundaries of a fresh run: {', '.join(f'{b:.3f}' for b in fresh['boundaries_s'])} s")
    kept = fresh["kept_outputs"]
    print(f"database after a fresh run: {fresh['db_bytes'] / 2**20:,.0f} MiB, {kept:,} staked "
          f"outputs kept; utxo + utxo_spent with indexes "
          f"{fresh['utxo_bytes'] / max(kept, 1) * 1e6 / 2**20:,.0f} MiB per million kept")
    if "daemon@scale" in results:
        s = results["daemon@scale"][-1]
        print(f"database at scale: {s['db_bytes'] / 2**30:.2f} GiB, {s['kept_outputs']:,} "
              f"outputs kept; utxo tables {s['utxo_bytes'] / s['kept_outputs'] * 1e6 / 2**20:,.0f}"
              " MiB per million kept")
    slowest = min(pairs)
    print(f"projection, mainnet resync from the first Shelley block (~{MAINNET_SHELLEY_BLOCKS:,} "
          f"blocks at this chain's 13 tx/block): {MAINNET_SHELLEY_BLOCKS / daemon / 3600:.1f} h "
          f"at the median rate, {MAINNET_SHELLEY_BLOCKS / slowest / 3600:.1f} h at the slowest")
    if profile:
        print("\n== profile: where the daemon's time goes ==")
        print("\n".join(profile))
    print(f"\ndone at {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
