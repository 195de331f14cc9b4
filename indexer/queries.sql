-- Named queries used by indexer/store.py. Each starts with a `-- name: NAME` line.

-- name: get_checkpoint
SELECT slot, block_hash, block_height, epoch_no FROM checkpoint;

-- Moves the cursor, only for the daemon holding the fencing token $5 (NULL for tools and tests
-- that never claimed the database): no row updated = another daemon took over.
-- name: set_checkpoint
UPDATE checkpoint SET slot = $1, block_hash = $2, block_height = $3, epoch_no = $4,
       updated_at = now()
WHERE writer_token IS NOT DISTINCT FROM $5;

-- A new fencing token: from now on only the daemon that holds it can move the cursor.
-- name: claim_writer
UPDATE checkpoint SET writer_token = $1;

-- Who holds the daemon lock ($1: the advisory lock key), for the refusal message.
-- name: lock_holder
SELECT a.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
      SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
LIMIT 1;

-- name: get_meta
SELECT value FROM meta WHERE key = $1;

-- name: set_meta
INSERT INTO meta (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

-- name: recent_points
SELECT slot, hash FROM block ORDER BY slot DESC LIMIT $1;

-- name: point_at_offset
SELECT slot, hash FROM block ORDER BY slot DESC OFFSET $1 LIMIT 1;

-- Record the spends of staked outputs among the inputs ($1 tx ids, $2 indexes, $3 slots).
-- name: apply_spends
INSERT INTO utxo_spent (tx_id, idx, spent_slot)
SELECT i.tx_id, i.idx, i.spent_slot
FROM unnest($1::bytea[], $2::bigint[], $3::bigint[]) AS i (tx_id, idx, spent_slot)
JOIN utxo u ON u.tx_id = i.tx_id AND u.idx = i.idx;

-- name: pool_history
SELECT pool_hash, slot, tx_index, cert_index, epoch_no, kind, retirement_epoch
FROM pool_cert WHERE pool_hash = ANY($1::bytea[])
ORDER BY pool_hash, slot, tx_index, cert_index;

-- name: insert_pool_cert
INSERT INTO pool_cert (slot, tx_index, cert_index, tx_id, epoch_no, pool_hash, pool_id, kind,
    active_epoch_no, pledge, cost, margin_num, margin_den, reward_cred, reward_account,
    owner_creds, owners, vrf_key_hash, metadata_url, metadata_hash, relays, retirement_epoch)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21::jsonb, $22);

-- Rollback: everything produced after slot $1 (chain rows) or by boundaries after epoch $2.
-- name: rollback
WITH b AS (DELETE FROM block WHERE slot > $1),
     u AS (DELETE FROM utxo WHERE slot > $1),
     s AS (DELETE FROM utxo_spent WHERE spent_slot > $1),
     se AS (DELETE FROM stake_event WHERE slot > $1),
     pc AS (DELETE FROM pool_cert WHERE slot > $1),
     w AS (DELETE FROM withdrawal_row WHERE slot > $1),
     m AS (DELETE FROM mir_transfer WHERE slot > $1),
     rc AS (DELETE FROM reward_credit WHERE boundary_epoch > $2),
     pr AS (DELETE FROM pool_reap WHERE boundary_epoch > $2),
     pe AS (DELETE FROM pool_epoch_row WHERE boundary_epoch > $2),
     po AS (DELETE FROM pool_owner_epoch_row WHERE boundary_epoch > $2),
     rw AS (DELETE FROM pool_reward WHERE boundary_epoch > $2 AND source <> 'import'),
     ow AS (DELETE FROM owner_reward WHERE boundary_epoch > $2),
     ro AS (DELETE FROM reward_settlement WHERE boundary_epoch > $2),
     le AS (DELETE FROM live_epoch WHERE boundary_epoch > $2)
SELECT 1;

-- Prune spent outputs that are deeper than the rollback window (slot $1).
-- name: prune_spent
WITH gone AS (
    DELETE FROM utxo_spent WHERE spent_slot <= $1 RETURNING tx_id, idx
)
DELETE FROM utxo u USING gone g WHERE u.tx_id = g.tx_id AND u.idx = g.idx;

