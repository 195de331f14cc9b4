-- Schema v2 (second round of work). Brings a v1 database to schema.sql.
--   * certificate amounts are numeric(20,0) (docs/spec.md §7: any unsigned 64-bit value);
--   * checkpoint.writer_token fences out a second daemon;
--   * pool_reward may hold unreadable or inconsistent figures (`problem`);
--   * the rewards status is derived from stored facts: pool_reward_outcome becomes
--     reward_settlement (only whether RA(e) was registered at B(e+2)), and leader credits are
--     derived (reward_credit_all) instead of stored;
--   * chain_start records a start after origin (balances_complete on pool_epoch and
--     pool_owner_epoch); pool_metadata_fetch and account_alias_row back the pool_name and
--     account_alias views (names operators can read).
--   * history (docs/spec.md §5 "History"): reward_fetch keeps what a public API said about a
--     past epoch; pool_reward keeps the fee range and uncertainty of fetched figures; the views
--     gain rewards_source, fee_uncertainty_lovelace and reward_reconciliation.

-- Every view is dropped and re-created from schema.sql's text (the catalog test compares them).
DROP VIEW pool_owner_epoch, pool_epoch, reward_event, pool_reward_effective, withdrawal,
          pool_certificate, chain_tip;

ALTER TABLE checkpoint ADD COLUMN writer_token bigint;

ALTER TABLE pool_cert ALTER COLUMN pledge TYPE numeric(20, 0),
                      ALTER COLUMN cost TYPE numeric(20, 0);
ALTER TABLE pool_epoch_row ALTER COLUMN pledge_lovelace TYPE numeric(20, 0),
                           ALTER COLUMN cost_lovelace TYPE numeric(20, 0);

ALTER TABLE pool_reward ALTER COLUMN total_rewards DROP NOT NULL,
                        ALTER COLUMN leader_reward DROP NOT NULL,
                        ADD COLUMN problem text CHECK (problem IN ('unreadable', 'inconsistent')),
                        ADD COLUMN problem_detail text,
                        ADD COLUMN fee_low bigint,
                        ADD COLUMN fee_high bigint,
                        ADD COLUMN fee_uncertainty smallint NOT NULL DEFAULT 0
                            CHECK (fee_uncertainty IN (0, 1)),
                        ADD CHECK (problem IS NOT NULL
                                   OR (total_rewards IS NOT NULL AND leader_reward IS NOT NULL)),
                        ADD CHECK (problem IS DISTINCT FROM 'unreadable' OR total_rewards IS NULL
                                   OR leader_reward IS NULL);
CREATE INDEX pool_reward_import ON pool_reward (epoch_no) WHERE source = 'import';

CREATE TABLE reward_fetch (
    pool_id       text NOT NULL,
    epoch_no      integer NOT NULL,
    source        text NOT NULL,    -- 'koios' | 'blockfrost'
    leader_reward bigint NOT NULL,  -- L: leader rewards credited to RA(e) for the pool, earned in e
    pool_stake    bigint NOT NULL,  -- σ: the pool's active stake in S_e
    blocks_made   integer NOT NULL,
    api_fee       bigint,           -- the API's operator fee (computed from distributed rewards)
    api_rewards   bigint,           -- the API's distributed total (a lower bound of R)
    stakes        jsonb NOT NULL,
    urls          text[] NOT NULL,  -- provenance: the requests that gave these figures
    retrieved_at  timestamptz NOT NULL,
    PRIMARY KEY (pool_id, epoch_no)
);
CREATE INDEX reward_fetch_epoch ON reward_fetch (epoch_no);

CREATE TABLE reward_settlement (
    boundary_epoch integer NOT NULL,
    pool_id        text NOT NULL,
    epoch_no       integer NOT NULL,
    ra_registered  boolean NOT NULL,
    PRIMARY KEY (pool_id, epoch_no)
);
CREATE INDEX reward_settlement_boundary ON reward_settlement (boundary_epoch);
INSERT INTO reward_settlement (boundary_epoch, pool_id, epoch_no, ra_registered)
SELECT boundary_epoch, pool_id, epoch_no, ra_registered FROM pool_reward_outcome;
DROP TABLE pool_reward_outcome;
DELETE FROM reward_credit WHERE kind = 'leader';  -- derived from now on

