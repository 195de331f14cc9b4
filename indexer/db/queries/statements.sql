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
