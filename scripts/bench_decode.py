"""Decode throughput of ``indexer.chain.decode`` on synthetic mainnet-like blocks and on the Ogmios
test vectors.

    python scripts/bench_decode.py [--seconds 3] [--blocks 40] [--txs 80]

Synthetic blocks follow the shape of docs/ogmios.md §3.2: every transaction has 2 inputs, 2-3
base-address outputs (a third of them carrying native assets), fee, validity interval and a
signatory; 1 in 25 transactions also carries a delegation or a withdrawal. Output addresses
are drawn from a pool of 20,000 (mainnet reuses addresses heavily); a second run uses only new
addresses and clears the decoder's address cache before every frame (worst case).

For each input it prints three rates: ``orjson.loads`` alone (the floor), ``decode_block`` on
already-parsed dicts (the decoder's own work) and ``decode_message`` on the raw frame (what the
daemon pays: big-integer guard + parse + decode).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.chain.address import base_address, bech32_encode  # noqa: E402
from indexer.chain.decode import _block as decode_mod  # noqa: E402
from indexer.chain.decode import decode_block, decode_message  # noqa: E402
from indexer.chain.types import Cred, RollForward  # noqa: E402

VECTORS = ROOT / "tests" / "data" / "ogmios" / "vectors" / "NextBlockResponse"


def _hex(rng: random.Random, n: int) -> str:
    return rng.randbytes(n).hex()


class Synth:
    def __init__(self, seed: int, address_pool: int | None) -> None:
        self.rng = random.Random(seed)
        self.pool_size = address_pool
        self.addresses = [self._new_address() for _ in range(address_pool or 0)]
        self.pools = [bech32_encode("pool", self.rng.randbytes(28)) for _ in range(50)]

    def _new_address(self) -> str:
        stake = Cred(b"\x00" + self.rng.randbytes(28))
        return base_address(self.rng.randbytes(28), stake, 1)

    def address(self) -> str:
        if self.pool_size:
            return self.rng.choice(self.addresses)
        return self._new_address()

    def value(self) -> dict[str, object]:
        v: dict[str, object] = {"ada": {"lovelace": self.rng.randrange(1_000_000, 50_000_000_000)}}
        if self.rng.random() < 0.33:
            v[_hex(self.rng, 28)] = {_hex(self.rng, 8): self.rng.randrange(1, 10**9)}
        return v

    def tx(self) -> dict[str, object]:
        rng = self.rng
        t: dict[str, object] = {
            "id": _hex(rng, 32),
            "spends": "inputs",
            "inputs": [{"transaction": {"id": _hex(rng, 32)}, "index": rng.randrange(4)}
                       for _ in range(2)],
            "outputs": [{"address": self.address(), "value": self.value()}
                        for _ in range(rng.choice((2, 2, 3)))],
            "fee": {"ada": {"lovelace": rng.randrange(170_000, 400_000)}},
            "validityInterval": {"invalidAfter": 160_007_200},
            "signatories": [{"key": _hex(rng, 32), "signature": _hex(rng, 64)}],
        }
        roll = rng.random()
        if roll < 0.02:
            t["certificates"] = [{"type": "stakeDelegation", "from": "verificationKey",
                                  "credential": _hex(rng, 28),
                                  "stakePool": {"id": rng.choice(self.pools)}}]
        elif roll < 0.04:
            reward = bech32_encode("stake", b"\xe1" + rng.randbytes(28))
            t["withdrawals"] = {reward: {"ada": {"lovelace": rng.randrange(10**9)}}}
        return t

    def frame(self, n_txs: int, height: int) -> bytes:
        block = {
            "type": "praos", "era": "conway", "id": _hex(self.rng, 32),
            "ancestor": _hex(self.rng, 32), "height": height, "slot": 160_000_000 + height * 20,
            "size": {"bytes": 60_000}, "protocol": {"version": {"major": 10, "minor": 0}},
            "issuer": {"verificationKey": _hex(self.rng, 32),
                       "vrfVerificationKey": _hex(self.rng, 32),
                       "operationalCertificate": {"count": 12, "kes": {
                           "period": 1200, "verificationKey": _hex(self.rng, 32)}},
                       "leaderValue": {"output": _hex(self.rng, 64), "proof": _hex(self.rng, 80)}},
            "transactions": [self.tx() for _ in range(n_txs)],
        }
        tip = {"slot": 170_000_000, "id": _hex(self.rng, 32), "height": 13_000_000}
        return orjson.dumps({"jsonrpc": "2.0", "method": "nextBlock",
                             "result": {"direction": "forward", "block": block, "tip": tip},
                             "id": None})


def _rate(fn: Callable[[Any], object], frames: list[Any], seconds: float) -> float:
    """Frames per second, best of three runs of ~seconds/3 each."""
    for f in frames:  # warm-up (fills caches as a long-running daemon would)
        fn(f)
    best = 0.0
    for _ in range(3):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for f in frames:
                fn(f)
            n += len(frames)
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def _uncached(fn: Callable[[Any], object]) -> Callable[[Any], object]:
    cache = decode_mod._STAKE_CACHE

    def run(item: Any) -> object:
        cache.clear()  # worst case: stake_part() runs for every output
        return fn(item)

    return run


def _report(name: str, frames: list[bytes], seconds: float, *, cached: bool = True) -> None:
    n_bytes = sum(map(len, frames))
    n_txs = 0
    for f in frames:
        ev = decode_message(f)
        if isinstance(ev, RollForward) and ev.block is not None:
            n_txs += len(ev.block.transactions)
    print(f"{name}: {len(frames)} frames, {n_txs} txs, {n_bytes / 1e6:.2f} MB")
    ebb = {"type": "ebb", "era": "byron", "id": "00" * 32, "ancestor": "00" * 32, "height": 0}
    blocks = [orjson.loads(f)["result"].get("block") or ebb for f in frames]
    wrap = (lambda fn: fn) if cached else _uncached
    cases: list[tuple[str, Callable[[Any], object], list[Any]]] = [
        ("orjson.loads only", orjson.loads, frames),
        ("decode_block (dict in)", wrap(decode_block), blocks),
        ("decode_message (all)", wrap(decode_message), frames),
    ]
    for label, fn, items in cases:
        fps = _rate(fn, items, seconds)
        scale = fps / len(frames)
        print(f"  {label:22s} {fps:10,.0f} frames/s {scale * n_txs:12,.0f} tx/s "
              f"{scale * n_bytes / 1e6:8,.1f} MB/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per case")
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--txs", type=int, default=80, help="transactions per synthetic block")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, orjson {orjson.__version__}, cpus {os.cpu_count()}")

    synth = Synth(1, 20_000)
    frames = [synth.frame(args.txs, h) for h in range(args.blocks)]
    _report(f"synthetic ({args.txs} tx/block)", frames, args.seconds)

    cold = Synth(2, None)
    frames = [cold.frame(args.txs, h) for h in range(args.blocks)]
    _report("synthetic, new addresses, address cache defeated", frames, args.seconds,
            cached=False)

    vec_dir = VECTORS
    vectors = [p.read_bytes() for p in sorted(vec_dir.glob("*.json"))]
    if vectors:
        _report(f"Ogmios test vectors ({vec_dir})", vectors, args.seconds)


if __name__ == "__main__":
    main()