-- Where this database's chain starts (indexer/sync/start.py): one row, written on an empty
-- database before its first block; no row = the origin. `balances_complete` is false when the
-- start lies after the Byron era, which the config must accept explicitly ([indexer]
-- accept_incomplete_balances): the outputs, delegations and certificates before it are unknown.
-- Not chain data: no rollback goes below the start, none touches this row.
CREATE TABLE chain_start (
    id                boolean PRIMARY KEY DEFAULT true CHECK (id),
    slot              bigint NOT NULL,
    block_hash        bytea NOT NULL,
    balances_complete boolean NOT NULL
);

-- The last fetch of the metadata a pool certificate names (indexer/ops/pool_metadata.py),
-- keyed by what the certificate says: URL and blake2b-256 hash. Outside data, not chain data:
-- no rollback touches it (a rolled-back certificate simply stops naming it). ticker and name
-- are kept only when the bytes served hash to metadata_hash ('ok'); every other status keeps
-- them null and says why in `detail`.
CREATE TABLE pool_metadata_fetch (
    pool_id       text NOT NULL,
    metadata_url  text NOT NULL,
    metadata_hash text NOT NULL,
    status        text NOT NULL CHECK (status IN ('ok', 'hash_mismatch', 'too_large', 'invalid',
                                                  'http_error', 'timeout', 'unreachable',
                                                  'refused_url')),
    http_status   integer,
    size_bytes    integer,
    ticker        text,
    name          text,
    description   text,
    homepage      text,
    detail        text,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 1,
    PRIMARY KEY (pool_id, metadata_url, metadata_hash),
    CHECK (status = 'ok' OR (ticker IS NULL AND name IS NULL))
);

-- The config's [aliases]: names for stake addresses, replaced whole at every daemon start.
CREATE TABLE account_alias_row (
    stake_address text PRIMARY KEY,
    alias         text NOT NULL UNIQUE
);

-- ---------------------------------------------------------------------------------------------
-- Ledger rules used by several queries, written once.

-- Whether each credential of `creds` is registered now: its latest registration or
-- deregistration certificate is a registration (credentials never registered are absent).
CREATE FUNCTION stake_registered(creds bytea[])
RETURNS TABLE (cred bytea, registered boolean)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (e.cred) e.cred, e.kind = 0
    FROM stake_event e
    WHERE e.cred = ANY (creds) AND e.kind IN (0, 1)
    ORDER BY e.cred, e.slot DESC, e.tx_index DESC, e.cert_index DESC
$$;

-- The latest registration certificate of each pool (of `pools`, or every pool when null) among
-- those in effect by epoch `upto_epoch` (any when null): P_e with upto_epoch = e (docs/spec.md §3).
CREATE FUNCTION pool_registration(pools bytea[], upto_epoch integer)
RETURNS SETOF pool_cert
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (c.pool_hash) c.*
    FROM pool_cert c
    WHERE c.kind = 'registration'
      AND (pools IS NULL OR c.pool_hash = ANY (pools))
      AND (upto_epoch IS NULL OR c.active_epoch_no <= upto_epoch)
    ORDER BY c.pool_hash, c.slot DESC, c.tx_index DESC, c.cert_index DESC
$$;

-- The operator fees F of figures (R, L) under cost c and margin num/den (docs/spec.md §5).
CREATE FUNCTION operator_fees(total bigint, leader bigint, cost numeric, margin_num numeric,
                              margin_den numeric)
RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN total IS NULL OR leader IS NULL THEN NULL
                WHEN total <= cost THEN leader
                ELSE (cost + div((total - cost) * margin_num, margin_den))::bigint END
$$;

