"""Decode throughput: the daemon's path (``decode_message``: the typed msgspec fast path) against
the dict path it replaced (``_block.decode_message``: big-integer pre-scan, ``orjson.loads``,
the checks over dicts), on the benchmark chain (scripts/bench_chain.py) and the Ogmios test
vectors; with the parsers alone for scale.

    python scripts/bench_decode.py [--seconds 3] [--blocks 20000] [--frames 4000]

It also checks that both paths return the same events for every frame measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_chain import load_or_build  # noqa: E402

from indexer.chain.decode import _block, _fast, decode_message  # noqa: E402
from indexer.chain.types import RollForward  # noqa: E402

VECTORS = ROOT / "tests" / "data" / "ogmios" / "vectors" / "NextBlockResponse"
_TIP = b'{"slot":1,"id":"' + b"0" * 64 + b'","height":3}'


def frame(block: bytes) -> bytes:
    return (b'{"jsonrpc":"2.0","method":"nextBlock","result":{"direction":"forward","block":'
            + block + b',"tip":' + _TIP + b'},"id":null}')


def _rate(fn: Callable[[Any], object], frames: list[bytes], seconds: float) -> float:
    """Frames per second, best of three runs of ~seconds/3 each (after a warm-up pass that
    fills the address cache, as a long-running daemon has it)."""
    for f in frames:
        fn(f)
    best = 0.0
    for _ in range(3):
        n = 0
        start = time.perf_counter()
        while True:
            for f in frames:
                fn(f)
            n += len(frames)
            now = time.perf_counter()
            if now - start >= seconds / 3:
                break
        best = max(best, n / (now - start))
    return best


def report(name: str, frames: list[bytes], seconds: float) -> None:
    same = sum(_fast.decode_message(f) == _block.decode_message(f) for f in frames)
    n_txs = 0
    for f in frames:
        ev = decode_message(f)
        if isinstance(ev, RollForward) and ev.block is not None:
            n_txs += len(ev.block.transactions)
    n_bytes = sum(map(len, frames))
    print(f"{name}: {len(frames)} frames, {n_txs} txs, {n_bytes / 1e6:.1f} MB; both paths "
          f"agree on {same}/{len(frames)}")
    cases: list[tuple[str, Callable[[Any], object]]] = [
        ("orjson.loads alone", orjson.loads),
        ("big-integer pre-scan alone", _block._has_big_int),
        ("msgspec.json.decode (dicts)", msgspec.json.decode),
        ("msgspec typed structs alone", _fast._DECODER.decode),
        ("dict path (before)", _block.decode_message),
        ("fast path (decode_message)", decode_message),
    ]
    for label, fn in cases:
        fps = _rate(fn, frames, seconds)
        print(f"  {label:30s} {fps:9,.0f} frames/s {fps * n_txs / len(frames):10,.0f} tx/s "
              f"{fps * n_bytes / len(frames) / 1e6:7,.0f} MB/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per case")
    ap.add_argument("--blocks", type=int, default=20_000, help="the benchmark chain")
    ap.add_argument("--frames", type=int, default=4_000, help="frames of it to measure on")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, orjson {orjson.__version__}, msgspec "
          f"{msgspec.__version__}, cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    chain = load_or_build(args.blocks)
    frames = [frame(b) for b in chain.frames()[-args.frames:]]
    report(f"benchmark chain (last {len(frames)} blocks)", frames, args.seconds)
    vectors = [p.read_bytes() for p in sorted(VECTORS.glob("*.json"))]
    if vectors:
        report("Ogmios test vectors", vectors, args.seconds)


if __name__ == "__main__":
    main()
