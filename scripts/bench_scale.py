"""A database at mainnet scale for ``make bench``: 11 million unspent staked outputs over 1.3
million registered, delegated stake credentials, and 3,000 pools (2 owners and a reward
account each, with ~8 outputs per account), all older than the benchmark chain.

Built once as a template database (``indexer_bench_scale_<outputs>_v<schema>``), cloned for each
measured run (``CREATE DATABASE … TEMPLATE``). The outputs are generated inside PostgreSQL
(``INSERT … SELECT`` over ``generate_series``, secondary indexes dropped during the load and
rebuilt after): 11 million rows in a few minutes, where COPY from Python would spend most of
its time building tuples. Output ``i`` has the id ``sha256(int8send(i))``, index 0, so the
benchmark chain's "old" inputs (``bench_chain.old_output_id``) spend from it as mainnet spends
from its UTxO set. Everything is tagged slot 0 and the checkpoint is the chain's first block,
so the daemon intersects there and its first rollback (to that block) keeps it all.

    python scripts/bench_scale.py --outputs 11000000     # build the template (if missing)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_chain import NETWORK, ChainFile  # noqa: E402

from indexer.chain.address import pool_bech32, stake_address  # noqa: E402
from indexer.db.dsn import with_database  # noqa: E402
from indexer.db.store import LATEST_VERSION, Store, recreate_database  # noqa: E402

CREDENTIALS = 1_300_000  # registered stake credentials on mainnet, about
POOLS = 3_000
TEMPLATE_FORMAT = 1


def cred(i: int) -> bytes:
    """Stake credential ``i`` as PostgreSQL builds it: key hash = first 28 bytes of
    ``sha256(int4send(i))``."""
    return b"\x00" + hashlib.sha256(i.to_bytes(4, "big", signed=True)).digest()[:28]


def pool_hash(j: int) -> bytes:
    return hashlib.sha256(f"pool{j}".encode()).digest()[:28]


def template_name(outputs: int) -> str:
    """Per schema version: the A/B of two checkouts whose schemas differ (bench_ab.py) keeps
    one template for each, instead of rebuilding a shared one for every run."""
    return f"indexer_bench_scale_{outputs}_v{LATEST_VERSION}"


_LOAD = """
INSERT INTO utxo (tx_id, idx, cred, lovelace, slot)
SELECT sha256(int8send(i)), 0,
       '\\x00'::bytea || substr(sha256(int4send((i % $2)::int)), 1, 28),
       1000000 + (i * 7919) % 100000000000, 0
FROM generate_series(0::bigint, $1::bigint - 1) AS i
"""
_EVENTS = """
INSERT INTO stake_event (slot, tx_index, cert_index, epoch_no, cred, kind, pool_hash)
SELECT 0, i, k, 0, '\\x00'::bytea || substr(sha256(int4send(i)), 1, 28), k,
       CASE WHEN k = 2 THEN ph.h END
FROM generate_series(0, $1 - 1) AS i
CROSS JOIN (VALUES (0), (2)) AS kinds (k)
JOIN LATERAL (SELECT substr(sha256(convert_to('pool' || (CASE WHEN i < $2 * 3 THEN i / 3
              ELSE i % $2 END)::text, 'UTF8')), 1, 28) AS h) ph ON true
"""


async def _secondary_indexes(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT indexdef FROM pg_indexes i WHERE tablename = $1 AND NOT EXISTS ("
        " SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", table)
    return [r["indexdef"] for r in rows]


async def _load(conn: asyncpg.Connection, outputs: int, chain: ChainFile) -> None:
    await conn.execute("SET maintenance_work_mem = '512MB'")
    deferred = []
    for table in ("utxo", "stake_event"):
        for definition in await _secondary_indexes(conn, table):
            deferred.append(definition)
            await conn.execute(f"DROP INDEX {definition.split(' INDEX ', 1)[1].split()[0]}")
    await conn.execute(_LOAD, outputs, CREDENTIALS)
    await conn.execute(_EVENTS, CREDENTIALS, POOLS)
    for definition in deferred:
        await conn.execute(definition)
    certs = []
    for j in range(POOLS):
        owners = [cred(3 * j), cred(3 * j + 1)]
        ra = cred(3 * j + 2)
        ph = pool_hash(j)
        certs.append((0, j, 2, hashlib.sha256(b"cert" + ph).digest(), 0, ph, pool_bech32(ph),
                      "registration", 0, 10**11, 340_000_000, 1, 50, ra,
                      stake_address(ra, NETWORK.network_id), owners,
                      [stake_address(o, NETWORK.network_id) for o in owners], "00" * 32,
                      None, None, "[]", None))
    await conn.copy_records_to_table("pool_cert", records=certs, columns=(
        "slot", "tx_index", "cert_index", "tx_id", "epoch_no", "pool_hash", "pool_id", "kind",
        "active_epoch_no", "pledge", "cost", "margin_num", "margin_den", "reward_cred",
        "reward_account", "owner_creds", "owners", "vrf_key_hash", "metadata_url",
        "metadata_hash", "relays", "retirement_epoch"))
    block_id, slot, height, *_ = chain.index[0]
    await conn.execute("INSERT INTO block (slot, height, hash, epoch_no, era, pool_hash, "
                       "tx_count) VALUES ($1, $2, $3, 0, 'byron', NULL, 0)",
                       slot, height, bytes.fromhex(block_id))
    await conn.execute("UPDATE checkpoint SET slot = $1, block_hash = $2, block_height = $3, "
                       "epoch_no = 0", slot, bytes.fromhex(block_id), height)
    await conn.execute("INSERT INTO meta (key, value) VALUES ('bench_template', $1::jsonb)",
                       f'{{"format": {TEMPLATE_FORMAT}, "outputs": {outputs}, '
                       f'"schema": {LATEST_VERSION}, "first_block": "{block_id}"}}')


async def ensure_template(admin_dsn: str, outputs: int, chain: ChainFile) -> str:
    """The template database's name, built unless a matching one exists."""
    name = template_name(outputs)
    want = {"format": TEMPLATE_FORMAT, "outputs": outputs, "schema": LATEST_VERSION,
            "first_block": chain.index[0][0]}
    try:
        conn = await asyncpg.connect(with_database(admin_dsn, name))
        try:
            found = await conn.fetchval("SELECT value::text FROM meta WHERE key = "
                                        "'bench_template'")
        finally:
            await conn.close()
        if found is not None and json.loads(found) == want:
            return name
    except (asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError):
        pass
    t0 = time.perf_counter()
    print(f"building the mainnet-scale template {name} ({outputs:,} outputs; once) ...",
          flush=True)
    dsn = await recreate_database(admin_dsn, name)
    store = await Store.connect(dsn)
    await store.migrate()
    await store.close()
    conn = await asyncpg.connect(dsn)
    try:
        await _load(conn, outputs, chain)
        await conn.execute("VACUUM (ANALYZE, FREEZE)")
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    print(f"  built in {time.perf_counter() - t0:.0f} s, {size / 2**30:.2f} GiB", flush=True)
    return name


async def clone(admin_dsn: str, template: str, name: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


def main() -> None:
    from bench_chain import load_or_build

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--outputs", type=int, default=11_000_000)
    ap.add_argument("--blocks", type=int, default=20_000, help="the chain it precedes")
    args = ap.parse_args()
    print(asyncio.run(ensure_template(args.dsn, args.outputs, load_or_build(args.blocks))))


if __name__ == "__main__":
    main()
