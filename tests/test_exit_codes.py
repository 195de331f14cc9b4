"""The real `indexer run` process and its exit codes (docs/spec.md §9): SIGTERM ends every
waiting phase at start promptly with 0 (Ogmios not answering, PostgreSQL refusing or not
answering); a lost database and a block above max_message_mib exit 1 with a message; the
systemd unit does not restart after 2 or 3. (Also with the real process elsewhere: 0 after
following, tests/test_crash.py; 1 on a malformed frame, tests/test_crash.py; 2 on a bad
config, tests/test_config.py; 3 for a second daemon, tests/test_faults.py.)"""

from __future__ import annotations

import asyncio
import configparser
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from indexer.demo.scenarios import build_demo_chain, demo_network
from indexer.simulator.server import Simulator
from tests.harness import synced, tip_slot, wait_for
from tests.netfaults import BlackHoleProxy, free_port, start_cli, wait_for_line

ROOT = Path(__file__).resolve().parent.parent


def _config(path: Path, url: str, dsn: str, extra: str = "") -> Path:
    path.write_text(f"""
[ogmios]
url = "{url}"
in_flight = 8
reconnect_max_s = 0.5
{extra}
[database]
dsn = "{dsn}"
connect_timeout_s = 1.0
query_timeout_s = 1.0
batch_timeout_s = 2.0

[indexer]
live_distance_blocks = -1

[log]
level = "warning"
""")
    return path


def _tcp(dsn: str) -> tuple[str, int]:
    parts = urlsplit(dsn)
    if not parts.hostname or parts.hostname.startswith("/"):
        pytest.skip("the test database is not reached over TCP: no proxy in between")
    return parts.hostname, parts.port or 5432


def _via(dsn: str, proxy: BlackHoleProxy) -> str:
    """``dsn`` through the proxy."""
    parts = urlsplit(dsn)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


async def _terminated_within(proc: asyncio.subprocess.Process, limit_s: float) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(limit_s + 5):
        code = await proc.wait()
    elapsed = time.monotonic() - started
    assert code == 0, code
    return elapsed


async def test_sigterm_while_ogmios_does_not_answer_exits_0_at_once(dsn: str, tmp_path: Path
                                                                    ) -> None:
    cfg = _config(tmp_path / "i.toml", f"ws://127.0.0.1:{free_port()}", dsn)
    proc = await start_cli("run", "--config", str(cfg))
    await wait_for_line(proc, "ogmios.unreachable")
    await asyncio.sleep(0.7)  # into the backoff's second wait
    assert await _terminated_within(proc, 2.0) < 2.0


async def test_sigterm_while_postgresql_refuses_exits_0_at_once(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "i.toml", "ws://127.0.0.1:1",
                  f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    proc = await start_cli("run", "--config", str(cfg))
    await wait_for_line(proc, "db.unreachable")
    assert await _terminated_within(proc, 2.0) < 2.0


async def test_sigterm_while_postgresql_does_not_answer_exits_0_at_once(dsn: str,
                                                                        tmp_path: Path) -> None:
    async with BlackHoleProxy(*_tcp(dsn)) as proxy:
        proxy.black_hole()  # connections are accepted, nothing answers
        cfg = _config(tmp_path / "i.toml", "ws://127.0.0.1:1", _via(dsn, proxy))
        proc = await start_cli("run", "--config", str(cfg))
        await wait_for(lambda: _accepted(proxy), 30)  # the daemon is inside its connect
        assert await _terminated_within(proc, 2.0) < 2.0


async def _accepted(proxy: BlackHoleProxy) -> bool:
    return proxy.accepted > 0


async def test_a_lost_database_exits_1_naming_it(dsn: str, tmp_path: Path) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with BlackHoleProxy(*_tcp(dsn)) as proxy, Simulator(net) as sim:
        sim.extend(*chain[:30])
        cfg = _config(tmp_path / "i.toml", sim.url, _via(dsn, proxy))
        proc = await start_cli("run", "--config", str(cfg))
        await wait_for(lambda: synced(dsn, sim), 30)
        proxy.black_hole()
        sim.extend(*chain[30:])
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
        proxy.restore()
    assert proc.returncode == 1, err
    assert b"DatabaseLost" in err and b"lost the database" in err
    assert await tip_slot(dsn) == chain[29]["slot"]


async def test_a_block_above_max_message_mib_exits_1_naming_the_block(dsn: str, tmp_path: Path
                                                                       ) -> None:
    net = demo_network()
    chain = build_demo_chain(net)
    async with Simulator(net) as sim:
        sim.extend(*chain[:40])
        cfg = _config(tmp_path / "i.toml", sim.url, dsn, "max_message_mib = 1")
        proc = await start_cli("run", "--config", str(cfg))
        await wait_for(lambda: synced(dsn, sim), 30)
        sim.inject_raw(b'{"jsonrpc":"2.0","method":"nextBlock","result":{"pad":"'
                       + b"x" * (3 << 19) + b'"}}')
        sim.extend(chain[40])
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
        sessions = sim.connections_total
    assert proc.returncode == 1, err
    assert f"the next block after slot {chain[39]['slot']}".encode() in err
    assert b"max_message_mib = 1 MiB" in err
    assert sessions == 2  # chain-sync and queries, once each: no reconnect loop
    assert await tip_slot(dsn) == chain[39]["slot"]


def test_systemd_does_not_restart_after_2_or_3() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(ROOT / "deploy" / "indexer.service")
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert set(service["RestartPreventExitStatus"].split()) == {"2", "3"}
    assert service["KillSignal"] == "SIGTERM"
