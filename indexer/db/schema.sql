-- The whole current schema of the shared-pool indexer. This file is the single truth: a fresh
-- database is built from it; numbered files in indexer/migrations/ bring older databases to the
-- same catalog (tests/test_schema.py checks that).
--
-- Rollback safety by construction: internal rows are only ever INSERTed, never updated, and each
-- carries the tag of what produced it:
--   * chain rows: `slot` of the block that produced them;
--   * boundary rows: `boundary_epoch` = x for rows written when boundary B(x) was crossed (the
--     first block of epoch >= x was applied);
--   * spends: `spent_slot`.
-- A rollback to a point in epoch E at slot S deletes chain rows with slot > S, spends with
-- spent_slot > S and boundary rows with boundary_epoch > E, in the transaction that moves the
-- checkpoint. The public views (docs/spec.md §7) compose these tables; they are the product's API.

CREATE TABLE schema_version (
    version integer NOT NULL
);
INSERT INTO schema_version (version) VALUES (2);

-- Network facts (network name, security parameter k, era summaries, pool deposit …).
CREATE TABLE meta (
    key   text PRIMARY KEY,
    value jsonb NOT NULL
);

-- The cursor: the last applied block (a single row; all-null columns = origin).
CREATE TABLE checkpoint (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    slot         bigint,
    block_hash   bytea,
    block_height bigint,
    epoch_no     integer,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Fencing token of the daemon that holds the database (see Store.claim_writer): a batch
    -- whose token no longer matches was overtaken by another daemon and must not commit.
    writer_token bigint
);
INSERT INTO checkpoint (id) VALUES (true);

-- Highest boundary crossed while the daemon was within reach of the tip ("live"); the reward
-- capture uses it to tell `unavailable` from `provisional`.
CREATE TABLE live_epoch (
    boundary_epoch integer PRIMARY KEY
);

CREATE TABLE block (
    slot      bigint PRIMARY KEY,
    height    bigint NOT NULL,
    hash      bytea NOT NULL,
    epoch_no  integer NOT NULL,
    era       text NOT NULL,
    pool_hash bytea,             -- blake2b-224 of the issuer's cold key; null for Byron
    tx_count  integer NOT NULL
);
CREATE INDEX block_pool_epoch ON block (pool_hash, epoch_no) WHERE pool_hash IS NOT NULL;

-- Outputs that carry stake (base addresses: cred; pointer addresses: ptr_*). Spent rows stay
-- (see utxo_spent) until they are deeper than the rollback window.
CREATE TABLE utxo (
    tx_id    bytea NOT NULL,
    idx      integer NOT NULL,
    cred     bytea,
    ptr_slot bigint,
    ptr_tx   integer,
    ptr_cert integer,
    lovelace bigint NOT NULL CHECK (lovelace >= 0),
    slot     bigint NOT NULL,
    PRIMARY KEY (tx_id, idx)
);
CREATE INDEX utxo_cred ON utxo (cred) WHERE cred IS NOT NULL;
CREATE INDEX utxo_ptr ON utxo (ptr_slot, ptr_tx, ptr_cert) WHERE ptr_slot IS NOT NULL;
CREATE INDEX utxo_slot ON utxo USING brin (slot);

-- Spends of staked outputs (only staked outputs are recorded; others are irrelevant).
CREATE TABLE utxo_spent (
    tx_id      bytea NOT NULL,
    idx        integer NOT NULL,
    spent_slot bigint NOT NULL,
    PRIMARY KEY (tx_id, idx)
);
CREATE INDEX utxo_spent_slot ON utxo_spent (spent_slot);

-- Stake credential registrations (kind 0), deregistrations (1) and pool delegations (2).
CREATE TABLE stake_event (
    slot       bigint NOT NULL,
    tx_index   integer NOT NULL,
    cert_index integer NOT NULL,
    epoch_no   integer NOT NULL,
    cred       bytea NOT NULL,
    kind       smallint NOT NULL CHECK (kind IN (0, 1, 2)),
    pool_hash  bytea,
    PRIMARY KEY (slot, tx_index, cert_index)
);
CREATE INDEX stake_event_cred ON stake_event (cred, slot, tx_index, cert_index);