-- MIR credits at B($1) for the transfers of epoch $1 - 1. Before Alonzo a later transfer to the
-- same credential overrides the earlier one; from Alonzo on they add up (ledger.md §6). Only
-- credentials registered at the boundary are credited; a non-positive total credits nothing.
-- name: credit_mir
WITH t AS (
    SELECT m.*, row_number() OVER (PARTITION BY cred ORDER BY slot DESC, tx_index DESC, seq DESC)
           AS rn
    FROM mir_transfer m WHERE m.epoch_no = $1 - 1
), per_cred AS (
    SELECT cred, min(stake_address) AS stake_address,
           CASE WHEN bool_and(era IN ('shelley', 'allegra', 'mary'))
                THEN sum(amount) FILTER (WHERE rn = 1) ELSE sum(amount) END AS amount
    FROM t GROUP BY cred
), reg AS (
    SELECT DISTINCT ON (e.cred) e.cred, e.kind FROM stake_event e
    WHERE e.cred IN (SELECT cred FROM per_cred) AND e.kind IN (0, 1)
    ORDER BY e.cred, e.slot DESC, e.tx_index DESC, e.cert_index DESC
)
INSERT INTO reward_credit (boundary_epoch, cred, stake_address, pool_id, kind, earned_epoch,
                           spendable_epoch, amount, source)
SELECT $1, p.cred, p.stake_address, NULL, 'mir', $1 - 1, $1, p.amount, 'chain'
FROM per_cred p JOIN reg r ON r.cred = p.cred AND r.kind = 0
WHERE p.amount > 0;

-- Pools whose retirement takes effect at B($1): the latest retirement certificate says $1 and
-- no registration came after it (a re-registration cancels a pending retirement).
-- name: reap_pools
WITH last_reg AS (
    SELECT DISTINCT ON (pool_hash) pool_hash, slot, tx_index, cert_index, reward_cred,
           reward_account, pool_id
    FROM pool_cert WHERE kind = 'registration'
    ORDER BY pool_hash, slot DESC, tx_index DESC, cert_index DESC
), last_ret AS (
    SELECT DISTINCT ON (pool_hash) pool_hash, slot, tx_index, cert_index, retirement_epoch
    FROM pool_cert WHERE kind = 'retirement'
    ORDER BY pool_hash, slot DESC, tx_index DESC, cert_index DESC
)
INSERT INTO pool_reap (boundary_epoch, pool_hash)
SELECT $1, t.pool_hash
FROM last_ret t JOIN last_reg g ON g.pool_hash = t.pool_hash
WHERE t.retirement_epoch = $1
  AND (t.slot, t.tx_index, t.cert_index) > (g.slot, g.tx_index, g.cert_index)
RETURNING pool_hash;

-- Deposit refunds for the pools reaped at B($1), to the reward account of their latest
-- registration, if that account is registered ($2 = deposit in lovelace).
-- name: credit_pool_refunds
WITH last_reg AS (
    SELECT DISTINCT ON (c.pool_hash) c.pool_hash, c.pool_id, c.reward_cred, c.reward_account
    FROM pool_cert c JOIN pool_reap r ON r.pool_hash = c.pool_hash AND r.boundary_epoch = $1
    WHERE c.kind = 'registration'
    ORDER BY c.pool_hash, c.slot DESC, c.tx_index DESC, c.cert_index DESC
), reg AS (
    SELECT DISTINCT ON (e.cred) e.cred, e.kind FROM stake_event e
    WHERE e.cred IN (SELECT reward_cred FROM last_reg) AND e.kind IN (0, 1)
    ORDER BY e.cred, e.slot DESC, e.tx_index DESC, e.cert_index DESC
)
INSERT INTO reward_credit (boundary_epoch, cred, stake_address, pool_id, kind, earned_epoch,
                           spendable_epoch, amount, source)
SELECT $1, l.reward_cred, l.reward_account, l.pool_id, 'pool_deposit_refund', $1, $1,
       $2::bigint, 'chain'
FROM last_reg l JOIN reg r ON r.cred = l.reward_cred AND r.kind = 0
WHERE $2::bigint > 0;

