"""Certificates and proposals of a transaction (Ogmios JSON -> ``indexer.chain.types``), for
``indexer.chain.decode``. They are rare, so they are decoded by small readable helpers rather than
the flat loops of the per-transaction hot path; errors are raised as ``_Bad`` located relative
to the transaction.

Certificate ``type``s are those of the Certificate ``oneOf`` of the Ogmios v6.14 and v7.0
schemas (identical in both). Five are decoded (stake registration, deregistration and
delegation, pool registration and retirement); the others (genesis delegation, constitutional
committee and DRep certificates, plus ``constitutionalCommitteeHotKeyRegistration``, the
pre-6.3 name of ``constitutionalCommitteeDelegation``) touch no stake, delegation or pool and
are skipped. Any other ``type``, a misspelt one included, raises: skipping it could lose a
delegation. Pre-Conway MIR certificates are not certificates in Ogmios: they come as
``treasuryWithdrawals``/``treasuryTransfer`` proposals (see ``_proposals``).

A ``stakeDelegation`` names a pool (``stakePool``, an object), a DRep or both; one with neither
is an error, one with only a DRep (Conway vote delegation) changes no pool delegation.

Pool ``pledge`` and ``cost`` may be any u64 (a real preview pool pledges 2^63+1), a
``retirementEpoch`` must be below 2^31 (an integer column), the VRF key hash is 64 hex digits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from indexer.chain.decode._fields import (
    _I32_END,
    _I64_END,
    _I64_MIN,
    _SHAPE_ERRORS,
    _U64,
    _ada,
    _Bad,
    _cut,
    _hex_cred,
    _hex_str,
    _opt_str,
    _pool_id,
    _show,
    _stake_cred,
    _uint,
    _unit_ratio,
)
from indexer.chain.types import (
    Certificate,
    Cred,
    EpochNo,
    MirTransfer,
    PoolRegistration,
    PoolRetirement,
    StakeDelegation,
    StakeDeregistration,
    StakeRegistration,
    TreasuryWithdrawalProposal,
)

# --- certificates ---------------------------------------------------------------------------


def _stake_credential(c: dict[str, Any]) -> Cred:
    origin = c.get("from", "verificationKey")  # `from` exists since Ogmios 6.6; keys before
    if origin == "verificationKey":
        return _hex_cred(c.get("credential"), "credential")
    if origin == "script":
        return _hex_cred(c.get("credential"), "credential", script=True)
    raise _Bad(f"unknown credential origin {_show(origin)}", "from")


def _registration(c: dict[str, Any], k: int) -> Certificate:
    return StakeRegistration(k, _stake_credential(c))


def _deregistration(c: dict[str, Any], k: int) -> Certificate:
    return StakeDeregistration(k, _stake_credential(c))


def _delegation(c: dict[str, Any], k: int) -> Certificate | None:
    if "stakePool" not in c:
        if "delegateRepresentative" not in c:
            raise _Bad("delegation to neither a pool nor a DRep", "stakePool")
        return None  # Conway vote-only delegation: no effect on pool delegation
    pool = c["stakePool"]
    if type(pool) is not dict:
        raise _Bad(f"expected an object, got {_show(pool)}", "stakePool")
    return StakeDelegation(k, _stake_credential(c), _pool_id(pool.get("id"), "stakePool.id"))


def _pool_registration(c: dict[str, Any], k: int) -> Certificate:
    p = c["stakePool"]
    if type(p) is not dict:
        raise _Bad(f"expected an object, got {_show(p)}", "stakePool")
    owners = p.get("owners")
    if type(owners) is not list:
        raise _Bad(f"expected a list, got {_show(owners)}", "stakePool.owners")
    relays = p.get("relays")
    if type(relays) is not list:
        raise _Bad(f"expected a list, got {_show(relays)}", "stakePool.relays")
    try:
        relays_json = orjson.dumps(relays)
    except TypeError as exc:  # e.g. a > 64-bit integer from the stdlib fallback parser
        raise _Bad(f"relays not serialisable: {exc}", "stakePool.relays") from exc
    meta = p.get("metadata")
    if meta is not None and type(meta) is not dict:
        raise _Bad(f"expected an object, got {_show(meta)}", "stakePool.metadata")
    return PoolRegistration(
        cert_index=k,
        pool=_pool_id(p.get("id"), "stakePool.id"),
        vrf_key_hash=_hex_str(p.get("vrfVerificationKeyHash"), "stakePool.vrfVerificationKeyHash",
                              64),
        pledge=_ada(p.get("pledge"), "stakePool.pledge", 0, _U64),
        cost=_ada(p.get("cost"), "stakePool.cost", 0, _U64),
        margin=_unit_ratio(p.get("margin"), "stakePool.margin"),
        reward_account=_stake_cred(p.get("rewardAccount"), "stakePool.rewardAccount"),
        owners=tuple(_hex_cred(h, f"stakePool.owners[{j}]") for j, h in enumerate(owners)),
        metadata_url=_opt_str(meta.get("url"), "stakePool.metadata.url") if meta else None,
        metadata_hash=_opt_str(meta.get("hash"), "stakePool.metadata.hash") if meta else None,
        relays_json=relays_json,
    )


def _pool_retirement(c: dict[str, Any], k: int) -> Certificate:
    p = c["stakePool"]
    if type(p) is not dict:
        raise _Bad(f"expected an object, got {_show(p)}", "stakePool")
    epoch = _uint(p.get("retirementEpoch"), "stakePool.retirementEpoch", _I32_END)
    return PoolRetirement(k, _pool_id(p.get("id"), "stakePool.id"), EpochNo(epoch))


_CERTIFICATE_DECODERS: dict[str, Callable[[dict[str, Any], int], Certificate | None]] = {
    "stakeCredentialRegistration": _registration,
    "stakeCredentialDeregistration": _deregistration,
    "stakeDelegation": _delegation,
    "stakePoolRegistration": _pool_registration,
    "stakePoolRetirement": _pool_retirement,
}

# Known certificate types that do not touch stake, delegation or pools (schema v6.14/v7.0).
_IGNORED_CERTIFICATES = frozenset({
    "genesisDelegation",
    "constitutionalCommitteeDelegation",
    "constitutionalCommitteeHotKeyRegistration",  # the pre-6.3 name of the one above
    "constitutionalCommitteeRetirement",
    "delegateRepresentativeRegistration",
    "delegateRepresentativeUpdate",
    "delegateRepresentativeRetirement",
})


def _certificates(certs: Any) -> tuple[Certificate, ...]:
    """``cert_index`` is the position in Ogmios' list (MIR moved out, Conway reg+deleg split
    into two entries), as docs/spec.md §7 defines it."""
    res: list[Certificate] = []
    if type(certs) is not list:
        raise _Bad(f"expected a list, got {_show(certs)}", "certificates")
    for k, c in enumerate(certs):
        kind = c.get("type") if type(c) is dict else None
        if type(kind) is not str:
            raise _Bad(f"certificate without a type: {_show(c)}", f"certificates[{k}]")
        decoder = _CERTIFICATE_DECODERS.get(kind)
        if decoder is None:
            if kind in _IGNORED_CERTIFICATES:
                continue
            raise _Bad(f"unknown certificate type {_show(kind)}", f"certificates[{k}].type")
        try:
            cert = decoder(c, k)
        except _Bad as exc:
            raise exc.within(f"certificates[{k}]") from exc
        except _SHAPE_ERRORS as exc:
            raise _Bad(f"malformed {kind} certificate ({type(exc).__name__}: {exc})",
                       f"certificates[{k}]") from exc
        if cert is not None:
            res.append(cert)
    return tuple(res)


# --- proposals ------------------------------------------------------------------------------

# The GovernanceAction types of the schema (v6.14/v7.0) other than treasuryWithdrawals. None
# credits an account; an unknown (or misspelt) type raises, as it could be a lost MIR.
_OTHER_ACTIONS = frozenset({
    "protocolParametersUpdate", "hardForkInitiation", "treasuryTransfer", "constitutionalCommittee",
    "constitution", "noConfidence", "information",
})


def _proposals(
    props: Any,
) -> tuple[tuple[MirTransfer, ...], tuple[TreasuryWithdrawalProposal, ...]]:
    """Pre-Conway MIR certificates and Conway treasury withdrawals share the action type
    ``treasuryWithdrawals``; the key tells them apart (docs/ogmios.md §3.4): a bare 56-hex
    credential is a MIR (key hash assumed: Ogmios drops the flag; the delta may be negative),
    a bech32 stake address is a Conway proposal. ``treasuryTransfer`` (pot to pot) and the
    other known actions touch no account and are skipped; an unknown action type raises."""
    if type(props) is not list:
        raise _Bad(f"expected a list, got {_show(props)}", "proposals")
    mir: list[MirTransfer] = []
    tw: list[TreasuryWithdrawalProposal] = []
    for j, prop in enumerate(props):
        try:
            action = prop["action"]
            kind = action["type"]
            if kind != "treasuryWithdrawals":
                if type(kind) is str and kind in _OTHER_ACTIONS:
                    continue
                raise _Bad(f"unknown governance action type {_show(kind)}", "action.type")
            wds = action["withdrawals"]
            if type(wds) is not dict:
                raise _Bad(f"expected an object, got {_show(wds)}", "action.withdrawals")
            for key, value in wds.items():
                field = f"action.withdrawals.{_cut(key, 120)}"
                if type(key) is str and key.startswith("stake"):
                    tw.append(TreasuryWithdrawalProposal(j, _stake_cred(key, field),
                                                         _ada(value, field, 0, _U64)))
                else:
                    mir.append(MirTransfer(_hex_cred(key, field),
                                           _ada(value, field, _I64_MIN, _I64_END)))
        except _Bad as exc:
            raise exc.within(f"proposals[{j}]") from exc
        except _SHAPE_ERRORS as exc:
            raise _Bad(f"malformed proposal ({type(exc).__name__}: {exc})",
                       f"proposals[{j}]") from exc
    return tuple(mir), tuple(tw)
