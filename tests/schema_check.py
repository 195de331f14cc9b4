"""Validate Ogmios messages against the official JSON schemas (tests/data/ogmios/schema).

    from tests.schema_check import validate_response, validate_block
    validate_response(msg)                     # picks <Method>Response / RpcError, v6.14
    validate_response(msg, version="v7.0")
    validate_block(block)                      # cardano.json#/definitions/Block
    validate_definition(tx, "Transaction")     # any cardano.json definition

The schemas are loaded unmodified from disk and patched **in memory** for known defects
(docs/ogmios.md §1, §3.4, §3.6). Every patch is listed in ``PATCHES`` and applied in
``_patch``:

1. ``cardano.json#/definitions/Value`` has ``propertyNames: ^[0-9a-f]{56}$`` next to
   ``properties.ada``, which rejects *every* multi-asset ``Value`` (``"ada"`` is not 56 hex
   characters). Relaxed to ``^(ada|[0-9a-f]{56})$``.
2. ``ogmios.json#/properties/RpcError`` requires an ``error.string`` field; the server sends
   ``error.message``. ``required`` is fixed to ``["code", "message"]``.
3. ``ogmios.json#/properties/QueryNetworkInvalidGenesis`` (error 2004) requires ``result``
   although it is an error envelope, and ``QueryNetworkGenesisConfigurationResponse`` only
   admits it *inside* ``result``. The 2004 envelope is made requirable with ``error`` and
   added as an alternative response.

And one explicit instance-side special case (not a schema patch):

4. Conway ``treasuryWithdrawals`` governance actions are keyed by **bech32 stake addresses**
   (``stake1…``/``stake_test1…``), but ``RewardTransfer`` only admits the pre-Conway MIR form
   (hex credentials), so the strict schema rejects what the server really emits (docs/ogmios.md
   §3.4). ``_conway_treasury_to_hex`` checks those keys explicitly (valid bech32 checksum, a
   stake address, non-negative amounts) and substitutes the hex credential for validation, so
   the rest of the message is still checked by the strict schema. The hex (MIR) form is left
   to the schema untouched.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from indexer.chain.address import cred_from_stake_address

SCHEMA_DIR = Path(__file__).parent / "data" / "ogmios" / "schema"
VERSIONS = ("v6.14", "v7.0")
PATCHES = (
    "cardano.json#/definitions/Value propertyNames -> ^(ada|[0-9a-f]{56})$",
    "ogmios.json#/properties/RpcError error.required -> [code, message]",
    "ogmios.json#/properties/QueryNetworkInvalidGenesis required error (not result), and "
    "admitted by QueryNetworkGenesisConfigurationResponse",
)


def _patch(cardano: dict[str, Any], ogmios: dict[str, Any]) -> None:
    cardano["definitions"]["Value"]["propertyNames"] = {"pattern": "^(ada|[0-9a-f]{56})$"}
    props = ogmios["properties"]
    props["RpcError"]["properties"]["error"]["required"] = ["code", "message"]
    props["QueryNetworkInvalidGenesis"]["required"] = ["jsonrpc", "method", "error"]
    original = props["QueryNetworkGenesisConfigurationResponse"]
    props["QueryNetworkGenesisConfigurationResponse"] = {"oneOf": [
        original, {"$ref": "ogmios.json#/properties/QueryNetworkInvalidGenesis"}]}


@cache
def registry(version: str = "v6.14") -> Registry:
    docs = {name: json.loads((SCHEMA_DIR / version / name).read_text())
            for name in ("cardano.json", "ogmios.json")}
    _patch(docs["cardano.json"], docs["ogmios.json"])
    return Registry().with_resources(
        (name, Resource.from_contents(doc, default_specification=DRAFT7))
        for name, doc in docs.items())


@cache
def validator(ref: str, version: str = "v6.14") -> Draft7Validator:
    """A validator for ``ref``, e.g. ``ogmios.json#/properties/NextBlockResponse``."""
    return Draft7Validator({"$ref": ref}, registry=registry(version))


def response_schema_name(msg: dict[str, Any]) -> str:
    """``nextBlock`` -> ``NextBlockResponse``; ``queryLedgerState/epoch`` ->
    ``QueryLedgerStateEpochResponse``; a message without ``method`` -> ``RpcError``."""
    method = msg.get("method")
    if not isinstance(method, str):
        return "RpcError"
    return "".join(p[:1].upper() + p[1:] for p in method.split("/")) + "Response"


def _is_conway_treasury(node: Any) -> bool:
    return (isinstance(node, dict) and node.get("type") == "treasuryWithdrawals"
            and isinstance(node.get("withdrawals"), dict)
            and any(str(k).startswith("stake") for k in node["withdrawals"]))


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _conway_treasury_to_hex(instance: Any) -> Any:
    """Special case 4 (see module docstring). Returns ``instance`` unchanged when there is no
    bech32-keyed ``treasuryWithdrawals``; otherwise a checked, hex-keyed deep copy."""
    if not any(_is_conway_treasury(n) for n in _walk(instance)):
        return instance
    instance = copy.deepcopy(instance)
    for node in _walk(instance):
        if not _is_conway_treasury(node):
            continue
        converted = {}
        for key, value in node["withdrawals"].items():
            cred = cred_from_stake_address(key, checked=True)  # AddressError if not bech32
            lovelace = value.get("ada", {}).get("lovelace") if isinstance(value, dict) else None
            if not isinstance(lovelace, int) or lovelace < 0:
                raise ValueError(f"Conway treasury withdrawal to {key}: bad amount {value!r}")
            converted[cred[1:].hex()] = value
        node["withdrawals"] = converted
    return instance


def validate_ref(instance: Any, ref: str, version: str = "v6.14") -> None:
    """Raise ``jsonschema.ValidationError`` if ``instance`` does not match ``ref``."""
    validator(ref, version).validate(_conway_treasury_to_hex(instance))


def validate_response(msg: dict[str, Any], version: str = "v6.14", *,
                      name: str | None = None) -> str:
    """Validate a server message against ``ogmios.json#/properties/<name>`` (default: derived
    from its ``method``). Returns the schema name used."""
    name = name or response_schema_name(msg)
    validate_ref(msg, f"ogmios.json#/properties/{name}", version)
    return name


def validate_definition(instance: Any, definition: str, version: str = "v6.14") -> None:
    validate_ref(instance, f"cardano.json#/definitions/{definition}", version)


def validate_block(block: dict[str, Any], version: str = "v6.14") -> None:
    validate_definition(block, "Block", version)


def validate_all_versions(msg: dict[str, Any]) -> None:
    for version in VERSIONS:
        validate_response(msg, version)