-- SNAP for epoch $1 at boundary B($1 - 1): the parameters P_e of every pool ($3: only these
-- pool hashes, or null for all), its accounts Owners(e) ∪ {RA(e)}, their UTxO balances as the
-- chain stands now (after the last block of e-2), delegation, shares (SPEC §3-§4).
-- $2 = boundary epoch tag, $4 = count pointer addresses (pre-Conway).
-- name: materialize_epoch
WITH params AS (
    SELECT DISTINCT ON (c.pool_hash) c.*
    FROM pool_cert c
    WHERE c.kind = 'registration' AND c.active_epoch_no <= $1
      AND ($3::bytea[] IS NULL OR c.pool_hash = ANY($3::bytea[]))
    ORDER BY c.pool_hash, c.slot DESC, c.tx_index DESC, c.cert_index DESC
), alive AS (
    -- a pool reaped at B(R) after this registration has parameters only up to epoch R+1
    SELECT p.* FROM params p
    WHERE NOT EXISTS (SELECT 1 FROM pool_reap r
                      WHERE r.pool_hash = p.pool_hash AND r.boundary_epoch > p.epoch_no
                        AND r.boundary_epoch + 1 < $1)
), accounts AS (
    SELECT a.pool_id, a.pool_hash, o.cred, o.addr,
           bool_or(o.is_owner) AS is_owner, bool_or(NOT o.is_owner) AS is_ra
    FROM alive a
    CROSS JOIN LATERAL (
        SELECT u.cred, u.addr, true AS is_owner
        FROM unnest(a.owner_creds, a.owners) AS u (cred, addr)
        UNION ALL
        SELECT a.reward_cred, a.reward_account, false
    ) o
    GROUP BY a.pool_id, a.pool_hash, o.cred, o.addr
), creds AS (
    SELECT DISTINCT cred FROM accounts
), base AS (
    SELECT u.cred, sum(u.lovelace) AS lovelace
    FROM utxo u
    WHERE u.cred IN (SELECT cred FROM creds)
      AND NOT EXISTS (SELECT 1 FROM utxo_spent s WHERE s.tx_id = u.tx_id AND s.idx = u.idx)
    GROUP BY u.cred
), ptr AS (
    -- pointer outputs count for the credential whose (still live) registration they point to
    SELECT e.cred, sum(u.lovelace) AS lovelace
    FROM utxo u
    JOIN stake_event e ON e.kind = 0 AND e.slot = u.ptr_slot AND e.tx_index = u.ptr_tx
                      AND e.cert_index = u.ptr_cert
    WHERE $4 AND u.ptr_slot IS NOT NULL AND e.cred IN (SELECT cred FROM creds)
      AND NOT EXISTS (SELECT 1 FROM utxo_spent s WHERE s.tx_id = u.tx_id AND s.idx = u.idx)
      AND NOT EXISTS (SELECT 1 FROM stake_event d
                      WHERE d.cred = e.cred AND d.kind = 1
                        AND (d.slot, d.tx_index, d.cert_index)
                            > (e.slot, e.tx_index, e.cert_index))
    GROUP BY e.cred
), latest AS (
    SELECT DISTINCT ON (e.cred) e.cred, e.kind, e.pool_hash, e.epoch_no
    FROM stake_event e WHERE e.cred IN (SELECT cred FROM creds)
    ORDER BY e.cred, e.slot DESC, e.tx_index DESC, e.cert_index DESC
), deleg AS (
    -- a delegation survives until its pool is reaped (POOLREAP clears delegations)
    SELECT l.cred, l.pool_hash FROM latest l
    WHERE l.kind = 2
      AND NOT EXISTS (SELECT 1 FROM pool_reap r
                      WHERE r.pool_hash = l.pool_hash AND r.boundary_epoch > l.epoch_no)
), rows AS (
    SELECT a.pool_id, a.pool_hash, a.cred, a.addr, a.is_owner, a.is_ra,
           COALESCE(d.pool_hash = a.pool_hash, false) AS delegated,
           (COALESCE(b.lovelace, 0) + COALESCE(p.lovelace, 0))::bigint AS balance
    FROM accounts a
    LEFT JOIN base b ON b.cred = a.cred
    LEFT JOIN ptr p ON p.cred = a.cred
    LEFT JOIN deleg d ON d.cred = a.cred
), totals AS (
    SELECT pool_id, sum(balance) AS total, count(*) AS n FROM rows GROUP BY pool_id
), ins_owner AS (
    INSERT INTO pool_owner_epoch_row (boundary_epoch, pool_id, epoch_no, cred, stake_address,
        is_owner, is_reward_account, delegated_to_pool, balance_lovelace, stake_share)
    SELECT $2, r.pool_id, $1, r.cred, r.addr, r.is_owner, r.is_ra, r.delegated, r.balance,
           CASE WHEN t.total = 0 THEN 1::numeric / t.n
                ELSE r.balance::numeric / t.total END
    FROM rows r JOIN totals t ON t.pool_id = r.pool_id
    RETURNING pool_id, is_owner, delegated_to_pool, balance_lovelace
), sums AS (
    SELECT pool_id, sum(balance_lovelace) AS accounts,
           COALESCE(sum(balance_lovelace) FILTER (WHERE is_owner), 0) AS owners,
           COALESCE(sum(balance_lovelace) FILTER (WHERE is_owner AND delegated_to_pool), 0)
               AS owners_delegated
    FROM ins_owner GROUP BY pool_id
)
INSERT INTO pool_epoch_row (boundary_epoch, pool_id, pool_hash, epoch_no, reward_account,
    reward_cred, owners, pledge_lovelace, cost_lovelace, margin_num, margin_den,
    accounts_balance_lovelace, owners_balance_lovelace, owners_delegated_balance_lovelace)
