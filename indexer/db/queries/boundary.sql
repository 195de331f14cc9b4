-- What crossing an epoch boundary B(x) writes (indexer/sync/boundary.py).
-- Named queries (`-- name: NAME`), loaded by indexer/db/store.py.

-- MIR credits at B($1) for the transfers of epoch $1 - 1. Before Alonzo a later transfer to the
-- same credential overrides the earlier one; from Alonzo on they add up (docs/ledger.md §6). Only
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
)
INSERT INTO reward_credit (boundary_epoch, cred, stake_address, pool_id, kind, earned_epoch,
                           spendable_epoch, amount, source)
SELECT $1, p.cred, p.stake_address, NULL, 'mir', $1 - 1, $1, p.amount, 'chain'
FROM per_cred p
JOIN stake_registered(ARRAY(SELECT cred FROM per_cred)) r ON r.cred = p.cred AND r.registered
WHERE p.amount > 0;

-- Pools whose retirement takes effect at B($1): the latest retirement certificate says $1 and
-- no registration came after it (a re-registration cancels a pending retirement).
-- name: reap_pools
WITH last_ret AS (
    SELECT DISTINCT ON (pool_hash) pool_hash, slot, tx_index, cert_index, retirement_epoch
    FROM pool_cert WHERE kind = 'retirement'
    ORDER BY pool_hash, slot DESC, tx_index DESC, cert_index DESC
)
INSERT INTO pool_reap (boundary_epoch, pool_hash)
SELECT $1, t.pool_hash
FROM last_ret t JOIN pool_registration(NULL, NULL) g ON g.pool_hash = t.pool_hash
WHERE t.retirement_epoch = $1
  AND (t.slot, t.tx_index, t.cert_index) > (g.slot, g.tx_index, g.cert_index)
RETURNING pool_hash;

-- Deposit refunds for the pools reaped at B($1), to the reward account of their latest
-- registration, if that account is registered ($2 = deposit in lovelace).
-- name: credit_pool_refunds
WITH last_reg AS (
    SELECT * FROM pool_registration(
        ARRAY(SELECT pool_hash FROM pool_reap WHERE boundary_epoch = $1), NULL)
)
INSERT INTO reward_credit (boundary_epoch, cred, stake_address, pool_id, kind, earned_epoch,
                           spendable_epoch, amount, source)
SELECT $1, l.reward_cred, l.reward_account, l.pool_id, 'pool_deposit_refund', $1, $1,
       $2::bigint, 'chain'
FROM last_reg l
JOIN stake_registered(ARRAY(SELECT reward_cred FROM last_reg)) r
  ON r.cred = l.reward_cred AND r.registered
WHERE $2::bigint > 0;

-- SNAP for epoch $1 at boundary B($1 - 1): the parameters P_e of every pool ($3: only these
-- pool hashes, or null for all), its accounts Owners(e) ∪ {RA(e)}, their UTxO balances as the
-- chain stands now (after the last block of e-2), delegation, shares on the share basis $5
-- (docs/spec.md §3-§4). $2 = boundary epoch tag, $4 = count pointer addresses (pre-Conway).
-- name: materialize_epoch
WITH params AS (
    SELECT * FROM pool_registration($3::bytea[], $1)
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
    SELECT ARRAY(SELECT DISTINCT cred FROM accounts) AS all_creds
), rows AS (
    SELECT a.pool_id, a.pool_hash, a.cred, a.addr, a.is_owner, a.is_ra,
           COALESCE(d.pool_hash = a.pool_hash, false) AS delegated,
           COALESCE(b.lovelace, 0)::bigint AS balance
    FROM accounts a
    CROSS JOIN creds c
    LEFT JOIN live_balance(c.all_creds, $4) b ON b.cred = a.cred
    LEFT JOIN pool_delegation(c.all_creds) d ON d.cred = a.cred
), weighted AS (
    SELECT r.*, share_weight($5, r.is_owner, r.delegated, r.balance,
                             count(*) FILTER (WHERE r.is_owner AND r.delegated) OVER w,
                             count(*) FILTER (WHERE r.is_owner) OVER w) AS weight
    FROM rows r
    WINDOW w AS (PARTITION BY r.pool_id)
), totals AS (
    SELECT pool_id, sum(weight) AS total, count(weight) AS n FROM weighted GROUP BY pool_id
), ins_owner AS (
    INSERT INTO pool_owner_epoch_row (boundary_epoch, pool_id, epoch_no, cred, stake_address,
        is_owner, is_reward_account, delegated_to_pool, balance_lovelace, stake_share,
        share_weight)
    SELECT $2, r.pool_id, $1, r.cred, r.addr, r.is_owner, r.is_ra, r.delegated, r.balance,
           stake_share_of(r.weight, t.total, t.n), r.weight
    FROM weighted r JOIN totals t ON t.pool_id = r.pool_id
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
    accounts_balance_lovelace, owners_balance_lovelace, owners_delegated_balance_lovelace,
    share_accounts)
SELECT $2, a.pool_id, a.pool_hash, $1, a.reward_account, a.reward_cred, a.owners, a.pledge,
       a.cost, a.margin_num, a.margin_den, s.accounts, s.owners, s.owners_delegated, $5
FROM alive a JOIN sums s ON s.pool_id = a.pool_id;

-- The reward update at B($1) for the pools' epoch e = $1 - 2: whether RA(e) is registered now
-- (credited) or not (lost to the treasury). The status and the `leader` credit are derived from
-- this and the figures (views pool_epoch and reward_credit_all).
-- name: settle_rewards
WITH pe AS (
    SELECT * FROM pool_epoch_row WHERE epoch_no = $1 - 2
)
INSERT INTO reward_settlement (boundary_epoch, pool_id, epoch_no, ra_registered)
SELECT $1, pe.pool_id, pe.epoch_no, COALESCE(r.registered, false)
FROM pe LEFT JOIN stake_registered(ARRAY(SELECT reward_cred FROM pe)) r
  ON r.cred = pe.reward_cred;

-- Figures imported for epoch $1 (to split once the epoch is materialized).
-- name: imports_of_epoch
SELECT pool_id, total_rewards, leader_reward, blocks_made, owners_stake
FROM pool_reward WHERE epoch_no = $1 AND source = 'import' AND problem IS NULL;
