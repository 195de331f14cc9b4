-- Names operators can read: pool metadata fetches (indexer/ops/names.py).
-- Named queries (`-- name: NAME`), loaded by indexer/db/store.py.

-- Current registration certificates ($1: of these pool hashes, or every pool when null) whose
-- metadata was never fetched, or whose last fetch failed more than $2 seconds ago. A fetch
-- that verified ('ok') is pinned by the certificate's hash and never repeated.
-- name: metadata_due
SELECT c.pool_id, c.metadata_url, lower(c.metadata_hash) AS metadata_hash
FROM pool_registration($1::bytea[], NULL) c
LEFT JOIN pool_metadata_fetch f ON f.pool_id = c.pool_id AND f.metadata_url = c.metadata_url
                                AND f.metadata_hash = lower(c.metadata_hash)
WHERE c.metadata_url IS NOT NULL AND c.metadata_hash IS NOT NULL
  AND (f.pool_id IS NULL
       OR (f.status <> 'ok' AND f.fetched_at < now() - make_interval(secs => $2::float8)))
ORDER BY c.pool_id;

-- The outcome of one fetch; a verified one is never overwritten.
-- name: record_metadata
INSERT INTO pool_metadata_fetch (pool_id, metadata_url, metadata_hash, status, http_status,
                                 size_bytes, ticker, name, description, homepage, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (pool_id, metadata_url, metadata_hash) DO UPDATE
SET status = EXCLUDED.status, http_status = EXCLUDED.http_status,
    size_bytes = EXCLUDED.size_bytes, ticker = EXCLUDED.ticker, name = EXCLUDED.name,
    description = EXCLUDED.description, homepage = EXCLUDED.homepage, detail = EXCLUDED.detail,
    fetched_at = now(), attempts = pool_metadata_fetch.attempts + 1
WHERE pool_metadata_fetch.status <> 'ok';
