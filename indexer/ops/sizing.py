"""PostgreSQL's settings against what an initial sync at mainnet scale needs.

With the server's defaults (``shared_buffers`` 128 MB, ``max_wal_size`` 1 GB) the ``utxo``
indexes of mainnet's 11 million staked outputs do not fit the buffers, and checkpoints come so
often that most of the WAL is full-page images: the benchmark's rate at that scale was 16-38%
lower than on a server with 2 GB of buffers and rare checkpoints (README "Measured"). The daemon
says so once at start, on mainnet, where it matters; it never changes the server's settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from indexer.db.store import Store

log = structlog.get_logger("indexer.ops.sizing")

MIN_SHARED_BUFFERS_BYTES = 1 << 30  # holds the utxo indexes at mainnet scale (~1.1 GB)
MIN_MAX_WAL_SIZE_BYTES = 4 << 30  # deploy/docker-compose.yml's setting
MAINNET = 1  # network id


def sizing_advice(shared_buffers_bytes: int, max_wal_size_bytes: int) -> list[str]:
    """What to raise for an initial sync at mainnet scale (empty: nothing). Pure."""
    advice = []
    if shared_buffers_bytes < MIN_SHARED_BUFFERS_BYTES:
        advice.append(f"shared_buffers = {shared_buffers_bytes >> 20} MB: 1 GB or more holds "
                      "the utxo indexes at mainnet scale")
    if max_wal_size_bytes < MIN_MAX_WAL_SIZE_BYTES:
        advice.append(f"max_wal_size = {max_wal_size_bytes >> 20} MB: 4 GB or more (with "
                      "checkpoint_timeout = 15min) makes checkpoints, and full-page writes, rare")
    return advice


async def log_server_settings(store: Store, network_id: int) -> list[str]:
    """Log the settings (``db.settings``) and, on mainnet, a warning with the advice
    (``db.settings_small_for_sync``); returns the advice given."""
    row = (await store.query("server_settings"))[0]
    buffers, wal = int(row["shared_buffers_bytes"]), int(row["max_wal_size_bytes"])
    log.info("db.settings", shared_buffers_mib=buffers >> 20, max_wal_size_mib=wal >> 20,
             checkpoint_timeout_s=row["checkpoint_timeout_s"])
    advice = sizing_advice(buffers, wal) if network_id == MAINNET else []
    if advice:
        log.warning("db.settings_small_for_sync", advice=advice,
                    see="README.md, 'Why the mainnet-scale rate is lower'")
    return advice
