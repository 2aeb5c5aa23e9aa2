-- drip's tables, types and roles (loaded by the extension's install script).
-- Every amount is bigint drops; every time is timestamptz.

-- Roles are cluster-wide: the first database to install drip creates them.
-- Creating and tolerating a duplicate (not check-then-create) keeps two
-- concurrent installs from racing. Each role is what one kind of caller
-- holds, and gets only the functions that caller uses.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
        ('drip_merchant', 'drip: the merchant''s web server (create, read and destroy sessions; unit debts)'),
        ('drip_payer', 'drip: the payer-facing path (inquire, agree, amount due, pay, refresh; each call names its session''s drip token)'),
        ('drip_ilp', 'drip: the ILP server (accounts, claims, packets; bounds from drip.ilp_settings)'),
        ('drip_ledger', 'drip: the ledger worker (facts from the validated ledger, outbox, ILP settings)'),
        ('drip_admin', 'drip: operators (terms, views, requeue a claim)'),
        ('drip_http', 'drip: the HTTP 402 front door (MPP sessions: a channel''s accepted total, vouchers)'),
        ('drip_app', 'drip 0.1.0''s web role, kept for its grantees: drip_merchant and drip_payer')) AS roles (name, purpose)
    LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
        EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, r.purpose);
    END LOOP;
    -- 0.1.0's drip_app did both sessions' parts: its grantees keep them and
    -- nothing more. Operators no longer inherit it.
    FOR r IN SELECT * FROM (VALUES ('drip_merchant'), ('drip_payer')) AS g (name)
             WHERE NOT pg_has_role('drip_app', g.name, 'MEMBER')
    LOOP
        EXECUTE format('GRANT %I TO drip_app', r.name);
    END LOOP;
    IF EXISTS (SELECT FROM pg_auth_members m
               WHERE m.roleid = 'drip_app'::regrole AND m.member = 'drip_admin'::regrole) THEN
        REVOKE drip_app FROM drip_admin;
    END IF;
END
$$;

CREATE TYPE drip.payment_type AS ENUM ('time', 'unit', 'both');
CREATE TYPE drip.session_state AS ENUM (
    'created',   -- session made, no agreement yet
    'pending',   -- agreement received, channel being checked on the ledger
    'active',    -- channel confirmed: debts accrue, claims are taken
    'closing',   -- destroyed, expired or past due: claim-and-close queued
    'closed'     -- the channel's final claim is on the ledger
);
CREATE TYPE drip.proposal_kind AS ENUM ('initial', 'refresh');
CREATE TYPE drip.outbox_kind AS ENUM ('verify_channel', 'verify_fund', 'claim', 'claim_and_close', 'offload',
    'ilp_channel', 'ilp_fund');
CREATE TYPE drip.outbox_state AS ENUM ('queued', 'submitted', 'done', 'failed');
-- Why drip refused: the reason of every refusal drip's functions answer
-- (drip.payment, drip.agreement, drip.unit_debt, the ILP results). An
-- enum, so that a caller's exhaustive match learns of a new one.
CREATE TYPE drip.reason AS ENUM (
    -- a session, a claim, a unit debt
    'not_found', 'not_active', 'bad_signature', 'not_above_best', 'exceeds_channel',
    'session_ending', 'awaiting_payment', 'not_unit_based', 'not_positive', 'already_ending',
    -- an agreement or a refresh
    'already_agreed', 'not_an_initial_proposal', 'not_a_refresh_proposal', 'proposal_expired',
    'not_pending', 'not_submitted', 'not_checked',
    -- the channel or fund on the validated ledger is not the proposal's
    'memo_mismatch', 'wrong_destination', 'wrong_destination_tag', 'underfunded',
    'settle_delay_too_short', 'bad_public_key', 'cancel_after_too_soon', 'expiration_too_soon',
    'bad_channel_id', 'channel_in_use', 'wrong_channel', 'not_a_channel_create',
    'no_channel_created', 'channel_not_on_ledger', 'not_a_fund_of_this_channel', 'tx_failed',
    'tx_not_validated',
    -- ILP
    'malformed', 'no_channel', 'blocked', 'channel_expires', 'channel_exists',
    'no_incoming_channel', 'incoming_channel_too_small', 'other_destination', 'not_held', 'expired',
    -- HTTP 402 (MPP sessions): a voucher at, below, or short of a price
    -- above the channel's accepted total; a channel drip is closing; a
    -- payer who is not the channel's; a challenge answered before
    'replayed', 'below_best', 'underpaid', 'finalized', 'wrong_source', 'challenge_used'
);

