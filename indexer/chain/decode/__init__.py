"""Ogmios chain-sync JSON -> ``indexer.chain.types`` (pure). The modules inside are private:
``_fast`` (the typed msgspec decoder of frames, the daemon's path), ``_block`` (the dict
decoder: frames, blocks, the per-transaction hot path; the fast path's referee), ``_certs``
(certificates and proposals) and ``_fields`` (the field checks they share)."""

from indexer.chain.decode._block import ERAS, decode_block
from indexer.chain.decode._fast import decode_message

__all__ = ["ERAS", "decode_block", "decode_message"]
