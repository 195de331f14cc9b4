"""Ogmios misbehaving, for real (the simulator over a real WebSocket, the daemon against the
real PostgreSQL): a stall behind the tip (health turns red, the daemon reconnects), a frozen
server (no pong), waiting at the tip (not a stall), a frame above max_message_mib (fatal,
naming the block), a ledger answer above max_query_mib, the writer waiting on eraSummaries
outside its transaction, the reconnect backoff, and wss:// with a CA file."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from indexer import daemon
from indexer.config import Config
from indexer.demo.scenarios import build_demo_chain, demo_network
from indexer.simulator.server import Simulator
from indexer.sync.chainsync import ChainFollower, FrameTooLarge
from indexer.sync.ogmios import (
    LedgerClient,
    QueryError,
    ServerTooOld,
    TlsRefused,
    backoff_delay_s,
    health_url,
)
from tests.harness import NEVER_LIVE, Running, config, synced, tip_slot, wait_for
from tests.netfaults import free_port, make_tls


def _with(cfg: Config, **ogmios: Any) -> Config:
    return dataclasses.replace(cfg, ogmios=dataclasses.replace(cfg.ogmios, **ogmios))


def _metrics(cfg: Config, port: int) -> Config:
    return dataclasses.replace(cfg, metrics=dataclasses.replace(cfg.metrics, port=port))


async def _ready(port: int) -> int:
    async with httpx.AsyncClient(timeout=2) as client:
        return (await client.get(f"http://127.0.0.1:{port}/ready")).status_code


async def _status_becomes(port: int, status: int, timeout_s: float) -> float:
    started = time.monotonic()

    async def check() -> bool:
        try:
            return await _ready(port) == status
        except httpx.TransportError:
            return False
    await wait_for(check, timeout_s)
    return time.monotonic() - started


# --- stalls --------------------------------------------------------------------------------------


async def test_a_node_that_stops_sending_turns_health_red_and_is_reconnected(dsn: str) -> None:
    """Behind the tip and no block for stall_timeout_s: /ready says 503 (the lag computed from
    the last frame would still say 0) and the daemon reconnects; once blocks flow, green."""
    net = demo_network()
    chain = build_demo_chain(net)
    port = free_port()
    async with Simulator(net) as sim:
        sim.extend(*chain[:30])
        cfg = _metrics(_with(config(sim.url, dsn, **NEVER_LIVE), stall_timeout_s=1.0), port)
        with capture_logs() as logs:
            async with Running(cfg):
                await wait_for(lambda: synced(dsn, sim))
                await _status_becomes(port, 200, 10)
                sessions = sim.connections_total
                sim.hold_chain_sync()
                sim.extend(*chain[30:])
                red_after_s = await _status_becomes(port, 503, 10)
                await wait_for(lambda: _stalls(logs, 2), 10)
                assert sim.connections_total >= sessions + 1  # it reconnected (and stalled again)
                sim.hold_chain_sync(False)
                await wait_for(lambda: synced(dsn, sim))
                await _status_becomes(port, 200, 10)
    assert red_after_s < 3.0
    stalled = [e for e in logs if e["event"] == "ogmios.chainsync.stalled"]
    assert any("findIntersection" in e["reason"] or "tip is ahead" in e["reason"]
               for e in stalled), stalled


async def _stalls(logs: list[dict[str, Any]], n: int) -> bool:
    return sum(e["event"] == "ogmios.chainsync.stalled" for e in logs) >= n


async def test_waiting_at_the_tip_is_not_a_stall_but_a_frozen_server_is(dsn: str) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:30])
        cfg = _with(config(sim.url, dsn, **NEVER_LIVE), stall_timeout_s=0.8)
        with capture_logs() as logs:
            async with Running(cfg):
                await wait_for(lambda: synced(dsn, sim))
                sessions = sim.connections_total
                await asyncio.sleep(2.0)  # two and a half stall timeouts at the tip, no block
                assert sim.connections_total == sessions
                assert not [e for e in logs if e["event"] == "ogmios.chainsync.stalled"]
                frozen = time.monotonic()
                sim.freeze_connections()  # not even a pong now
                await wait_for(lambda: _stalls(logs, 1), 10)
                noticed_s = time.monotonic() - frozen
                sim.extend(*chain[30:])
                await wait_for(lambda: synced(dsn, sim))
    assert noticed_s < 0.8 * 2.5, noticed_s
    assert "neither a block nor a query" in next(
        e["reason"] for e in logs if e["event"] == "ogmios.chainsync.stalled")


# --- sizes ---------------------------------------------------------------------------------------


async def test_a_frame_above_max_message_mib_is_fatal_and_names_the_block(dsn: str) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:40])
        cfg = _with(config(sim.url, dsn, **NEVER_LIVE), max_message_mib=1)
        async with Running(cfg) as run:
            await wait_for(lambda: synced(dsn, sim))
            sessions = sim.connections_total
            sim.inject_raw(b'{"jsonrpc":"2.0","method":"nextBlock","result":{"pad":"'
                           + b"x" * (3 << 19) + b'"}}')
            sim.extend(chain[40])
            failure = await run.failure()
        assert sim.connections_total == sessions  # no reconnect loop
    errors = [e for e in failure.exceptions if isinstance(e, FrameTooLarge)]
    assert errors, failure.exceptions
    message = str(errors[0])
    assert f"the next block after slot {chain[39]['slot']} (block {chain[39]['id']})" in message
    assert "max_message_mib = 1 MiB" in message
    assert await tip_slot(dsn) == chain[39]["slot"]


async def test_a_ledger_answer_above_max_query_mib_fails_that_query_only() -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain)
        sim.rewards_provenance = lambda epoch, tip: {"pad": "x" * (3 << 19)}
        client = LedgerClient(sim.url, max_query_mib=1, reconnect_max_s=0.1)
        try:
            with pytest.raises(QueryError, match=r"larger than \[ogmios\] max_query_mib = 1 MiB"):
                await client.request("queryLedgerState/rewardsProvenance")
            opened = sim.connections_total
            assert await client.request("queryLedgerState/epoch") == net.epoch_of(
                chain[-1]["slot"])  # a fresh connection for the next query
            assert sim.connections_total == opened + 1
        finally:
            await client.close()


# --- the writer's transaction and eraSummaries ---------------------------------------------------


class _SlowSummaries(Simulator):
    """eraSummaries answers take a second once armed; ``asked`` is set when one is asked."""

    armed = False

    async def _dispatch(self, conn: Any, raw: str | bytes) -> None:
        if self.armed and b"eraSummaries" in (raw if isinstance(raw, bytes) else raw.encode()):
            self.asked.set()
            await asyncio.sleep(1.0)
        await super()._dispatch(conn, raw)

    asked = asyncio.Event()


async def test_the_writer_holds_no_transaction_while_it_waits_for_era_summaries(dsn: str
                                                                                 ) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with _SlowSummaries(net) as sim:
        sim.asked = asyncio.Event()
        sim.extend(*chain[:5])  # Byron only: the era summaries' horizon is near
        async with Running(config(sim.url, dsn)):
            await wait_for(lambda: synced(dsn, sim))
            sim.armed = True
            sim.extend(*chain[5:])  # beyond the horizon: the writer asks again
            await asyncio.wait_for(sim.asked.wait(), 20)
            await asyncio.sleep(0.3)  # well inside the second the answer takes
            open_tx = await _open_transactions(dsn)
            await wait_for(lambda: synced(dsn, sim))
    assert open_tx == [], open_tx


async def _open_transactions(dsn: str) -> list[dict[str, Any]]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'shared-pool-indexer' AND xact_start IS NOT NULL")
    finally:
        await conn.close()
    return [dict(r) for r in rows]


# --- reconnect backoff ---------------------------------------------------------------------------


class _DropsAfterIntersecting(Simulator):
    """Records when each chain-sync session intersects; while ``storm``, drops it right
    after."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.intersections: list[float] = []
        self.storm = False

    def _find_intersection(self, conn: Any, params: Any) -> Any:
        self.intersections.append(time.monotonic())
        if self.storm:
            asyncio.get_running_loop().call_later(0.02, conn.ws.transport.abort)
        return super()._find_intersection(conn, params)


