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
INSERT INTO schema_version (version) VALUES (3);

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
-- BRIN: spends arrive in slot order, and only a rollback (the newest slots) and the pruning
-- (the oldest) look rows up by slot; a B-tree cost every spend an index insert (README
-- "Measured": +7% blocks/s without it, a rollback at the tip reads ~1 ms more).
CREATE INDEX utxo_spent_slot ON utxo_spent USING brin (spent_slot);

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
CREATE INDEX pool_cert_reward ON pool_cert (reward_cred) WHERE kind = 'registration';

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
    -- the share basis that produced the accounts' shares (docs/spec.md §4); a change of the
    -- setting re-splits every epoch (indexer/accounting/splits.py apply_share_basis)
    share_accounts   text NOT NULL DEFAULT 'certificate'
                     CHECK (share_accounts IN ('certificate', 'delegated_owners')),
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
    -- the account's weight in the stake share (function share_weight); null: no part in it
    share_weight      bigint,
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
    -- the account's own member reward (docs/spec.md §5): 0 for owners, null when the source
    -- does not tell (imports)
    member_rewards bigint,
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

-- Value moved by transactions that withdraw from a pool's reward account (the candidates for
-- owner_payout): their staked outputs (lovelace > 0) and the staked outputs they spend
-- (lovelace < 0), one row per output (utxo_tx, utxo_idx). Chain rows, tagged by slot.
CREATE TABLE payout_flow (
    slot      bigint NOT NULL,
    tx_index  integer NOT NULL,
    tx_id     bytea NOT NULL,
    epoch_no  integer NOT NULL,
    utxo_tx   bytea NOT NULL,
    utxo_idx  integer NOT NULL,
    cred      bytea,
    ptr_slot  bigint,
    ptr_tx    integer,
    ptr_cert  integer,
    lovelace  bigint NOT NULL,
    PRIMARY KEY (slot, tx_index, utxo_tx, utxo_idx)
);

