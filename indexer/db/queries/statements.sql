-- Owner statements: pledge watch, payouts recorded by hand, settlement, the owner's report.
-- Named queries (`-- name: NAME`), loaded by indexer/db/store.py.

-- name: pledge_watch_now
SELECT * FROM pledge_watch ORDER BY pool_id;

-- Whether $2 is an account of pool $1 in some materialized epoch.
-- name: pool_account_known
SELECT 1 FROM pool_owner_epoch_row WHERE pool_id = $1 AND stake_address = $2 LIMIT 1;

-- name: chain_payout_of_tx
SELECT amount_lovelace FROM owner_payout
WHERE kind = 'chain' AND pool_id = $1 AND stake_address = $2 AND tx_id = $3;

-- name: insert_recorded_payout
INSERT INTO recorded_payout (pool_id, stake_address, tx_id, epoch_no, amount, note)
VALUES ($1, $2, $3, (SELECT epoch_no FROM checkpoint), $4, $5)
RETURNING id, pool_id, stake_address, encode(tx_id, 'hex') AS tx_id, epoch_no,
          amount AS amount_lovelace, note;

-- name: settlement_all
SELECT * FROM owner_settlement ORDER BY pool_id, stake_address;

-- The owner's report (indexer/accounting/statement.py): $1 pool, $2 account (null: all).
-- name: statement_pool_known
SELECT 1 FROM pool_epoch_row WHERE pool_id = $1 LIMIT 1;

-- name: statement_pool_epochs
SELECT * FROM pool_epoch
WHERE pool_id = $1 AND ($2::integer IS NULL OR epoch_no >= $2)
  AND ($3::integer IS NULL OR epoch_no <= $3)
ORDER BY epoch_no;

-- name: statement_owner_rows
SELECT * FROM pool_owner_epoch
WHERE pool_id = $1 AND ($2::text IS NULL OR stake_address = $2)
  AND ($3::integer IS NULL OR epoch_no >= $3) AND ($4::integer IS NULL OR epoch_no <= $4)
ORDER BY epoch_no, is_owner DESC, stake_address;

-- name: statement_certificates
SELECT * FROM pool_certificate WHERE pool_id = $1 ORDER BY slot, tx_index, cert_index;

-- name: statement_settlement
SELECT * FROM owner_settlement
WHERE pool_id = $1 AND ($2::text IS NULL OR stake_address = $2)
ORDER BY stake_address;

-- name: statement_payouts
SELECT * FROM owner_payout
WHERE pool_id = $1 AND ($2::text IS NULL OR stake_address = $2)
ORDER BY epoch_no NULLS LAST, slot NULLS LAST, stake_address, kind;

-- name: statement_pledge
SELECT * FROM pledge_watch WHERE pool_id = $1;

-- Which source's figures are in effect for each of the pool's epochs ('ledger' or 'import').
-- name: statement_sources
SELECT epoch_no, source FROM pool_reward_effective WHERE pool_id = $1;

-- name: statement_tip
SELECT * FROM chain_tip;
