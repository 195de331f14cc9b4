-- The chain as the writer applies it: checkpoint, meta, intersection points, spends, pool
-- certificates, rollback and pruning.
-- Named queries (`-- name: NAME`), loaded by indexer/db/store.py.

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

-- name: get_meta
SELECT value FROM meta WHERE key = $1;

-- name: set_meta
INSERT INTO meta (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

-- Far behind the tip (writer._far_behind): this batch's commit does not wait for the WAL
-- flush. Crash-safe because the checkpoint commits with its batch.
-- name: commit_without_flush
SET LOCAL synchronous_commit = off;

-- name: recent_points
SELECT slot, hash FROM block ORDER BY slot DESC LIMIT $1;

-- name: point_at_offset
SELECT slot, hash FROM block ORDER BY slot DESC OFFSET $1 LIMIT 1;

-- Record the spends of staked outputs among the inputs: $1 their 32-byte tx ids end to end,
-- $2 and $3 their indexes and slots as comma-separated text (store.py packs them: a third of
-- the client's CPU of bytea[] and bigint[] parameters, and less of the server's).
-- In key order: at mainnet scale the utxo key far outgrows the buffers, and sorted lookups
-- touch each index page once (measured on 11 million outputs: ~25% faster).
-- name: apply_spends
INSERT INTO utxo_spent (tx_id, idx, spent_slot)
SELECT i.tx_id, i.idx, i.spent_slot
FROM (SELECT substr($1::bytea, 32 * (s.n::integer - 1) + 1, 32) AS tx_id, s.idx, s.spent_slot
      FROM unnest(string_to_array($2::text, ',')::bigint[],
                  string_to_array($3::text, ',')::bigint[]) WITH ORDINALITY AS s (idx, spent_slot, n)
      ORDER BY 1, 2) AS i
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
     pf AS (DELETE FROM payout_flow WHERE slot > $1),
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

-- The slot of the block k blocks below the tip: spends at or before it can no longer be undone.
-- name: block_height_at
SELECT height FROM block WHERE slot = $1;

-- name: window_slot
SELECT slot FROM block WHERE height <= (SELECT max(height) FROM block) - $1
ORDER BY slot DESC LIMIT 1;

-- Payout candidates of a batch (indexer/sync/payouts.py): the staked outputs ($1-$10) and the
-- inputs ($11-$16) of transactions that withdraw from a credential that might be a reward
-- account; kept for those that withdraw from the reward account of a pool registered before
-- them (of the pools $17, or any when null). Inputs are looked up in utxo (staked outputs
-- only; the batch's are already stored).
-- name: record_payout_flows
WITH payers AS (
    SELECT DISTINCT w.slot, w.tx_index
    FROM withdrawal_row w
    JOIN pool_cert c ON c.kind = 'registration' AND c.reward_cred = w.cred
                    AND (c.slot, c.tx_index) <= (w.slot, w.tx_index)
    WHERE w.slot = ANY ($1::bigint[] || $11::bigint[])
      AND ($17::bytea[] IS NULL OR c.pool_hash = ANY ($17::bytea[]))
), outs AS (
    SELECT o.slot, o.tx_index, o.tx_id, o.epoch_no, o.tx_id AS utxo_tx, o.utxo_idx, o.cred,
           o.ptr_slot, o.ptr_tx, o.ptr_cert, o.lovelace
    FROM unnest($1::bigint[], $2::integer[], $3::bytea[], $4::integer[], $5::integer[],
                $6::bytea[], $7::bigint[], $8::integer[], $9::integer[], $10::bigint[])
         AS o (slot, tx_index, tx_id, epoch_no, utxo_idx, cred, ptr_slot, ptr_tx, ptr_cert,
               lovelace)
), ins AS (
    SELECT i.slot, i.tx_index, i.tx_id, i.epoch_no, u.tx_id AS utxo_tx, u.idx AS utxo_idx,
           u.cred, u.ptr_slot, u.ptr_tx, u.ptr_cert, -u.lovelace AS lovelace
    FROM unnest($11::bigint[], $12::integer[], $13::bytea[], $14::integer[], $15::bytea[],
                $16::integer[]) AS i (slot, tx_index, tx_id, epoch_no, in_tx, in_idx)
    JOIN utxo u ON u.tx_id = i.in_tx AND u.idx = i.in_idx
)
INSERT INTO payout_flow (slot, tx_index, tx_id, epoch_no, utxo_tx, utxo_idx, cred, ptr_slot,
                         ptr_tx, ptr_cert, lovelace)
SELECT f.* FROM (SELECT * FROM outs UNION ALL SELECT * FROM ins) f
JOIN payers p ON p.slot = f.slot AND p.tx_index = f.tx_index;

-- Every credential named as a pool's reward account (the writer's payout candidates).
-- name: reward_accounts
SELECT DISTINCT reward_cred FROM pool_cert WHERE kind = 'registration';
