"""``indexer demo``: an embedded PostgreSQL, the bundled scripted chain served by the Ogmios
simulator with a simulated ledger, and the printed report."""
