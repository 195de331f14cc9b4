-- Past epochs' figures fetched from public APIs (indexer/history, indexer/accounting/fetched.py;
-- docs/spec.md §5 "History"). Named queries (`-- name: NAME`), loaded by indexer/db/store.py.

-- The pools that have epochs in this database.
-- name: history_pools
SELECT DISTINCT pool_id FROM pool_epoch_row ORDER BY pool_id;

-- The epochs $2..$3 of pool $1 to fetch: by default those with no fetch yet and no usable
-- figures (live or imported); all of them when $4 (--refresh). With each epoch's P_e accounts.
-- name: fetch_targets
SELECT p.epoch_no, p.reward_account, p.owners, p.cost_lovelace, p.margin_num, p.margin_den
FROM pool_epoch_row p
WHERE p.pool_id = $1 AND p.epoch_no BETWEEN $2 AND $3
  AND ($4 OR (NOT EXISTS (SELECT 1 FROM reward_fetch f
                          WHERE f.pool_id = p.pool_id AND f.epoch_no = p.epoch_no)
              AND NOT EXISTS (SELECT 1 FROM pool_reward r
                              WHERE r.pool_id = p.pool_id AND r.epoch_no = p.epoch_no
                                AND r.problem IS NULL)))
ORDER BY p.epoch_no;

-- name: upsert_reward_fetch
INSERT INTO reward_fetch (pool_id, epoch_no, source, leader_reward, pool_stake, blocks_made,
                          api_fee, api_rewards, stakes, urls, retrieved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (pool_id, epoch_no) DO UPDATE
SET source = EXCLUDED.source, leader_reward = EXCLUDED.leader_reward,
    pool_stake = EXCLUDED.pool_stake, blocks_made = EXCLUDED.blocks_made,
    api_fee = EXCLUDED.api_fee, api_rewards = EXCLUDED.api_rewards, stakes = EXCLUDED.stakes,
    urls = EXCLUDED.urls, retrieved_at = EXCLUDED.retrieved_at;

-- The figures derived from an earlier fetch of pool $1's epoch $2, whatever the API.
-- name: delete_fetched_reward
WITH a AS (DELETE FROM pool_reward
           WHERE pool_id = $1 AND epoch_no = $2 AND source NOT IN ('ledger', 'import')),
     b AS (DELETE FROM owner_reward
           WHERE pool_id = $1 AND epoch_no = $2 AND source NOT IN ('ledger', 'import'))
SELECT 1;

-- Fetches for epoch $1 (pool $2, or every pool when null), to derive their figures from.
-- name: fetches_of_epoch
SELECT pool_id, epoch_no, source, leader_reward, pool_stake, blocks_made, api_fee, stakes
FROM reward_fetch
WHERE epoch_no = $1 AND ($2::text IS NULL OR pool_id = $2)
ORDER BY pool_id;

-- Blocks the chain says pool $1 made in epoch $2.
-- name: chain_blocks_made
SELECT count(b.*)::integer AS blocks
FROM pool_epoch_row p JOIN block b ON b.pool_hash = p.pool_hash AND b.epoch_no = p.epoch_no
WHERE p.pool_id = $1 AND p.epoch_no = $2;

-- Live figures that a fetch contradicts beyond its uncertainty (pools $1 or all, epochs
-- $2..$3): what `indexer rewards fetch` reports, and what a metric can count.
-- name: reward_disagreements
SELECT pool_id, epoch_no, source_a, source_b, leader_reward_a, leader_reward_b,
       operator_fees_a, operator_fees_b, fee_uncertainty_b
FROM reward_reconciliation
WHERE NOT agrees AND source_b NOT IN ('ledger', 'import')
  AND ($1::text[] IS NULL OR pool_id = ANY ($1::text[]))
  AND epoch_no BETWEEN $2 AND $3
ORDER BY pool_id, epoch_no;