-- The one-column rules of the two tables every accepted claim writes
-- (drip.channels and the drip.claims audit) are domains: PostgreSQL
-- checks a domain only where a value is assigned to it, from a cached
-- expression, while a table's CHECKs are rebuilt from their stored text and
-- all evaluated in every UPDATE statement (see BENCHMARKS.md, drip.pay).
CREATE DOMAIN drip.hash256 AS bytea CHECK (length(VALUE) = 32);
COMMENT ON DOMAIN drip.hash256 IS 'An XRPL Hash256 (a channel id): 32 bytes.';
CREATE DOMAIN drip.public_key AS bytea CHECK (length(VALUE) = 33);
COMMENT ON DOMAIN drip.public_key IS 'An XRPL public key: 33 bytes (0xED and an Ed25519 key, or a compressed secp256k1 key).';
CREATE DOMAIN drip.drops AS bigint CHECK (VALUE >= 0);
COMMENT ON DOMAIN drip.drops IS 'An amount of XRP in drops, zero or more.';
CREATE DOMAIN drip.positive_drops AS bigint CHECK (VALUE > 0);
COMMENT ON DOMAIN drip.positive_drops IS 'An amount of XRP in drops, more than zero.';
CREATE DOMAIN drip.seconds AS integer CHECK (VALUE >= 0);
COMMENT ON DOMAIN drip.seconds IS 'A duration in whole seconds, zero or more.';

-- The operator's terms: one row, edited by drip_admin.
CREATE TABLE drip.terms (
    id                    boolean PRIMARY KEY DEFAULT true CHECK (id),
    payment_type          drip.payment_type NOT NULL DEFAULT 'both',
    polling_interval_secs integer NOT NULL DEFAULT 60 CHECK (polling_interval_secs > 0),
    channel_funding       bigint NOT NULL DEFAULT 1000000 CHECK (channel_funding > 0),
    session_length_secs   integer NOT NULL DEFAULT 1800 CHECK (session_length_secs > 0),
    min_settle_delay_secs integer NOT NULL DEFAULT 1800 CHECK (min_settle_delay_secs >= 0),
    inquiry_ttl_secs      integer NOT NULL DEFAULT 60 CHECK (inquiry_ttl_secs > 0),
    destination           text,
    destination_tag       bigint CHECK (destination_tag BETWEEN 0 AND 4294967295),
    past_due_limit        integer NOT NULL DEFAULT 10 CHECK (past_due_limit >= 0),
    claim_window_secs     integer NOT NULL DEFAULT 300 CHECK (claim_window_secs >= 0),
    domain                text NOT NULL DEFAULT 'localhost',
    updated_at            timestamptz NOT NULL DEFAULT now()
);
INSERT INTO drip.terms DEFAULT VALUES;