-- Which reward row counts for a pool-epoch, lowest first: a file import (the operator's explicit
-- statement), usable live figures, usable figures fetched from an API, then unusable ones (a
-- fetch never overrides a live capture: docs/spec.md §5 "History").
CREATE FUNCTION reward_rank(source text, problem text)
RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN source = 'import' THEN 0
                WHEN problem IS NULL THEN CASE WHEN source = 'ledger' THEN 1 ELSE 2 END
                WHEN source = 'ledger' THEN 3 ELSE 4 END
$$;

-- ---------------------------------------------------------------------------------------------
-- Public views (docs/spec.md §7). Stable names; lovelace as bigint, shares as numeric.
-- A view is public when its COMMENT starts with 'Public view': `indexer db grant` lets the
-- read-only role SELECT those and nothing else (indexer/db/roles.py reads the markers from
-- this file). Helper views without that comment stay internal.

CREATE VIEW chain_tip AS
SELECT c.slot, c.block_height, encode(c.block_hash, 'hex') AS block_hash, c.epoch_no,
       c.updated_at
FROM checkpoint c;
COMMENT ON VIEW chain_tip IS 'Public view (docs/spec.md §7): the last applied block.';

CREATE VIEW pool_certificate AS
SELECT p.pool_id, encode(p.tx_id, 'hex') AS tx_id, p.slot, p.epoch_no, p.cert_index, p.kind,
       p.active_epoch_no, p.pledge AS pledge_lovelace, p.cost AS cost_lovelace,
       p.margin_num / p.margin_den AS margin, p.margin_num, p.margin_den,
       p.reward_account, p.owners, p.vrf_key_hash, p.metadata_url, p.metadata_hash, p.relays,
       p.retirement_epoch, p.tx_index
FROM pool_cert p;
COMMENT ON VIEW pool_certificate IS 'Public view (docs/spec.md §7): one row per certificate.';

CREATE VIEW withdrawal AS
SELECT encode(w.tx_id, 'hex') AS tx_id, w.slot, w.epoch_no, w.stake_address,
       w.amount AS amount_lovelace
FROM withdrawal_row w;
COMMENT ON VIEW withdrawal IS 'Public view (docs/spec.md §7): one row per withdrawal.';

-- The reward row that counts for a pool-epoch (reward_rank).
CREATE VIEW pool_reward_effective AS
SELECT r.*
FROM pool_reward r
WHERE NOT EXISTS (SELECT 1 FROM pool_reward o
                  WHERE o.pool_id = r.pool_id AND o.epoch_no = r.epoch_no
                    AND reward_rank(o.source, o.problem) < reward_rank(r.source, r.problem));

-- Every credit to a reward account with the boundary that made it: the stored ones (MIR, deposit
-- refunds) and the leader rewards, derived from the settlement and the effective figures (so a
-- capture or import that arrives after B(e+2) still credits).
CREATE VIEW reward_credit_all AS
SELECT c.boundary_epoch, c.cred, c.stake_address, c.pool_id, c.kind, c.earned_epoch,
       c.spendable_epoch, c.amount, c.source
FROM reward_credit c
UNION ALL
SELECT s.boundary_epoch, p.reward_cred, p.reward_account, p.pool_id, 'leader', p.epoch_no,
       p.epoch_no + 2, eff.leader_reward, eff.source
FROM reward_settlement s
JOIN pool_epoch_row p ON p.pool_id = s.pool_id AND p.epoch_no = s.epoch_no
JOIN pool_reward_effective eff ON eff.pool_id = s.pool_id AND eff.epoch_no = s.epoch_no
WHERE s.ra_registered AND eff.leader_reward > 0;

CREATE VIEW reward_event AS
SELECT r.stake_address, r.pool_id, r.kind, r.earned_epoch, r.spendable_epoch,
       r.amount AS amount_lovelace, r.source
FROM reward_credit_all r;
COMMENT ON VIEW reward_event IS 'Public view (docs/spec.md §7): one row per credit.';

