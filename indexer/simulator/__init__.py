"""Ogmios simulator and chain builder for tests and demos.

``chain`` builds schema-valid Ogmios block JSON (pure); ``server.Simulator`` serves a scripted
chain over a real WebSocket JSON-RPC server speaking the Ogmios v6.13+/v7 protocol;
``scenarios`` holds bundled chains; ``python -m indexer.simulator`` runs one.
"""

from indexer.simulator.chain import (
    ChainBuilder,
    Pool,
    Wallet,
    ada,
    block_point,
    block_tip,
    deleg_cert,
    dereg_cert,
    mir_proposal,
    pool_reg_cert,
    pool_retire_cert,
    reg_cert,
    treasury_transfer_proposal,
    treasury_withdrawal_proposal,
    utxo,
    vote_deleg_cert,
)
from indexer.simulator.network import EraSpec, Network
from indexer.simulator.server import Simulator

__all__ = [
    "ChainBuilder",
    "EraSpec",
    "Network",
    "Pool",
    "Simulator",
    "Wallet",
    "ada",
    "block_point",
    "block_tip",
    "deleg_cert",
    "dereg_cert",
    "mir_proposal",
    "pool_reg_cert",
    "pool_retire_cert",
    "reg_cert",
    "treasury_transfer_proposal",
    "treasury_withdrawal_proposal",
    "utxo",
    "vote_deleg_cert",
]
