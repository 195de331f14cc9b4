"""No credential is printed or logged: the DSN's password (``user:pw@`` and ``?password=``), the
Ogmios URL's key (``wss://<key>@…``, ``?apikey=``, a token in the path), libpq ``password=``,
the Blockfrost project id. Every output path: `indexer run` (its log lines, /metrics, its fatal
errors), `indexer status`, `indexer export` and the other commands' errors, `indexer demo`."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import structlog

from indexer import cli
from indexer import log as logsetup
from indexer.db.dsn import MASK, mask, mask_text, remember, without_password
from indexer.demo.run import run_demo
from indexer.simulator.server import Simulator
from tests.bigchain import big_chain, big_network
from tests.harness import synced, wait_for
from tests.pg import Databases

DB_SECRET = "Db-Secret-7f3a"
URL_SECRET = "Url-Secret-91c2"  # a hosted Ogmios' key in the URL's user part
API_SECRET = "Api-Secret-4d0e"  # ?apikey=
PROJECT_ID = "mainnetQ2x9Lk3Vb7Wn1Rt5Yp8Zs4Cd6Fg0Hj2K"  # Blockfrost's format


def _with_password(dsn: str, password: str = DB_SECRET) -> tuple[str, str]:
    """The test server's DSN with a password (trust authentication ignores it), or, when it
    has one already, that one: the secret to look for."""
    parts = urlsplit(dsn)
    if parts.password:
        return dsn, parts.password
    netloc = f"{parts.username or 'postgres'}:{password}@{parts.netloc.rsplit('@', 1)[-1]}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), password


def _ogmios_url(sim_url: str) -> str:
    host = sim_url.removeprefix("ws://")
    return f"ws://ogmios:{URL_SECRET}@{host}/?apikey={API_SECRET}"  # websockets wants user:pw


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret} leaked:\n{text}"


# --- the masking itself -----------------------------------------------------------------------

@pytest.mark.parametrize(("given", "shown"), [
    ("postgresql://indexer:pw-1234@db:5432/indexer", "postgresql://indexer:***@db:5432/indexer"),
    ("postgres://indexer@db/indexer?password=pw%401234&sslmode=require",
     "postgres://indexer@db/indexer?password=***&sslmode=require"),
    ("postgresql://u@db/x?sslpassword=key-pass-99&sslkey=/k",
     "postgresql://u@db/x?sslpassword=***&sslkey=/k"),
    ("host=db user=indexer password='pw 1234' dbname=indexer",
     "host=db user=indexer password=*** dbname=indexer"),
    ("host=db password=pw&1234;x port=5432", "host=db password=*** port=5432"),
    ("wss://dmtr_ogmios1qqqqqqqqqqqqqqqqqqqqq9@cardano-mainnet-v6.ogmios-m1.demeter.run",
     "wss://***@cardano-mainnet-v6.ogmios-m1.demeter.run"),
    ("wss://user:pw-1234@ogmios.example:443/", "wss://***@ogmios.example:443/"),
    ("wss://ogmios.example/?apikey=k1&api_key=k2&token=k3&key=k4&project_id=k5&network=mainnet",
     "wss://ogmios.example/?apikey=***&api_key=***&token=***&key=***&project_id=***"
     "&network=mainnet"),
    ("https://api.example/v1/8f14e45fceea167a5a36dedd4bea2543/blocks",
     "https://api.example/v1/***/blocks"),
    ("https://cardano-mainnet.blockfrost.io/api/v0/" + PROJECT_ID,
     "https://cardano-mainnet.blockfrost.io/api/v0/***"),
    ("ws://127.0.0.1:1337", "ws://127.0.0.1:1337"),
    ("postgresql://postgres@127.0.0.1:5432/postgres",
     "postgresql://postgres@127.0.0.1:5432/postgres"),
    ("https://api.koios.rest/api/v1", "https://api.koios.rest/api/v1"),
])
def test_mask_every_form(given: str, shown: str) -> None:
    assert mask(given) == shown


def test_mask_text_finds_urls_pairs_tokens_and_remembered_values() -> None:
    remember("remembered-secret-1")
    text = mask_text("cannot reach wss://u:pw-5678@h:1/x?token=t-5678 (retry); headers "
                     "{'project_id': 'abcd-1234'}, Authorization: Bearer abc.def-12345; "
                     "password=hunter22 and remembered-secret-1 and later pw-5678 again")
    _assert_clean(text, "pw-5678", "t-5678", "abcd-1234", "abc.def-12345", "hunter22",
                  "remembered-secret-1")
    assert "wss://***@h:1/x?token=***" in text and "(retry)" in text


def test_without_password_leaves_a_runnable_dsn() -> None:
    assert without_password("postgresql://u:p@h/d?password=x&sslmode=require") == (
        "postgresql://u@h/d?sslmode=require", True)
    assert without_password("host=h password='a b' user=u")[0].split() == ["host=h", "user=u"]
    assert without_password("postgresql://u@h/d") == ("postgresql://u@h/d", False)


def test_log_processor_masks_fields_values_and_tracebacks(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("BLOCKFROST_PROJECT_ID", PROJECT_ID)
    saved = structlog.get_config()
    try:
        logsetup.configure("json", "info")
        log = structlog.get_logger("test")
        try:
            raise ConnectionError(f"refused by https://h/api/v0/blocks?x=1 for {PROJECT_ID}")
        except ConnectionError:
            log.exception("history.failed", dsn=f"postgresql://u:{DB_SECRET}@h/d",
                          headers={"project_id": PROJECT_ID, "accept": "json"},
                          password=DB_SECRET, url=f"wss://{URL_SECRET}@h", items=[API_SECRET])
        log.info("plain", note=f"the id is {PROJECT_ID}", token=API_SECRET)
    finally:
        structlog.configure(**saved)
    err = capsys.readouterr().err
    _assert_clean(err, PROJECT_ID, DB_SECRET, URL_SECRET)
    first, second = (json.loads(line) for line in err.splitlines())
    assert first["headers"] == {"project_id": MASK, "accept": "json"}
    assert first["password"] == MASK and first["url"] == "wss://***@h"
    assert "ConnectionError" in first["exception"] and second["token"] == MASK
    assert second["note"] == "the id is ***"


# --- `indexer run`: start lines, /metrics, a fatal error; `indexer status` ------------------

def _write_config(path: Path, url: str, dsn: str, metrics_port: int = 0) -> None:
    path.write_text(f"""
