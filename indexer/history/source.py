"""What every history source (Koios, Blockfrost) gives and takes, and the shape checks of their
answers: a field that is missing or of another type raises ``ApiShapeError`` naming the
endpoint, the item and the field, instead of a KeyError deep in the accounting."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from indexer.accounting.fetched import FetchedEpoch
from indexer.chain.address import AddressError, cred_from_stake_address
from indexer.history.http import ApiClient, ApiShapeError

__all__ = ["ApiNetwork", "EpochPlan", "Source", "cred_hex", "integer_amount", "item_field",
           "list_of_objects", "lovelace"]

_INT = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class ApiNetwork:
    magic: int  # the network magic of the chain the API serves
    name: str  # as the API says it
    tip_epoch: int  # the API's current epoch


@dataclass(frozen=True, slots=True)
class EpochPlan:
    """What the chain says of a pool's epoch to fetch (P_e): whose accounts to ask about."""

    epoch: int
    reward_account: str  # bech32 stake address: L is credited there
    owners: tuple[str, ...]  # bech32 stake addresses: their stake in S_e gives o
    cost: int
    margin: Fraction


class Source(Protocol):
    name: str
    http: ApiClient

    async def network(self) -> ApiNetwork: ...

    async def fetch(self, pool_id: str, plans: Sequence[EpochPlan]) -> list[FetchedEpoch]:
        """One FetchedEpoch per plan (ascending epochs; consecutive for Koios), in order."""
        ...


def list_of_objects(data: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ApiShapeError(f"{where}: expected a JSON array of objects, got "
                            f"{str(data)[:80]!r} (did the API change?)")
    return data


def item_field(item: dict[str, Any], name: str, kinds: type | tuple[type, ...], where: str,
               *, nullable: bool = False) -> Any:
    if name not in item:
        raise ApiShapeError(f"{where}: field {name!r} is missing (did the API change?): "
                            f"{str(item)[:160]}")
    value = item[name]
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = "/".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise ApiShapeError(f"{where}: field {name!r} is {value!r}, not {names} (did the API "
                            "change?)")
    return value


def lovelace(item: dict[str, Any], name: str, where: str, *, nullable: bool = False
             ) -> int | None:
    """A lovelace amount: a decimal integer string (both APIs) or a JSON integer."""
    value = item_field(item, name, (str, int), where, nullable=nullable)
    if value is None:
        return None
    if isinstance(value, int):
        if value < 0:
            raise ApiShapeError(f"{where}: field {name!r} is negative: {value}")
        return value
    if not _INT.fullmatch(value):
        raise ApiShapeError(f"{where}: field {name!r} is {value!r}, not a lovelace amount")
    return int(value)


def integer_amount(text: Any) -> int | None:
    """A Koios amount computed in floating point (``pool_fees``: PostgreSQL double precision
    rendered as text, e.g. ``"381637933"`` or ``"1.5e+15"``): the integer it denotes, or None
    when it is absent or not integral."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        return None
    value = Fraction(text)
    return int(value) if value.denominator == 1 and value >= 0 else None


def cred_hex(stake_address: str, where: str) -> str:
    """The stored credential (header byte and hash, hex) of a bech32 stake address."""
    try:
        return bytes(cred_from_stake_address(stake_address)).hex()
    except AddressError as exc:
        raise ApiShapeError(f"{where}: {stake_address!r} is not a stake address: {exc}") \
            from exc
