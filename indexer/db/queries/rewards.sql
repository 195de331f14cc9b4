-- The ledger's reward figures and their split (indexer/sync/capture.py, indexer/accounting).
-- Named queries (`-- name: NAME`), loaded by indexer/db/store.py.

-- name: last_block_of_epoch
SELECT slot, hash, height FROM block WHERE epoch_no = $1 ORDER BY slot DESC LIMIT 1;

-- name: lock_checkpoint
SELECT slot, epoch_no, writer_token FROM checkpoint FOR UPDATE;

-- name: block_is_on_chain
SELECT 1 FROM block WHERE slot = $1 AND hash = $2;

-- name: live_epoch_done
SELECT 1 FROM live_epoch WHERE boundary_epoch = $1;

-- name: mark_live_epoch
INSERT INTO live_epoch (boundary_epoch) VALUES ($1) ON CONFLICT DO NOTHING;

-- The pools (and their accounts) whose epoch $1 awaits the ledger's reward figures.
-- name: pools_of_epoch
SELECT p.pool_id, p.boundary_epoch, p.reward_cred, p.cost_lovelace, p.margin_num,
       p.margin_den, array_agg(a.cred ORDER BY a.cred) AS creds,
       array_agg(a.balance_lovelace ORDER BY a.cred) AS balances,
       array_agg(a.is_owner ORDER BY a.cred) AS is_owner
FROM pool_epoch_row p JOIN pool_owner_epoch_row a
  ON a.pool_id = p.pool_id AND a.epoch_no = p.epoch_no
WHERE p.epoch_no = $1 AND ($2::text[] IS NULL OR p.pool_id = ANY($2::text[]))
GROUP BY p.pool_id, p.boundary_epoch, p.reward_cred, p.cost_lovelace, p.margin_num,
         p.margin_den;

-- name: delete_pool_reward
WITH a AS (DELETE FROM pool_reward WHERE pool_id = $1 AND epoch_no = $2 AND source = $3),
     b AS (DELETE FROM owner_reward WHERE pool_id = $1 AND epoch_no = $2 AND source = $3)
SELECT 1;

-- name: insert_pool_reward
INSERT INTO pool_reward (boundary_epoch, pool_id, epoch_no, total_rewards, leader_reward,
                         blocks_made, owners_stake, source, problem, problem_detail, fee_low,
                         fee_high, fee_uncertainty)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13);

-- What B($1) credited, per account, leaving out the accounts withdrawn from since B($1) (the
-- store holds the withdrawals up to the cursor, which is where the ledger is asked).
-- name: credited_at_boundary
SELECT c.cred, min(c.stake_address) AS stake_address, sum(c.amount)::bigint AS credited,
       array_agg(DISTINCT c.pool_id) FILTER (WHERE c.pool_id IS NOT NULL) AS pools,
       array_agg(DISTINCT c.kind) AS kinds
FROM reward_credit_all c
WHERE c.boundary_epoch = $1
  AND NOT EXISTS (SELECT 1 FROM withdrawal_row w WHERE w.cred = c.cred AND w.epoch_no >= $1)
GROUP BY c.cred
ORDER BY c.cred;