[ogmios]
url = "{url}"
reconnect_max_s = 0.5

[database]
dsn = "{dsn}"

[indexer]
live_distance_blocks = -1

[log]
format = "json"
level = "info"

[metrics]
port = {metrics_port}
""")


async def _indexer(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
                   ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer.cli", *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})})


async def _output(proc: asyncio.subprocess.Process, timeout_s: float = 60) -> tuple[int, str]:
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    return proc.returncode or 0, out.decode() + err.decode()


async def test_run_logs_metrics_status_and_fatal_errors_hold_no_secret(dsn: str, tmp_path: Path
                                                                       ) -> None:
    dsn, db_secret = _with_password(dsn)
    net = big_network()
    chain = big_chain(net, 40, 2)
    cfg, port = tmp_path / "indexer.toml", _free_port()
    async with Simulator(net) as sim:
        sim.extend(*chain[:30])
        _write_config(cfg, _ogmios_url(sim.url or ""), dsn, port)
        proc = await _indexer("run", "--config", str(cfg))
        await wait_for(lambda: synced(dsn, sim), 30)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert "indexer_tip_slot" in metrics
        code, status_text = await _output(await _indexer("status", "--config", str(cfg)))
        assert code == 0 and "0 slots, 0 blocks behind the node" in status_text
        sim.inject_raw(b"{ not json")  # a fatal error: the daemon stops and says why
        sim.extend(chain[30])
        code, run_text = await _output(proc)
    assert code == 1 and "fatal" in run_text
    events = [json.loads(line) for line in run_text.splitlines() if line.startswith("{")]
    start = next(e for e in events if e["event"] == "daemon.start")
    assert start["url"] == f"ws://***@{(sim.url or '').removeprefix('ws://')}/?apikey=***"
    code, down_text = await _output(await _indexer("status", "--config", str(cfg)))
    assert "Ogmios at ws://***@" in down_text and "apikey=***" in down_text
    for text in (run_text, metrics, status_text, down_text):
        _assert_clean(text, db_secret, URL_SECRET, API_SECRET)


async def test_a_refused_url_is_quoted_masked(dsn: str, tmp_path: Path) -> None:
    """An http:// URL is refused at load (exit 2), the message quoting it: masked."""
    dsn, db_secret = _with_password(dsn)
    net = big_network()
    async with Simulator(net) as sim:
        sim.extend(*big_chain(net, 5, 1))
        url = _ogmios_url(sim.url or "").replace("ws://", "http://")
        _write_config(tmp_path / "c.toml", url, dsn)
        code, text = await _output(await _indexer("run", "--config", str(tmp_path / "c.toml")))
    assert code == 2 and "[ogmios] url: must be a ws:// or wss:// URL" in text
    assert "http://***@" in text
    _assert_clean(text, db_secret, URL_SECRET, API_SECRET)