-- Payouts entered by hand (`indexer payout add`): not chain rows, never rolled back.
CREATE TABLE recorded_payout (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id       text NOT NULL,
    stake_address text NOT NULL,
    tx_id         bytea,
    epoch_no      integer,  -- the indexer's epoch when it was recorded
    amount        bigint NOT NULL CHECK (amount > 0),
    note          text,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- Ledger rules used by several queries, written once. The facts "now" are views (a public view
-- reads them with its owner's rights, so that the read-only role needs no access to tables;
-- a function reading a table would run with the caller's); the functions the daemon's queries
-- use filter them (inlined, the filter reaches the tables' indexes).

-- Each credential's registration now: its latest registration or deregistration certificate
-- is a registration (credentials never registered are absent).
CREATE VIEW stake_registration AS
SELECT DISTINCT ON (e.cred) e.cred, e.kind = 0 AS registered
FROM stake_event e
WHERE e.kind IN (0, 1)
ORDER BY e.cred, e.slot DESC, e.tx_index DESC, e.cert_index DESC;

-- The pool each credential is delegated to now: its latest certificate is a delegation, and
-- that pool was not reaped since (POOLREAP clears delegations).
CREATE VIEW stake_delegation AS
SELECT l.cred, l.pool_hash
FROM (SELECT DISTINCT ON (e.cred) e.cred, e.kind, e.pool_hash, e.epoch_no
      FROM stake_event e
      ORDER BY e.cred, e.slot DESC, e.tx_index DESC, e.cert_index DESC) l
WHERE l.kind = 2
  AND NOT EXISTS (SELECT 1 FROM pool_reap r
                  WHERE r.pool_hash = l.pool_hash AND r.boundary_epoch > l.epoch_no);

-- Every live (unspent) staked output with the credential it counts for: base addresses, and
-- pointer addresses (`via_pointer`; they carry no stake from Conway on) pointing to a
-- registration that is still live.
CREATE VIEW live_stake_output AS
SELECT u.cred, u.lovelace, false AS via_pointer
FROM utxo u
WHERE u.cred IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM utxo_spent x WHERE x.tx_id = u.tx_id AND x.idx = u.idx)
UNION ALL
SELECT e.cred, u.lovelace, true
FROM utxo u
JOIN stake_event e ON e.kind = 0 AND e.slot = u.ptr_slot AND e.tx_index = u.ptr_tx
                  AND e.cert_index = u.ptr_cert
WHERE u.ptr_slot IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM utxo_spent x WHERE x.tx_id = u.tx_id AND x.idx = u.idx)
  AND NOT EXISTS (SELECT 1 FROM stake_event d
                  WHERE d.cred = e.cred AND d.kind = 1
                    AND (d.slot, d.tx_index, d.cert_index) > (e.slot, e.tx_index, e.cert_index));

-- Whether each credential of `creds` is registered now (absent: never registered).
CREATE FUNCTION stake_registered(creds bytea[])
RETURNS TABLE (cred bytea, registered boolean)
LANGUAGE sql STABLE AS $$
    SELECT r.cred, r.registered FROM stake_registration r WHERE r.cred = ANY (creds)
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

-- The live UTxO stake of each credential of `creds` now (pointer addresses when `pointers`).
CREATE FUNCTION live_balance(creds bytea[], pointers boolean)
RETURNS TABLE (cred bytea, lovelace numeric)
LANGUAGE sql STABLE AS $$
    SELECT o.cred, sum(o.lovelace)
    FROM live_stake_output o
    WHERE o.cred = ANY (creds) AND (pointers OR NOT o.via_pointer)
    GROUP BY o.cred
$$;

-- The pool each credential of `creds` is delegated to now.
CREATE FUNCTION pool_delegation(creds bytea[])
RETURNS TABLE (cred bytea, pool_hash bytea)
LANGUAGE sql STABLE AS $$
    SELECT d.cred, d.pool_hash FROM stake_delegation d WHERE d.cred = ANY (creds)
$$;

-- An account's weight in its pool-epoch's stake share (docs/spec.md §4, the share basis), null
-- when it takes no part: "certificate": its balance, for every account; "delegated_owners": the
-- balance of the owners delegated to the pool, or 1 for every owner when none is delegated (the
-- owners share equally); a certificate without owners leaves the reward account alone either
-- way. `owners_delegated` and `owners` count the pool-epoch's accounts of each kind.
CREATE FUNCTION share_weight(basis text, is_owner boolean, delegated boolean, balance bigint,
                             owners_delegated bigint, owners bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN basis = 'certificate' OR owners = 0 THEN balance
                WHEN owners_delegated = 0 THEN CASE WHEN is_owner THEN 1 END
                WHEN is_owner AND delegated THEN balance END
$$;

-- The stake share of an account of weight `weight` among `n` weighted accounts of total
-- weight `total`: equal parts when the total is 0; 0 for an account without weight.
CREATE FUNCTION stake_share_of(weight bigint, total numeric, n bigint)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN weight IS NULL THEN 0::numeric
                WHEN total = 0 THEN 1::numeric / n
                ELSE weight::numeric / total END
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
WHERE s.ra_registered AND eff.leader_reward > 0
UNION ALL
-- member rewards (docs/spec.md §5) go to accounts that are not owners: the reward account
SELECT s.boundary_epoch, a.cred, a.stake_address, a.pool_id, 'member', a.epoch_no,
       a.epoch_no + 2, o.member_rewards, eff.source
FROM reward_settlement s
JOIN pool_reward_effective eff ON eff.pool_id = s.pool_id AND eff.epoch_no = s.epoch_no
JOIN owner_reward o ON o.pool_id = s.pool_id AND o.epoch_no = s.epoch_no
                   AND o.source = eff.source
JOIN pool_owner_epoch_row a ON a.pool_id = o.pool_id AND a.epoch_no = o.epoch_no
                           AND a.cred = o.cred
WHERE s.ra_registered AND a.is_reward_account AND o.member_rewards > 0;

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
       COALESCE((SELECT b.balances_complete FROM chain_start b), true) AS balances_complete,
       p.share_accounts
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
       pe.rewards_source, pe.fee_uncertainty_lovelace, pe.balances_complete,
       CASE WHEN pe.rewards_status = 'lost' THEN 0 ELSE o.member_rewards END
           AS member_rewards_lovelace
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

-- ---------------------------------------------------------------------------------------------
-- Owner statements (second round): the reward balances the indexer knows, what threatens the
-- next snapshot's pledge, and what reached each owner.

-- Every credit to a reward account with the epoch of the withdrawal that took it (null: still
-- in the account). A withdrawal always takes the whole balance (docs/spec.md §6), and credits
-- at B(x) come before the withdrawals of epoch x, so a credit goes with the first withdrawal of
-- its boundary's epoch or later. The reward balance once B(x) credited it, before the
-- withdrawals of x, is then Σ amount over boundary_epoch <= x and withdrawn_epoch null or >= x:
-- credits minus withdrawals, where a credit the indexer never saw (before its start, an epoch
-- without figures) is never subtracted twice.
CREATE VIEW reward_credit_span AS
SELECT c.cred, c.stake_address, c.kind, c.boundary_epoch, c.amount,
       (SELECT min(w.epoch_no) FROM withdrawal_row w
         WHERE w.cred = c.cred AND w.epoch_no >= c.boundary_epoch) AS withdrawn_epoch
FROM reward_credit_all c;

-- At the tip, for every tracked pool: the pledge in effect for the next snapshot (taken at
-- B(E+1) for epoch E+2, E = the tip's epoch: P_{E+2}) against what its owners delegated to the
-- pool hold now (live UTxO, and the reward balances as far as the indexer knows them, with the
-- leader reward that B(E+1) will credit before the snapshot), how short it falls, and the last
-- slot whose state the snapshot takes (the last slot of E).
CREATE VIEW pledge_watch AS
WITH tip AS (
    SELECT c.epoch_no, b.era NOT IN ('conway', 'dijkstra') AS pointers
    FROM checkpoint c JOIN block b ON b.slot = c.slot
), calendar AS (
    -- where epoch E+1 starts, from the era summaries (the last era extrapolated, as
    -- indexer/chain/epochs.py does) and the system start the daemon keeps in meta
    SELECT x.slot + (tip.epoch_no + 1 - x.epoch)::bigint * x.length AS first_slot,
           (SELECT (n.value ->> 'system_start')::timestamptz FROM meta n WHERE n.key = 'network')
             + (x.time_s * 1000 + (tip.epoch_no + 1 - x.epoch)::bigint * x.length * x.slot_ms)
               * interval '1 millisecond' AS starts_at
    FROM tip, meta m
    CROSS JOIN LATERAL jsonb_array_elements(m.value) s
    CROSS JOIN LATERAL (SELECT (s #>> '{start,slot}')::bigint AS slot,
                               (s #>> '{start,epoch}')::integer AS epoch,
                               (s #>> '{start,time,seconds}')::bigint AS time_s,
                               (s #>> '{parameters,epochLength}')::bigint AS length,
                               COALESCE((s #>> '{parameters,slotLength,milliseconds}')::bigint,
                                        (s #>> '{parameters,slotLength,seconds}')::bigint * 1000)
                                   AS slot_ms) x
    WHERE m.key = 'era_summaries' AND x.epoch <= tip.epoch_no + 1
    ORDER BY x.epoch DESC
    LIMIT 1
), tracked AS (
    -- [indexer] pools, as the daemon keeps them in meta; null = every pool
    SELECT CASE WHEN jsonb_typeof(m.value -> 'pools') = 'array'
                THEN ARRAY(SELECT decode(h, 'hex')
                           FROM jsonb_array_elements_text(m.value -> 'pools') h) END AS pools
    FROM (SELECT NULL) one LEFT JOIN meta m ON m.key = 'tracked_pools'
), params AS (
    -- P_{E+2} of every tracked pool (as function pool_registration), unless reaped
    SELECT DISTINCT ON (c.pool_hash) c.*
    FROM tip, tracked t, pool_cert c
    WHERE c.kind = 'registration' AND c.active_epoch_no <= tip.epoch_no + 2
      AND (t.pools IS NULL OR c.pool_hash = ANY (t.pools))
      AND NOT EXISTS (SELECT 1 FROM pool_reap r
                      WHERE r.pool_hash = c.pool_hash AND r.boundary_epoch > c.epoch_no
                        AND r.boundary_epoch + 1 < tip.epoch_no + 2)
    ORDER BY c.pool_hash, c.slot DESC, c.tx_index DESC, c.cert_index DESC
), owners AS (
    SELECT DISTINCT p.pool_id, p.pool_hash, o.cred, o.addr
    FROM params p CROSS JOIN LATERAL unnest(p.owner_creds, p.owners) AS o (cred, addr)
), pending AS (
    -- the leader rewards of E-1 that B(E+1) credits before it takes the snapshot
    SELECT pe.reward_cred AS cred, sum(eff.leader_reward) AS lovelace
    FROM tip
    JOIN pool_epoch_row pe ON pe.epoch_no = tip.epoch_no - 1
    JOIN pool_reward_effective eff ON eff.pool_id = pe.pool_id AND eff.epoch_no = pe.epoch_no
    WHERE eff.leader_reward > 0 AND pe.reward_cred IN (SELECT cred FROM owners)
      AND (SELECT g.registered FROM stake_registration g WHERE g.cred = pe.reward_cred
           LIMIT 1)
      AND NOT EXISTS (SELECT 1 FROM reward_settlement s
                      WHERE s.pool_id = pe.pool_id AND s.epoch_no = pe.epoch_no)
    GROUP BY pe.reward_cred
), rewards AS (
    SELECT r.cred, sum(r.amount) AS lovelace
    FROM reward_credit_span r
    WHERE r.cred IN (SELECT cred FROM owners) AND r.withdrawn_epoch IS NULL
    GROUP BY r.cred
), stake AS (
    SELECT o.pool_id, o.addr, COALESCE(u.lovelace, 0) AS utxo,
           COALESCE(rw.lovelace, 0) + COALESCE(pd.lovelace, 0) AS rewards,
           d.pool_hash IS NOT DISTINCT FROM o.pool_hash AS delegated
    FROM owners o
    CROSS JOIN tip
    LEFT JOIN LATERAL (  -- per owner: the outputs' indexes, not a scan of the UTxO set
        SELECT sum(x.lovelace) AS lovelace FROM live_stake_output x
        WHERE x.cred = o.cred AND (tip.pointers OR NOT x.via_pointer)) u ON true
    LEFT JOIN rewards rw ON rw.cred = o.cred
    LEFT JOIN pending pd ON pd.cred = o.cred
    LEFT JOIN LATERAL (  -- LIMIT: looked up per owner, not joined with every credential's
        SELECT x.pool_hash FROM stake_delegation x WHERE x.cred = o.cred LIMIT 1) d ON true
), per_pool AS (
    SELECT pool_id,
           COALESCE(sum(utxo) FILTER (WHERE delegated), 0) AS utxo,
           COALESCE(sum(rewards) FILTER (WHERE delegated), 0) AS rewards,
           array_agg(addr ORDER BY addr) FILTER (WHERE NOT delegated) AS undelegated
    FROM stake GROUP BY pool_id
)
SELECT p.pool_id, tip.epoch_no, tip.epoch_no + 2 AS snapshot_epoch_no,
       p.pledge AS pledge_lovelace,
       COALESCE(s.utxo, 0)::bigint AS owners_delegated_balance_lovelace,
       COALESCE(s.rewards, 0)::bigint AS owners_reward_balance_lovelace,
       GREATEST(p.pledge - COALESCE(s.utxo, 0) - COALESCE(s.rewards, 0), 0)::numeric(20, 0)
           AS shortfall_lovelace,
       cal.first_slot - 1 AS snapshot_slot,
       floor(extract(epoch FROM cal.starts_at - now()))::bigint AS seconds_to_snapshot,
       p.pledge > COALESCE(s.utxo, 0) + COALESCE(s.rewards, 0) AS at_risk,
       COALESCE(s.undelegated, '{}') AS undelegated_owners
FROM params p
CROSS JOIN tip
LEFT JOIN calendar cal ON true
LEFT JOIN per_pool s ON s.pool_id = p.pool_id;
COMMENT ON VIEW pledge_watch IS 'Public view (docs/spec.md §7): one row per tracked pool, now.';

-- Transfers from a pool's side to its owners. `chain`: in a transaction that withdraws from
-- one of the pool's reward accounts, what an owner's stake credential (base or pointer
-- address) gained: its outputs minus the outputs it spent and its own withdrawals, when
-- positive (so the change of whoever pays, and a reward account paying itself, never count).
-- Owners are those of the pool's certificates up to the transaction. `recorded`: entered with
-- `indexer payout add`, unless the chain shows the same transfer.
CREATE VIEW owner_payout AS
WITH tx_pool AS (
    -- the transactions (with stored flows) that withdraw from a reward account of the pool
    SELECT DISTINCT w.slot, w.tx_index, w.tx_id, w.epoch_no, c.pool_id, c.pool_hash
    FROM pool_cert c
    JOIN withdrawal_row w ON w.cred = c.reward_cred
                         AND (w.slot, w.tx_index) >= (c.slot, c.tx_index)
    WHERE c.kind = 'registration'
      AND EXISTS (SELECT 1 FROM pool_epoch_row pe WHERE pe.pool_id = c.pool_id)
      AND EXISTS (SELECT 1 FROM payout_flow f WHERE f.slot = w.slot AND f.tx_index = w.tx_index)
), owner AS (
    SELECT DISTINCT t.slot, t.tx_index, t.tx_id, t.epoch_no, t.pool_id, o.cred, o.addr
    FROM tx_pool t
    JOIN pool_cert c ON c.kind = 'registration' AND c.pool_hash = t.pool_hash
                    AND (c.slot, c.tx_index) <= (t.slot, t.tx_index)
    CROSS JOIN LATERAL unnest(c.owner_creds, c.owners) AS o (cred, addr)
), chain AS NOT MATERIALIZED (
    SELECT o.pool_id, o.addr AS stake_address, encode(o.tx_id, 'hex') AS tx_id, o.slot,
           o.epoch_no, g.lovelace::bigint AS amount_lovelace
    FROM owner o
    CROSS JOIN LATERAL (
        SELECT COALESCE((SELECT sum(f.lovelace) FROM payout_flow f
                         LEFT JOIN stake_event e ON f.cred IS NULL AND e.kind = 0
                              AND e.slot = f.ptr_slot AND e.tx_index = f.ptr_tx
                              AND e.cert_index = f.ptr_cert
                         WHERE f.slot = o.slot AND f.tx_index = o.tx_index
                           AND COALESCE(f.cred, e.cred) = o.cred), 0)
             - COALESCE((SELECT sum(w.amount) FROM withdrawal_row w
                         WHERE w.slot = o.slot AND w.tx_index = o.tx_index
                           AND w.cred = o.cred), 0) AS lovelace
    ) g
    WHERE g.lovelace > 0
)
SELECT c.pool_id, c.stake_address, c.tx_id, c.slot, c.epoch_no, c.amount_lovelace,
       'chain'::text AS kind, NULL::text AS note
FROM chain c
UNION ALL
SELECT r.pool_id, r.stake_address, encode(r.tx_id, 'hex'), NULL, r.epoch_no, r.amount,
       'recorded', r.note
FROM recorded_payout r
WHERE NOT EXISTS (SELECT 1 FROM chain c
                  WHERE c.pool_id = r.pool_id AND c.stake_address = r.stake_address
                    AND c.tx_id = encode(r.tx_id, 'hex'));
COMMENT ON VIEW owner_payout IS 'Public view (docs/spec.md §7): one row per transfer from the pool''s side to an owner.';

-- Per tracked pool and account: what it is owed (its rewards of credited and imported epochs),
-- what was paid to it (owner_payout), what is due, and the last spendable epoch counted.
-- `kept_lovelace`: the part of `owed` from epochs in which the account was itself the reward
-- account (credited to it, it never leaves); `to_transfer_lovelace` = owed - kept - paid.
CREATE VIEW owner_settlement AS
WITH owed AS (
    SELECT o.pool_id, o.stake_address,
           sum(o.rewards_lovelace) AS owed,
           sum(o.rewards_lovelace) FILTER (WHERE o.is_reward_account) AS kept,
           max(o.spendable_epoch) AS last_spendable_epoch
    FROM pool_owner_epoch o
    WHERE o.rewards_status IN ('credited', 'imported')
    GROUP BY o.pool_id, o.stake_address
), paid AS NOT MATERIALIZED (
    SELECT p.pool_id, p.stake_address, sum(p.amount_lovelace) AS paid
    FROM owner_payout p GROUP BY p.pool_id, p.stake_address
), accounts AS (
    SELECT DISTINCT a.pool_id, a.stake_address FROM pool_owner_epoch_row a
    UNION
    SELECT p.pool_id, p.stake_address FROM paid p
)
SELECT a.pool_id, a.stake_address,
       COALESCE(o.owed, 0)::bigint AS owed_lovelace,
       COALESCE(p.paid, 0)::bigint AS paid_lovelace,
       (COALESCE(o.owed, 0) - COALESCE(p.paid, 0))::bigint AS due_lovelace,
       o.last_spendable_epoch,
       COALESCE(o.kept, 0)::bigint AS kept_lovelace,
       (COALESCE(o.owed, 0) - COALESCE(o.kept, 0) - COALESCE(p.paid, 0))::bigint
           AS to_transfer_lovelace
FROM accounts a
LEFT JOIN owed o ON o.pool_id = a.pool_id AND o.stake_address = a.stake_address
LEFT JOIN paid p ON p.pool_id = a.pool_id AND p.stake_address = a.stake_address;
COMMENT ON VIEW owner_settlement IS 'Public view (docs/spec.md §7): one row per tracked pool and account.';
