"""SIGKILL the real `indexer run` process mid-sync, restart it: after each kill the database
is at a committed batch, and in the end it equals a straight run over the chain."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from pathlib import Path

from indexer.db.store import Store
from indexer.simulator.server import Simulator
from tests.bigchain import big_chain, big_network
from tests.harness import config, sync, synced, tip_slot, views, wait_for
from tests.pg import Databases


def _write_config(path: Path, url: str, dsn: str) -> None:
    path.write_text(f"""
[ogmios]
url = "{url}"
in_flight = 8
reconnect_max_s = 0.5

[database]
dsn = "{dsn}"

[indexer]
batch_max_blocks = 4
prune_every_batches = 3
live_distance_blocks = -1

[log]
level = "warning"

[metadata]
fetch = false                   # the chain's metadata URLs are made up
""")


async def _start(cfg: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer.cli", "run", "--config", str(cfg),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def _consistent(dsn: str) -> int | None:
    """The checkpoint names a stored block (or origin) and nothing lies beyond it."""
    store = await Store.connect(dsn)
    try:
        cp = (await store.fetch("SELECT slot, block_hash FROM checkpoint"))[0]
        beyond = await store.fetch("SELECT count(*) AS n FROM block WHERE slot > $1",
                                   cp["slot"] if cp["slot"] is not None else -1)
        assert beyond[0]["n"] == 0
        if cp["slot"] is not None:
            found = await store.fetch("SELECT hash FROM block WHERE slot = $1", cp["slot"])
            assert found and found[0]["hash"] == cp["block_hash"]
        return cp["slot"]
    finally:
        await store.close()


async def test_sigkill_mid_batch_then_restart_equals_straight_run(
        dsn: str, databases: Databases, tmp_path: Path) -> None:
    net = big_network()
    chain = big_chain(net, 600, 15)
    rnd = random.Random(7)
    cfg = tmp_path / "indexer.toml"
    kills = 0  # kills that hit the daemon before it reached the tip
    async with Simulator(net) as sim:
        sim.extend(*chain)
        _write_config(cfg, sim.url, dsn)
        previous = None
        while kills < 4:
            proc = await _start(cfg)
            await wait_for(lambda prev=previous: _moved(dsn, prev), 30)  # type: ignore[misc]
            await asyncio.sleep(rnd.uniform(0.0, 0.1))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            previous = await _consistent(dsn)
            if await synced(dsn, sim):
                break
            kills += 1
        proc = await _start(cfg)  # the last run goes to the tip and stops on SIGTERM
        await wait_for(lambda: synced(dsn, sim), 60)
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        straight = await databases.new()
        await sync(config(sim.url, straight, batch_max_blocks=500, live_distance_blocks=-1), sim)
    assert await views(dsn) == await views(straight)
    assert kills >= 2


async def _moved(dsn: str, previous: int | None) -> bool:
    slot = await tip_slot(dsn)
    return slot is not None and slot != previous



async def _http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_cli_exits_nonzero_on_bad_input_and_serves_metrics(dsn: str, tmp_path: Path
                                                                 ) -> None:
    """The real process: /metrics and /ready while following; a frame that is not JSON stops it
    with exit code 1 and a message; the database stays at the last good block."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    net = big_network()
    chain = big_chain(net, 60, 2)
    cfg = tmp_path / "indexer.toml"
    async with Simulator(net) as sim:
        sim.extend(*chain[:50])
        _write_config(cfg, sim.url, dsn)
        cfg.write_text(cfg.read_text() + f'\n[metrics]\nport = {port}\n')
        proc = await _start(cfg)
        await wait_for(lambda: synced(dsn, sim), 30)
        await wait_for(lambda: _metrics_ready(port), 10)
        status, body = await _http_get(port, "/metrics")
        from prometheus_client.parser import text_string_to_metric_families
        values = {s.name: s.value for f in text_string_to_metric_families(body)
                  for s in f.samples}
        assert status == 200 and values["indexer_tip_slot"] == chain[49]["slot"]
        assert "indexer_rollbacks_total" in body and "indexer_reconnects_total" in body
        sim.inject_raw(b"{ this is not json")
        sim.extend(chain[50])
        code = await asyncio.wait_for(proc.wait(), 30)
        err = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
    assert code == 1, err
    assert "DecodeError" in err and "JSON" in err
    assert await tip_slot(dsn) == chain[49]["slot"]


async def _metrics_ready(port: int) -> bool:
    try:
        status, _ = await _http_get(port, "/ready")
    except OSError:
        return False
    return status == 200
