"""Koios v1 (https://api.koios.rest/api/v1; OpenAPI: cardano-community/koios-artifacts, v1.4).

Endpoints used (all PostgREST: horizontal filters ``col=op.value`` and ``order`` apply to the
RPC results too, so a request asks only for the epochs still missing):

- ``GET /genesis`` (``networkmagic``) and ``GET /tip`` (``epoch_no``): the network and its epoch.
- ``GET /pool_history?_pool_bech32=P&epoch_no=gte.A&epoch_no=lte.B``: per epoch ``active_stake``
  (σ, db-sync's epoch_stake of S_e), ``block_cnt``, ``pool_fees`` (round(c + m·(R_dist − c)),
  from distributed rewards, in floating point), ``deleg_rewards``, ``fixed_cost``, ``margin``.
- ``POST /account_reward_history`` ``{"_stake_addresses": [RA…]}`` filtered on
  ``type=eq.leader``, ``pool_id_bech32=eq.P`` and the epochs: L per ``earned_epoch``.
- ``POST /account_stake_history`` ``{"_stake_addresses": [owner…]}`` filtered on the epochs:
  each owner's ``active_stake`` in S_e and the pool (``pool_id_bech32``) it was delegated to.
- ``POST /pool_info`` only when a pool has no history at all: is the pool known?

Pagination: ``offset``/``limit`` (1000 rows at most per answer), ``Prefer: count=exact`` and
the ``Content-Range`` header (``0-999/2500``; ``*`` when the server does not count: then an
empty page ends the listing). Request bodies stay under the public tier's 1 kB.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from indexer.accounting.fetched import FetchedEpoch
from indexer.history.http import ApiClient, ApiNotFound, ApiShapeError
from indexer.history.source import (
    ApiNetwork,
    EpochPlan,
    cred_hex,
    integer_amount,
    item_field,
    list_of_objects,
    lovelace,
)

__all__ = ["PAGE_ROWS", "KoiosSource", "content_range"]

log = structlog.get_logger("indexer.history.koios")

PAGE_ROWS = 1000  # PostgREST max-rows on Koios
BODY_MAX_BYTES = 1000  # public tier: request bodies of 1 kB at most
_RANGE = re.compile(r"(?:(\d+)-(\d+)|\*)/(\d+|\*)")


def content_range(value: str | None) -> tuple[int | None, int | None]:
    """``Content-Range`` of a PostgREST answer (``0-999/2500``, ``0-999/*``, ``*/0``): the
    index of the last row sent and the total, each None when absent."""
    found = _RANGE.fullmatch((value or "").strip())
    if not found:
        return None, None
    end = int(found[2]) if found[2] is not None else None
    return end, (int(found[3]) if found[3] != "*" else None)


def _epochs(column: str, first: int, last: int) -> list[tuple[str, str | int]]:
    return [(column, f"gte.{first}"), (column, f"lte.{last}")]


def _batches(addresses: Sequence[str]) -> list[list[str]]:
    """Addresses in groups whose request body stays under the public tier's limit."""
    out: list[list[str]] = []
    for addr in addresses:
        if out and len(orjson.dumps({"_stake_addresses": [*out[-1], addr]})) <= BODY_MAX_BYTES:
            out[-1].append(addr)
        else:
            out.append([addr])
    return out