CREATE VIEW pool_epoch AS
SELECT p.pool_id, p.epoch_no, p.reward_account, p.owners, p.pledge_lovelace, p.cost_lovelace,
       p.margin_num / p.margin_den AS margin,
       (SELECT count(*) FROM block b
         WHERE b.pool_hash = p.pool_hash AND b.epoch_no = p.epoch_no)::integer AS blocks_made,
       p.accounts_balance_lovelace, p.owners_balance_lovelace,
       CASE WHEN r.owners_stake IS NOT NULL THEN r.owners_stake >= p.pledge_lovelace
            ELSE p.owners_delegated_balance_lovelace >= p.pledge_lovelace END AS pledge_met,
       r.total_rewards AS total_rewards_lovelace,
       r.leader_reward AS leader_reward_lovelace,
       (SELECT sum(o.op_rewards) FROM owner_reward o
         WHERE o.pool_id = p.pool_id AND o.epoch_no = p.epoch_no
           AND o.source = r.source)::bigint AS operator_fees_lovelace,
       (SELECT sum(o.stake_rewards) FROM owner_reward o
         WHERE o.pool_id = p.pool_id AND o.epoch_no = p.epoch_no
           AND o.source = r.source)::bigint AS stake_rewards_lovelace,
       -- docs/spec.md §5, a function of what is stored: the figures (r), and B(e+2)'s settlement (s)
       CASE WHEN r.problem IS NOT NULL THEN r.problem  -- 'unreadable' or 'inconsistent'
            WHEN s.pool_id IS NULL THEN CASE WHEN r.source = 'ledger' THEN 'provisional'
                                             WHEN r.source IS NOT NULL THEN 'imported'
                                             ELSE 'pending' END
            WHEN r.source IS NULL THEN 'unavailable'
            WHEN NOT s.ra_registered THEN 'lost'  -- whatever gave the figures
            WHEN r.source <> 'ledger' THEN 'imported'  -- a file or an API
            ELSE 'credited' END AS rewards_status,
       -- docs/spec.md §5 "History": where the figures come from, and how sure F is
       r.source AS rewards_source,
       CASE WHEN r.problem IS NULL THEN r.fee_uncertainty::integer END
           AS fee_uncertainty_lovelace,
       -- the product's own (docs/spec.md §7): false when the chain before the start is unknown
       COALESCE((SELECT b.balances_complete FROM chain_start b), true) AS balances_complete
FROM pool_epoch_row p
LEFT JOIN pool_reward_effective r ON r.pool_id = p.pool_id AND r.epoch_no = p.epoch_no
LEFT JOIN reward_settlement s ON s.pool_id = p.pool_id AND s.epoch_no = p.epoch_no;
COMMENT ON VIEW pool_epoch IS 'Public view (docs/spec.md §7): one row per pool and epoch.';

CREATE VIEW pool_owner_epoch AS
SELECT a.pool_id, a.epoch_no, a.stake_address, a.is_owner, a.is_reward_account,
       a.delegated_to_pool, a.balance_lovelace, a.stake_share,
       CASE WHEN pe.rewards_status = 'lost' THEN 0 ELSE o.op_rewards END AS op_rewards_lovelace,
       CASE WHEN pe.rewards_status = 'lost' THEN 0 ELSE o.stake_rewards END
           AS stake_rewards_lovelace,
       CASE WHEN pe.rewards_status = 'lost' THEN 0 ELSE o.op_rewards + o.stake_rewards END
           AS rewards_lovelace,
       a.epoch_no + 2 AS spendable_epoch,
       pe.rewards_status,
       pe.rewards_source, pe.fee_uncertainty_lovelace, pe.balances_complete
FROM pool_owner_epoch_row a
JOIN pool_epoch pe ON pe.pool_id = a.pool_id AND pe.epoch_no = a.epoch_no
LEFT JOIN pool_reward_effective r ON r.pool_id = a.pool_id AND r.epoch_no = a.epoch_no
LEFT JOIN owner_reward o ON o.pool_id = a.pool_id AND o.epoch_no = a.epoch_no
                        AND o.source = r.source AND o.cred = a.cred;
COMMENT ON VIEW pool_owner_epoch IS 'Public view (docs/spec.md §7): one row per pool, epoch and account.';