-- The server's proposal-signing key. Only the extension's owner reads it;
-- drip.server_public_key() publishes the public half.
CREATE TABLE drip.server_key (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret     bytea NOT NULL CHECK (length(secret) = 32),
    public_key bytea NOT NULL CHECK (length(public_key) = 33),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE drip.sessions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id       text NOT NULL UNIQUE CHECK (length(session_id) BETWEEN 1 AND 256),
    drip_token       text NOT NULL UNIQUE,
    uri              text NOT NULL,
    state            drip.session_state NOT NULL DEFAULT 'created',
    client_address   text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    active_at        timestamptz,
    ends_at          timestamptz,
    past_due_strikes integer NOT NULL DEFAULT 0 CHECK (past_due_strikes >= 0),
    -- Polling intervals already judged paid or unpaid by drip.sweep.
    intervals_checked bigint NOT NULL DEFAULT 0 CHECK (intervals_checked >= 0),
    -- When drip.sweep must next look at this session.
    next_check_at    timestamptz,
    end_reason       text,
    -- Copied from the accepted initial proposal when the session goes active,
    -- with the running total of unit debts, so that what is due comes from
    -- this one row (drip.pay's hot path).
    payment_type          drip.payment_type,
    rate                  bigint CHECK (rate >= 0),
    polling_interval_secs integer CHECK (polling_interval_secs > 0),
    unit_debt             bigint NOT NULL DEFAULT 0 CHECK (unit_debt >= 0),
    CONSTRAINT sessions_terms_check CHECK (active_at IS NULL
        OR (payment_type IS NOT NULL AND rate IS NOT NULL AND polling_interval_secs IS NOT NULL))
);
CREATE INDEX sessions_state_idx ON drip.sessions (state) WHERE state IN ('pending', 'active', 'closing');
CREATE INDEX sessions_next_check_idx ON drip.sessions (next_check_at) WHERE state = 'active';

-- Proposals snapshot the terms they were made under.
CREATE TABLE drip.proposals (
    proposal_id           text PRIMARY KEY,
    session               bigint NOT NULL REFERENCES drip.sessions (id),
    kind                  drip.proposal_kind NOT NULL,
    payment_type          drip.payment_type NOT NULL,
    rate                  bigint NOT NULL CHECK (rate >= 0),
    polling_interval_secs integer NOT NULL CHECK (polling_interval_secs > 0),
    channel_funding       bigint NOT NULL CHECK (channel_funding > 0),
    settle_delay_secs     integer NOT NULL CHECK (settle_delay_secs >= 0),
    session_length_secs   integer NOT NULL CHECK (session_length_secs > 0),
    destination           text NOT NULL,
    destination_tag       bigint,
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL,
    tx_hash               bytea CHECK (length(tx_hash) = 32),
    accepted_at           timestamptz
);
CREATE INDEX proposals_session_idx ON drip.proposals (session);
-- drip.sweep expires proposals nobody agreed to.
CREATE INDEX proposals_open_idx ON drip.proposals (expires_at) WHERE tx_hash IS NULL AND accepted_at IS NULL;

-- The ILP server's accounts (the asymmetric XRP plugin): one per BTP
-- client identity. The first connection binds the token; a later one must
-- present the same.
CREATE TABLE drip.ilp_accounts (
    account      text PRIMARY KEY CHECK (length(account) BETWEEN 1 AND 128),
    token_hash   bytea NOT NULL CHECK (length(token_hash) = 32),
    -- Packets from the client fulfilled or in flight, cumulative, in the
    -- server's base units: what its claims must cover (bandwidth aside).
    prepared     bigint NOT NULL DEFAULT 0 CHECK (prepared >= 0),
    -- Drops paid by the claims of its closed channels.
    settled      bigint NOT NULL DEFAULT 0 CHECK (settled >= 0),
    blocked      boolean NOT NULL DEFAULT false,
    block_reason text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- A channel drip holds claims on, as the validated ledger describes it,
-- and the best claim: a drip session's, or an ILP account's incoming one.
CREATE TABLE drip.channels (
    channel_id      drip.hash256 PRIMARY KEY,
    session         bigint UNIQUE REFERENCES drip.sessions (id),
    source_account  text NOT NULL,
    public_key      drip.public_key NOT NULL,
    amount          drip.positive_drops NOT NULL,
    settle_delay    drip.seconds NOT NULL,
    expiration      timestamptz,
    cancel_after    timestamptz,
    destination_tag bigint,
    ledger_balance  drip.drops NOT NULL DEFAULT 0,
    best_claim      drip.drops NOT NULL DEFAULT 0,
    best_signature  bytea,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    ilp_account     text REFERENCES drip.ilp_accounts (account),
    -- When it left the ledger.
    closed_at       timestamptz,
    -- Paid over HTTP 402 (an MPP session): no session or ILP account owns it.
    mpp             boolean NOT NULL DEFAULT false,
    -- When drip stopped taking claims on it, to redeem the best and close.
    finalized_at    timestamptz,
    CHECK (best_claim <= amount),
    CHECK (ledger_balance <= amount),
    CHECK ((best_claim = 0) = (best_signature IS NULL)),
    CONSTRAINT channels_owner_check CHECK (num_nonnulls(session, ilp_account, nullif(mpp, false)) = 1)
);
-- An ILP account has one open incoming channel at a time.
CREATE UNIQUE INDEX channels_ilp_open_idx ON drip.channels (ilp_account)
    WHERE ilp_account IS NOT NULL AND closed_at IS NULL;
-- HTTP 402 channels still taking vouchers (drip.sweep finalizes them at
-- their claim deadline).
CREATE INDEX channels_mpp_open_idx ON drip.channels (channel_id)
    WHERE mpp AND finalized_at IS NULL AND closed_at IS NULL;

-- The server's channel to an ILP client, paid out by drip's claims: one per
-- account, opened through the outbox when the client asks (fund_channel),
-- so a crash can never open two.
CREATE TABLE drip.ilp_outgoing (
    account     text PRIMARY KEY REFERENCES drip.ilp_accounts (account),
    -- The client's XRPL address, and the key drip derived for the account.
    destination text NOT NULL,
    public_key  bytea NOT NULL CHECK (length(public_key) = 33),
    state       text NOT NULL DEFAULT 'opening' CHECK (state IN ('opening', 'open', 'failed', 'closed')),
    channel_id  bytea UNIQUE CHECK (length(channel_id) = 32),
    -- Drops the channel holds as the validated ledger has them (asked for,
    -- while opening), and drops of a PaymentChannelFund under way.
    amount      bigint NOT NULL CHECK (amount > 0),
    funding     bigint CHECK (funding > 0),
    -- Base units of the server's asset scale: paid to the client by claims
    -- (cumulative), and held by packets to it still in flight.
    signed      bigint NOT NULL DEFAULT 0 CHECK (signed >= 0),
    reserved    bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (state IN ('opening', 'failed') OR channel_id IS NOT NULL)
);

-- An ILP packet's amount while it is in flight: counted against its sender
-- (ilp_accounts.prepared) and, for a packet to another client, held on the
-- server's channel to it (ilp_outgoing.reserved). The sidecar's answer
-- releases or fulfils it; once the packet expired, drip.ilp_release_expired
-- releases it, so a crash or a lost answer never holds it for ever. A
-- fulfilled hold is kept until then, so a repeated fulfilment pays once.
CREATE TABLE drip.ilp_holds (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account      text NOT NULL REFERENCES drip.ilp_accounts (account),
    receiver     text REFERENCES drip.ilp_outgoing (account),
    amount       bigint NOT NULL CHECK (amount > 0),
    expires_at   timestamptz NOT NULL,
    fulfilled_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ilp_holds_expires_idx ON drip.ilp_holds (expires_at);

-- The ILP server's bounds, written by the ledger role (drip.ilp_configure)
-- and read by every ILP function, so the ILP role cannot choose them per
-- call: base units are of asset_scale; a client's packets may run
-- bandwidth base units ahead of its claims; a hold lasts at most
-- max_hold_secs; the server's channel to a client holds
-- outgoing_channel_amount drops (and each top-up adds as much), for a
-- client whose own channel holds min_incoming_channel_amount.
CREATE TABLE drip.ilp_settings (
    id                          boolean PRIMARY KEY DEFAULT true CHECK (id),
    asset_scale                 integer NOT NULL DEFAULT 6 CHECK (asset_scale BETWEEN 0 AND 19),
    bandwidth                   bigint NOT NULL DEFAULT 0 CHECK (bandwidth >= 0),
    max_hold_secs               integer NOT NULL DEFAULT 30 CHECK (max_hold_secs BETWEEN 1 AND 3600),
    outgoing_channel_amount     bigint NOT NULL DEFAULT 1000000 CHECK (outgoing_channel_amount > 0),
    min_incoming_channel_amount bigint NOT NULL DEFAULT 10000000 CHECK (min_incoming_channel_amount >= 0),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO drip.ilp_settings DEFAULT VALUES;

-- Unit purchases the web server records.
CREATE TABLE drip.debts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session    bigint NOT NULL REFERENCES drip.sessions (id),
    amount     bigint NOT NULL CHECK (amount > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX debts_session_idx ON drip.debts (session);

-- Every accepted claim, append-only. A channel's accepted amounts strictly
-- rise, so (channel, amount) is the key.
CREATE TABLE drip.claims (
    channel_id  drip.hash256 NOT NULL REFERENCES drip.channels (channel_id),
    amount      drip.positive_drops NOT NULL,
    signature   bytea NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, amount)
);

-- Ledger work for the sidecar. The row is the truth; NOTIFY only wakes it.
CREATE TABLE drip.outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            drip.outbox_kind NOT NULL,
    session         bigint REFERENCES drip.sessions (id),
    proposal_id     text REFERENCES drip.proposals (proposal_id),
    channel_id      bytea,
    state           drip.outbox_state NOT NULL DEFAULT 'queued',
    attempts        integer NOT NULL DEFAULT 0,
    tx_hash         bytea,
    last_ledger_seq bigint,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- drip's own signed transaction, kept from before it is submitted so a
    -- restarted sidecar can follow or resubmit it (the same blob can apply
    -- at most once).
    tx_blob         bytea,
    -- The ILP account whose outgoing channel the job opens or funds.
    ilp_account     text REFERENCES drip.ilp_accounts (account),
    -- Not taken before this: a worker's lease, or the backoff after a
    -- failed attempt (NULL: at once).
    not_before      timestamptz,
    -- Attempts that failed in a row; at drip._outbox_max_failures a job
    -- with nothing in flight is failed.
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0)
);
CREATE INDEX outbox_open_idx ON drip.outbox (id) WHERE state IN ('queued', 'submitted');
-- One close under way per channel: a second would only spend a fee.
CREATE UNIQUE INDEX outbox_one_close_idx ON drip.outbox (channel_id)
    WHERE kind = 'claim_and_close' AND state IN ('queued', 'submitted');

CREATE FUNCTION drip.notify_outbox() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_notify('drip_ledger', NEW.id::text);
    RETURN NEW;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON drip.outbox
    FOR EACH ROW EXECUTE FUNCTION drip.notify_outbox();

-- Drops drip accepted claims for but the ledger never paid, with why: a
-- channel that closed (or expired) before its best claim was redeemed.
CREATE TABLE drip.losses (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id  drip.hash256 NOT NULL REFERENCES drip.channels (channel_id),
    amount      drip.positive_drops NOT NULL,
    reason      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX losses_channel_idx ON drip.losses (channel_id);

-- HTTP 402 challenges answered with an accepted payment: each pays once.
-- Kept until they expire (an expired one is refused anyway); drip.sweep
-- deletes them after.
CREATE TABLE drip.mpp_challenges (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    channel_id drip.hash256 NOT NULL REFERENCES drip.channels (channel_id),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mpp_challenges_expires_idx ON drip.mpp_challenges (expires_at);

-- Nobody but the owner touches tables directly; access is through functions.
REVOKE ALL ON ALL TABLES IN SCHEMA drip FROM PUBLIC;
GRANT USAGE ON SCHEMA drip TO drip_merchant, drip_payer, drip_ilp, drip_ledger, drip_admin, drip_http;
GRANT SELECT, UPDATE ON drip.terms TO drip_admin;
GRANT SELECT ON drip.ilp_settings TO drip_admin, drip_ledger;
