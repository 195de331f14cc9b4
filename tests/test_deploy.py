"""The deployment files: Dockerfile, deploy/docker-compose.yml (validated against the official
compose-spec JSON schema), the indexer's compose config, the systemd unit, Prometheus' scrape
config and alert rules, Grafana provisioning and the dashboard, whose SQL must read only the
public views (docs/spec.md §7) and run on the real schema, as the read-only role of `indexer db
grant`, and whose PromQL may name only metrics that exist. The Byron-skip start points are
checked against recorded chain data. Fast, no network, no Docker (none runs here): structure,
schema and SQL are checked, not containers."""

from __future__ import annotations

import configparser
import json
import re
import tomllib
import uuid
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from indexer.config import load_config
from indexer.db.roles import PUBLIC_VIEWS, grant_readonly
from indexer.db.store import Store
from indexer.ops.sizing import sizing_advice

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "shared-pool.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "indexer.yml"
POOL = "pool1gdn3wqkztn4rre4f78c0vsym978gs8q2qa8r2nnltfrhw3n0gzh"

try:
    import yaml
except ImportError:  # PyYAML is not a test dependency: fall back to a structural check
    yaml = None


# --------------------------------------------------------------------------- helpers

def load_yaml(path: Path) -> dict[str, Any] | None:
    text = path.read_text()
    assert "\t" not in text, f"{path.name}: tabs in YAML"
    if yaml is None:
        return None
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def top_level_keys(text: str, indent: int = 0) -> list[str]:
    """Keys at one indentation (the fallback when PyYAML is missing)."""
    pad = " " * indent
    return [m.group(1) for m in re.finditer(rf"^{pad}([A-Za-z0-9_.-]+):", text, re.M)]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def queries() -> list[tuple[str, str]]:
    """(where, sql) for every PostgreSQL panel target and query variable of the dashboard."""
    d = dashboard()
    out = [(f"variable ${v['name']}", v["query"]) for v in d["templating"]["list"]
           if v["type"] == "query"]
    for panel in d["panels"]:
        for target in panel.get("targets", []):
            if "rawSql" in target:
                out.append((f"panel {panel['id']} {panel['title']!r} {target['refId']}",
                            target["rawSql"]))
    return out


def substitute(sql: str, pool: str = POOL) -> str:
    sql = sql.replace("${pool:sqlstring}", "'" + pool.replace("'", "''") + "'")
    return sql.replace("${pool}", pool).replace("$pool", pool)


_REL = re.compile(r"\b(?:from|join)\s+(?:lateral\s+)?(?:only\s+)?([A-Za-z_][\w.]*)(\s*\()?",
                  re.I)


def relations(sql: str) -> set[str]:
    """Relations named after FROM/JOIN; function calls (`FROM now()`, in EXTRACT) and
    subqueries or VALUES lists in parentheses are not relations."""
    sql = re.sub(r"--[^\n]*", "", sql)
    # one left-to-right pass, so that a quote inside the other kind does not count:
    # string literals are emptied, quoted identifiers keep their name as a bare word
    sql = re.sub(r"'(?:[^']|'')*'|\"((?:[^\"]|\"\")*)\"",
                 lambda m: "''" if m.group(0)[0] == "'" else re.sub(r"\W", "_", m.group(1)),
                 sql)
    found = set()
    for m in _REL.finditer(sql):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in {"lateral", "select", "values"}:
            continue
        found.add(name.lower().split(".")[-1] if name.lower().startswith("public.") else
                  name.lower())
    return found


# --------------------------------------------------------------------------- Dockerfile

def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"pip install \.", text)
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0")), "the image must not run as root"
    assert '\nENTRYPOINT ["indexer"]\n' in text
    assert '\nCMD ["run", "--config", "/etc/indexer/config.toml"]\n' in text
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for needed in ("pyproject.toml", "README.md", "indexer", "config.example.toml"):
        assert needed not in ignored, f".dockerignore drops {needed}, which the build needs"


