"""The ledger-state and network queries the simulator answers (docs/ogmios.md §4): each a
function of the server, the connection (its acquired point) and the request's params."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import indexer.simulator.queries as q
from indexer.simulator.chain import block_point

if TYPE_CHECKING:
    from indexer.simulator.server import Simulator
    from indexer.simulator.server import _Conn as Conn

Json = dict[str, Any]


def _shelley_ledger(sim: Simulator, conn: Conn) -> Json:
    block = sim.ledger_block(conn)
    if block is None or sim.network.era_of(block["slot"]) == "byron":
        raise q.RpcFault(2002, "Unavailable in current era: this query needs a Shelley-based "
                         "ledger state.")
    return block


def acquire(sim: Simulator, conn: Conn, params: Json | None) -> Json:
    point = q.parse_point((params or {}).get("point"))
    window = sim.network.k + 1
    if point == "origin":
        ok = len(sim.chain) < window
        target: Json | str = "origin"
    else:
        assert isinstance(point, dict)
        block = sim.block_by_id(point["id"])
        ok = (block is not None and block["slot"] == point["slot"]
              and (sim.position(point["id"]) or 0) >= len(sim.chain) - window)
        target = block if block is not None else "origin"
    if not ok:
        raise q.RpcFault(2000, "Failed to acquire requested point.",
                         "The requested point is too old or not on the current chain.")
    conn.acquired, conn.expired = target, False
    return {"acquired": "ledgerState", "point": point}


def release(sim: Simulator, conn: Conn, params: Json | None) -> Json:
    conn.acquired, conn.expired = None, False
    return {"released": "ledgerState"}


def ledger_tip(sim: Simulator, conn: Conn, params: Json | None) -> Json | str:
    block = sim.ledger_block(conn)
    return "origin" if block is None else block_point(block)


def epoch(sim: Simulator, conn: Conn, params: Json | None) -> int:
    block = sim.ledger_block(conn)
    return sim.network.epoch_of(0 if block is None else block["slot"])


def era_summaries(sim: Simulator, conn: Conn, params: Json | None) -> list[Json]:
    block = sim.ledger_block(conn)
    return sim.network.era_summaries_json(None if block is None else block["slot"])


def rewards_provenance(sim: Simulator, conn: Conn, params: Json | None) -> Json:
    block = _shelley_ledger(sim, conn)
    return sim.rewards_provenance(sim.network.epoch_of(block["slot"]), block)


def reward_accounts(sim: Simulator, conn: Conn, params: Json | None) -> list[Json]:
    creds = q.credentials_param(params)
    return sim.reward_account_summaries(creds, _shelley_ledger(sim, conn))


def stake_pools(sim: Simulator, conn: Conn, params: Json | None) -> Json:
    _shelley_ledger(sim, conn)
    return q.filter_stake_pools(sim.stake_pools(params), params)


def network_tip(sim: Simulator, conn: Conn, params: Json | None) -> Json | str:
    return block_point(sim.chain[-1]) if sim.chain else "origin"


def block_height(sim: Simulator, conn: Conn, params: Json | None) -> int | str:
    return sim.chain[-1]["height"] if sim.chain else "origin"


def genesis(sim: Simulator, conn: Conn, params: Json | None) -> Json:
    era = (params or {}).get("era")
    if era not in ("byron", "shelley", "alonzo", "conway", "dijkstra"):
        raise q.invalid_params(f"unknown era {era!r}")
    if era != "shelley":
        raise q.RpcFault(2004, "Invalid genesis configuration.",
                         f"The simulator only serves the shelley genesis, not {era}.")
    return sim.network.shelley_genesis_json()


def start_time(sim: Simulator, conn: Conn, params: Json | None) -> str:
    return sim.network.system_start


QUERIES: dict[str, Callable[[Simulator, Conn, Json | None], Any]] = {
    "acquireLedgerState": acquire,
    "releaseLedgerState": release,
    "queryLedgerState/tip": ledger_tip,
    "queryLedgerState/epoch": epoch,
    "queryLedgerState/eraSummaries": era_summaries,
    "queryLedgerState/rewardsProvenance": rewards_provenance,
    "queryLedgerState/rewardAccountSummaries": reward_accounts,
    "queryLedgerState/stakePools": stake_pools,
    "queryNetwork/tip": network_tip,
    "queryNetwork/blockHeight": block_height,
    "queryNetwork/genesisConfiguration": genesis,
    "queryNetwork/startTime": start_time,
}
