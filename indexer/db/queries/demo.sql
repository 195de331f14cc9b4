-- The demo's report (indexer/demo): what a user reads from the public views.
-- Named queries (`-- name: NAME`), loaded by indexer/db/store.py.

-- name: demo_pool_epochs
SELECT * FROM pool_epoch WHERE pool_id = $1 ORDER BY epoch_no;

-- name: demo_owner_rows
SELECT * FROM pool_owner_epoch WHERE pool_id = $1
ORDER BY epoch_no, is_owner DESC, balance_lovelace DESC, stake_address;

-- name: demo_certificates
SELECT * FROM pool_certificate WHERE pool_id = $1 ORDER BY slot, tx_index, cert_index;

-- name: demo_reward_events
SELECT * FROM reward_event ORDER BY spendable_epoch, kind, stake_address;

-- name: demo_withdrawals
SELECT * FROM withdrawal ORDER BY slot, stake_address;

-- name: demo_tip
SELECT * FROM chain_tip;

-- Whether the daemon captured the rewards while in epoch $1 (the demo waits for it).
-- name: demo_captured
SELECT count(*) AS n FROM live_epoch WHERE boundary_epoch = $1;

-- name: demo_aliases
SELECT stake_address, alias FROM account_alias;
