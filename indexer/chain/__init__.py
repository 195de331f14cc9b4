"""The pure chain model: domain types, addresses, the epoch calendar and the Ogmios decoder.
No sockets, no database: plain functions over frozen dataclasses."""
