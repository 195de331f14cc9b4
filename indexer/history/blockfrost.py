"""Blockfrost (https://cardano-<network>.blockfrost.io/api/v0; OpenAPI: blockfrost/openapi).

The project id goes in the ``project_id`` header; it is read from BLOCKFROST_PROJECT_ID by the
caller and never logged. Endpoints used:

- ``GET /genesis`` (``network_magic``) and ``GET /epochs/latest`` (``epoch``).
- ``GET /pools/{pool_id}/history``: per epoch ``active_stake`` (σ), ``blocks``, ``rewards``
  (distributed) and ``fees`` (c + floor(m·(rewards − c)), from distributed rewards).
- ``GET /accounts/{stake_address}/rewards``: ``epoch`` (earned), ``amount``, ``pool_id``,
  ``type`` (``leader``/``member``/``pool_deposit_refund``): L of the reward account.
- ``GET /accounts/{stake_address}/history``: ``active_epoch``, ``amount``, ``pool_id``: each
  owner's stake in S_e and the pool it was delegated to.

Pagination: ``page`` (from 1) and ``count=100``, ``order=asc`` (oldest first); a page shorter
than 100 is the last. There is no epoch filter, so a listing is read from its start and stops
once past the last epoch wanted. An account Blockfrost never saw answers 404: no rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from indexer.accounting.fetched import FetchedEpoch
from indexer.history.http import ApiClient, ApiNotFound, ApiShapeError
from indexer.history.source import (
    ApiNetwork,
    EpochPlan,
    cred_hex,
    item_field,
    list_of_objects,
    lovelace,
)

__all__ = ["PAGE_COUNT", "BlockfrostSource"]

PAGE_COUNT = 100  # Blockfrost's maximum `count`


class BlockfrostSource:
    name = "blockfrost"

    def __init__(self, http: ApiClient) -> None:
        self.http = http

    async def _pages(self, path: str, epoch_field: str, last: int
                     ) -> tuple[list[dict[str, Any]], list[str]]:
        """The listing's rows up to epoch ``last`` (oldest first), and the URLs asked."""
        rows: list[dict[str, Any]] = []
        urls: list[str] = []
        page = 1
        while True:
            answer = await self.http.get(path, [("count", PAGE_COUNT), ("page", page),
                                                ("order", "asc")])
            urls.append(answer.url)
            got = list_of_objects(answer.data, f"blockfrost {path}")
            for i, row in enumerate(got):
                item_field(row, epoch_field, int, f"blockfrost {path} page {page} item {i}")
            rows += got
            if len(got) < PAGE_COUNT or (got and got[-1][epoch_field] > last):
                return rows, urls
            page += 1

    async def network(self) -> ApiNetwork:
        genesis = (await self.http.get("/genesis")).data
        latest = (await self.http.get("/epochs/latest")).data
        if not isinstance(genesis, dict) or not isinstance(latest, dict):
            raise ApiShapeError("blockfrost /genesis or /epochs/latest: not a JSON object")
        magic = item_field(genesis, "network_magic", int, "blockfrost /genesis")
        return ApiNetwork(magic, "", item_field(latest, "epoch", int, "blockfrost "
                                                "/epochs/latest"))

    async def _account(self, address: str, what: str, last: int
                       ) -> tuple[list[dict[str, Any]], list[str]]:
        field = "epoch" if what == "rewards" else "active_epoch"
        try:
            return await self._pages(f"/accounts/{address}/{what}", field, last)
        except ApiNotFound:
            return [], []  # an account Blockfrost never saw: no reward, no stake

    async def fetch(self, pool_id: str, plans: Sequence[EpochPlan]) -> list[FetchedEpoch]:
        first, last = plans[0].epoch, plans[-1].epoch
        try:
            rows, urls = await self._pages(f"/pools/{pool_id}/history", "epoch", last)
        except ApiNotFound as exc:
            raise ApiNotFound(f"blockfrost knows no pool {pool_id} (is the pool id right, and "
                              f"the API's network the database's?): {exc}", 404) from exc
        history: dict[int, dict[str, Any]] = {}
        for i, row in enumerate(rows):  # every row checked: a changed shape shows anywhere
            where = f"blockfrost /pools/{pool_id}/history item {i}"
            parsed = {"sigma": lovelace(row, "active_stake", where),
                      "blocks": item_field(row, "blocks", int, where),
                      "rewards": lovelace(row, "rewards", where),
                      "fee": lovelace(row, "fees", where)}
            if first <= row["epoch"] <= last:
                history[row["epoch"]] = parsed
        leader: dict[tuple[str, int], int] = {}
        for ra in sorted({p.reward_account for p in plans}):
            got, asked = await self._account(ra, "rewards", last)
            urls += asked
            for i, row in enumerate(got):
                where = f"blockfrost /accounts/{ra}/rewards item {i}"
                if item_field(row, "type", str, where) == "leader" and \
                        item_field(row, "pool_id", str, where) == pool_id:
                    key = (ra, row["epoch"])
                    leader[key] = leader.get(key, 0) + (lovelace(row, "amount", where) or 0)
        stakes: dict[tuple[str, int], tuple[str | None, int]] = {}
        for owner in sorted({o for p in plans for o in p.owners}):
            got, asked = await self._account(owner, "history", last)
            urls += asked
            for i, row in enumerate(got):
                where = f"blockfrost /accounts/{owner}/history item {i}"
                stakes[(owner, row["active_epoch"])] = (
                    item_field(row, "pool_id", str, where, nullable=True),
                    lovelace(row, "amount", where) or 0)
        now = datetime.now(UTC)
        out = []
        for plan in plans:
            h = history.get(plan.epoch)  # absent: no stake in S_e
            out.append(FetchedEpoch(
                pool_id=pool_id, epoch=plan.epoch, source=self.name,
                leader_reward=leader.get((plan.reward_account, plan.epoch), 0),
                pool_stake=h["sigma"] if h else 0, blocks_made=h["blocks"] if h else 0,
                api_fee=h["fee"] if h else None, api_rewards=h["rewards"] if h else None,
                stakes={cred_hex(o, "blockfrost"): stakes[(o, plan.epoch)]
                        for o in plan.owners if (o, plan.epoch) in stakes},
                urls=tuple(urls), retrieved_at=now))
        return out