-- Names operators can read (the product's own, docs/spec.md §7): each pool's current
-- certificate, with the ticker and name of its metadata when the bytes served matched the
-- certificate's hash ('ok'); otherwise why not ('pending', 'none', 'hash_mismatch', …).
CREATE VIEW pool_name AS
SELECT c.pool_id,
       CASE WHEN f.status = 'ok' THEN f.ticker END AS ticker,
       CASE WHEN f.status = 'ok' THEN f.name END AS name,
       CASE WHEN f.status = 'ok' THEN f.homepage END AS homepage,
       c.metadata_url, c.metadata_hash,
       CASE WHEN c.metadata_url IS NULL OR c.metadata_hash IS NULL THEN 'none'
            WHEN f.status IS NULL THEN 'pending'
            ELSE f.status END AS metadata_status,
       f.fetched_at AS metadata_fetched_at
FROM (
    -- the latest registration, as pool_registration(NULL, NULL) has it; spelled out because a
    -- function here would run with the reader's rights, and dashboards may read views only
    SELECT DISTINCT ON (p.pool_hash) p.pool_id, p.metadata_url, p.metadata_hash
    FROM pool_cert p
    WHERE p.kind = 'registration'
    ORDER BY p.pool_hash, p.slot DESC, p.tx_index DESC, p.cert_index DESC
) c
LEFT JOIN pool_metadata_fetch f ON f.pool_id = c.pool_id AND f.metadata_url = c.metadata_url
                                AND f.metadata_hash = lower(c.metadata_hash);
COMMENT ON VIEW pool_name IS 'Public view (the product''s own, docs/spec.md §7): pool names from verified metadata.';

-- The config's [aliases] (the product's own, docs/spec.md §7).
CREATE VIEW account_alias AS
SELECT a.stake_address, a.alias
FROM account_alias_row a;
COMMENT ON VIEW account_alias IS 'Public view (the product''s own, docs/spec.md §7): the config''s aliases.';

-- Two sources for one pool-epoch: the live capture (a) and a file import or an API's figures (b)
-- (docs/spec.md §5 "History"). `agrees`: the same L, and the live F among the values the other
-- source allows (fee_low..fee_high for a fetch; its own F for an import). NULL when they cannot
-- be compared: the leader reward was lost (RA(e) unregistered at B(e+2)), and an API, which
-- records credits only, shows none.
CREATE VIEW reward_reconciliation AS
SELECT a.pool_id, a.epoch_no, a.source AS source_a, b.source AS source_b,
       a.total_rewards AS total_rewards_a, b.total_rewards AS total_rewards_b,
       a.leader_reward AS leader_reward_a, b.leader_reward AS leader_reward_b,
       f.fees_a AS operator_fees_a, f.fees_b AS operator_fees_b,
       b.fee_uncertainty::integer AS fee_uncertainty_b,
       CASE WHEN s.ra_registered IS FALSE AND b.source <> 'import' AND b.leader_reward = 0
                 AND a.leader_reward > 0 THEN NULL
            ELSE COALESCE(a.leader_reward = b.leader_reward
                          AND f.fees_a BETWEEN COALESCE(b.fee_low, f.fees_b)
                                           AND COALESCE(b.fee_high, f.fees_b), false)
       END AS agrees
FROM pool_reward a
JOIN pool_reward b ON b.pool_id = a.pool_id AND b.epoch_no = a.epoch_no
                  AND b.source <> 'ledger'
JOIN pool_epoch_row p ON p.pool_id = a.pool_id AND p.epoch_no = a.epoch_no
LEFT JOIN reward_settlement s ON s.pool_id = a.pool_id AND s.epoch_no = a.epoch_no
CROSS JOIN LATERAL (
    SELECT operator_fees(a.total_rewards, a.leader_reward, p.cost_lovelace, p.margin_num,
                         p.margin_den) AS fees_a,
           operator_fees(b.total_rewards, b.leader_reward, p.cost_lovelace, p.margin_num,
                         p.margin_den) AS fees_b
) f
WHERE a.source = 'ledger' AND a.problem IS DISTINCT FROM 'unreadable';
COMMENT ON VIEW reward_reconciliation IS 'Public view (docs/spec.md §7): one row per pool-epoch with two sources.';