def test_package_data_ships_every_data_file() -> None:
    """`pip install .` (the Dockerfile, README's "Run it") must install every data file that
    the package reads at run time; the Dockerfile refuses to build otherwise."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = cfg["tool"]["setuptools"]["package-data"]["indexer"]
    src = ROOT / "indexer"
    missing = sorted(str(p.relative_to(src)) for p in src.rglob("*")
                     if p.suffix in (".sql", ".json")
                     and not any(fnmatch(str(p.relative_to(src)), g) for g in globs))
    assert not missing, (f"not in [tool.setuptools.package-data] indexer = {globs}: {missing}; "
                         "an installed indexer (and the Docker image) would not find them")


# --------------------------------------------------------------------------- compose

SERVICES = ("mithril-restore", "cardano-node", "ogmios", "postgres", "indexer-init", "indexer",
            "prometheus", "grafana")
METRICS_PORT = 12808


def interpolated(text: str) -> str:
    """Compose's variable interpolation with no .env: `${X:-d}` -> d, `${X:?e}` -> a value,
    `${X}` -> empty, `$$` -> `$` (what `docker compose config` would feed the schema)."""
    text = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), text)
    text = re.sub(r"\$\{(\w+):\?[^}]*\}", "set", text)
    text = re.sub(r"\$\{(\w+)\}", "", text)
    return text.replace("$$", "$")


def test_compose_file_follows_the_compose_spec() -> None:
    """The official compose-spec JSON schema (draft 2020-12), as vendored by check-jsonschema
    (a test dependency, licence in the package): unknown keys, wrong types and malformed
    healthchecks or depends_on fail here, not at `docker compose up`."""
    from importlib.resources import files

    import jsonschema

    if yaml is None:
        pytest.skip("PyYAML is needed to read the compose file")
    schema = json.loads((files("check_jsonschema.builtin_schemas.vendor")
                         / "compose-spec.json").read_text())
    data = yaml.safe_load(interpolated((DEPLOY / "docker-compose.yml").read_text()))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    # the checker itself rejects what compose would: a typo in a service key
    data["services"]["indexer"]["restrat"] = "always"
    assert not validator.is_valid(data)


def test_compose_file() -> None:
    path = DEPLOY / "docker-compose.yml"
    text = path.read_text()
    data = load_yaml(path)
    if data is None:
        assert {"services", "volumes"} <= set(top_level_keys(text))
        assert set(SERVICES) <= set(top_level_keys(text, 2))
        for needle in ("ghcr.io/intersectmbo/cardano-node:", "cardanosolutions/ogmios:",
                       "image: postgres:15", "/health", "pg_isready", "/ready",
                       "context: ..", "dockerfile: Dockerfile", "${NETWORK:-mainnet}",
                       "./indexer.toml:/etc/indexer/config.toml:ro"):
            assert needle in text, needle
        return
    services = data["services"]
    assert set(SERVICES) <= set(services)
    for name, svc in services.items():
        image = svc.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image"
    assert services["cardano-node"]["image"].startswith("ghcr.io/intersectmbo/cardano-node:")
    assert services["ogmios"]["image"].startswith("cardanosolutions/ogmios:")
    assert services["postgres"]["image"] == "postgres:15"
    for name in ("indexer", "indexer-init"):
        assert services[name]["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert "./indexer.toml:/etc/indexer/config.toml:ro" in services[name]["volumes"]
    assert (DEPLOY / services["indexer"]["build"]["context"] / "Dockerfile").is_file()
    # NETWORK selects the node's configuration (copied to node-config, read by Ogmios too)
    node_env = services["cardano-node"]["environment"]
    assert node_env["CARDANO_NETWORK"] == "${NETWORK:-mainnet}"
    assert node_env["CARDANO_CONFIG"] == "/node-config/config.json"
    assert "PrometheusSimple suffix 0.0.0.0" in services["cardano-node"]["command"][0]
    # the node starts from a Mithril-certified snapshot when its database is empty
    mithril = services["mithril-restore"]
    assert mithril["image"].startswith("ghcr.io/intersectmbo/mithril-client:")
    script = mithril["command"][0]
    for needle in ("cardano-db download --include-ancillary", "protocolMagicId",
                   "release-mainnet", "release-preprod", "pre-release-preview",
                   "genesis.vkey", "ancillary.vkey"):
        assert needle in script, needle
    assert "node-db:/data" in mithril["volumes"]
    assert mithril["environment"]["CARDANO_NETWORK"] == "${NETWORK:-mainnet}"
    assert services["cardano-node"]["depends_on"]["mithril-restore"]["condition"] == (
        "service_completed_successfully")
    # current releases: Ogmios 7 with the node it is built against
    assert re.search(r":-11\.\d+\.\d+\}$", services["cardano-node"]["image"])
    assert services["ogmios"]["image"].endswith(":-v7.0.0}")
    # healthchecks
    assert "health-check" in " ".join(services["ogmios"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    check = " ".join(services["indexer"]["healthcheck"]["test"])
    assert f"127.0.0.1:{METRICS_PORT}/ready" in check
    assert any(p.endswith(f":-{METRICS_PORT}}}:{METRICS_PORT}")
               for p in services["indexer"]["ports"])
    # the shared socket and node configuration
    assert {"node-ipc:/ipc", "node-config:/node-config:ro"} <= set(services["ogmios"]["volumes"])
    assert "/node-config/config.json" in services["ogmios"]["command"]
    # every named volume is declared
    declared = set(data["volumes"])
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"
            else:
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    # the read-only role that Grafana logs in with is the one the init step grants
    init = " ".join(services["indexer-init"]["command"])
    assert "indexer db grant" in init and "--role grafana" in init
    assert services["indexer"]["depends_on"]["indexer-init"]["condition"] == (
        "service_completed_successfully")


def test_compose_indexer_config() -> None:
    cfg = load_config(DEPLOY / "indexer.toml")
    assert cfg.ogmios.url == "ws://ogmios:1337"
    assert (cfg.metrics.host, cfg.metrics.port) == ("0.0.0.0", METRICS_PORT)
    assert cfg.database.dsn and "@postgres:5432/indexer" in cfg.database.dsn
    prom = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    if prom is None:
        pytest.skip("PyYAML is needed to read prometheus.yml")
    targets = {job["job_name"]: (job["metrics_path"], job["static_configs"][0]["targets"])
               for job in prom["scrape_configs"]}
    assert targets == {"indexer": ("/metrics", [f"indexer:{METRICS_PORT}"]),
                       "ogmios": ("/metrics", ["ogmios:1337"]),
                       "cardano-node": ("/metrics", ["cardano-node:12798"])}
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"]


def own_metric_names() -> set[str]:
    """Every series name the indexer exposes (histogram and counter suffixes included)."""
    import datetime as dt

    from prometheus_client.parser import text_string_to_metric_families

    from indexer.ops.health import HealthSettings
    from indexer.ops.metrics import Metrics
    from indexer.sync.state import SyncState

    metrics = Metrics(SyncState(), settings=HealthSettings(
        k=2160, stall_after_s=600, version="x", schema_version=2,
        started_at=dt.datetime.now(dt.UTC)))
    metrics.commit_seconds.observe(0.1)
    text = metrics.render().decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


# Series other parts publish: Prometheus (up), Ogmios (docs/ogmios.md §1, its /metrics), and the
# pledge watch (statements issue: indexer_pledge_shortfall_lovelace{pool_id}).
FOREIGN_METRICS = {"up", "indexer_pledge_shortfall_lovelace"}
_PROMQL_WORDS = {"rate", "increase", "sum", "by", "le", "histogram_quantile", "max", "min",
                 "and", "or", "unless", "job", "indexer", "avg"}


def promql_metrics(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}|\[[^]]*\]|\"[^\"]*\"", "", expr)
    return {w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)
            if w not in _PROMQL_WORDS and not w.isdigit()}


def _known(name: str, own: set[str]) -> bool:
    return name in own or name in FOREIGN_METRICS or name.startswith("ogmios_")


def test_alert_rules() -> None:
    rules = load_yaml(DEPLOY / "prometheus" / "alerts.yml")
    if rules is None:
        pytest.skip("PyYAML is needed to read alerts.yml")
    own = own_metric_names()
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {"IndexerSyncStalled", "PledgeAtRisk", "IndexerDown", "OgmiosDisconnected"} <= set(
        alerts)
    for name, rule in alerts.items():
        assert rule["expr"].strip() and re.fullmatch(r"\d+[smh]", rule["for"]), name
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"], name
        unknown = {m for m in promql_metrics(rule["expr"]) if not _known(m, own)}
        assert not unknown, f"{name} names unknown metrics {unknown}"
    assert "indexer_pledge_shortfall_lovelace > 0" in alerts["PledgeAtRisk"]["expr"]
    assert "indexer_stalled" in alerts["IndexerSyncStalled"]["expr"]


def test_byron_skip_points_match_the_recorded_chain() -> None:
    """deploy/README.md and indexer.toml give each network's last Byron block. preprod's is
    derived here from recorded Blockfrost answers (tests/data/realdata/NOTICE.md); mainnet's is
    the point Kupo, pallas and oura use (Byron ends before slot 4492800)."""
    data = ROOT / "tests" / "data" / "realdata" / "blockfrost-preprod"

    def fixture(name: str, endpoint: str) -> Any:
        entries = json.loads((data / name).read_text())
        return next(e["response"] for e in entries if e["endpoints"] == [endpoint])

    eras = fixture("network-eras.json", "network/eras")
    byron = eras[0]
    assert byron["parameters"]["slot_length"] == 20 and byron["end"]["epoch"] == 4
    last_hash = fixture("epochs-number-blocks.json", "epochs/3/blocks?count=2&order=desc")[0]
    epoch3 = fixture("epochs-number.json", "epochs/3")
    genesis_time = fixture("epochs-number.json", "epochs/0")["start_time"]
    slot = (epoch3["last_block_time"] - genesis_time) // byron["parameters"]["slot_length"]
    assert slot < byron["end"]["slot"]
    preprod = f'start = {{ slot = {slot}, id = "{last_hash}" }}'
    mainnet = ('start = { slot = 4492799, id = '
               '"f8084c61b6a238acec985b59310b6ecec49c0ab8352249afd7268da5cff2a457" }')
    for doc in (DEPLOY / "README.md", DEPLOY / "indexer.toml"):
        text = doc.read_text()
        assert preprod in text and mainnet in text, doc.name


def test_grafana_provisioning() -> None:
    ds_text = DATASOURCES.read_text()
    ds = load_yaml(DATASOURCES)
    uids = {t["datasource"]["uid"] for _, t in _targets()}
    assert uids == {"indexer-pg", "indexer-prom"}
    if ds is not None:
        assert {d["uid"] for d in ds["datasources"]} == uids
        pg = next(d for d in ds["datasources"] if d["uid"] == "indexer-pg")
        assert pg["type"] in ("grafana-postgresql-datasource", "postgres")
        assert pg["user"] == "grafana" and pg["jsonData"]["database"] == "indexer"
        assert pg["secureJsonData"]["password"] == "$__file{/run/secrets/grafana_db_password}"
    else:
        assert "uid: indexer-pg" in ds_text and "user: grafana" in ds_text
    providers = (DEPLOY / "grafana" / "provisioning" / "dashboards" / "indexer.yml").read_text()
    assert "path: /etc/grafana/dashboards" in providers
    assert "./grafana/dashboards:/etc/grafana/dashboards:ro" in (
        DEPLOY / "docker-compose.yml").read_text()


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "indexer.service").read_text())
    svc = unit["Service"]
    assert svc["Restart"] == "on-failure"
    assert svc["KillSignal"] == "SIGTERM"
    assert int(svc["TimeoutStopSec"]) >= 30
    assert svc["User"] and svc["User"] != "root"
    assert svc["NoNewPrivileges"] == "yes" and svc["ProtectSystem"] == "strict"
    assert " run --config " in svc["ExecStart"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


# --------------------------------------------------------------------------- dashboard

def _targets() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(p, t) for p in dashboard()["panels"] for t in p.get("targets", [])]


def _sql_targets() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(p, t) for p, t in _targets() if "rawSql" in t]


def test_dashboard_json() -> None:
    d = dashboard()
    assert d["uid"] and d["title"] and 36 <= d["schemaVersion"] <= 41
    pool = next(v for v in d["templating"]["list"] if v["name"] == "pool")
    assert re.fullmatch(r"SELECT DISTINCT pool_id FROM pool_epoch( ORDER BY \w+)?",
                        pool["query"])
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    types = {p["type"] for p in d["panels"]}
    assert {"barchart", "table", "stat", "row", "timeseries"} <= types
    own = own_metric_names()
    for panel in d["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        for t in panel["targets"]:
            if t["datasource"]["type"] == "prometheus":
                unknown = {m for m in promql_metrics(t["expr"]) if not _known(m, own)}
                assert not unknown, f"panel {panel['title']!r} names unknown metrics {unknown}"
            else:
                assert t["rawQuery"] and t["format"] == "table" and t["rawSql"].strip()
    # the subjects the dashboard must cover
    sql = " ".join(t["rawSql"] for _, t in _sql_targets())
    for needle in ("stake_share", "op_rewards_lovelace", "stake_rewards_lovelace",
                   "pledge_met", "rewards_status", "updated_at", "pool_certificate",
                   "account_alias", "pool_name", "balances_complete",
                   # settlement and pledge (owner statements)
                   "FROM owner_settlement", "due_lovelace", "FROM owner_payout",
                   "FROM pledge_watch", "shortfall_lovelace", "seconds_to_snapshot"):
        assert needle in sql, needle
    # the Prometheus row: sync progress, blocks/s, lag, commit times
    exprs = " ".join(t.get("expr", "") for _, t in _targets())
    for needle in ("indexer_sync_progress", "rate(indexer_blocks_total", "indexer_lag_blocks",
                   "indexer_batch_commit_seconds_bucket"):
        assert needle in exprs, needle
    # "Sync lag" measures the distance to the chain's clock: red, not green, while syncing
    lag = next(p for p in d["panels"] if p["title"].startswith("Sync lag"))
    assert lag["targets"][0]["expr"] == "max(indexer_chain_lag_seconds)"
    steps = lag["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[0]["color"] == "green" and steps[-1]["color"] == "red"
    assert steps[-1]["value"] <= 3600  # an initial sync is days behind: red


ALERTING = DEPLOY / "grafana" / "provisioning" / "alerting" / "pledge.yml"


def test_pledge_alert_rule_reads_the_gauge_the_indexer_exports() -> None:
    """The provisioned rule queries the Prometheus datasource for the gauge that
    indexer/sync/pledge.py exports, and fires above 0; compose mounts the provisioning."""
    from indexer.sync.pledge import GAUGES

    text = ALERTING.read_text()
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in (
        DEPLOY / "docker-compose.yml").read_text()
    gauge = GAUGES[0][0]
    assert gauge == "indexer_pledge_shortfall_lovelace"
    data = load_yaml(ALERTING)
    if data is None:
        assert f"expr: max by (pool_id) ({gauge})" in text and "datasourceUid: indexer-prom" in text
        return
    assert data["apiVersion"] == 1
    (group,) = data["groups"]
    (rule,) = group["rules"]
    assert rule["uid"] and rule["title"] and rule["condition"] == "C"
    steps = {d["refId"]: d for d in rule["data"]}
    assert steps["A"]["datasourceUid"] == "indexer-prom"  # provisioning/datasources
    assert ds_uid_exists("indexer-prom")
    assert steps["A"]["model"]["expr"] == f"max by (pool_id) ({gauge})"
    assert steps["B"]["model"] == {"refId": "B", "type": "reduce", "expression": "A",
                                   "reducer": "last"}
    threshold = steps["C"]["model"]
    assert threshold["expression"] == "B"
    assert threshold["conditions"][0]["evaluator"] == {"type": "gt", "params": [0]}
    assert "$labels.pool_id" in rule["annotations"]["summary"]


def ds_uid_exists(uid: str) -> bool:
    return f"uid: {uid}" in DATASOURCES.read_text()


def test_dashboard_reads_only_public_views() -> None:
    seen: set[str] = set()
    for where, sql in queries():
        rels = relations(sql)
        assert rels, f"{where}: no relation found in its SQL"
        assert rels <= set(PUBLIC_VIEWS), f"{where} reads {sorted(rels - set(PUBLIC_VIEWS))}"
        seen |= rels
    assert {"chain_tip", "pool_epoch", "pool_owner_epoch", "pool_certificate", "pledge_watch",
            "owner_payout", "owner_settlement"} <= seen


def test_relation_parser() -> None:
    assert relations("SELECT EXTRACT(EPOCH FROM now() - updated_at) FROM chain_tip") == {
        "chain_tip"}
    assert relations("SELECT 1 FROM pool_owner_epoch o CROSS JOIN LATERAL (VALUES (1)) v(k) "
                      "JOIN public.block b ON true WHERE x IN (SELECT y FROM withdrawal)") == {
        "pool_owner_epoch", "block", "withdrawal"}
    assert relations("SELECT 'from block' FROM chain_tip -- join utxo") == {"chain_tip"}
    assert relations("""SELECT x AS "owners' x", 'a"b' FROM "pool_epoch" """) == {"pool_epoch"}


async def test_dashboard_sql_runs_on_the_schema_as_the_readonly_role(dsn: str) -> None:
    """Every query on a fresh database (no rows: fine), first as the connecting user, then as
    a role made by `indexer db grant` (what Grafana logs in as), when the user may create
    and assume roles."""
    conn = await asyncpg.connect(dsn)
    role = f"dash_test_{uuid.uuid4().hex[:10]}"
    granted = False
    try:
        for where, sql in queries():
            try:
                await conn.fetch(substitute(sql))
            except asyncpg.PostgresError as exc:  # pragma: no cover - the failure message
                pytest.fail(f"{where}: {type(exc).__name__}: {exc}\n{sql}")
        can_roles = await conn.fetchval(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
        if not can_roles:
            pytest.skip("the test user cannot create roles: read-only check skipped")
        store = await Store.connect(dsn)
        try:
            await grant_readonly(store, role, None)
            granted = True
        finally:
            await store.close()
        await conn.execute(f'SET ROLE "{role}"')
        for where, sql in queries():
            try:
                await conn.fetch(substitute(sql))
            except asyncpg.PostgresError as exc:  # pragma: no cover - the failure message
                pytest.fail(f"{where} as the read-only role: {type(exc).__name__}: {exc}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM block LIMIT 1")
    finally:
        await conn.execute("RESET ROLE")
        if granted:
            await conn.execute(f'DROP OWNED BY "{role}"')
            await conn.execute(f'DROP ROLE "{role}"')
        await conn.close()


def test_compose_postgres_passes_the_daemons_sizing_check() -> None:
    """deploy/docker-compose.yml's PostgreSQL settings are the ones the daemon asks for on
    mainnet (indexer/ops/sizing.py): it must not warn about the project's own deployment."""
    text = interpolated((DEPLOY / "docker-compose.yml").read_text())
    found = dict(re.findall(r"-\s*(shared_buffers|max_wal_size)=(\w+)", text))
    units = {"MB": 1 << 20, "GB": 1 << 30}

    def size(value: str) -> int:
        number, unit = re.fullmatch(r"(\d+)(MB|GB)", value).groups()  # type: ignore[union-attr]
        return int(number) * units[unit]

    assert set(found) == {"shared_buffers", "max_wal_size"}
    assert sizing_advice(size(found["shared_buffers"]), size(found["max_wal_size"])) == []