CREATE TABLE pool_cert (
    slot             bigint NOT NULL,
    tx_index         integer NOT NULL,
    cert_index       integer NOT NULL,
    tx_id            bytea NOT NULL,
    epoch_no         integer NOT NULL,
    pool_hash        bytea NOT NULL,
    pool_id          text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('registration', 'retirement')),
    active_epoch_no  integer,
    pledge           numeric(20, 0),  -- any unsigned 64-bit value (docs/spec.md §7)
    cost             numeric(20, 0),
    margin_num       numeric,
    margin_den       numeric,
    reward_cred      bytea,
    reward_account   text,
    owner_creds      bytea[],
    owners           text[],
    vrf_key_hash     text,
    metadata_url     text,
    metadata_hash    text,
    relays           jsonb,
    retirement_epoch integer,
    PRIMARY KEY (slot, tx_index, cert_index)
);
CREATE INDEX pool_cert_pool ON pool_cert (pool_hash, slot);

CREATE TABLE withdrawal_row (
    slot          bigint NOT NULL,
    tx_index      integer NOT NULL,
    tx_id         bytea NOT NULL,
    epoch_no      integer NOT NULL,
    cred          bytea NOT NULL,
    stake_address text NOT NULL,
    amount        bigint NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (slot, tx_index, cred)
);
CREATE INDEX withdrawal_cred ON withdrawal_row (cred);

-- MIR transfers to accounts as they appear in transactions (pre-Conway), before crediting.
CREATE TABLE mir_transfer (
    slot          bigint NOT NULL,
    tx_index      integer NOT NULL,
    seq           integer NOT NULL,
    epoch_no      integer NOT NULL,
    era           text NOT NULL,
    cred          bytea NOT NULL,
    stake_address text NOT NULL,
    amount        bigint NOT NULL,
    PRIMARY KEY (slot, tx_index, seq)
);

-- Credits to reward accounts, written when the boundary that credits them is crossed
-- (mir, pool_deposit_refund) or when the ledger reports them (leader).
CREATE TABLE reward_credit (
    boundary_epoch  integer NOT NULL,
    cred            bytea NOT NULL,
    stake_address   text NOT NULL,
    pool_id         text,
    kind            text NOT NULL,
    earned_epoch    integer NOT NULL,
    spendable_epoch integer NOT NULL,
    amount          bigint NOT NULL CHECK (amount >= 0),
    source          text NOT NULL
);
CREATE INDEX reward_credit_boundary ON reward_credit (boundary_epoch);
CREATE INDEX reward_credit_cred ON reward_credit (cred, spendable_epoch);

-- Pools reaped at B(epoch) (retirement took effect): clears delegations to them.
CREATE TABLE pool_reap (
    boundary_epoch integer NOT NULL,
    pool_hash      bytea NOT NULL,
    PRIMARY KEY (boundary_epoch, pool_hash)
);

-- Materialized at B(e-1): the parameters P_e and the accounts' balances for epoch e.
CREATE TABLE pool_epoch_row (
    boundary_epoch   integer NOT NULL,
    pool_id          text NOT NULL,
    pool_hash        bytea NOT NULL,
    epoch_no         integer NOT NULL,
    reward_account   text NOT NULL,
    reward_cred      bytea NOT NULL,
    owners           text[] NOT NULL,
    pledge_lovelace  numeric(20, 0) NOT NULL,
    cost_lovelace    numeric(20, 0) NOT NULL,
    margin_num       numeric NOT NULL,
    margin_den       numeric NOT NULL,
    accounts_balance_lovelace bigint NOT NULL,
    owners_balance_lovelace   bigint NOT NULL,
    owners_delegated_balance_lovelace bigint NOT NULL,
    PRIMARY KEY (pool_id, epoch_no)
);
CREATE INDEX pool_epoch_row_boundary ON pool_epoch_row (boundary_epoch);
CREATE INDEX pool_epoch_row_epoch ON pool_epoch_row (epoch_no);  -- settle, capture