async def test_reconnect_backoff_grows_and_resets_after_a_healthy_session(
        dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions dropped right after their intersection: the waits double (0.5, 1, then the cap
    1.5 s) instead of a flat 0.5 s; a session that delivers HEALTHY_FRAMES frames resets
    them."""
    monkeypatch.setattr(ChainFollower, "HEALTHY_FRAMES", 20)
    net = demo_network()
    chain = build_demo_chain(net)
    async with _DropsAfterIntersecting(net) as sim:
        sim.extend(*chain[:30])  # 30 frames: a healthy session
        cfg = _with(config(sim.url, dsn, **NEVER_LIVE), reconnect_max_s=1.5)
        async with Running(cfg):
            await wait_for(lambda: synced(dsn, sim))
            first = len(sim.intersections)
            sim.storm = True
            started = time.monotonic()
            await sim.drop_connections()
            await asyncio.sleep(3.7)
            sim.storm = False
            storm = [t - started for t in sim.intersections[first:] if t < started + 3.7]
            sim.extend(*chain[30:])  # the next session delivers 70 frames: healthy
            await wait_for(lambda: synced(dsn, sim))
            seen = len(sim.intersections)
            dropped = time.monotonic()
            await sim.drop_connections()
            await wait_for(lambda: _above(sim, seen), 10)
            after_reset_s = sim.intersections[seen] - dropped
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(storm)]
    assert len(storm) == 3, storm  # at 0.5, 1.5, 3.0 s; a flat 0.5 s would make 6 or 7
    assert storm[0] < 1.0, storm  # the healthy session before: the first wait
    assert 0.9 <= gaps[0] <= 1.5 and 1.4 <= gaps[1] <= 2.2, gaps  # doubling (then the cap)
    assert after_reset_s < 1.0, after_reset_s  # the first wait again, not the cap


def test_the_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_delay_s(n, 0.5, 30.0) for n in range(1, 9)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff_delay_s(3, 0.5, 1.5) == 1.5


async def _above(sim: _DropsAfterIntersecting, seen: int) -> bool:
    return len(sim.intersections) > seen


# --- TLS -----------------------------------------------------------------------------------------


def test_the_health_url_follows_the_websocket_url() -> None:
    assert health_url("ws://127.0.0.1:1337") == "http://127.0.0.1:1337/health"
    assert health_url("wss://ogmios.example") == "https://ogmios.example/health"  # port 443
    assert health_url("ws://ogmios.example") == "http://ogmios.example/health"  # port 80
    assert health_url("wss://ogmios.example:8443/") == "https://ogmios.example:8443/health"
    assert httpx.URL(health_url("wss://ogmios.example")).port is None  # the scheme's default


async def test_wss_end_to_end_with_a_ca_file(dsn: str, tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    net = demo_network()
    chain = build_demo_chain(net)
    sim = Simulator(net)
    url = await sim.start(ssl=tls.server_context())
    try:
        assert url.startswith("wss://127.0.0.1:")
        sim.extend(*chain[:40])
        cfg = _with(config(url, dsn), ca_file=str(tls.ca_file))
        async with Running(cfg):
            await wait_for(lambda: synced(dsn, sim))
        assert sim.health_requests >= 1  # /health was read over https (start check, polls)
        started = time.monotonic()
        with pytest.raises(TlsRefused, match=r"does not verify.*\[ogmios\] ca_file"):
            await daemon.run(config(url, dsn))  # the system's CAs do not know ours
        assert time.monotonic() - started < 5  # refused, not retried
    finally:
        await sim.stop()
    old = Simulator(net, version="v6.11.0 (tls)")
    url = await old.start(ssl=tls.server_context())
    try:  # the version check runs over https too (it used to speak http to the TLS port)
        with pytest.raises(ServerTooOld):
            await daemon.run(_with(config(url, dsn), ca_file=str(tls.ca_file)))
    finally:
        await old.stop()
