"""Serve a cached benchmark chain (scripts/bench_chain.py) over a real WebSocket, as fast as
the socket allows: the Ogmios simulator (chain-sync, the ledger queries the daemon asks at
start, /health), with every block already serialised, read from the cache file.

    python scripts/bench_serve.py --blocks 20000 --port 0      # prints "ready ws://…"

Run in its own process by scripts/bench_e2e.py, so that it does not share the measured
client's interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import mmap
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_chain import NETWORK, ChainFile, load_or_build  # noqa: E402

from indexer.simulator.server import Simulator  # noqa: E402

Json = dict[str, Any]


class CachedSimulator(Simulator):
    """The simulator over light block stubs (id, slot, height, ancestor); the JSON of each
    block comes from the memory-mapped cache file instead of ``orjson.dumps``."""

    def __init__(self, chain: ChainFile) -> None:
        super().__init__(NETWORK)
        self._file = chain.path.open("rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._where: dict[str, tuple[int, int]] = {}
        stubs = []
        for block_id, slot, height, ancestor, offset, length in chain.index:
            stubs.append({"id": block_id, "slot": slot, "height": height, "ancestor": ancestor})
            self._where[block_id] = (offset, length)
        self.extend(*stubs)

    def _encode(self, block: Json) -> bytes:
        offset, length = self._where[block["id"]]
        return self._map[offset:offset + length]


async def serve(blocks: int, seed: int, port: int) -> None:
    sim = CachedSimulator(load_or_build(blocks, seed, quiet=True))
    url = await sim.start(port=port)
    print(f"ready {url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    asyncio.run(serve(args.blocks, args.seed, args.port))


if __name__ == "__main__":
    main()