SELECT $2, a.pool_id, a.pool_hash, $1, a.reward_account, a.reward_cred, a.owners, a.pledge,
       a.cost, a.margin_num, a.margin_den, s.accounts, s.owners, s.owners_delegated
FROM alive a JOIN sums s ON s.pool_id = a.pool_id;

-- The slot of the block k blocks below the tip: spends at or before it can no longer be undone.
-- name: window_slot
SELECT slot FROM block WHERE height <= (SELECT max(height) FROM block) - $1
ORDER BY slot DESC LIMIT 1;

-- The reward update at B($1) for the pools' epoch e = $1 - 2: whether RA(e) is registered now
-- (credited) or not (lost to the treasury). The status and the `leader` credit are derived from
-- this and the figures (views pool_epoch and reward_credit_all).
-- name: settle_rewards
WITH pe AS (
    SELECT * FROM pool_epoch_row WHERE epoch_no = $1 - 2
), reg AS (
    SELECT DISTINCT ON (e.cred) e.cred, e.kind FROM stake_event e
    WHERE e.cred IN (SELECT reward_cred FROM pe) AND e.kind IN (0, 1)
    ORDER BY e.cred, e.slot DESC, e.tx_index DESC, e.cert_index DESC
)
INSERT INTO reward_settlement (boundary_epoch, pool_id, epoch_no, ra_registered)
SELECT $1, pe.pool_id, pe.epoch_no, COALESCE(reg.kind = 0, false)
FROM pe LEFT JOIN reg ON reg.cred = pe.reward_cred;

-- name: lock_checkpoint
SELECT slot, epoch_no, writer_token FROM checkpoint FOR UPDATE;

-- name: last_block_of_epoch
SELECT slot, hash, height FROM block WHERE epoch_no = $1 ORDER BY slot DESC LIMIT 1;

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

-- Figures imported for epoch $1 (to split once the epoch is materialized).
-- name: imports_of_epoch
SELECT pool_id, total_rewards, leader_reward, blocks_made, owners_stake
FROM pool_reward WHERE epoch_no = $1 AND source = 'import' AND problem IS NULL;

-- name: delete_pool_reward
WITH a AS (DELETE FROM pool_reward WHERE pool_id = $1 AND epoch_no = $2 AND source = $3),
     b AS (DELETE FROM owner_reward WHERE pool_id = $1 AND epoch_no = $2 AND source = $3)
SELECT 1;

-- name: insert_pool_reward
INSERT INTO pool_reward (boundary_epoch, pool_id, epoch_no, total_rewards, leader_reward,
                         blocks_made, owners_stake, source, problem, problem_detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

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

-- A pool's owner rows with what the exports add: MIR and withdrawals of the spendable epoch,
-- and what landed in the account ("real rewards": the leader reward for the reward account).
-- name: export_owner_rows
SELECT o.*,
       (SELECT COALESCE(sum(c.amount), 0) FROM reward_credit c
         WHERE c.stake_address = o.stake_address AND c.kind = 'mir'
           AND c.spendable_epoch = o.spendable_epoch)::bigint AS mir_lovelace,
       (SELECT COALESCE(sum(w.amount_lovelace), 0) FROM withdrawal w
         WHERE w.stake_address = o.stake_address
           AND w.epoch_no = o.spendable_epoch)::bigint AS withdrawn_lovelace,
       CASE WHEN o.is_reward_account AND o.rewards_status = 'credited'
            THEN p.leader_reward_lovelace ELSE 0 END AS real_rewards_lovelace,
       NULL::bigint AS reward_balance_lovelace
FROM pool_owner_epoch o JOIN pool_epoch p ON p.pool_id = o.pool_id AND p.epoch_no = o.epoch_no
WHERE o.pool_id = $1 AND ($2::integer IS NULL OR o.epoch_no >= $2)
  AND ($3::integer IS NULL OR o.epoch_no <= $3)
ORDER BY o.epoch_no, o.stake_address;

-- name: status
SELECT t.slot, t.block_height, t.block_hash, t.epoch_no, t.updated_at,
       (SELECT max(epoch_no) FROM pool_epoch_row) AS last_materialized_epoch,
       (SELECT count(*) FROM block) AS blocks
FROM chain_tip t;

-- name: role_exists
SELECT 1 FROM pg_roles WHERE rolname = $1;
