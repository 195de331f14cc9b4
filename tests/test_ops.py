"""The operator's kit against real parts: the daemon follows the simulator over a real
WebSocket and serves /metrics (read back with prometheus_client's own parser), /health (JSON,
200/202/500) and /ready; `indexer status --json` and its exit codes; `--version`; the progress
bar; the start-point policy (balances_complete); pool metadata fetched from a real local HTTP
server (a verified document, a wrong hash, a timeout, too many bytes, an HTTP error) and the
config's aliases in the views and exports."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import io
import json
import math
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from indexer import daemon
from indexer.chain.types import Checkpoint, Point
from indexer.cli import EXIT_USAGE, exit_code, main
from indexer.config import ConfigError, MetadataConfig, MetricsConfig, parse_config
from indexer.db.store import Store
from indexer.demo.scenarios import DEMO_POOL, build_demo_chain, demo_aliases, demo_network
from indexer.ops.health import HealthSettings, NodeView, health
from indexer.ops.metrics import Metrics
from indexer.ops.names import check_document, fetch_metadata, http_client, metadata_hash
from indexer.ops.progress import Progress, bar_line, eta_text
from indexer.ops.sizing import log_server_settings, sizing_advice
from indexer.simulator.chain import ChainBuilder, Pool, Wallet, pool_reg_cert
from indexer.simulator.server import Simulator
from indexer.sync.state import SyncState
from tests.harness import Running, config, sync, synced, views, wait_for

Json = dict[str, Any]


@pytest.fixture(autouse=True)
def _logging_restored() -> Any:
    """`main` configures logging to the (captured) standard error of its test: undo that."""
    import structlog
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The metrics as prometheus_client's parser reads them: name -> [(labels, value)]."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(parsed: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    [(_, v)] = parsed[name]
    return v


def with_metrics(cfg: Any, port: int, **kw: Any) -> Any:
    return dataclasses.replace(cfg, metrics=MetricsConfig(port=port, ogmios_poll_s=0.05, **kw))


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    await wait_for(check, timeout_s)


async def health_is(port: int, code: int, status: str) -> bool:
    resp = await get(port, "/health")
    return resp.status_code == code and resp.json()["status"] == status


# --------------------------------------------------------------------------- /health, /metrics

async def test_health_metrics_and_ready_follow_the_daemon(dsn: str) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    port = free_port()
    async with Simulator(net) as sim:
        sim.extend(*chain)
        sim.network_synchronization = 0.5  # the node itself is still catching up
        cfg = with_metrics(config(sim.url, dsn, live_distance_blocks=-1), port)
        async with Running(cfg):
            await until(lambda: synced(dsn, sim))
            await until(lambda: health_is(port, 202, "syncing"))
            body = (await get(port, "/health")).json()
            assert body["connection_status"] == "connected"
            assert body["distance_to_node_tip"] == {"blocks": 0, "slots": 0}
            assert body["sync_progress"] == 1.0 and body["network_synchronization"] == 0.5
            assert (await get(port, "/ready")).status_code == 200  # within k of the node

            sim.network_synchronization = 1.0
            await until(lambda: health_is(port, 200, "synced"))
            body = (await get(port, "/health")).json()
            tip = chain[-1]
            assert body["most_recent_checkpoint"]["slot"] == tip["slot"]
            assert body["most_recent_node_tip"] == {"slot": tip["slot"], "id": tip["id"],
                                                    "height": tip["height"]}
            assert body["network_synchronization"] == 1.0 and body["ready"] is True
            assert body["ready_within_blocks"] == 10  # k of the demo network, not 2k
            assert isinstance(body["seconds_since_last_block"], int)
            assert body["ogmios"]["version"] == sim.version and body["version"]
            assert body["schema_version"] >= 2

            resp = await get(port, "/metrics")
            assert resp.headers["content-type"].startswith("text/plain; version=")
            parsed = samples(resp.text)
            [(info, one)] = parsed["indexer_build_info"]
            assert one == 1 and info["ogmios_version"] == sim.version and info["version"]
            assert info["network"] == "testnet" and int(info["schema_version"]) >= 2
            assert value(parsed, "indexer_tip_slot") == tip["slot"]
            assert value(parsed, "indexer_lag_blocks") == 0
            assert value(parsed, "indexer_sync_progress") == 1.0
            assert value(parsed, "indexer_synced") == 1 and value(parsed, "indexer_ready") == 1
            assert value(parsed, "indexer_connected") == 1
            assert value(parsed, "indexer_blocks_total") == len(chain)
            assert value(parsed, "indexer_batch_commit_seconds_count") >= 1
            buckets = [v for labels, v in parsed["indexer_batch_commit_seconds_bucket"]
                       if labels["le"] == "+Inf"]
            assert buckets == [value(parsed, "indexer_batch_commit_seconds_count")]
            assert value(parsed, "process_resident_memory_bytes") > 0  # process metrics
            assert "python_info" in parsed
            assert value(parsed, "indexer_reward_disagreements") == 0  # read from the database
            assert {labels["problem"]: v for labels, v in parsed["indexer_reward_problems"]} \
                == {"unreadable": 0, "inconsistent": 0}

            sim.connection_status = "disconnected"  # Ogmios lost its node
            await until(lambda: health_is(port, 500, "disconnected"))
            sim.connection_status = "connected"
            await until(lambda: health_is(port, 200, "synced"))
            await sim.stop()  # Ogmios itself goes away
            await until(lambda: health_is(port, 500, "disconnected"))
            assert (await get(port, "/nope")).status_code == 404


class _AheadSimulator(Simulator):
    """Its /health reports a node tip 50 blocks ahead of what chain-sync serves: the indexer
    sees the node ahead and itself not moving (a stalled sync)."""

    def health_json(self) -> Json:
        body = super().health_json()
        tip = body["lastKnownTip"]
        if isinstance(tip, dict):
            body["lastKnownTip"] = {**tip, "slot": tip["slot"] + 50, "height": tip["height"] + 50}
        return body


async def test_a_stalled_sync_answers_500(dsn: str) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    port = free_port()
    async with _AheadSimulator(net) as sim:
        sim.extend(*chain)
        cfg = with_metrics(config(sim.url, dsn, live_distance_blocks=-1), port,
                           stall_after_s=0.5)
        async with Running(cfg):
            await until(lambda: synced(dsn, sim))
            await until(lambda: health_is(port, 500, "stalled"))
            body = (await get(port, "/health")).json()
            assert body["distance_to_node_tip"]["blocks"] == 50
            assert body["seconds_since_last_progress"] >= 0 and body["ready"] is False
            assert (await get(port, "/ready")).status_code == 503  # 50 > k = 10
            parsed = samples((await get(port, "/metrics")).text)
            assert value(parsed, "indexer_stalled") == 1
            assert value(parsed, "indexer_lag_blocks") == 50


def _settings(k: int = 10) -> HealthSettings:
    import datetime as dt
    return HealthSettings(k=k, stall_after_s=600, version="x", schema_version=2,
                          started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def _node(height: int, sync: float = 1.0) -> NodeView:
    node = NodeView()
    node.update(200, {"connectionStatus": "connected", "networkSynchronization": sync,
                      "lastKnownTip": {"slot": height * 20, "id": "ab" * 32, "height": height},
                      "version": "v7.0.0 (x)"})
    return node


def test_health_rules() -> None:
    state = SyncState(cursor=Checkpoint(1000, "cd" * 32, 50, 3))
    state.last_progress_s = 100.0
    code, body = health(state, _node(200), _settings(), now_s=101.0)
    assert (code, body["status"], body["ready"]) == (202, "syncing", False)  # 150 > k behind
    assert body["distance_to_node_tip"] == {"blocks": 150, "slots": 3000}
    assert 0 < body["sync_progress"] < 1
    code, body = health(state, _node(55), _settings(), now_s=101.0)
    assert (code, body["status"], body["ready"]) == (200, "synced", True)  # 5 <= k
    code, body = health(state, _node(55), _settings(), now_s=100.0 + 601)
    assert (code, body["status"]) == (500, "stalled")  # behind, nothing for 601 s
    state.link.last_alive = 100.0 + 590  # the follower's tip probe answered 11 s ago
    code, body = health(state, _node(50), _settings(), now_s=100.0 + 601)
    assert (code, body["status"]) == (200, "synced")  # at the tip: no blocks is no stall
    state.link.last_alive = None  # nothing at all answered since the start (monotonic 0)
    state.stats.started = 0.0
    code, body = health(state, _node(50), _settings(), now_s=100.0 + 601)
    assert (code, body["status"]) == (500, "stalled")  # past stall_timeout_s: a silent link
    state.link.last_alive = 100.0 + 590
    unreachable = NodeView()
    unreachable.failed(OSError("refused"))
    code, body = health(state, unreachable, _settings(), now_s=101.0)
    assert (code, body["status"], body["ogmios"]["error"]) == (500, "disconnected", "OSError")
    state.link.connections, state.link.connected = 1, False  # chain-sync went down
    assert health(state, _node(50), _settings(), now_s=101.0)[0] == 500


def test_lag_is_nan_while_the_node_tip_is_unknown_and_gauges_can_be_added() -> None:
    metrics = Metrics(SyncState(), settings=_settings(), node=NodeView())
    shortfalls = {"pool1abc": 5_000_000.0, "pool1def": 0.0}
    metrics.register_gauge("indexer_pledge_shortfall_lovelace", "Pledge not covered",
                           ["pool_id"], lambda: [((p,), v) for p, v in shortfalls.items()])
    counter = metrics.counter("indexer_history_disagreements", "Imports that disagree")
    counter.inc(2)
    parsed = samples(metrics.render().decode())
    for name in ("indexer_lag_blocks", "indexer_lag_slots", "indexer_node_tip_slot",
                 "indexer_sync_progress", "indexer_tip_slot"):
        assert math.isnan(value(parsed, name)), name
    assert value(parsed, "indexer_ready") == 0 and value(parsed, "indexer_connected") == 0
    assert {labels["pool_id"]: v for labels, v in
            parsed["indexer_pledge_shortfall_lovelace"]} == shortfalls
    assert value(parsed, "indexer_history_disagreements_total") == 2


# --------------------------------------------------------------------------- progress bar

def test_progress_bar_in_a_terminal() -> None:
    state = SyncState()
    clock = [0.0]
    out = io.StringIO()
    node = _node(1000)
    progress = Progress(state, 10.0, k=10, node=node, stream=out, bar=True,
                        clock=lambda: clock[0])
    for i in range(1, 6):
        clock[0] = i * 1.0
        state.cursor = Checkpoint(i * 2000, "ab" * 32, i * 100, i)
        state.stats.blocks = i * 100
        asyncio.run(progress.on_commit())
    text = out.getvalue()
    assert text.startswith("\r[") and "%" in text and "blk/s" in text and "\n" not in text
    assert "ETA 0m" in text  # 100 blocks of 20 s slots a second: the rest in a few seconds
    assert state.last_progress_s == 5.0 and state.last_block_s == 5.0
    clock[0] = 6.0
    state.cursor = Checkpoint(20000, "ab" * 32, 995, 9)  # within k: the bar ends
    asyncio.run(progress.on_commit())
    assert out.getvalue().endswith("\n")
    assert bar_line(0.5, 10, 1, 3.0, 75.0, width=4) == (
        "[##--]  50.00%  slot         10  epoch    1        3 blk/s  ETA 1m15s")
    assert (eta_text(None), eta_text(3 * 86400 + 7200), eta_text(3700)) == (
        "--", "3d02h", "1h01m")


# --------------------------------------------------------------------------- status, --version

def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("indexer ") and "schema v" in out and "Ogmios v6.13" in out


async def test_status_json_and_exit_codes(dsn: str, tmp_path: Any,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:60])
        await sync(config(sim.url, dsn, live_distance_blocks=-1), sim)
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[ogmios]\nurl = "{sim.url}"\n[database]\ndsn = "{dsn}"\n')

        async def status(*extra: str) -> tuple[int, Json]:
            capsys.readouterr()
            code = await asyncio.to_thread(main, ["status", "--json", "--config", str(cfg),
                                                  *extra])
            return code, json.loads(capsys.readouterr().out)

        code, report = await status()
        assert code == 0 and report["exit_code"] == 0
        assert report["tip"]["slot"] == chain[59]["slot"]
        assert report["distance_to_node_tip"] == {"blocks": 0, "slots": 0}
        assert report["max_lag_blocks"] == 10 and report["node"]["connection_status"] == (
            "connected")
        sim.extend(*chain[60:])  # the node moves on, the daemon is not running
        code, report = await status("--max-lag-blocks", "3")
        assert code == 5 and report["distance_to_node_tip"]["blocks"] == len(chain) - 60
        sim.connection_status = "disconnected"
        assert (await status())[0] == 4
        sim.connection_status = "connected"
        await sim.stop()
        code, report = await status()
        assert code == 4 and report["node"]["reachable"] is False
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["status", "--config", str(cfg)]) == 4
        assert "does not answer" in capsys.readouterr().out


# --------------------------------------------------------------------------- start policy

async def _pool_flags(dsn: str) -> set[tuple[str, bool]]:
    store = await Store.connect(dsn)
    try:
        rows = await store.fetch("SELECT 'pool' AS v, balances_complete FROM pool_epoch UNION "
                                 "SELECT 'owner', balances_complete FROM pool_owner_epoch")
    finally:
        await store.close()
    return {(r["v"], r["balances_complete"]) for r in rows}


async def test_a_start_after_byron_is_refused_unless_accepted(dsn: str, databases: Any) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    byron_end = 200  # demo network: Byron epochs 0-1 of 100 slots
    late = next(b for b in chain if b["slot"] >= byron_end + 50)
    early = max((b for b in chain if b["slot"] < byron_end), key=lambda b: b["slot"])
    async with Simulator(net) as sim:
        sim.extend(*chain)
        cfg = config(sim.url, dsn, live_distance_blocks=-1,
                     start=Point(late["slot"], late["id"]))
        with pytest.raises(ConfigError, match="accept_incomplete_balances") as refused:
            await daemon.run(cfg)
        assert exit_code(refused.value) == EXIT_USAGE
        accepted = dataclasses.replace(cfg, indexer=dataclasses.replace(
            cfg.indexer, accept_incomplete_balances=True))
        await sync(accepted, sim)
        assert await _pool_flags(dsn) == {("pool", False), ("owner", False)}

        inside = await databases.new()
        await sync(config(sim.url, inside, live_distance_blocks=-1,
                          start=Point(early["slot"], early["id"])), sim)
        assert await _pool_flags(inside) == {("pool", True), ("owner", True)}


def test_config_keys_are_checked() -> None:
    [(addr, alias)] = parse_config({"aliases": {demo_aliases()[0][0]: " Alice "}}).aliases
    assert alias == "Alice" and addr.startswith("stake_test1")
    with pytest.raises(ConfigError, match="not a stake address"):
        parse_config({"aliases": {"pool1xyz": "A"}})
    two = [a for a, _ in demo_aliases()[:2]]
    with pytest.raises(ConfigError, match="names both"):
        parse_config({"aliases": {two[0]: "Same", two[1]: "Same"}})
    with pytest.raises(ConfigError, match="printable"):
        parse_config({"aliases": {two[0]: "x" * 65}})
    assert parse_config({"indexer": {"accept_incomplete_balances": True}}).indexer.\
        accept_incomplete_balances
    assert parse_config({"metadata": {"fetch": False}}).metadata.fetch is False


# --------------------------------------------------------------------------- pool metadata

GOOD = b'{"name": "Demo pool", "ticker": "DEMO", "description": "owners share it",' \
       b' "homepage": "https://demo.example"}\n'


class MetadataServer:
    """A real HTTP/1.1 server on 127.0.0.1: path -> (status, body, seconds before answering)."""

    def __init__(self, routes: dict[str, tuple[int, bytes, float]]) -> None:
        self.routes, self.requests = routes, []  # type: ignore[var-annotated]
        self._server: asyncio.Server | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            while (await reader.readline()).strip():
                pass
            path = line.split()[1].decode()
            self.requests.append(path)
            status, body, delay = self.routes.get(path, (404, b"no such file\n", 0.0))
            await asyncio.sleep(delay)
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
                         "Content-Type: application/json\r\nConnection: close\r\n\r\n".encode()
                         + body)
            await writer.drain()
        except (OSError, IndexError, asyncio.CancelledError):  # cancelled: the server closes
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> MetadataServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


ROUTES = {"/good.json": (200, GOOD, 0.0), "/slow.json": (200, GOOD, 3.0),
          "/big.json": (200, b"{" + b" " * 600 + b"}", 0.0), "/gone.json": (404, b"", 0.0),
          "/moved": (302, b"", 0.0)}


async def test_metadata_fetch_outcomes() -> None:
    cfg = MetadataConfig(timeout_s=0.5)
    good = metadata_hash(GOOD)
    async with MetadataServer(ROUTES) as srv, http_client(cfg, "test") as client:
        ok = await fetch_metadata(client, srv.url("/good.json"), good.upper(), cfg.timeout_s)
        assert (ok.status, ok.ticker, ok.name, ok.size_bytes) == ("ok", "DEMO", "Demo pool",
                                                                  len(GOOD))
        wrong = await fetch_metadata(client, srv.url("/good.json"), "00" * 32, cfg.timeout_s)
        assert wrong.status == "hash_mismatch" and wrong.ticker is None
        assert good in (wrong.detail or "")
        slow = await fetch_metadata(client, srv.url("/slow.json"), good, cfg.timeout_s)
        assert slow.status == "timeout" and slow.ticker is None
        big = await fetch_metadata(client, srv.url("/big.json"), good, cfg.timeout_s)
        assert big.status == "too_large"
        gone = await fetch_metadata(client, srv.url("/gone.json"), good, cfg.timeout_s)
        assert (gone.status, gone.http_status) == ("http_error", 404)
    refused = await fetch_metadata(httpx.AsyncClient(), "ftp://x/y", good, 1)
    assert refused.status == "refused_url"
    assert check_document(b"[1]", metadata_hash(b"[1]")).status == "invalid"
    no_ticker = b'{"name": "n", "ticker": "TOOLONG"}'
    assert check_document(no_ticker, metadata_hash(no_ticker)).status == "invalid"


def _with_metadata(chain: list[Json], metadata: dict[str, tuple[str, str]]) -> list[Json]:
    """The chain with each registration of a pool in ``metadata`` naming (url, hash)."""
    chain = copy.deepcopy(chain)
    for block in chain:
        for tx in block.get("transactions", []):
            for cert in tx.get("certificates", []):
                pool = cert.get("stakePool", {})
                if cert["type"] == "stakePoolRegistration" and pool.get("id") in metadata:
                    url, digest = metadata[pool["id"]]
                    pool["metadata"] = {"url": url, "hash": digest}
    return chain


async def test_pool_names_and_aliases_reach_the_views_and_exports(dsn: str,
                                                                  tmp_path: Any) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    cb, owner, named = ChainBuilder(net), Wallet("named"), Pool("named")
    tx = cb.tx(inputs=[cb.genesis_input("named")], outputs=[(owner.address(net.network_id), 5)],
               certificates=[pool_reg_cert(named, owners=[owner], reward=owner, pledge=1,
                                           cost=1, margin="1/2", network_id=net.network_id,
                                           metadata_url="https://example.invalid/x.json")])
    chain.append(cb.block(chain[-1], chain[-1]["slot"] + 1, [tx], salt="named"))
    other = named.id
    async with MetadataServer(ROUTES) as srv, Simulator(net) as sim:
        chain = _with_metadata(chain, {
            DEMO_POOL.id: (srv.url("/good.json"), metadata_hash(GOOD)),
            other: (srv.url("/good.json"), "11" * 32)})  # served bytes, another hash
        sim.extend(*chain)
        cfg = dataclasses.replace(
            config(sim.url, dsn, live_distance_blocks=-1),
            metadata=MetadataConfig(fetch=True, refresh_s=0.2, retry_s=3600, timeout_s=2),
            aliases=demo_aliases(net))
        async with Running(cfg):
            await until(lambda: synced(dsn, sim))

            async def fetched() -> bool:
                store = await Store.connect(dsn)
                try:
                    rows = await store.fetch("SELECT metadata_status FROM pool_name "
                                             "WHERE metadata_status = 'pending'")
                finally:
                    await store.close()
                return not rows
            await until(fetched)
        store = await Store.connect(dsn)
        try:
            names = {r["pool_id"]: dict(r) for r in await store.fetch("SELECT * FROM pool_name")}
            aliases = dict(await store.fetch("SELECT stake_address, alias FROM account_alias"))
            attempts = await store.fetch("SELECT pool_id, attempts FROM pool_metadata_fetch")
        finally:
            await store.close()
        assert names[DEMO_POOL.id]["ticker"] == "DEMO"
        assert names[DEMO_POOL.id]["metadata_status"] == "ok"
        assert names[other]["metadata_status"] == "hash_mismatch"
        assert names[other]["ticker"] is None and names[other]["name"] is None  # never trusted
        assert all(r["attempts"] == 1 for r in attempts)  # refresh_s passed; retry_s did not
        assert aliases == dict(demo_aliases(net))
        cfg_file = tmp_path / "c.toml"
        cfg_file.write_text(f'[ogmios]\nurl = "{sim.url}"\n[database]\ndsn = "{dsn}"\n')
        out = tmp_path / "x.json"
        assert await asyncio.to_thread(main, ["export", "--config", str(cfg_file), "--pool",
                                              DEMO_POOL.id, "--format", "json",
                                              "-o", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert rows and {r["pool_ticker"] for r in rows} == {"DEMO"}
    assert {r["alias"] for r in rows} <= set(dict(demo_aliases(net)).values())
    assert all(r["balances_complete"] is True for r in rows)
    v = await views(dsn)
    assert v["pool_epoch"]  # the chain was indexed as usual


def test_sizing_advice_names_what_to_raise_for_a_mainnet_sync() -> None:
    assert sizing_advice(128 << 20, 1 << 30) == [
        "shared_buffers = 128 MB: 1 GB or more holds the utxo indexes at mainnet scale",
        "max_wal_size = 1024 MB: 4 GB or more (with checkpoint_timeout = 15min) makes "
        "checkpoints, and full-page writes, rare"]
    assert sizing_advice(1 << 30, 4 << 30) == []
    assert len(sizing_advice(2 << 30, (4 << 30) - 1)) == 1


async def test_server_settings_are_read_and_advised_on_mainnet_only(dsn: str) -> None:
    store = await Store.connect(dsn)
    try:
        row = (await store.query("server_settings"))[0]
        on_mainnet = await log_server_settings(store, network_id=1)
        on_testnet = await log_server_settings(store, network_id=0)
    finally:
        await store.close()
    assert row["shared_buffers_bytes"] > 0 and row["max_wal_size_bytes"] > 0
    assert row["checkpoint_timeout_s"] > 0
    assert on_mainnet == sizing_advice(row["shared_buffers_bytes"], row["max_wal_size_bytes"])
    assert on_testnet == []