class KoiosSource:
    name = "koios"

    def __init__(self, http: ApiClient) -> None:
        self.http = http

    async def _rows(self, method: str, path: str, params: list[tuple[str, str | int]],
                    body: Any = None) -> tuple[list[dict[str, Any]], list[str]]:
        """Every row of a listing, page by page; and the URLs asked (provenance)."""
        rows: list[dict[str, Any]] = []
        urls: list[str] = []
        while True:
            page = [*params, ("offset", len(rows)), ("limit", PAGE_ROWS)]
            answer = await self.http.request(method, path, params=page, body=body,
                                             headers={"Prefer": "count=exact"})
            urls.append(answer.url)
            got = list_of_objects(answer.data, f"koios {path}")
            rows += got
            _, total = content_range(answer.headers.get("Content-Range"))
            # Without a total, a short page may be the server's own cap (max-rows) as well as
            # the end: only an empty page tells.
            if not got or (total is not None and len(rows) >= total):
                return rows, urls

    async def network(self) -> ApiNetwork:
        genesis = list_of_objects((await self.http.get("/genesis")).data, "koios /genesis")
        tip = list_of_objects((await self.http.get("/tip")).data, "koios /tip")
        if not genesis or not tip:
            raise ApiShapeError("koios /genesis or /tip: an empty answer")
        magic = item_field(genesis[0], "networkmagic", (str, int), "koios /genesis")
        try:
            magic_int = int(magic)
        except ValueError as exc:
            raise ApiShapeError(f"koios /genesis: networkmagic {magic!r}") from exc
        name = item_field(genesis[0], "networkid", str, "koios /genesis", nullable=True)
        epoch = item_field(tip[0], "epoch_no", int, "koios /tip")
        return ApiNetwork(magic_int, str(name or ""), epoch)

    async def _history(self, pool_id: str, first: int, last: int
                       ) -> tuple[dict[int, dict[str, Any]], list[str]]:
        rows, urls = await self._rows("GET", "/pool_history", [
            ("_pool_bech32", pool_id), *_epochs("epoch_no", first, last),
            ("order", "epoch_no.asc")])
        out: dict[int, dict[str, Any]] = {}
        for i, row in enumerate(rows):
            where = f"koios /pool_history item {i}"
            epoch = item_field(row, "epoch_no", int, where)
            out[epoch] = {
                "sigma": lovelace(row, "active_stake", where),
                "blocks": item_field(row, "block_cnt", int, where, nullable=True) or 0,
                "fee": integer_amount(item_field(row, "pool_fees", (str, int), where,
                                                 nullable=True)),
                "deleg": integer_amount(item_field(row, "deleg_rewards", (str, int), where,
                                                   nullable=True)),
                "cost": integer_amount(item_field(row, "fixed_cost", (str, int), where,
                                                  nullable=True)),
                "margin": item_field(row, "margin", (int, float), where, nullable=True),
            }
        return out, urls

    async def _leader(self, pool_id: str, accounts: list[str], first: int, last: int
                      ) -> tuple[dict[tuple[str, int], int], list[str]]:
        found: dict[tuple[str, int], int] = {}
        urls: list[str] = []
        for batch in _batches(accounts):
            rows, asked = await self._rows("POST", "/account_reward_history", [
                ("type", "eq.leader"), ("pool_id_bech32", f"eq.{pool_id}"),
                *_epochs("earned_epoch", first, last),
                ("order", "stake_address.asc,earned_epoch.asc")], {"_stake_addresses": batch})
            urls += asked
            for i, row in enumerate(rows):
                where = f"koios /account_reward_history item {i}"
                if item_field(row, "type", str, where) != "leader" or \
                        item_field(row, "pool_id_bech32", str, where, nullable=True) != pool_id:
                    continue  # filtered by the server too; kept whatever it does
                key = (item_field(row, "stake_address", str, where),
                       item_field(row, "earned_epoch", int, where))
                found[key] = found.get(key, 0) + (lovelace(row, "amount", where) or 0)
        return found, urls

    async def _stakes(self, accounts: list[str], first: int, last: int
                      ) -> tuple[dict[tuple[str, int], tuple[str | None, int]], list[str]]:
        found: dict[tuple[str, int], tuple[str | None, int]] = {}
        urls: list[str] = []
        for batch in _batches(accounts):
            rows, asked = await self._rows("POST", "/account_stake_history", [
                *_epochs("epoch_no", first, last), ("order", "stake_address.asc,epoch_no.asc")],
                {"_stake_addresses": batch})
            urls += asked
            for i, row in enumerate(rows):
                where = f"koios /account_stake_history item {i}"
                key = (item_field(row, "stake_address", str, where),
                       item_field(row, "epoch_no", int, where))
                found[key] = (item_field(row, "pool_id_bech32", str, where, nullable=True),
                              lovelace(row, "active_stake", where) or 0)
        return found, urls

    async def _known(self, pool_id: str) -> None:
        answer = await self.http.post("/pool_info", {"_pool_bech32_ids": [pool_id]})
        if not list_of_objects(answer.data, "koios /pool_info"):
            raise ApiNotFound(f"koios knows no pool {pool_id} (is the pool id right, and the "
                              f"API's network the database's?)", 404)

    async def fetch(self, pool_id: str, plans: Sequence[EpochPlan]) -> list[FetchedEpoch]:
        first, last = plans[0].epoch, plans[-1].epoch
        history, urls = await self._history(pool_id, first, last)
        if not history:
            await self._known(pool_id)  # no stake in any of these epochs, or no such pool
        leader, more = await self._leader(pool_id, sorted({p.reward_account for p in plans}),
                                          first, last)
        stakes, most = await self._stakes(sorted({o for p in plans for o in p.owners}),
                                          first, last)
        urls += more + most
        now = datetime.now(UTC)
        out = []
        for plan in plans:
            h = history.get(plan.epoch)  # absent: no stake in S_e (no delegation): no block
            if h is not None:
                _check_parameters(pool_id, plan, h)
            out.append(FetchedEpoch(
                pool_id=pool_id, epoch=plan.epoch, source=self.name,
                leader_reward=leader.get((plan.reward_account, plan.epoch), 0),
                pool_stake=h["sigma"] if h else 0, blocks_made=h["blocks"] if h else 0,
                api_fee=h["fee"] if h else None,
                api_rewards=(h["fee"] + h["deleg"]) if h and h["fee"] is not None
                and h["deleg"] is not None else None,
                stakes={cred_hex(o, "koios"): stakes[(o, plan.epoch)]
                        for o in plan.owners if (o, plan.epoch) in stakes},
                urls=tuple(urls), retrieved_at=now))
        return out


def _check_parameters(pool_id: str, plan: EpochPlan, h: dict[str, Any]) -> None:
    """Koios applies P_e as we do (db-sync's pool_update.active_epoch_no); a cost or margin of
    its own is worth a warning: the chain's are used either way."""
    margin = h["margin"]
    if (h["cost"] is not None and h["cost"] != plan.cost) or \
            (margin is not None and abs(float(plan.margin) - float(margin)) > 1e-9):
        log.warning("history.parameters_differ", source="koios", pool_id=pool_id,
                    epoch=plan.epoch, chain_cost_lovelace=plan.cost,
                    api_cost_lovelace=h["cost"], chain_margin=str(plan.margin),
                    api_margin=margin)
