"""Run the Ogmios simulator with a bundled scenario until SIGINT/SIGTERM.

    python -m indexer.demo.serve --port 1337 --scenario demo
    python -m indexer.demo.serve --port 1337 --scenario demo --reveal-interval-s 2

Prints the WebSocket URL on stdout once listening. With ``--reveal-interval-s`` the chain is
revealed one block per interval, like a live node; otherwise it is all there at start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from indexer.demo.scenarios import SCENARIOS, demo_network
from indexer.simulator.server import Simulator


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m indexer.demo.serve",
                                 description="Ogmios v6.13+/v7 simulator serving a scripted chain")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1337)
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="demo")
    ap.add_argument("--reveal-interval-s", type=float, default=0.0,
                    help="reveal one block per interval (default 0: all blocks at once)")
    ap.add_argument("--initial-blocks", type=int, default=0,
                    help="with --reveal-interval-s: blocks already there at start")
    ap.add_argument("--server-version", default="v6.14.0 (simulator)",
                    help="the version /health reports")
    return ap.parse_args(argv)


async def _reveal(sim: Simulator, blocks: list[dict[str, Any]], interval: float) -> None:
    for block in blocks:
        await asyncio.sleep(interval)
        sim.extend(block)


async def _run(args: argparse.Namespace) -> None:
    network = demo_network()
    blocks = SCENARIOS[args.scenario](network)
    sim = Simulator(network, version=args.server_version)
    url = await sim.start(args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reveal: asyncio.Task[None] | None = None
    if args.reveal_interval_s > 0:
        sim.extend(*blocks[: args.initial_blocks])
        reveal = asyncio.create_task(
            _reveal(sim, blocks[args.initial_blocks:], args.reveal_interval_s))
    else:
        sim.extend(*blocks)
    print(url, flush=True)
    print(f"scenario {args.scenario}: {len(blocks)} blocks, network {network.name} "
          f"(magic {network.network_magic})", file=sys.stderr, flush=True)
    await stop.wait()
    if reveal is not None:
        reveal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reveal
    await sim.stop()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_run(_parse(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
