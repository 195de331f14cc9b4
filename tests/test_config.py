"""The configuration is checked when it is loaded (types, enums, ranges), naming the key; the
real `indexer` exits 2 on a bad one; INDEXER_DSN is honoured with and without --config;
config.example.toml names every key with its default."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from indexer.config import Config, ConfigError, load_config, parse_config
from tests.netfaults import start_cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


def _parse(text: str) -> Config:
    return parse_config(tomllib.loads(text), env={})


@pytest.mark.parametrize("text,key,says", [
    ("[ogmios]\nin_flight = 0", "[ogmios] in_flight", "at least 1"),
    ('[ogmios]\nin_flight = "100"', "[ogmios] in_flight", "an integer"),
    ("[ogmios]\nin_flight = true", "[ogmios] in_flight", "an integer"),
    ('[ogmios]\nurl = "http://127.0.0.1:1337"', "[ogmios] url", "ws:// or wss://"),
    ('[ogmios]\nurl = "127.0.0.1:1337"', "[ogmios] url", "ws:// or wss://"),
    ('[ogmios]\nurl = "ws://127.0.0.1:99999"', "[ogmios] url", "not a URL"),
    ("[ogmios]\nconnect_timeout_s = 0", "[ogmios] connect_timeout_s", "greater than 0"),
    ("[ogmios]\nstall_timeout_s = -1.5", "[ogmios] stall_timeout_s", "greater than 0"),
    ("[ogmios]\nmax_message_mib = 0", "[ogmios] max_message_mib", "greater than 0"),
    ('[ogmios]\nca_file = "/nonexistent/ca.pem"', "[ogmios] ca_file", "not a readable file"),
    ("[database]\ndsn = 5", "[database] dsn", "a string"),
    ("[database]\nbatch_timeout_s = 0", "[database] batch_timeout_s", "greater than 0"),
    ('[log]\nlevel = "verbose"', "[log] level", "'debug' | 'info' | 'warning' | 'error'"),
    ('[log]\nformat = "xml"', "[log] format", "'console' | 'json'"),
    ("[metrics]\nport = 70000", "[metrics] port", "0..65535"),
    ("[metrics]\nport = -1", "[metrics] port", "0..65535"),
    ("[indexer]\nbatch_max_blocks = 0", "[indexer] batch_max_blocks", "at least 1"),
    ("[indexer]\nprune_every_batches = 0", "[indexer] prune_every_batches", "at least 1"),
    ("[indexer]\nlive_distance_blocks = 1.5", "[indexer] live_distance_blocks", "an integer"),
    ('[indexer]\npools = ["pool1nope"]', "[indexer] pools", "pool1nope"),
    ('[indexer]\nstart = "genesis"', "[indexer] start", '"origin"'),
    ("[indexer]\nstart = { slot = -1, id = '" + "0" * 64 + "' }", "[indexer] start",
     '"origin"'),
    ("ogmios = 5", "[ogmios]", "must be a table"),
    ("[ogmios]\nurll = 'ws://x'", "[ogmios]", "unknown key(s) in [ogmios]: urll"),
    ("[nope]\nx = 1", "section", "unknown section(s): nope"),
])
def test_a_bad_value_is_refused_naming_the_key(text: str, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(text)
    assert key in str(info.value) and says in str(info.value), str(info.value)


def test_good_values_are_typed(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = _parse(f'[ogmios]\nurl = "wss://ogmios.example"\nconnect_timeout_s = 3\n'
                 f'ca_file = "{ca}"\n[log]\nlevel = "debug"\nformat = "json"\n'
                 "[indexer]\nstart = { slot = 4492799, id = '" + "AB" * 32 + "' }\n"
                 "live_distance_blocks = -1\n[metrics]\nport = 9108\n")
    assert cfg.ogmios.connect_timeout_s == 3.0 and type(cfg.ogmios.connect_timeout_s) is float
    assert cfg.ogmios.ca_file == str(ca) and cfg.log.level == "debug"
    assert cfg.indexer.start is not None and cfg.indexer.start.id == "ab" * 32
    assert cfg.indexer.live_distance_blocks == -1 and cfg.metrics.port == 9108


def test_indexer_dsn_fills_in_a_missing_dsn(tmp_path: Path) -> None:
    env = {"INDEXER_DSN": "postgresql://from-env/x"}
    assert load_config(None, env).database.dsn == "postgresql://from-env/x"
    bare = tmp_path / "bare.toml"
    bare.write_text('[ogmios]\nurl = "ws://127.0.0.1:1337"\n')
    assert load_config(bare, env).database.dsn == "postgresql://from-env/x"
    named = tmp_path / "named.toml"
    named.write_text('[database]\ndsn = "postgresql://from-file/x"\n')
    assert load_config(named, env).database.dsn == "postgresql://from-file/x"
    assert load_config(None, {}).database.dsn is None


def _example_keys() -> dict[str, set[str]]:
    """Keys of config.example.toml per section, commented-out ones included."""
    keys: dict[str, set[str]] = {}
    section = ""
    for line in EXAMPLE.read_text().splitlines():
        if m := re.match(r"^\[(\w+)\]", line):
            section = m.group(1)
            keys.setdefault(section, set())
        elif section and (m := re.match(r"^#? ?(\w+) = ", line)):
            keys[section].add(m.group(1))
    return keys


def test_the_example_names_every_key_with_its_default() -> None:
    documented = _example_keys()
    defaults = Config()
    tables = [s for s in dataclasses.fields(Config) if s.name != "aliases"]  # aliases: free keys
    assert "aliases" in documented
    for section in tables:
        assert section.name in documented, f"[{section.name}] missing from config.example.toml"
        have = {f.name for f in dataclasses.fields(getattr(defaults, section.name))}
        assert have == documented[section.name], f"[{section.name}]"
    example = load_config(EXAMPLE, env={})
    for section in tables:
        ours: Any = getattr(example, section.name)
        for f in dataclasses.fields(ours):
            if (section.name, f.name) != ("database", "dsn"):  # the example names one
                assert getattr(ours, f.name) == getattr(getattr(defaults, section.name), f.name), \
                    f"[{section.name}] {f.name}: the example's value is not the default"


async def test_the_real_process_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[log]\nlevel = "loud"\n')
    proc = await start_cli("run", "--config", str(bad))
    _, err = await proc.communicate()
    assert proc.returncode == 2, err
    assert b"[log] level" in err and b"'loud'" in err
    proc = await start_cli("run", "--config", str(tmp_path / "missing.toml"))
    _, err = await proc.communicate()
    assert proc.returncode == 2 and b"cannot read config" in err


async def test_the_real_process_reads_indexer_dsn_without_a_config(dsn: str) -> None:
    import os

    env = {**os.environ, "INDEXER_DSN": dsn}
    proc = await start_cli("db", "check", env=env)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert b": ok" in out
