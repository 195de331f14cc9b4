"""Pure helpers for the simulator's ledger-state queries and /health.

Kept apart from ``server.py`` so that the socket code stays small. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from indexer.chain.address import AddressError, bech32_decode, cred_from_stake_address

Json = dict[str, Any]
RewardsProvenanceFn = Callable[[int, Json], Json]
RewardAccountSummariesFn = Callable[[list[str], Json], list[Json]]
StakePoolsFn = Callable[[Json | None], Json]

_HEX56 = re.compile(r"^[0-9a-fA-F]{56}$")


class RpcFault(Exception):
    """A JSON-RPC error answer. Method-specific errors (code >= 1000) carry ``method`` in the
    envelope; generic JSON-RPC errors (-32xxx) do not, like Ogmios' ``ko`` encoder."""

    def __init__(self, code: int, message: str, data: Any = None, *, has_data: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.has_data = has_data or data is not None


def ok_frame(method: str, rid: Any, result: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": method, "result": result, "id": rid})


def fault_frame(method: str | None, rid: Any, fault: RpcFault) -> bytes:
    err: Json = {"code": fault.code, "message": fault.message}
    if fault.has_data:
        err["data"] = fault.data
    msg: Json = {"jsonrpc": "2.0"}
    if method is not None and fault.code >= 1000:
        msg["method"] = method
    msg["error"] = err
    msg["id"] = rid
    return orjson.dumps(msg)


def invalid_params(message: str) -> RpcFault:
    return RpcFault(-32602, f"Invalid params: {message}")


def _ada(n: int) -> Json:
    return {"ada": {"lovelace": n}}


def default_rewards_provenance(epoch: int, ledger_tip: Json) -> Json:
    """A schema-valid ``rewardsProvenance`` (6.13+) with nothing in it."""
    return {"totalStake": _ada(0), "activeStake": _ada(0), "fees": _ada(0),
            "incentives": _ada(0), "treasuryTax": _ada(0), "totalRewards": _ada(0),
            "efficiency": "0/1", "stakePools": {}}


def default_reward_account_summaries(creds_hex: list[str], ledger_tip: Json) -> list[Json]:
    return []


def default_stake_pools(params: Json | None) -> Json:
    return {}


def credential_hex(text: Any) -> str:
    """An ``AnyStakeCredential`` (56-hex, ``stake_vkh1…``/``script1…``, or a stake address)
    as a 56-hex credential hash."""
    if not isinstance(text, str):
        raise invalid_params(f"not a credential: {text!r}")
    if _HEX56.match(text):
        return text.lower()
    try:
        if text.startswith(("stake_vkh", "script")):
            hrp, raw = bech32_decode(text)
            if len(raw) != 28:
                raise AddressError(f"{hrp} credential of {len(raw)} bytes")
            return raw.hex()
        if text.startswith("stake"):
            return cred_from_stake_address(text, checked=True)[1:].hex()
    except AddressError as exc:
        raise invalid_params(str(exc)) from exc
    raise invalid_params(f"not a credential: {text!r}")


def credentials_param(params: Json | None) -> list[str]:
    """``keys`` then ``scripts`` of a ``rewardAccountSummaries`` request, as hex."""
    params = params or {}
    out: list[str] = []
    for key in ("keys", "scripts"):
        values = params.get(key, [])
        if not isinstance(values, list):
            raise invalid_params(f"'{key}' must be a list")
        out.extend(credential_hex(v) for v in values)
    return out


def filter_stake_pools(result: Json, params: Json | None) -> Json:
    """Apply the server-side semantics of the ``stakePools`` params to a callable's answer:
    the ``stakePools`` filter (an empty list filters down to nothing) and ``includeStake``."""
    params = params or {}
    wanted = params.get("stakePools")
    if wanted is not None:
        if not isinstance(wanted, list):
            raise invalid_params("'stakePools' must be a list")
        ids = {p.get("id") if isinstance(p, dict) else p for p in wanted}
        result = {k: v for k, v in result.items() if k in ids}
    if not params.get("includeStake"):
        result = {k: {f: x for f, x in v.items() if f != "stake"} for k, v in result.items()}
    return result


def parse_point(value: Any) -> Json | str:
    """A ``Point`` or ``"origin"`` from a request, validated."""
    if value == "origin":
        return "origin"
    if (isinstance(value, dict) and isinstance(value.get("slot"), int)
            and isinstance(value.get("id"), str) and len(value["id"]) == 64):
        return {"slot": value["slot"], "id": value["id"].lower()}
    raise invalid_params(f"invalid point: {value!r}")


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def session_stats(durations_ms: list[float]) -> Json:
    if not durations_ms:
        return {"max": 0, "mean": 0, "min": 0}
    return {"max": max(durations_ms), "mean": sum(durations_ms) / len(durations_ms),
            "min": min(durations_ms)}
