-- Operator commands: the daemon lock, status, exports (roles: roles.sql).
-- Named queries (`-- name: NAME`), loaded by indexer/db/store.py.

-- Who holds the daemon lock ($1: the advisory lock key), for the refusal message.
-- name: lock_holder
SELECT a.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
      SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
LIMIT 1;

-- A pool's owner rows with what the exports add: MIR and withdrawals of the spendable epoch,
-- what landed in the account ("real rewards": the leader reward for the reward account, and
-- member rewards where known), its
-- reward balance once B(spendable epoch) credited it (credits - withdrawals; null for a
-- spendable epoch the chain has not reached), and its settlement as of the spendable epoch:
-- owed (rewards of credited and imported epochs so far), paid (owner_payout up to that epoch)
-- and due. The epoch range ($2, $3) applies after the running sums.
-- And the names operators gave (the config's [aliases]) or the pool published (its ticker).
-- name: export_owner_rows
WITH rows AS (
    SELECT o.*, a.cred,
           sum(CASE WHEN o.rewards_status IN ('credited', 'imported')
                    THEN o.rewards_lovelace ELSE 0 END)
               OVER (PARTITION BY o.stake_address ORDER BY o.epoch_no)::bigint AS owed_lovelace
    FROM pool_owner_epoch o
    JOIN pool_owner_epoch_row a ON a.pool_id = o.pool_id AND a.epoch_no = o.epoch_no
                               AND a.stake_address = o.stake_address
    WHERE o.pool_id = $1
), paid AS MATERIALIZED (
    SELECT p.stake_address, p.epoch_no, p.amount_lovelace FROM owner_payout p
    WHERE p.pool_id = $1
), paid_rows AS (
    SELECT r.*,
           (SELECT COALESCE(sum(p.amount_lovelace), 0) FROM paid p
             WHERE p.stake_address = r.stake_address
               AND p.epoch_no <= r.spendable_epoch)::bigint AS paid_lovelace
    FROM rows r
    WHERE ($2::integer IS NULL OR r.epoch_no >= $2) AND ($3::integer IS NULL OR r.epoch_no <= $3)
)
SELECT o.*, o.owed_lovelace - o.paid_lovelace AS due_lovelace,
       (SELECT COALESCE(sum(c.amount), 0) FROM reward_credit c
         WHERE c.stake_address = o.stake_address AND c.kind = 'mir'
           AND c.spendable_epoch = o.spendable_epoch)::bigint AS mir_lovelace,
       (SELECT COALESCE(sum(w.amount_lovelace), 0) FROM withdrawal w
         WHERE w.stake_address = o.stake_address
           AND w.epoch_no = o.spendable_epoch)::bigint AS withdrawn_lovelace,
       CASE WHEN o.rewards_status <> 'credited' THEN 0
            WHEN o.is_reward_account
            THEN p.leader_reward_lovelace + COALESCE(o.member_rewards_lovelace, 0)
            ELSE COALESCE(o.member_rewards_lovelace, 0) END AS real_rewards_lovelace,
       CASE WHEN o.spendable_epoch <= (SELECT epoch_no FROM checkpoint)
            THEN (SELECT COALESCE(sum(b.amount), 0) FROM reward_credit_span b
                   WHERE b.cred = o.cred AND b.boundary_epoch <= o.spendable_epoch
                     AND (b.withdrawn_epoch IS NULL
                          OR b.withdrawn_epoch >= o.spendable_epoch))::bigint
       END AS reward_balance_lovelace,
       (SELECT a.alias FROM account_alias a WHERE a.stake_address = o.stake_address) AS alias,
       (SELECT n.ticker FROM pool_name n WHERE n.pool_id = o.pool_id) AS pool_ticker
FROM paid_rows o JOIN pool_epoch p ON p.pool_id = o.pool_id AND p.epoch_no = o.epoch_no
ORDER BY o.epoch_no, o.stake_address;

-- name: status
SELECT t.slot, t.block_height, t.block_hash, t.epoch_no, t.updated_at,
       (SELECT max(epoch_no) FROM pool_epoch_row) AS last_materialized_epoch,
       (SELECT count(*) FROM block) AS blocks,
       (SELECT s.slot FROM chain_start s) AS start_slot,
       (SELECT s.balances_complete FROM chain_start s) AS balances_complete
FROM chain_tip t;

-- The grants on this schema's views, as GRANT statements that re-create them, for the views
-- that exist after a migration (a view dropped for good loses its grants).
-- name: view_grants
SELECT format('DO $g$ BEGIN IF to_regclass(%L) IS NOT NULL THEN GRANT %s ON %I TO %s; END IF; '
              'END $g$', c.relname, a.privilege_type, c.relname,
              CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
       AS statement
FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace
  AND a.grantee <> c.relowner;

-- name: set_schema_version
UPDATE schema_version SET version = $1;

-- Where the chain of this database starts ($1 slot, $2 block hash, $3 whether balances are
-- complete): written on an empty database only (indexer/sync/start.py).
-- name: set_chain_start
INSERT INTO chain_start (id, slot, block_hash, balances_complete) VALUES (true, $1, $2, $3)
ON CONFLICT (id) DO UPDATE SET slot = EXCLUDED.slot, block_hash = EXCLUDED.block_hash,
                               balances_complete = EXCLUDED.balances_complete;

-- The config's [aliases], replaced whole ($1 stake addresses, $2 aliases).
-- name: clear_aliases
DELETE FROM account_alias_row;

-- name: add_aliases
INSERT INTO account_alias_row (stake_address, alias)
SELECT * FROM unnest($1::text[], $2::text[]);

-- The server settings that decide the rate of an initial sync at mainnet scale
-- (indexer/ops/sizing.py).
-- name: server_settings
SELECT pg_size_bytes(current_setting('shared_buffers')) AS shared_buffers_bytes,
       pg_size_bytes(current_setting('max_wal_size')) AS max_wal_size_bytes,
       (SELECT setting::integer FROM pg_settings WHERE name = 'checkpoint_timeout')
           AS checkpoint_timeout_s;
