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
       array_agg(a.is_owner ORDER BY a.cred) AS is_owner,
       array_agg(a.share_weight ORDER BY a.cred) AS weights
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

-- The share basis $1 (docs/spec.md §4) for every stored pool-epoch made on another one: the
-- accounts' weights and shares, and the basis of the pool rows; returns the pool-epochs changed.
-- Their tags stay: a rollback still removes what their boundary made.
-- name: apply_share_basis
WITH r AS (
    SELECT a.pool_id, a.epoch_no, a.cred,
           share_weight($1, a.is_owner, a.delegated_to_pool, a.balance_lovelace,
                        count(*) FILTER (WHERE a.is_owner AND a.delegated_to_pool) OVER w,
                        count(*) FILTER (WHERE a.is_owner) OVER w) AS weight
    FROM pool_owner_epoch_row a
    JOIN pool_epoch_row p ON p.pool_id = a.pool_id AND p.epoch_no = a.epoch_no
    WHERE p.share_accounts <> $1
    WINDOW w AS (PARTITION BY a.pool_id, a.epoch_no)
), t AS (
    SELECT r.*, sum(r.weight) OVER w AS total, count(r.weight) OVER w AS n
    FROM r WINDOW w AS (PARTITION BY r.pool_id, r.epoch_no)
), accounts AS (
    UPDATE pool_owner_epoch_row a
    SET share_weight = t.weight, stake_share = stake_share_of(t.weight, t.total, t.n)
    FROM t WHERE a.pool_id = t.pool_id AND a.epoch_no = t.epoch_no AND a.cred = t.cred
)
UPDATE pool_epoch_row p SET share_accounts = $1
WHERE p.share_accounts <> $1
RETURNING p.pool_id, p.epoch_no;

-- The splits of the pool-epochs ($1 pool ids, $2 epochs) with the accounts' new weights.
-- name: splits_to_resplit
SELECT o.pool_id, o.epoch_no, o.source, o.cred, o.stake_rewards, a.share_weight
FROM unnest($1::text[], $2::integer[]) AS c (pool_id, epoch_no)
JOIN owner_reward o ON o.pool_id = c.pool_id AND o.epoch_no = c.epoch_no
JOIN pool_owner_epoch_row a ON a.pool_id = o.pool_id AND a.epoch_no = o.epoch_no
                           AND a.cred = o.cred
ORDER BY o.pool_id, o.epoch_no, o.source, o.cred;

-- name: set_stake_rewards
UPDATE owner_reward o SET stake_rewards = u.stake
FROM unnest($1::text[], $2::integer[], $3::text[], $4::bytea[], $5::bigint[])
     AS u (pool_id, epoch_no, source, cred, stake)
WHERE o.pool_id = u.pool_id AND o.epoch_no = u.epoch_no AND o.source = u.source
  AND o.cred = u.cred;

-- Pool-epochs whose effective figures are ledger figures the split cannot use, by problem
-- ('unreadable', 'inconsistent'): what the pool_epoch view shows as their rewards_status, for
-- the gauge indexer_reward_problems (an import that replaces them takes them out).
-- name: reward_problem_counts
SELECT problem, count(*)::bigint AS n
FROM pool_reward_effective
WHERE problem IS NOT NULL
GROUP BY problem;
