"""Ogmios chain-sync JSON -> ``indexer.chain.types`` (pure). The modules inside are private:
``_block`` (frames, blocks, the per-transaction hot path), ``_certs`` (certificates and
proposals) and ``_fields`` (the field checks they share)."""

from indexer.chain.decode._block import ERAS, decode_block, decode_message

__all__ = ["ERAS", "decode_block", "decode_message"]