CREATE TABLE pool_owner_epoch_row (
    boundary_epoch    integer NOT NULL,
    pool_id           text NOT NULL,
    epoch_no          integer NOT NULL,
    cred              bytea NOT NULL,
    stake_address     text NOT NULL,
    is_owner          boolean NOT NULL,
    is_reward_account boolean NOT NULL,
    delegated_to_pool boolean NOT NULL,
    balance_lovelace  bigint NOT NULL,
    stake_share       numeric NOT NULL,
    PRIMARY KEY (pool_id, epoch_no, cred)
);
CREATE INDEX pool_owner_epoch_row_boundary ON pool_owner_epoch_row (boundary_epoch);

-- The ledger's figures for a pool's epoch e (captured live during e+1, boundary_epoch = e+1,
-- or imported: boundary_epoch = -1, never rolled back; or fetched from an API: derived from a
-- reward_fetch row and the materialized P_e, boundary_epoch = that materialization's). `problem`
-- is set when the figures could not be used: 'unreadable' (R and L null: the answer for this
-- pool was malformed) or 'inconsistent' (they contradict our P_e: L > R, or c + floor((R - c) *
-- m) > L, or no R gives a fetched L); such a pool-epoch has no owner split, and the rest of the
-- capture goes on. Fetched figures also keep the range of operator fees consistent with L
-- (fee_low..fee_high) and the uncertainty of the F chosen (docs/spec.md §5 "History").
CREATE TABLE pool_reward (
    boundary_epoch  integer NOT NULL,
    pool_id         text NOT NULL,
    epoch_no        integer NOT NULL,
    total_rewards   bigint,
    leader_reward   bigint,
    blocks_made     integer,
    owners_stake    bigint,
    source          text NOT NULL,  -- 'ledger', 'import', or the API: 'koios', 'blockfrost'
    problem         text CHECK (problem IN ('unreadable', 'inconsistent')),
    problem_detail  text,
    fee_low         bigint,
    fee_high        bigint,
    fee_uncertainty smallint NOT NULL DEFAULT 0 CHECK (fee_uncertainty IN (0, 1)),
    PRIMARY KEY (pool_id, epoch_no, source),
    CHECK (problem IS NOT NULL OR (total_rewards IS NOT NULL AND leader_reward IS NOT NULL)),
    CHECK (problem IS DISTINCT FROM 'unreadable' OR total_rewards IS NULL
           OR leader_reward IS NULL)
);
CREATE INDEX pool_reward_boundary ON pool_reward (boundary_epoch);
CREATE INDEX pool_reward_import ON pool_reward (epoch_no) WHERE source = 'import';

-- The exact split of a pool_reward row over the accounts of pool_owner_epoch_row.
CREATE TABLE owner_reward (
    boundary_epoch integer NOT NULL,
    pool_id        text NOT NULL,
    epoch_no       integer NOT NULL,
    source         text NOT NULL,
    cred           bytea NOT NULL,
    op_rewards     bigint NOT NULL,
    stake_rewards  bigint NOT NULL,
    PRIMARY KEY (pool_id, epoch_no, source, cred)
);
CREATE INDEX owner_reward_boundary ON owner_reward (boundary_epoch);

-- What a public API said about a pool's past epoch e (`indexer rewards fetch`, docs/spec.md §5
-- "History"): the observations as served, one fetch per pool-epoch (the latest). Not derived
-- from the chain, so never rolled back; the figures (pool_reward, owner_reward) are derived from
-- them and the chain's P_e whenever e is materialized. `stakes`: {credential hex: [pool id
-- delegated to in S_e or null, active stake]} of the accounts asked (P_e's owners).
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

-- What B(e+2) decided for a pool's epoch e: whether RA(e) was registered then (credited, or lost
-- to the treasury). The rewards status is derived from this fact and the stored figures (the
-- pool_epoch view), never stored, so that a late capture or import, a rollback and a restart
-- all converge to the same status.
CREATE TABLE reward_settlement (
    boundary_epoch integer NOT NULL,
    pool_id        text NOT NULL,
    epoch_no       integer NOT NULL,
    ra_registered  boolean NOT NULL,
    PRIMARY KEY (pool_id, epoch_no)
);
CREATE INDEX reward_settlement_boundary ON reward_settlement (boundary_epoch);

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
