"""``indexer rewards fetch`` as users run it (a subprocess: exit status, messages, progress
lines, the project id kept out of every output), and the ``[history]`` config section."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from indexer.config import ConfigError, parse_config
from indexer.history.progress import FetchProgress
from tests.fake_api import FakeApi
from tests.harness import views
from tests.history_data import MAINNET_MAGIC, serve_blockfrost, serve_koios
from tests.test_history_fetch import synced_story

ROOT = Path(__file__).resolve().parent.parent
SECRET = "preprodSECRETprojectid000000000000"


def run_cli(tmp: Path, dsn: str, url: str, *args: str, source: str = "koios",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cfg = tmp / "indexer.toml"
    cfg.write_text(f'[database]\ndsn = "{dsn}"\n\n[log]\nformat = "json"\nlevel = "info"\n\n'
                   f'[history]\nsource = "{source}"\nurl = "{url}"\nbackoff_first_s = 0.01\n'
                   'rate_per_s = 1000.0\nburst = 1000\nprogress_interval_s = 0.001\n\n'
                   '[ogmios]\nurl = "ws://127.0.0.1:1"\n')
    environ = {k: v for k, v in os.environ.items() if k != "BLOCKFROST_PROJECT_ID"}
    environ.update(PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "indexer.cli", "rewards", "fetch",
                           "--config", str(cfg), *args], capture_output=True, text=True,
                          env=environ, timeout=120, check=False)


def events(stderr: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


async def test_cli_exit_statuses_and_progress(dsn: str, tmp_path: Path) -> None:
    chain, _, last = await synced_story(dsn)
    final = sum(1 for r in (await views(dsn))["pool_epoch"] if r["epoch_no"] <= last - 2)
    with FakeApi(project_id=SECRET) as api:
        serve_koios(api, chain)
        serve_blockfrost(api, chain)
        # a wrong pool id: usage (2), before any request
        bad = run_cli(tmp_path, dsn, api.koios_url, "--pool", "pool1xyz")
        assert bad.returncode == 2 and "not a pool id" in bad.stderr
        # Blockfrost without its project id: usage (2)
        nokey = run_cli(tmp_path, dsn, api.blockfrost_url, source="blockfrost")
        assert nokey.returncode == 2 and "BLOCKFROST_PROJECT_ID" in nokey.stderr
        assert not api.requests()
        # the API serves another network: refused (3), nothing written
        chain.magic, magic = MAINNET_MAGIC, chain.magic
        serve_koios(api, chain)
        wrong = run_cli(tmp_path, dsn, api.koios_url)
        assert wrong.returncode == 3, wrong.stderr
        assert f"serves network magic {MAINNET_MAGIC}" in wrong.stderr
        assert f"(magic {magic})" in wrong.stderr
        chain.magic = magic
        # Blockfrost, with the project id in the environment only: done (0)
        serve_koios(api, chain)
        ok = run_cli(tmp_path, dsn, api.blockfrost_url, source="blockfrost",
                     env={"BLOCKFROST_PROJECT_ID": SECRET})
        assert ok.returncode == 0, ok.stderr
        assert f"fetched {final} pool-epochs ({final} imported" in ok.stdout
        logged = events(ok.stderr)
        progress = [e for e in logged if e["event"] == "history.progress"]
        assert progress and progress[-1]["done"] == progress[-1]["total"] == final
        assert {"history.start", "history.done"} <= {e["event"] for e in logged}
        assert SECRET not in ok.stdout + ok.stderr + bad.stderr + nokey.stderr
        assert all(r.headers.get("project_id") == SECRET
                   for r in api.requests(api="blockfrost"))
        # a fetched figure that contradicts the chain: done, with findings (4)
        victim = next(pe for pe in chain.pool_epochs if pe.blocks and pe.epoch <= last - 2)
        victim.blocks += 1
        serve_koios(api, chain)
        findings = run_cli(tmp_path, dsn, api.koios_url, "--refresh")
        assert findings.returncode == 4, findings.stderr
        assert any(e["event"] == "history.blocks_differ" for e in events(findings.stderr))
    from indexer.db.store import Store
    store = await Store.connect(dsn)
    try:  # the secret is nowhere in the database either (provenance URLs included)
        text = json.dumps([dict(r) for r in await store.fetch(
            "SELECT urls, stakes FROM reward_fetch")], default=str)
        assert "/api/v0/pools/" in text and SECRET not in text
    finally:
        await store.close()


def test_the_daemon_accepts_history_and_it_is_checked() -> None:
    cfg = parse_config({"history": {"source": "blockfrost",
                                    "url": "https://cardano-preprod.blockfrost.io/api/v0/"}})
    assert cfg.history.base_url() == "https://cardano-preprod.blockfrost.io/api/v0"
    assert parse_config({}).history.base_url() == "https://api.koios.rest/api/v1"
    for bad, message in [({"source": "dbsync"}, "source: must be one of"),
                         ({"url": "ftp://x"}, "http"), ({"url": 5}, "url: must be a string"),
                         ({"timeout_s": 0}, "timeout_s"), ({"max_attempts": 0}, "max_attempts"),
                         ({"burst": 1.5}, "burst"), ({"project_id": "x"}, "environment"),
                         ({"typo": 1}, "unknown key")]:
        with pytest.raises(ConfigError, match=message):
            parse_config({"history": bad})


def test_a_progress_bar_on_a_terminal() -> None:
    out = io.StringIO()
    bar = FetchProgress(3, stream=out, tty=True)
    for e in range(3):
        bar.advance("pool1abcdefghijklmnopqrstuvwxyz", e, requests=e)
    bar.close(3)
    text = out.getvalue()
    assert text.startswith("\rrewards fetch [") and text.endswith("\n")
    assert "[" + "#" * 30 + "] 3/3 pool-epochs  pool1abcdefghijk… epoch 2" in text