async def test_other_commands_errors_hold_no_secret(tmp_path: Path) -> None:
    rewards = tmp_path / "r.csv"
    rewards.write_text("pool_id,epoch,total_rewards_lovelace,leader_reward_lovelace\n")
    port = _free_port()  # nothing listens there
    for dsn in (f"postgresql://indexer:{DB_SECRET}@127.0.0.1:{port}/indexer",
                f"postgresql://indexer@127.0.0.1:{port}/indexer?password={DB_SECRET}",
                f"postgresql://indexer:{DB_SECRET}@127.0.0.1:notaport/indexer"):
        for args in (["status"], ["db", "check"], ["db", "grant", "--role", "r"],
                     ["rewards", "import", str(rewards)],
                     ["export", "--pool", "pool1" + "q" * 51]):
            code, text = await _output(await _indexer(*args, "--dsn", dsn))
            assert code != 0 and "fatal" in text, (args, text)
            _assert_clean(text, DB_SECRET)


# --- `indexer demo` --------------------------------------------------------------------------

async def test_demo_with_a_password_in_its_dsn_does_not_print_it(databases: Databases) -> None:
    dsn, secret = _with_password(databases.admin)
    query_form = without_password(dsn)[0] + f"?password={secret}"
    name = "indexer_demo_secret"
    printed: list[str] = []
    saved = sys.stderr
    sys.stderr = io.StringIO()  # the demo's log lines (warnings) go there
    try:
        assert await run_demo(SimpleNamespace(dsn=query_form, keep=False, database=name),
                              print_fn=printed.append) == 0
        logged = sys.stderr.getvalue()
    finally:
        sys.stderr = saved
        from indexer.db.store import drop_database
        await drop_database(databases.admin, name)
    text = "\n".join(printed)
    assert "password left out" in text
    _assert_clean(text + logged, secret)
    unreachable = f"postgresql://u:{DB_SECRET}@127.0.0.1:{_free_port()}/postgres"
    with pytest.raises(Exception) as failed:
        await run_demo(SimpleNamespace(dsn=unreachable, keep=False), print_fn=printed.append)
    _assert_clean(str(failed.value), DB_SECRET)
    assert "***" in str(failed.value) or "u@127.0.0.1" in str(failed.value)


def test_report_masks_what_asyncpg_websockets_and_httpx_say(capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    errors: list[BaseException] = [
        ValueError(f"invalid DSN postgresql://u:{DB_SECRET}@h/d"),
        ExceptionGroup("tasks", [OSError(f"wss://{URL_SECRET}@h/?apikey={API_SECRET} refused")]),
    ]
    saved = structlog.get_config()
    try:
        logsetup.configure("json", "info")
        for err in errors:
            cli._report(err)
    finally:
        structlog.configure(**saved)
    captured = capsys.readouterr()
    _assert_clean(captured.err + captured.out, DB_SECRET, URL_SECRET, API_SECRET)
    assert captured.err.count("indexer: fatal:") == 2


def test_compose_passes_passwords_as_secrets_not_arguments() -> None:
    yaml = pytest.importorskip("yaml")
    deploy = Path(__file__).resolve().parent.parent / "deploy"
    compose = yaml.safe_load((deploy / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(compose["secrets"]) == {"postgres_password", "grafana_db_password",
                                       "grafana_admin_password"}
    for name, svc in services.items():
        argv = json.dumps([svc.get("entrypoint"), svc.get("command")])
        assert "--password " not in argv and "--password=" not in argv, name
        assert "PASSWORD" not in argv.replace("--password-file", ""), name
        for key in svc.get("environment", {}):  # a password in the environment: PGPASSWORD only
            assert "PASSWORD" not in key or key.endswith("_FILE") or key == "PGPASSWORD", name
    init = " ".join(services["indexer-init"]["command"])
    assert "--password-file /run/secrets/grafana_db_password" in init and "--reset" in init
    mounted = {name: {s["source"] for s in svc.get("secrets", [])}
               for name, svc in services.items()}
    assert "grafana_db_password" in mounted["indexer-init"] & mounted["grafana"]
    assert "postgres_password" in mounted["postgres"]
    datasources = (deploy / "grafana" / "provisioning" / "datasources" / "indexer.yml").read_text()
    assert "password: $__file{/run/secrets/grafana_db_password}" in datasources
