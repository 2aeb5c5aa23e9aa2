-- drip 0.1.0 → 0.2.0
--
-- What a session owes now comes from its own row: the rate, polling
-- interval and payment type of the accepted proposal and a running total of
-- unit debts are kept on drip.sessions (backfilled here), so drip.pay reads
-- one session and one channel in one locking statement. The claims audit is
-- keyed by (channel, amount). drip.sweep is one set-based statement.
-- Proposals waiting for an agreement are indexed for sweep's expiry.
-- The one-column rules of drip.channels and drip.claims are domains
-- (drip.hash256, drip.public_key, drip.drops, drip.positive_drops,
-- drip.seconds).
-- Channels keep their secp256k1 key's multiplication tables
-- (drip.channels.prepared_key), generated from the key, for drip.pay.
-- The sidecar's side of the outbox: take_outbox, outbox_submitted (with the
-- signed blob kept in the new outbox.tx_blob), outbox_requeue and
-- reject_agreement, watched_channels; and agreement_state for web servers.
-- ILP accounts (drip.ilp_accounts) with their incoming channels in
-- drip.channels, the server's outgoing channels (drip.ilp_outgoing), the
-- amounts packets in flight hold until they expire (drip.ilp_holds), and
-- the ILP server's functions.
--
-- Once 0.2.0 is released, never edit this file: write the next one.

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

GRANT USAGE ON SCHEMA drip TO drip_merchant, drip_payer, drip_ilp, drip_http;
REVOKE USAGE ON SCHEMA drip FROM drip_app;

-- Outbox work for the ILP server's outgoing channels.
ALTER TYPE drip.outbox_kind ADD VALUE 'ilp_channel';
ALTER TYPE drip.outbox_kind ADD VALUE 'ilp_fund';

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
ALTER TYPE drip.agreement ALTER ATTRIBUTE reason TYPE drip.reason;
ALTER TYPE drip.payment ALTER ATTRIBUTE reason TYPE drip.reason;
ALTER TYPE drip.unit_debt ALTER ATTRIBUTE reason TYPE drip.reason;
-- An agreement refused by a failed transaction: its reason without the code.
UPDATE drip.outbox SET last_error = 'tx_failed'
WHERE kind IN ('verify_channel', 'verify_fund') AND last_error LIKE 'tx\_failed\_%';

-- The money rules are drip_core's, whole: what a session owes (time and
-- unit debts, capped by the channel), a unit debt's admission, the
-- past-due rule. _time_due and _time_due_after go (at the end).
CREATE FUNCTION drip."_amount_due"("payment_type" text, "rate" bigint, "polling_interval_secs" integer,
    "active_at" timestamptz, "at" timestamptz, "unit_debt" bigint, "channel_amount" bigint)
RETURNS bigint IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'amount_due_wrapper';
CREATE FUNCTION drip."_due_after"("payment_type" text, "rate" bigint, "charged" bigint, "units" bigint,
    "channel_amount" bigint)
RETURNS bigint IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'due_after_wrapper';
CREATE FUNCTION drip."_judge_intervals"("strikes_before" integer, "checked" bigint, "ended" bigint,
    "best" bigint, "due" bigint, "past_due_limit" integer)
RETURNS TABLE ("strikes" integer, "struck" bool, "past_due" bool) IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'judge_intervals_wrapper';
CREATE FUNCTION drip."_voucher_denial"("amount" bigint, "best" bigint, "deposit" bigint, "price" bigint)
RETURNS text IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'voucher_denial_wrapper';
DROP FUNCTION drip._unit_debt_denial(text, bigint, bigint, bigint, bigint, bigint);
CREATE FUNCTION drip."_unit_debt_denial"("payment_type" text, "rate" bigint, "polling_interval_secs" integer,
    "active_at" timestamptz, "at" timestamptz, "unit_debt" bigint, "amount" bigint, "channel_amount" bigint)
RETURNS text IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'admit_unit_debt_wrapper';
-- A setting nothing read.
ALTER TABLE drip.terms DROP COLUMN expired_window_secs;

ALTER TABLE drip.sessions
    ADD COLUMN payment_type drip.payment_type,
    ADD COLUMN rate bigint CHECK (rate >= 0),
    ADD COLUMN polling_interval_secs integer CHECK (polling_interval_secs > 0),
    ADD COLUMN unit_debt bigint NOT NULL DEFAULT 0 CHECK (unit_debt >= 0);
UPDATE drip.sessions s
SET payment_type = p.payment_type, rate = p.rate, polling_interval_secs = p.polling_interval_secs
FROM drip.proposals p
WHERE p.session = s.id AND p.kind = 'initial' AND p.accepted_at IS NOT NULL;
UPDATE drip.sessions s SET unit_debt = d.total
FROM (SELECT session, sum(amount)::bigint AS total FROM drip.debts GROUP BY session) d
WHERE d.session = s.id;
ALTER TABLE drip.sessions ADD CONSTRAINT sessions_terms_check CHECK (active_at IS NULL
    OR (payment_type IS NOT NULL AND rate IS NOT NULL AND polling_interval_secs IS NOT NULL));

CREATE INDEX proposals_open_idx ON drip.proposals (expires_at) WHERE tx_hash IS NULL AND accepted_at IS NULL;

-- The one-column rules of the two tables every accepted claim writes
-- (drip.channels, drip.claims) become domains
-- (checked only where a value is assigned, from a cached expression; a
-- table's CHECKs are rebuilt and all evaluated in every UPDATE). The views
-- over their columns are made again over the new types.
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
DROP VIEW drip.exposure;
DROP VIEW drip.sessions_overview;
DROP VIEW drip.channels_by_deadline;
DROP VIEW drip.revenue_by_day;
ALTER TABLE drip.channels
    DROP CONSTRAINT channels_channel_id_check,
    DROP CONSTRAINT channels_public_key_check,
    DROP CONSTRAINT channels_amount_check,
    DROP CONSTRAINT channels_settle_delay_check,
    DROP CONSTRAINT channels_ledger_balance_check,
    DROP CONSTRAINT channels_best_claim_check,
    ALTER COLUMN channel_id TYPE drip.hash256,
    ALTER COLUMN public_key TYPE drip.public_key,
    ALTER COLUMN amount TYPE drip.positive_drops,
    ALTER COLUMN settle_delay TYPE drip.seconds,
    ALTER COLUMN ledger_balance TYPE drip.drops,
    ALTER COLUMN best_claim TYPE drip.drops;
ALTER TABLE drip.claims
    DROP CONSTRAINT claims_amount_check,
    ALTER COLUMN channel_id TYPE drip.hash256,
    ALTER COLUMN amount TYPE drip.positive_drops;

CREATE VIEW drip.channels_by_deadline AS
SELECT encode(c.channel_id, 'hex') AS channel_id, s.session_id, s.state, c.amount, c.best_claim,
       drip._claim_deadline(s.ends_at, c.expiration, c.cancel_after) AS claim_by,
       drip._claim_deadline(s.ends_at, c.expiration, c.cancel_after) - now() AS time_left
FROM drip.channels c JOIN drip.sessions s ON s.id = c.session
WHERE s.state IN ('active', 'closing')
ORDER BY claim_by;
COMMENT ON VIEW drip.channels_by_deadline IS 'Open channels, soonest claim deadline first.';
GRANT SELECT ON drip.channels_by_deadline TO drip_admin;

CREATE VIEW drip.revenue_by_day AS
SELECT date_trunc('day', accepted_at) AS day,
       sum(amount - coalesce(previous, 0))::bigint AS drops_claimed,
       count(*) AS claims
FROM (SELECT accepted_at, amount,
             lag(amount) OVER (PARTITION BY channel_id ORDER BY amount) AS previous
      FROM drip.claims) increments
GROUP BY 1 ORDER BY 1;
COMMENT ON VIEW drip.revenue_by_day IS 'Drops newly secured by accepted claims, per day.';
GRANT SELECT ON drip.revenue_by_day TO drip_admin;

ALTER TABLE drip.claims DROP COLUMN id;
DROP INDEX drip.claims_channel_idx;
ALTER TABLE drip.claims ADD PRIMARY KEY (channel_id, amount);

-- _due now takes the channel's amount (all it used of the channel).
DROP FUNCTION drip._due(drip.sessions, drip.channels);
CREATE FUNCTION drip._due_at(s drip.sessions, channel_amount bigint, p_at timestamptz) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT drip._amount_due(s.payment_type::text, s.rate, s.polling_interval_secs, s.active_at,
                            p_at, s.unit_debt, channel_amount)
$$;

CREATE FUNCTION drip._due(s drip.sessions, channel_amount bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT drip._due_at(s, channel_amount, pg_catalog.now())
$$;

-- WatchSession maps drip_session notices (session ids) to its session.
ALTER TYPE drip.amount_due ADD ATTRIBUTE notice_id bigint;
CREATE OR REPLACE FUNCTION drip.amount_due(p_drip_token text) RETURNS drip.amount_due
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
    c drip.channels;
BEGIN
    s := drip._session(p_drip_token);
    SELECT * INTO c FROM drip.channels WHERE session = s.id;
    IF NOT FOUND THEN
        RETURN (0::bigint, 0::bigint, NULL::bigint, s.ends_at, s.state, s.id);
    END IF;
    RETURN (coalesce(drip._due(s, c.amount), 0), c.best_claim::bigint, c.amount::bigint, s.ends_at, s.state, s.id);
END
$$;

CREATE OR REPLACE FUNCTION drip.confirm_channel(
    p_proposal_id text, p_tx_hash bytea, p_channel_id bytea, p_source_account text,
    p_public_key bytea, p_amount bigint, p_settle_delay integer, p_destination text,
    p_destination_tag bigint, p_expiration timestamptz, p_cancel_after timestamptz,
    p_memo text
) RETURNS drip.agreement
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    p drip.proposals;
    s drip.sessions;
    session_end timestamptz;
    reason drip.reason;
BEGIN
    p := drip._proposal(p_proposal_id);
    SELECT * INTO s FROM drip.sessions WHERE id = p.session FOR UPDATE;
    IF s.state <> 'pending' OR p.tx_hash IS DISTINCT FROM p_tx_hash THEN
        PERFORM drip._verify_done(p.proposal_id, p_tx_hash, 'not_pending');
        RETURN (false, 'not_pending'::drip.reason, s.state);
    END IF;
    session_end := now() + make_interval(secs => p.session_length_secs);
    reason := CASE
        WHEN p_memo IS DISTINCT FROM p.proposal_id THEN 'memo_mismatch'
        WHEN p_destination IS DISTINCT FROM p.destination THEN 'wrong_destination'
        WHEN p_destination_tag IS DISTINCT FROM p.destination_tag THEN 'wrong_destination_tag'
        WHEN p_amount IS NULL OR p_amount < p.channel_funding THEN 'underfunded'
        WHEN p_settle_delay IS NULL OR p_settle_delay < p.settle_delay_secs THEN 'settle_delay_too_short'
        WHEN p_public_key IS NULL OR length(p_public_key) <> 33 THEN 'bad_public_key'
        WHEN p_cancel_after IS NOT NULL AND p_cancel_after < session_end THEN 'cancel_after_too_soon'
        WHEN p_expiration IS NOT NULL AND p_expiration < session_end THEN 'expiration_too_soon'
        WHEN p_channel_id IS NULL OR length(p_channel_id) <> 32 THEN 'bad_channel_id'
        -- Another session's, or an ILP account's: one channel pays one owner.
        WHEN EXISTS (SELECT FROM drip.channels c WHERE c.channel_id = p_channel_id) THEN 'channel_in_use'
    END;
    PERFORM drip._verify_done(p.proposal_id, p_tx_hash, reason::text);
    IF reason IS NOT NULL THEN
        -- The wallet may try again with a new inquiry.
        UPDATE drip.sessions SET state = 'created', updated_at = now() WHERE id = s.id;
        UPDATE drip.proposals SET tx_hash = NULL WHERE proposal_id = p.proposal_id;
        PERFORM drip._notify_session(s.id);
        RETURN (false, reason, 'created'::drip.session_state);
    END IF;
    INSERT INTO drip.channels (channel_id, session, source_account, public_key, amount,
        settle_delay, expiration, cancel_after, destination_tag)
    VALUES (p_channel_id, s.id, p_source_account, p_public_key, p_amount, p_settle_delay,
        p_expiration, p_cancel_after, p_destination_tag);
    UPDATE drip.proposals SET accepted_at = now() WHERE proposal_id = p.proposal_id;
    UPDATE drip.sessions
    SET state = 'active', client_address = p_source_account, active_at = now(),
        ends_at = session_end, updated_at = now(),
        payment_type = p.payment_type, rate = p.rate, polling_interval_secs = p.polling_interval_secs,
        next_check_at = least(now() + make_interval(secs => p.polling_interval_secs),
                              drip._claim_deadline(session_end, p_expiration, p_cancel_after))
    WHERE id = s.id;
    PERFORM drip._notify_session(s.id);
    RETURN (true, NULL::drip.reason, 'active'::drip.session_state);
END
$$;
COMMENT ON FUNCTION drip.confirm_channel(text, bytea, bytea, text, bytea, bigint, integer, text, bigint, timestamptz, timestamptz, text) IS
'Sidecar only: the agreement''s channel as the validated ledger shows it. Activates the session, or denies with a reason.';

CREATE OR REPLACE FUNCTION drip.pay(p_drip_token text, p_amount bigint, p_signature bytea) RETURNS drip.payment
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    look record;  -- apart from r: a record that changes shape is planned again
    r record;
    denial drip.reason;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid amount'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('amount must be a positive number of drops, got %s.', coalesce(p_amount::text, 'NULL')),
                  HINT = 'Claims are cumulative: sign for the total paid so far.';
    END IF;
    -- A first look without locks: a claim refused for what never changes
    -- (the channel's key) or for a session that must end takes no lock, so
    -- no flood of bad claims, nor a caller holding its transaction open
    -- after one, keeps drip.sweep from ending the session.
    SELECT s.id, s.state, c.channel_id, c.public_key, c.prepared_key, c.best_claim,
           drip._due_at(s, c.amount, clock_timestamp()) AS due,
           drip._claim_deadline_by(s.ends_at, c.expiration, c.cancel_after, t.claim_window_secs) AS deadline
    INTO look
    FROM drip.sessions s JOIN drip.channels c ON c.session = s.id CROSS JOIN drip.terms t
    WHERE s.drip_token = p_drip_token;
    IF NOT FOUND THEN
        -- No channel yet, or no such session (an error).
        PERFORM drip._session(p_drip_token);
        RETURN (false, 'not_active'::drip.reason, NULL::bigint, NULL::bigint);
    END IF;
    -- Past the claim deadline the claim-and-close is due: nothing more
    -- (by the clock: a caller's long transaction does not stop now()).
    IF look.state <> 'active' OR clock_timestamp() >= look.deadline THEN
        RETURN (false, 'not_active'::drip.reason, NULL::bigint, NULL::bigint);
    END IF;
    -- The best claim only rises: one at or below a stale read of it is
    -- refused for good, before the signature's cost (a replayed old claim).
    IF p_amount <= look.best_claim THEN
        RETURN (false, 'not_above_best'::drip.reason, look.due, look.best_claim::bigint);
    END IF;
    IF NOT drip._check_claim(look.channel_id, p_amount, p_signature, look.public_key, look.prepared_key) THEN
        RETURN (false, 'bad_signature'::drip.reason, look.due, look.best_claim::bigint);
    END IF;
    -- The decision is one locking read: what is due comes from the session
    -- row, the claim rules from the channel row. Both are locked so that a
    -- payment that waited re-reads the latest version of each (an unlocked
    -- joined row would be the stale one). The key checked above is the
    -- channel's for good.
    -- What is due by the clock after the lock wait, so that a payment
    -- clears strikes only for what is owed when it is taken.
    SELECT s.id, s.state, s.past_due_strikes, c.channel_id, c.amount, c.best_claim,
           drip._due_at(s, c.amount, clock_timestamp()) AS due,
           drip._claim_deadline_by(s.ends_at, c.expiration, c.cancel_after, t.claim_window_secs) AS deadline
    INTO r
    FROM drip.sessions s JOIN drip.channels c ON c.session = s.id CROSS JOIN drip.terms t
    WHERE s.id = look.id
    FOR UPDATE OF s, c;
    -- Again after the lock wait: the state, and a deadline the wait (or a
    -- close request moving the Expiration) may have passed.
    IF r.state <> 'active' OR clock_timestamp() >= r.deadline THEN
        RETURN (false, 'not_active'::drip.reason, NULL::bigint, NULL::bigint);
    END IF;
    denial := drip._claim_denial(p_amount, r.best_claim, r.amount);
    IF denial IS NOT NULL THEN
        RETURN (false, denial, r.due, r.best_claim::bigint);
    END IF;
    PERFORM drip._take_claim(r.channel_id, p_amount, p_signature);
    -- Paid up: clear strikes (only if any, to spare a row write per payment).
    IF p_amount >= r.due AND r.past_due_strikes > 0 THEN
        UPDATE drip.sessions SET past_due_strikes = 0, updated_at = now() WHERE id = r.id;
    END IF;
    PERFORM drip._notify_session(r.id);
    RETURN (true, NULL::drip.reason, r.due, p_amount);
END
$$;

CREATE OR REPLACE FUNCTION drip.add_unit_debt(p_drip_token text, p_amount bigint) RETURNS drip.unit_debt
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
    c drip.channels;
    denial drip.reason;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid amount'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('A unit debt must be a positive number of drops, got %s.', coalesce(p_amount::text, 'NULL')),
                  HINT = 'Record each purchase as its price in drops.';
    END IF;
    SELECT * INTO s FROM drip.sessions WHERE drip_token = p_drip_token FOR UPDATE;
    IF NOT FOUND THEN
        RETURN (false, 'not_found'::drip.reason, NULL::bigint);
    END IF;
    IF s.state IN ('closing', 'closed') THEN
        RETURN (false, 'session_ending'::drip.reason, NULL::bigint);
    END IF;
    IF s.state <> 'active' THEN
        RETURN (false, 'not_active'::drip.reason, NULL::bigint);
    END IF;
    -- Read after the session lock: channel writers hold it, so this is current.
    SELECT * INTO c FROM drip.channels WHERE session = s.id;
    IF s.past_due_strikes > 0 THEN
        RETURN (false, 'awaiting_payment'::drip.reason, drip._due(s, c.amount));
    END IF;
    denial := drip._unit_debt_denial(s.payment_type::text, s.rate, s.polling_interval_secs,
        s.active_at, now(), s.unit_debt, p_amount, c.amount);
    IF denial IS NOT NULL THEN
        RETURN (false, denial, drip._due(s, c.amount));
    END IF;
    INSERT INTO drip.debts (session, amount) VALUES (s.id, p_amount);
    UPDATE drip.sessions SET unit_debt = unit_debt + p_amount, updated_at = now()
    WHERE id = s.id RETURNING * INTO s;
    PERFORM drip._notify_session(s.id);
    RETURN (true, NULL::drip.reason, drip._due(s, c.amount));
END
$$;

CREATE OR REPLACE FUNCTION drip.get_session(p_session_id text) RETURNS drip.session_info
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
    c drip.channels;
BEGIN
    SELECT * INTO s FROM drip.sessions WHERE session_id = p_session_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown session' USING ERRCODE = 'no_data_found',
            DETAIL = 'No session has this session_id.', HINT = 'Create it with drip.create_session.';
    END IF;
    SELECT * INTO c FROM drip.channels WHERE session = s.id;
    RETURN (s.session_id, s.drip_token, s.uri, s.state, s.client_address, s.created_at,
        s.active_at, s.ends_at, c.channel_id::bytea, c.amount::bigint,
        CASE WHEN c.channel_id IS NULL THEN 0::bigint ELSE coalesce(drip._due(s, c.amount), 0) END,
        coalesce(c.best_claim, 0), s.past_due_strikes, s.end_reason);
END
$$;

CREATE OR REPLACE FUNCTION drip.sweep(p_now timestamptz DEFAULT now()) RETURNS drip.sweep_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    r drip.sweep_result;
    one drip.sweep_result;
    late record;
    lock_timeout text;
BEGIN
    r := drip._judge_sessions(p_now, NULL);
    -- Sessions due that the pass above skipped because another transaction
    -- held them (a payer's call in a loop, a transaction left open): each
    -- waited for briefly, then judged, so no caller can keep a session from
    -- its strikes or its end, and a sweep's time stays bounded. One sweep
    -- at a time does this, so concurrent sweeps never wait on each other.
    IF pg_try_advisory_xact_lock('drip.sessions'::regclass::oid::integer, 1) THEN
        lock_timeout := current_setting('lock_timeout');
        FOR late IN
            SELECT s.id FROM drip.sessions s
            WHERE s.state = 'active' AND s.next_check_at <= p_now
            ORDER BY s.next_check_at
            LIMIT 20
        LOOP
            BEGIN
                PERFORM set_config('lock_timeout', '200ms', true);
                PERFORM FROM drip.sessions s WHERE s.id = late.id FOR UPDATE;
                one := drip._judge_sessions(p_now, late.id);
                r.checked := r.checked + one.checked;
                r.struck := r.struck + one.struck;
                r.ended := r.ended + one.ended;
            EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
                NULL;
            END;
        END LOOP;
        PERFORM set_config('lock_timeout', lock_timeout, true);
    END IF;
    -- HTTP 402 channels at their claim deadline: redeemed and closed.
    PERFORM drip._mpp_sweep(p_now);
    -- Proposals nobody agreed to in time are void; their sessions stay
    -- 'created' so the wallet can inquire again.
    WITH gone AS (
        DELETE FROM drip.proposals p
        WHERE p.expires_at < p_now AND p.tx_hash IS NULL AND p.accepted_at IS NULL
          AND NOT EXISTS (SELECT FROM drip.outbox o WHERE o.proposal_id = p.proposal_id)
        RETURNING 1
    )
    SELECT count(*) INTO r.proposals_expired FROM gone;
    RETURN r;
END
$$;

CREATE VIEW drip.sessions_overview AS
SELECT s.session_id, s.state, s.client_address, s.created_at, s.active_at, s.ends_at,
       encode(c.channel_id, 'hex') AS channel_id, c.amount AS channel_amount,
       CASE WHEN c.channel_id IS NULL THEN 0 ELSE drip._due(s, c.amount) END AS due,
       coalesce(c.best_claim, 0) AS paid, s.past_due_strikes, s.end_reason
FROM drip.sessions s LEFT JOIN drip.channels c ON c.session = s.id;
COMMENT ON VIEW drip.sessions_overview IS 'Every session with its channel, debt and best claim.';

CREATE VIEW drip.exposure AS
SELECT session_id, due, paid, greatest(due - paid, 0) AS unsecured
FROM drip.sessions_overview WHERE state = 'active';
COMMENT ON VIEW drip.exposure IS 'Debt not yet covered by a claim, per active session (sum it for the total).';

REVOKE ALL ON FUNCTION drip._due(drip.sessions, bigint) FROM PUBLIC;
-- _due is inlined into the views now, so their readers run _time_due.
GRANT EXECUTE ON FUNCTION drip._due(drip.sessions, bigint),
    drip._time_due(text, bigint, integer, timestamptz, timestamptz, bigint) TO drip_admin;
GRANT SELECT ON drip.sessions_overview, drip.exposure TO drip_admin;

-- Refusals are kept on the verification job (drip.agreement_state reads them).
CREATE OR REPLACE FUNCTION drip.confirm_fund(
    p_proposal_id text, p_tx_hash bytea, p_channel_id bytea, p_ledger_amount bigint,
    p_expiration timestamptz
) RETURNS drip.agreement
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    p drip.proposals;
    s drip.sessions;
    c drip.channels;
    new_end timestamptz;
    reason drip.reason;
BEGIN
    p := drip._proposal(p_proposal_id);
    SELECT * INTO s FROM drip.sessions WHERE id = p.session FOR UPDATE;
    SELECT * INTO c FROM drip.channels WHERE session = s.id FOR UPDATE;
    IF p.kind <> 'refresh' OR p.tx_hash IS DISTINCT FROM p_tx_hash OR p.accepted_at IS NOT NULL THEN
        PERFORM drip._verify_done(p.proposal_id, p_tx_hash, 'not_pending');
        RETURN (false, 'not_pending'::drip.reason, s.state);
    END IF;
    new_end := greatest(s.ends_at, now()) + make_interval(secs => p.session_length_secs);
    reason := CASE
        WHEN s.state <> 'active' THEN 'not_active'
        WHEN p_channel_id IS DISTINCT FROM c.channel_id THEN 'wrong_channel'
        WHEN p_ledger_amount IS NULL OR p_ledger_amount < c.amount + p.channel_funding THEN 'underfunded'
        WHEN p_expiration IS NOT NULL AND p_expiration < new_end THEN 'expiration_too_soon'
    END;
    PERFORM drip._verify_done(p.proposal_id, p_tx_hash, reason::text);
    IF reason IS NOT NULL THEN
        UPDATE drip.proposals SET tx_hash = NULL WHERE proposal_id = p.proposal_id;
        RETURN (false, reason, s.state);
    END IF;
    UPDATE drip.channels SET amount = p_ledger_amount, expiration = p_expiration, updated_at = now()
    WHERE channel_id = c.channel_id;
    UPDATE drip.proposals SET accepted_at = now() WHERE proposal_id = p.proposal_id;
    UPDATE drip.sessions
    SET ends_at = new_end, updated_at = now(),
        next_check_at = least(next_check_at, drip._claim_deadline(new_end, p_expiration, c.cancel_after))
    WHERE id = s.id;
    PERFORM drip._notify_session(s.id);
    RETURN (true, NULL::drip.reason, s.state);
END
$$;
COMMENT ON FUNCTION drip.confirm_fund(text, bytea, bytea, bigint, timestamptz) IS
'Sidecar only: the refresh''s fund on the validated ledger. Tracks the ledger''s new Amount and extends the session by a session length.';

ALTER TABLE drip.outbox ADD COLUMN tx_blob bytea;
ALTER TABLE drip.outbox ADD COLUMN ilp_account text;
ALTER TABLE drip.outbox ADD COLUMN not_before timestamptz;
ALTER TABLE drip.outbox ADD COLUMN failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0);
CREATE UNIQUE INDEX outbox_one_close_idx ON drip.outbox (channel_id)
    WHERE kind = 'claim_and_close' AND state IN ('queued', 'submitted');
-- Ledger work as the sidecar sees it: the job and, for claims, what to claim.
CREATE TYPE drip.outbox_job AS (
    id              bigint,
    kind            drip.outbox_kind,
    state           drip.outbox_state,
    attempts        integer,
    proposal_id     text,
    tx_hash         bytea,
    last_ledger_seq bigint,
    tx_blob         bytea,
    channel_id      bytea,
    best_claim      bigint,
    best_signature  bytea,
    public_key      bytea,
    created_at      timestamptz,
    ilp_account     text
);

-- Sidecar only: up to p_limit jobs, locked until the caller's transaction
-- ends (other workers skip them): queued jobs (those that failed before
-- only after p_retry_secs), and submitted ones nobody has touched for
-- p_lease_secs (their worker may have died mid-wait).
CREATE FUNCTION drip.take_outbox(p_limit integer, p_lease_secs integer DEFAULT 120)
RETURNS SETOF drip.outbox_job
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    WITH due AS (
        SELECT o.id FROM drip.outbox o
        WHERE o.state IN ('queued', 'submitted') AND (o.not_before IS NULL OR o.not_before <= now())
        -- Closes first: their channels have a deadline.
        ORDER BY o.kind <> 'claim_and_close', o.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), leased AS (
        UPDATE drip.outbox o SET not_before = now() + make_interval(secs => p_lease_secs)
        FROM due WHERE o.id = due.id
        RETURNING o.*
    )
    SELECT o.id, o.kind, o.state, o.attempts, o.proposal_id, o.tx_hash, o.last_ledger_seq,
           o.tx_blob, o.channel_id, c.best_claim, c.best_signature, c.public_key, o.created_at,
           o.ilp_account
    FROM leased o
    LEFT JOIN drip.channels c ON c.channel_id = o.channel_id
    ORDER BY o.id
$$;
COMMENT ON FUNCTION drip.take_outbox(integer, integer) IS
'Sidecar only: ledger jobs due now, locked for the calling transaction (SKIP LOCKED: several sidecars share the outbox) and leased for p_lease_secs after it.';

-- Sidecar only: drip signed the job's transaction and is about to submit it.
CREATE FUNCTION drip.outbox_submitted(p_id bigint, p_tx_hash bytea, p_last_ledger_seq bigint, p_tx_blob bytea)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
BEGIN
    PERFORM drip._check_tx_hash(p_tx_hash, 'signed claim');
    -- Only a job with no transaction of its own in flight: one intent,
    -- one signed transaction at a time.
    UPDATE drip.outbox
    SET state = 'submitted', tx_hash = p_tx_hash, last_ledger_seq = p_last_ledger_seq,
        tx_blob = p_tx_blob, attempts = attempts + 1, updated_at = now()
    WHERE id = p_id AND state = 'queued' AND tx_hash IS NULL
      AND kind IN ('claim', 'claim_and_close', 'offload', 'ilp_channel', 'ilp_fund');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such submitting job' USING ERRCODE = 'no_data_found',
            DETAIL = format('Outbox job %s does not exist, submits nothing, or has a transaction in flight.', p_id);
    END IF;
END
$$;

-- Sidecar only: try the job again later. drip's own transaction for it is
-- forgotten (it provably cannot apply, or never entered the ledger).
CREATE FUNCTION drip.outbox_requeue(p_id bigint, p_tx_hash bytea, p_error text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    o drip.outbox;
BEGIN
    -- A verify job's wait is the ledger answering: its failures in a row
    -- start again.
    UPDATE drip.outbox
    SET state = CASE WHEN kind IN ('verify_channel', 'verify_fund') THEN 'queued'
                     ELSE drip._outbox_next_state('queued', kind, failures + 1) END,
        failures = CASE WHEN kind IN ('verify_channel', 'verify_fund') THEN 0 ELSE failures + 1 END,
        not_before = now() + CASE WHEN kind IN ('verify_channel', 'verify_fund') THEN interval '1 second'
                                  ELSE drip._outbox_backoff(kind, failures + 1) END,
        tx_hash = CASE WHEN kind IN ('verify_channel', 'verify_fund') THEN tx_hash END,
        last_error = p_error, last_ledger_seq = NULL, tx_blob = NULL, updated_at = now()
    WHERE id = p_id AND tx_hash IS NOT DISTINCT FROM p_tx_hash AND state IN ('queued', 'submitted')
    RETURNING * INTO o;
    IF o.state = 'failed' THEN
        PERFORM drip._outbox_given_up(o);
    END IF;
    RETURN o.id IS NOT NULL;
END
$$;
COMMENT ON FUNCTION drip.outbox_requeue(bigint, bytea, text) IS
'Sidecar only: the job''s transaction p_tx_hash never applied or failed with a tec code: sign the intent again after a backoff (verify jobs look again in a second). Compare-and-set; false when the job moved on.';

-- Sidecar only: the agreement's (or refresh's) transaction is not what the
-- proposal asked for, or never validated. The wallet may try again.
CREATE FUNCTION drip.reject_agreement(p_proposal_id text, p_tx_hash bytea, p_reason text)
RETURNS drip.agreement
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    -- Only drip's words (an unknown one raises before anything changes).
    refusal drip.reason := p_reason;
    p drip.proposals;
    s drip.sessions;
BEGIN
    p := drip._proposal(p_proposal_id);
    SELECT * INTO s FROM drip.sessions WHERE id = p.session FOR UPDATE;
    IF p.tx_hash IS DISTINCT FROM p_tx_hash OR p.accepted_at IS NOT NULL THEN
        PERFORM drip._verify_done(p.proposal_id, p_tx_hash, 'not_pending');
        RETURN (false, 'not_pending'::drip.reason, s.state);
    END IF;
    UPDATE drip.proposals SET tx_hash = NULL WHERE proposal_id = p.proposal_id;
    PERFORM drip._verify_done(p.proposal_id, p_tx_hash, refusal::text);
    IF p.kind = 'initial' AND s.state = 'pending' THEN
        UPDATE drip.sessions SET state = 'created', updated_at = now() WHERE id = s.id
        RETURNING * INTO s;
    END IF;
    PERFORM drip._notify_session(s.id);
    RETURN (false, refusal, s.state);
END
$$;
COMMENT ON FUNCTION drip.reject_agreement(text, bytea, text) IS
'Sidecar only: the agreement''s transaction failed, is not the proposed one, or never validated; the session may agree again.';
REVOKE ALL ON FUNCTION drip.take_outbox(integer, integer), drip.outbox_submitted(bigint, bytea, bigint, bytea),
    drip.outbox_requeue(bigint, bytea, text), drip.reject_agreement(text, bytea, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drip.take_outbox(integer, integer), drip.outbox_submitted(bigint, bytea, bigint, bytea),
    drip.outbox_requeue(bigint, bytea, text), drip.reject_agreement(text, bytea, text) TO drip_ledger;

-- Where an agreement (or refresh) stands: accepted true once the ledger
-- check confirmed it, false with the reason once it was refused, NULL while
-- the sidecar is still checking.
CREATE FUNCTION drip.agreement_state(p_proposal_id text) RETURNS drip.agreement
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    p drip.proposals;
    st drip.session_state;
    refusal drip.reason;
BEGIN
    p := drip._proposal(p_proposal_id);
    SELECT s.state INTO st FROM drip.sessions s WHERE s.id = p.session;
    IF p.accepted_at IS NOT NULL THEN
        RETURN (true, NULL::drip.reason, st);
    ELSIF p.tx_hash IS NOT NULL THEN
        RETURN (NULL::boolean, NULL::drip.reason, st);
    END IF;
    -- The job's error is the reason word, then any detail ('not_checked: …');
    -- a word that is no reason (a job 0.1.0 recorded) reads as not_checked.
    SELECT CASE WHEN w.word = ANY (enum_range(NULL::drip.reason)::text[]) THEN w.word::drip.reason
                ELSE 'not_checked' END
    INTO refusal
    FROM (SELECT split_part(o.last_error, ':', 1) AS word FROM drip.outbox o
          WHERE o.proposal_id = p.proposal_id AND o.kind IN ('verify_channel', 'verify_fund')
          ORDER BY o.id DESC LIMIT 1) w;
    RETURN (false, coalesce(refusal, 'not_submitted'), st);
END
$$;
COMMENT ON FUNCTION drip.agreement_state(text) IS
'Where an agreement stands: accepted (true), refused with a reason (false), or still being checked on the ledger (NULL).';

-- Sidecar only: the channels drip still holds claims on, to watch on the
-- ledger (a payer's close request, a channel gone, balance drift).
CREATE FUNCTION drip.watched_channels()
RETURNS TABLE (channel_id bytea, expiration timestamptz, ledger_balance bigint, best_claim bigint,
               claiming boolean, closing boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    SELECT c.channel_id, c.expiration, c.ledger_balance, c.best_claim,
           -- drip's own claim is under way (its worker records the
           -- outcome), or failed for good a moment ago (not queued again
           -- at once, should it fail the same way).
           EXISTS (SELECT FROM drip.outbox o
                   WHERE o.channel_id = c.channel_id AND o.kind IN ('claim', 'claim_and_close')
                     AND (o.state IN ('queued', 'submitted')
                          OR (o.state = 'failed' AND o.updated_at > now() - interval '1 minute'))),
           -- drip must close it: the session ended, the ILP or HTTP payer
           -- asked (a session's channel may carry an Expiration past its
           -- end), or drip finalized an HTTP channel.
           coalesce(s.state = 'closing', c.expiration IS NOT NULL OR c.finalized_at IS NOT NULL)
    FROM drip.channels c LEFT JOIN drip.sessions s ON s.id = c.session
    WHERE c.closed_at IS NULL AND (s.state IN ('active', 'closing') OR c.ilp_account IS NOT NULL OR c.mpp)
    ORDER BY c.channel_id
$$;

REVOKE ALL ON FUNCTION drip.watched_channels() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drip.watched_channels() TO drip_ledger;

-- The sidecar reports the backlog as metrics.
GRANT SELECT ON drip.outbox_backlog TO drip_ledger;

-- ILP: the asymmetric XRP plugin's server keeps its accounts here, and
-- their incoming channels with the sessions' channels.
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
SELECT pg_catalog.pg_extension_config_dump('drip.ilp_accounts', '');
REVOKE ALL ON drip.ilp_accounts FROM PUBLIC;
ALTER TABLE drip.channels ALTER COLUMN session DROP NOT NULL;
ALTER TABLE drip.channels ADD COLUMN ilp_account text REFERENCES drip.ilp_accounts (account);
ALTER TABLE drip.channels ADD COLUMN closed_at timestamptz;
ALTER TABLE drip.channels ADD COLUMN mpp boolean NOT NULL DEFAULT false;
ALTER TABLE drip.channels ADD COLUMN finalized_at timestamptz;
ALTER TABLE drip.channels ADD CONSTRAINT channels_owner_check
    CHECK (num_nonnulls(session, ilp_account, nullif(mpp, false)) = 1);
CREATE UNIQUE INDEX channels_ilp_open_idx ON drip.channels (ilp_account)
    WHERE ilp_account IS NOT NULL AND closed_at IS NULL;
CREATE INDEX channels_mpp_open_idx ON drip.channels (channel_id)
    WHERE mpp AND finalized_at IS NULL AND closed_at IS NULL;

-- Channel keys' multiplication tables, generated from the key (this
-- rewrites drip.channels once); drip.pay and drip.ilp_claim verify with
-- them through drip._check_claim, drip.ilp_claims through drip._claim_fault.
CREATE FUNCTION drip."_prepared_key"("public_key" bytea) RETURNS bytea
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'prepared_key_wrapper';
CREATE FUNCTION drip."_check_claim"("channel_id" bytea, "amount" bigint, "signature" bytea, "public_key" bytea, "prepared_key" bytea)
RETURNS bool IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'check_claim_wrapper';
REVOKE ALL ON FUNCTION drip._prepared_key(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION drip._check_claim(bytea, bigint, bytea, bytea, bytea) FROM PUBLIC;
ALTER TABLE drip.channels
    ADD COLUMN prepared_key bytea GENERATED ALWAYS AS (drip._prepared_key(public_key)) STORED;
COMMENT ON COLUMN drip.channels.prepared_key IS
'The secp256k1 key''s multiplication tables (NULL for Ed25519): claims verify with them at about half the cost.';

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
SELECT pg_catalog.pg_extension_config_dump('drip.ilp_outgoing', '');
REVOKE ALL ON drip.ilp_outgoing FROM PUBLIC;

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
SELECT pg_catalog.pg_extension_config_dump('drip.ilp_holds', '');
REVOKE ALL ON drip.ilp_holds FROM PUBLIC;
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
SELECT pg_catalog.pg_extension_config_dump('drip.ilp_settings', '');
REVOKE ALL ON drip.ilp_settings FROM PUBLIC;
GRANT SELECT ON drip.ilp_settings TO drip_admin, drip_ledger;

ALTER TABLE drip.outbox ADD CONSTRAINT outbox_ilp_account_fkey FOREIGN KEY (ilp_account)
    REFERENCES drip.ilp_accounts (account);
DROP FUNCTION drip.record_channel_closed(bytea, bigint);
CREATE FUNCTION drip.record_channel_closed(p_channel_id bytea, p_ledger_balance bigint, p_reason text)
RETURNS drip.session_state
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    c drip.channels;
    s drip.sessions;
    paid bigint;
BEGIN
    c := drip._lock_channel(p_channel_id);
    IF c.closed_at IS NOT NULL THEN
        RETURN 'closed'::drip.session_state;
    END IF;
    paid := coalesce(p_ledger_balance, c.ledger_balance);
    IF paid < 0 THEN
        RAISE EXCEPTION 'invalid ledger balance'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('%s drops paid.', paid);
    END IF;
    -- Claims still open end here; one a worker holds (SKIP LOCKED: never
    -- waited for under the channel's locks) ends when it finds the channel
    -- closed.
    UPDATE drip.outbox SET state = 'done', not_before = NULL, updated_at = now()
    WHERE id IN (SELECT o.id FROM drip.outbox o
                 WHERE o.channel_id = p_channel_id AND o.state IN ('queued', 'submitted')
                   AND o.kind IN ('claim', 'claim_and_close')
                 FOR UPDATE SKIP LOCKED);
    IF c.best_claim > paid THEN
        INSERT INTO drip.losses (channel_id, amount, reason)
        VALUES (p_channel_id, c.best_claim - paid, coalesce(p_reason, 'closed_before_redeemed'));
    END IF;
    -- The ledger is the truth: a payer may have funded the channel beyond
    -- what drip knew.
    UPDATE drip.channels SET amount = greatest(amount, paid), ledger_balance = paid,
        closed_at = now(), updated_at = now()
    WHERE channel_id = p_channel_id;
    IF c.ilp_account IS NOT NULL THEN
        RETURN drip._ilp_channel_closed(c, paid);
    END IF;
    IF c.mpp THEN
        RETURN 'closed'::drip.session_state;
    END IF;
    SELECT * INTO s FROM drip.sessions WHERE id = c.session;
    UPDATE drip.sessions
    SET state = 'closed', end_reason = coalesce(end_reason, 'closed_on_ledger'),
        next_check_at = NULL, updated_at = now()
    WHERE id = s.id;
    PERFORM drip._notify_session(s.id);
    RETURN 'closed'::drip.session_state;
END
$$;

CREATE OR REPLACE FUNCTION drip.record_channel_closing(p_channel_id bytea, p_expiration timestamptz) RETURNS drip.session_state
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    c drip.channels;
    s drip.sessions;
BEGIN
    c := drip._lock_channel(p_channel_id);
    IF c.ilp_account IS NOT NULL THEN
        RETURN drip._ilp_channel_closing(c, p_expiration);
    END IF;
    IF c.mpp THEN
        -- No more vouchers: the payer is leaving.
        UPDATE drip.channels SET expiration = p_expiration, finalized_at = coalesce(finalized_at, now()),
            updated_at = now()
        WHERE channel_id = p_channel_id;
        PERFORM drip._queue_claim(p_channel_id, NULL, 'claim_and_close');
        RETURN 'closing'::drip.session_state;
    END IF;
    SELECT * INTO s FROM drip.sessions WHERE id = c.session;
    UPDATE drip.channels SET expiration = p_expiration, updated_at = now() WHERE channel_id = p_channel_id;
    IF s.state = 'closing' THEN
        -- Ended before, and its claim failed or was never queued.
        PERFORM drip._queue_claim(p_channel_id, s.id, 'claim_and_close');
    END IF;
    IF s.state IN ('closing', 'closed') THEN
        RETURN s.state;
    END IF;
    RETURN drip._end_session(s.id, 'payer_closing');
END
$$;

-- ILP: the asymmetric XRP plugin's server side. Each BTP account has at
-- most one open incoming channel (in drip.channels, like a session's); its
-- claims are checked and kept on the same path as drip.pay, and the
-- packets it sends are held to what its claims secure plus a bandwidth.

CREATE TYPE drip.ilp_account AS (
    account        text,
    blocked        boolean,
    block_reason   text,
    prepared       bigint,
    channel_id     bytea,
    channel_amount bigint,
    best_claim     bigint,
    best_signature bytea,
    ledger_balance bigint,
    public_key     bytea
);

CREATE FUNCTION drip._ilp_account(p_account text) RETURNS drip.ilp_account
LANGUAGE sql STABLE SET search_path = pg_catalog, drip AS $$
    SELECT a.account, a.blocked, a.block_reason, a.prepared, c.channel_id, c.amount, c.best_claim,
           c.best_signature, c.ledger_balance, c.public_key
    FROM drip.ilp_accounts a
    LEFT JOIN drip.channels c ON c.ilp_account = a.account AND c.closed_at IS NULL
    WHERE a.account = p_account
$$;

-- Drops in base units of scale p_scale (exact: numeric).
CREATE FUNCTION drip._drops_in_base(p_drops bigint, p_scale integer) RETURNS numeric
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT p_drops::numeric * power(10::numeric, p_scale - 6)
$$;

CREATE FUNCTION drip.ilp_connect(p_account text, p_token_hash bytea) RETURNS drip.ilp_account
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    bound bytea;
BEGIN
    IF p_account IS NULL OR length(p_account) NOT BETWEEN 1 AND 128 THEN
        RAISE EXCEPTION 'invalid account'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'An account name has 1 to 128 characters.',
                  HINT = 'The BTP server names accounts base64url(sha256(auth_token)).';
    END IF;
    IF p_token_hash IS NULL OR length(p_token_hash) <> 32 THEN
        RAISE EXCEPTION 'invalid token_hash'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'token_hash must be 32 bytes.',
                  HINT = 'Pass sha256(auth_token).';
    END IF;
    INSERT INTO drip.ilp_accounts (account, token_hash) VALUES (p_account, p_token_hash)
    ON CONFLICT (account) DO NOTHING;
    SELECT a.token_hash INTO bound FROM drip.ilp_accounts a WHERE a.account = p_account;
    IF bound <> p_token_hash THEN
        RETURN NULL;
    END IF;
    RETURN drip._ilp_account(p_account);
END
$$;
COMMENT ON FUNCTION drip.ilp_connect(text, bytea) IS
'A BTP client authenticates: the first use of an account binds its token (by hash), later ones must match (NULL otherwise). The account as it stands.';

CREATE FUNCTION drip.ilp_account(p_account text) RETURNS drip.ilp_account
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    SELECT drip._ilp_account(p_account)
$$;
COMMENT ON FUNCTION drip.ilp_account(text) IS
'An ILP account: blocked or not, what its packets owe, its open incoming channel and the best claim on it.';

CREATE FUNCTION drip.ilp_open_channel(p_account text, p_channel_id bytea, p_source text, p_public_key bytea,
    p_amount bigint, p_settle_delay integer, p_destination text, p_expiration timestamptz,
    p_cancel_after timestamptz, p_ledger_balance bigint, p_min_settle_delay integer)
RETURNS drip.reason
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    a drip.ilp_accounts;
    c drip.channels;
    t drip.terms;
BEGIN
    IF length(p_channel_id) IS DISTINCT FROM 32 OR length(p_public_key) IS DISTINCT FROM 33
       OR p_amount IS NULL OR p_amount <= 0 OR p_ledger_balance IS NULL
       OR p_ledger_balance NOT BETWEEN 0 AND p_amount THEN
        RAISE EXCEPTION 'invalid channel'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'channel_id is 32 bytes, public_key 33, amount positive, ledger_balance within it.',
                  HINT = 'Pass the PayChannel entry as the validated ledger has it.';
    END IF;
    SELECT * INTO a FROM drip.ilp_accounts WHERE account = p_account FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown ILP account' USING ERRCODE = 'no_data_found';
    END IF;
    IF a.blocked THEN
        RETURN 'blocked';
    END IF;
    SELECT * INTO c FROM drip.channels WHERE channel_id = p_channel_id FOR UPDATE;
    IF FOUND AND (c.ilp_account IS DISTINCT FROM p_account OR c.closed_at IS NOT NULL) THEN
        RETURN 'channel_in_use';
    END IF;
    SELECT * INTO t FROM drip.terms;
    IF t.destination IS NULL OR p_destination IS DISTINCT FROM t.destination THEN
        RETURN 'wrong_destination';
    END IF;
    IF p_settle_delay IS NULL OR p_settle_delay < p_min_settle_delay THEN
        RETURN 'settle_delay_too_short';
    END IF;
    IF p_expiration IS NOT NULL OR p_cancel_after IS NOT NULL THEN
        RETURN 'channel_expires';
    END IF;
    IF c.channel_id IS NOT NULL THEN
        -- The account's own channel again: the client funded it further.
        UPDATE drip.channels SET amount = p_amount, ledger_balance = p_ledger_balance, updated_at = now()
        WHERE channel_id = p_channel_id;
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT FROM drip.channels o WHERE o.ilp_account = p_account AND o.closed_at IS NULL) THEN
        RETURN 'channel_exists';
    END IF;
    INSERT INTO drip.channels (channel_id, ilp_account, source_account, public_key, amount,
                               settle_delay, ledger_balance)
    VALUES (p_channel_id, p_account, p_source, p_public_key, p_amount, p_settle_delay, p_ledger_balance);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION drip.ilp_open_channel(text, bytea, text, bytea, bigint, integer, text, timestamptz, timestamptz, bigint, integer) IS
'Sidecar only: a client''s incoming channel as the validated ledger has it (after its ownership proof). NULL when taken (or, for the account''s own channel, its new amount recorded); else why not: blocked, channel_in_use, wrong_destination, settle_delay_too_short, channel_expires, channel_exists.';

-- ILP clients' claims, checked and kept in one statement's locks: the one
-- body of drip.ilp_claim and drip.ilp_claims (whose batches are claims
-- arriving together). The channels are locked in id order, so concurrent
-- batches cannot deadlock; each claim is checked set-wise without raising
-- (a malformed one is refused alone), and must also rise above its
-- channel's claims taken earlier in the batch. Answers each claim's
-- verdict and the best claim it met.
CREATE FUNCTION drip._ilp_take_claims(p_accounts text[], p_amounts bigint[], p_signatures bytea[])
RETURNS TABLE (accepted boolean, reason drip.reason, best bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
BEGIN
    IF cardinality(p_accounts) IS DISTINCT FROM cardinality(p_amounts)
       OR cardinality(p_accounts) IS DISTINCT FROM cardinality(p_signatures) THEN
        RAISE EXCEPTION 'invalid batch'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'accounts, amounts and signatures must have one element per claim.';
    END IF;
    RETURN QUERY
    WITH
    locked AS MATERIALIZED (
        SELECT c.channel_id, c.ilp_account, c.public_key, c.prepared_key, c.best_claim, c.amount
        FROM drip.channels c
        WHERE c.ilp_account = ANY (p_accounts) AND c.closed_at IS NULL
        ORDER BY c.channel_id
        FOR UPDATE
    ),
    -- drip.ilp_claim's checks against the channel as it stands.
    -- Materialized: inlined, the signature would be checked once for each
    -- place that reads the reason.
    checked AS MATERIALIZED (
        SELECT t.i, t.amount, t.signature, l.channel_id, l.best_claim, l.amount AS channel_amount,
               CASE
                   WHEN t.amount IS NULL OR t.amount <= 0 OR a.account IS NULL THEN 'malformed'
                   WHEN l.channel_id IS NULL THEN 'no_channel'
                   WHEN a.blocked THEN 'blocked'
                   ELSE coalesce(drip._claim_fault(l.channel_id, t.amount, t.signature, l.public_key, l.prepared_key),
                                 drip._claim_denial(t.amount, l.best_claim, l.amount))
               END::drip.reason AS reason
        FROM unnest(p_accounts, p_amounts, p_signatures) WITH ORDINALITY AS t(account, amount, signature, i)
        LEFT JOIN drip.ilp_accounts a ON a.account = t.account
        LEFT JOIN locked l ON l.ilp_account = t.account
    ),
    -- The best claim a claim meets is the highest the batch took on its
    -- channel before it (the running maximum of the claims that passed the
    -- checks above: none of them is above it and refused).
    verdict AS MATERIALIZED (
        SELECT c.i, c.channel_id, c.amount, c.signature, c.best_claim,
               coalesce(c.reason, drip._claim_denial(c.amount,
                   greatest(c.best_claim, max(c.amount) FILTER (WHERE c.reason IS NULL) OVER earlier),
                   c.channel_amount)::drip.reason) AS reason
        FROM checked c
        WINDOW earlier AS (PARTITION BY c.channel_id ORDER BY c.i
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ),
    taken AS (
        UPDATE drip.channels ch
        SET best_claim = v.amount, best_signature = v.signature, updated_at = now()
        FROM (SELECT DISTINCT ON (w.channel_id) w.channel_id, w.amount, w.signature
              FROM verdict w WHERE w.reason IS NULL
              ORDER BY w.channel_id, w.amount DESC) v
        WHERE ch.channel_id = v.channel_id AND ch.best_claim < v.amount AND v.amount <= ch.amount
    ),
    audit AS (
        INSERT INTO drip.claims (channel_id, amount, signature, accepted_at)
        SELECT v.channel_id, v.amount, v.signature, clock_timestamp() FROM verdict v WHERE v.reason IS NULL
    )
    SELECT v.reason IS NULL, v.reason, CASE WHEN v.reason IS NULL THEN v.amount ELSE v.best_claim::bigint END
    FROM verdict v ORDER BY v.i;
END
$$;

CREATE FUNCTION drip.ilp_claim(p_account text, p_amount bigint, p_signature bytea) RETURNS drip.payment
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    r record;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid amount'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('amount must be a positive number of drops, got %s.', coalesce(p_amount::text, 'NULL')),
                  HINT = 'Claims are cumulative: the total the channel pays so far.';
    END IF;
    IF NOT EXISTS (SELECT FROM drip.ilp_accounts a WHERE a.account = p_account) THEN
        RAISE EXCEPTION 'unknown ILP account' USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO r FROM drip._ilp_take_claims(ARRAY[p_account], ARRAY[p_amount], ARRAY[p_signature]);
    IF r.reason = 'malformed' THEN
        -- Only the signature's shape is left to be wrong: raise its error.
        PERFORM drip._check_claim(c.channel_id, p_amount, p_signature, c.public_key, c.prepared_key)
        FROM drip.channels c WHERE c.ilp_account = p_account AND c.closed_at IS NULL;
    END IF;
    RETURN (r.accepted, r.reason, NULL::bigint, r.best);
END
$$;
COMMENT ON FUNCTION drip.ilp_claim(text, bigint, bytea) IS
'An ILP client''s claim on its incoming channel, in drops: kept when the signature is the channel key''s, the amount above the best claim and within the channel (else a reason: no_channel, blocked, bad_signature, not_above_best, exceeds_channel). One transaction under the channel lock.';

-- Sidecar only: drip's claim validated without closing the channel; the
-- ledger pays that much out of it now.
CREATE FUNCTION drip.record_channel_balance(p_channel_id bytea, p_ledger_balance bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    UPDATE drip.channels
    SET ledger_balance = greatest(ledger_balance, least(p_ledger_balance, amount)), updated_at = now()
    WHERE channel_id = p_channel_id
$$;
COMMENT ON FUNCTION drip.record_channel_balance(bytea, bigint) IS
'Sidecar only: a claim of drip''s validated without closing the channel: the ledger''s balance is now at least this.';

-- drip._claim_fault: verify_claim for batches that must not abort.
CREATE FUNCTION drip."_claim_fault"("channel_id" bytea, "amount" bigint, "signature" bytea, "public_key" bytea, "prepared_key" bytea)
RETURNS TEXT IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'claim_fault_wrapper';
REVOKE ALL ON FUNCTION drip._claim_fault(bytea, bigint, bytea, bytea, bytea) FROM PUBLIC;

-- Many claims in one statement (one commit for all): the ILP server
-- batches claims arriving together. The checks are drip.ilp_claim's, made
-- set-wise without raising, so a malformed claim refuses only itself
-- ('malformed'); the channels are locked in id order, so concurrent
-- batches cannot deadlock.
CREATE FUNCTION drip.ilp_claims(p_accounts text[], p_amounts bigint[], p_signatures bytea[])
RETURNS TABLE (accepted boolean, reason drip.reason)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
BEGIN
    RETURN QUERY SELECT t.accepted, t.reason FROM drip._ilp_take_claims(p_accounts, p_amounts, p_signatures) t;
END
$$;
COMMENT ON FUNCTION drip.ilp_claims(text[], bigint[], bytea[]) IS
'drip.ilp_claim for each (account, amount, signature) in order, in one transaction; a malformed claim is refused alone (reason malformed).';

CREATE TYPE drip.ilp_verdict AS (
    code    text,
    message text,
    hold    bigint
);

-- How long past its expiry a packet may still be fulfilled: the sidecar
-- checks the expiry by its own clock before it records a fulfilment, and
-- this covers the clocks' skew and the recording's retries.
CREATE FUNCTION drip._ilp_hold_grace() RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT interval '10 seconds'
$$;

-- A Prepare of p_amount base units from p_account, to another client
-- (p_to, paid on the server's channel to it) or not (NULL): checked, and
-- held until p_expires_at, under the sender's account lock and then the
-- receiver's outgoing channel's (always in that order).
CREATE FUNCTION drip._ilp_hold(p_account text, p_to text, p_amount bigint, p_expires_at timestamptz)
RETURNS drip.ilp_verdict
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    a drip.ilp_accounts;
    c drip.channels;
    o drip.ilp_outgoing;
    st drip.ilp_settings;
    owed numeric;
    hold bigint;
BEGIN
    IF p_amount IS NULL OR p_amount < 0 OR p_expires_at IS NULL OR NOT isfinite(p_expires_at) THEN
        RAISE EXCEPTION 'invalid prepare'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'amount is non-negative base units, expires_at a finite time.';
    END IF;
    SELECT * INTO st FROM drip.ilp_settings;
    SELECT * INTO a FROM drip.ilp_accounts WHERE account = p_account FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown ILP account' USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO c FROM drip.channels WHERE ilp_account = p_account AND closed_at IS NULL;
    IF a.blocked OR NOT FOUND THEN
        RETURN ('F02'::text, 'account has no open channel'::text, NULL::bigint);
    END IF;
    -- What this packet would leave owed: packets so far, less what closed
    -- channels paid and what the open one's best claim secures.
    owed := a.prepared + p_amount - drip._drops_in_base(a.settled + c.best_claim, st.asset_scale);
    IF owed > st.bandwidth THEN
        RETURN ('T04'::text, 'Insufficient bandwidth'::text, NULL::bigint);
    END IF;
    IF a.prepared + p_amount - drip._drops_in_base(a.settled, st.asset_scale) > drip._drops_in_base(c.amount, st.asset_scale) THEN
        RETURN ('T04'::text, 'Insufficient funds'::text, NULL::bigint);
    END IF;
    IF p_to IS NOT NULL THEN
        SELECT * INTO o FROM drip.ilp_outgoing WHERE account = p_to FOR UPDATE;
        IF NOT FOUND OR o.state <> 'open' THEN
            RETURN ('T04'::text, 'the destination has no channel to be paid on'::text, NULL::bigint);
        END IF;
        IF drip._base_in_drops(o.signed + o.reserved + p_amount, st.asset_scale) > o.amount THEN
            RETURN ('T04'::text, 'Insufficient funds in the channel to the destination'::text, NULL::bigint);
        END IF;
        UPDATE drip.ilp_outgoing SET reserved = reserved + p_amount, updated_at = now() WHERE account = p_to;
    END IF;
    UPDATE drip.ilp_accounts SET prepared = prepared + p_amount, updated_at = now() WHERE account = p_account;
    -- A packet of nothing holds nothing.
    IF p_amount > 0 THEN
        INSERT INTO drip.ilp_holds (account, receiver, amount, expires_at)
        VALUES (p_account, p_to, p_amount,
                least(p_expires_at, now() + make_interval(secs => st.max_hold_secs)))
        RETURNING id INTO hold;
    END IF;
    RETURN (NULL::text, NULL::text, hold);
END
$$;

CREATE FUNCTION drip.ilp_prepare(p_account text, p_amount bigint, p_expires_at timestamptz)
RETURNS drip.ilp_verdict
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    SELECT drip._ilp_hold(p_account, NULL, p_amount, p_expires_at)
$$;
COMMENT ON FUNCTION drip.ilp_prepare(text, bigint, timestamptz) IS
'A client''s ILP Prepare of amount base units (drip.ilp_settings.asset_scale) expiring at p_expires_at: held (the hold''s id; none for an amount of 0) until then, or at most drip.ilp_settings.max_hold_secs, when its claims cover all but the settings'' bandwidth of what its packets owe and its channel can pay it; else an ILP error code and message (F02, T04). Under the account''s lock.';

-- Every writer of a hold locks what its packet locked, in the same order:
-- the sender's account, then the hold, then the receiver's outgoing
-- channel.
CREATE FUNCTION drip.ilp_rollback(p_hold bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    h drip.ilp_holds;
BEGIN
    IF p_hold IS NULL THEN
        RAISE EXCEPTION 'invalid hold' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO h FROM drip.ilp_holds WHERE id = p_hold;
    PERFORM FROM drip.ilp_accounts WHERE account = h.account FOR UPDATE;
    DELETE FROM drip.ilp_holds WHERE id = p_hold AND fulfilled_at IS NULL RETURNING * INTO h;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE drip.ilp_accounts SET prepared = greatest(prepared - h.amount, 0), updated_at = now()
    WHERE account = h.account;
    UPDATE drip.ilp_outgoing SET reserved = greatest(reserved - h.amount, 0), updated_at = now()
    WHERE account = h.receiver;
    RETURN true;
END
$$;
COMMENT ON FUNCTION drip.ilp_rollback(bigint) IS
'A held Prepare (drip.ilp_prepare''s or drip.ilp_route''s) was rejected: its sender owes nothing for it, and the receiver''s channel holds nothing. False, and nothing changes, when it is no longer held (released already, or fulfilled).';

CREATE FUNCTION drip.ilp_fulfilled(p_hold bigint) RETURNS drip.reason
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    h drip.ilp_holds;
BEGIN
    IF p_hold IS NULL THEN
        RAISE EXCEPTION 'invalid hold' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO h FROM drip.ilp_holds WHERE id = p_hold FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_held';
    END IF;
    IF h.receiver IS NOT NULL THEN
        RAISE EXCEPTION 'a routed hold' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'drip.ilp_route_fulfilled pays its receiver.';
    END IF;
    IF h.fulfilled_at IS NULL THEN
        IF h.expires_at < now() - drip._ilp_hold_grace() THEN
            RETURN 'expired';
        END IF;
        UPDATE drip.ilp_holds SET fulfilled_at = now() WHERE id = p_hold;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION drip.ilp_fulfilled(bigint) IS
'A drip.ilp_prepare packet was fulfilled: its sender stays charged for it. NULL when it does (a repeat changes nothing); else why not, and nothing changes: not_held (rolled back, or released once expired), expired (past its expiry): the sender must be rejected.';

-- The payer asked to close (an Expiration appeared): block the account
-- and claim at once.
CREATE FUNCTION drip._ilp_channel_closing(c drip.channels, p_expiration timestamptz) RETURNS drip.session_state
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
BEGIN
    UPDATE drip.channels SET expiration = p_expiration, updated_at = now() WHERE channel_id = c.channel_id;
    UPDATE drip.ilp_accounts SET blocked = true, block_reason = 'channel is closing', updated_at = now()
    WHERE account = c.ilp_account;
    IF NOT EXISTS (SELECT FROM drip.outbox o WHERE o.channel_id = c.channel_id
                   AND o.kind IN ('claim', 'claim_and_close') AND o.state IN ('queued', 'submitted')) THEN
        INSERT INTO drip.outbox (kind, channel_id) VALUES ('claim_and_close', c.channel_id);
    END IF;
    RETURN 'closing'::drip.session_state;
END
$$;

-- The channel left the ledger. Unlike the original plugin, the account is
-- not blocked for ever: its claims count as settled, and the client may
-- open a new channel.
CREATE FUNCTION drip._ilp_channel_closed(c drip.channels, p_ledger_balance bigint) RETURNS drip.session_state
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
BEGIN
    -- Only what the ledger paid settles: an unredeemed claim is a loss
    -- (drip.losses), and the client still owes for its packets.
    UPDATE drip.ilp_accounts
    SET settled = settled + p_ledger_balance, blocked = false, block_reason = NULL, updated_at = now()
    WHERE account = c.ilp_account;
    RETURN 'closed'::drip.session_state;
END
$$;

CREATE FUNCTION drip.ilp_queue_claims(p_min_income bigint) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    WITH queued AS (
        INSERT INTO drip.outbox (kind, channel_id)
        SELECT 'claim', c.channel_id FROM drip.channels c
        WHERE c.ilp_account IS NOT NULL AND c.closed_at IS NULL
          AND c.best_claim - c.ledger_balance >= greatest(p_min_income, 1)
          AND NOT EXISTS (SELECT FROM drip.outbox o WHERE o.channel_id = c.channel_id
                          AND o.kind IN ('claim', 'claim_and_close') AND o.state IN ('queued', 'submitted'))
        RETURNING 1
    )
    SELECT count(*)::integer FROM queued
$$;
COMMENT ON FUNCTION drip.ilp_queue_claims(bigint) IS
'Sidecar only: queue a claim on every open ILP channel whose unredeemed claims reach p_min_income drops (worth the fee). How many.';

-- ILP: the server's outgoing channels. A client asks for one (fund_channel)
-- once its incoming channel is large enough; drip opens it through the
-- outbox and pays the client by claims on it as packets to the client are
-- fulfilled. A packet to a client is refused (T04) unless the channel can
-- pay it, counting what packets in flight hold.

-- Base units of scale p_scale in whole drops, rounded up (a claim never
-- pays less than what it stands for).
CREATE FUNCTION drip._base_in_drops(p_base bigint, p_scale integer) RETURNS numeric
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT ceil(p_base::numeric / power(10::numeric, p_scale - 6))
$$;

CREATE FUNCTION drip.ilp_outgoing_channel(p_account text) RETURNS drip.ilp_outgoing
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    SELECT * FROM drip.ilp_outgoing WHERE account = p_account
$$;
COMMENT ON FUNCTION drip.ilp_outgoing_channel(text) IS
'The server''s channel to an ILP client: its state (opening, open, failed, closed), id, drops, a fund under way, and base units paid (signed) and held by packets in flight (reserved).';

CREATE TYPE drip.ilp_funding AS (
    state      text,
    channel_id bytea,
    reason     drip.reason
);

CREATE FUNCTION drip.ilp_fund_channel(p_account text, p_destination text, p_public_key bytea)
RETURNS drip.ilp_funding
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    a drip.ilp_accounts;
    incoming bigint;
    o drip.ilp_outgoing;
    st drip.ilp_settings;
BEGIN
    IF p_destination IS NULL OR p_destination !~ '^r[1-9A-HJ-NP-Za-km-z]{24,34}$'
       OR length(p_public_key) IS DISTINCT FROM 33 THEN
        RAISE EXCEPTION 'invalid fund_channel'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'destination is a classic XRPL address, public_key 33 bytes.';
    END IF;
    SELECT * INTO st FROM drip.ilp_settings;
    SELECT * INTO a FROM drip.ilp_accounts WHERE account = p_account FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown ILP account' USING ERRCODE = 'no_data_found';
    END IF;
    IF a.blocked THEN
        RETURN (NULL::text, NULL::bytea, 'blocked'::drip.reason);
    END IF;
    SELECT c.amount INTO incoming FROM drip.channels c WHERE c.ilp_account = p_account AND c.closed_at IS NULL;
    IF NOT FOUND THEN
        RETURN (NULL::text, NULL::bytea, 'no_incoming_channel'::drip.reason);
    END IF;
    IF incoming < st.min_incoming_channel_amount THEN
        RETURN (NULL::text, NULL::bytea, 'incoming_channel_too_small'::drip.reason);
    END IF;
    SELECT * INTO o FROM drip.ilp_outgoing WHERE account = p_account FOR UPDATE;
    IF FOUND AND o.state IN ('opening', 'open') THEN
        IF o.destination <> p_destination THEN
            RETURN (o.state, o.channel_id, 'other_destination'::drip.reason);
        END IF;
        RETURN (o.state, o.channel_id, NULL::drip.reason);
    END IF;
    -- A new channel: claims on it start from nothing.
    INSERT INTO drip.ilp_outgoing AS t (account, destination, public_key, amount)
    VALUES (p_account, p_destination, p_public_key, st.outgoing_channel_amount)
    ON CONFLICT (account) DO UPDATE
    SET destination = excluded.destination, public_key = excluded.public_key, amount = excluded.amount,
        state = 'opening', channel_id = NULL, funding = NULL, signed = 0, last_error = NULL,
        updated_at = now();
    INSERT INTO drip.outbox (kind, ilp_account) VALUES ('ilp_channel', p_account);
    RETURN ('opening'::text, NULL::bytea, NULL::drip.reason);
END
$$;
COMMENT ON FUNCTION drip.ilp_fund_channel(text, text, bytea) IS
'Sidecar only: an ILP client asks for a channel to its address (public_key derived from the server''s secret). Queues its PaymentChannelCreate (drip.ilp_settings.outgoing_channel_amount drops, to the account''s derived key) unless one is opening or open; refused (reason) for a blocked account, or without an open incoming channel of drip.ilp_settings.min_incoming_channel_amount drops.';

-- Sidecar only: the outcome of an outgoing channel's create or fund.
CREATE FUNCTION drip.ilp_outgoing_result(p_account text, p_channel_id bytea, p_amount bigint, p_error text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
BEGIN
    IF p_error IS NOT NULL THEN
        UPDATE drip.ilp_outgoing
        SET state = CASE WHEN state = 'opening' THEN 'failed' ELSE state END,
            funding = NULL, last_error = p_error, updated_at = now()
        WHERE account = p_account;
    ELSE
        IF length(p_channel_id) IS DISTINCT FROM 32 OR p_amount IS NULL OR p_amount <= 0 THEN
            RAISE EXCEPTION 'invalid channel'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'channel_id is 32 bytes and amount positive drops.';
        END IF;
        UPDATE drip.ilp_outgoing
        SET state = 'open', channel_id = p_channel_id, amount = greatest(amount, p_amount),
            funding = NULL, last_error = NULL, updated_at = now()
        WHERE account = p_account AND state IN ('opening', 'open');
    END IF;
    PERFORM pg_notify('drip_ilp', p_account);
END
$$;
COMMENT ON FUNCTION drip.ilp_outgoing_result(text, bytea, bigint, text) IS
'Sidecar only: an outgoing channel''s create or fund validated (its id and drops as the ledger has them) or failed (p_error). Notifies drip_ilp with the account.';

CREATE FUNCTION drip.ilp_outgoing_closed(p_account text, p_channel_id bytea) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    UPDATE drip.ilp_outgoing SET state = 'closed', funding = NULL, updated_at = now()
    WHERE account = p_account AND channel_id = p_channel_id AND state = 'open'
$$;
COMMENT ON FUNCTION drip.ilp_outgoing_closed(text, bytea) IS
'Sidecar only: the outgoing channel left the ledger (the client closed it); the client may ask for a new one.';

CREATE FUNCTION drip.ilp_outgoing_open() RETURNS TABLE (account text, channel_id bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    SELECT o.account, o.channel_id FROM drip.ilp_outgoing o WHERE o.state = 'open' ORDER BY o.channel_id
$$;
COMMENT ON FUNCTION drip.ilp_outgoing_open() IS
'Sidecar only: the server''s open channels to ILP clients, for the watch (a client may close one at any time).';

-- A packet from one client to another: the sender's claims and bandwidth
-- must cover it (as for drip.ilp_prepare) and the server's channel to the
-- receiver must be able to pay it.
CREATE FUNCTION drip.ilp_route(p_from text, p_to text, p_amount bigint, p_expires_at timestamptz)
RETURNS drip.ilp_verdict
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
BEGIN
    IF p_to IS NULL THEN
        RAISE EXCEPTION 'invalid route'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'A routed packet has a receiving account.';
    END IF;
    RETURN drip._ilp_hold(p_from, p_to, p_amount, p_expires_at);
END
$$;
COMMENT ON FUNCTION drip.ilp_route(text, text, bigint, timestamptz) IS
'A Prepare of amount base units from one client to another, expiring at p_expires_at: counted against the sender (as drip.ilp_prepare) and held on the server''s channel to the receiver (the hold''s id); else an ILP error code and message (F02, T04) and nothing changes.';

CREATE TYPE drip.ilp_payout AS (
    channel_id bytea,
    signed     bigint,
    drops      bigint,
    funding    bigint,
    reason     drip.reason
);

CREATE FUNCTION drip.ilp_route_fulfilled(p_hold bigint)
RETURNS drip.ilp_payout
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    h drip.ilp_holds;
    o drip.ilp_outgoing;
    st drip.ilp_settings;
    drops bigint;
BEGIN
    IF p_hold IS NULL THEN
        RAISE EXCEPTION 'invalid payout'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'A hold is required.';
    END IF;
    SELECT * INTO st FROM drip.ilp_settings;
    SELECT * INTO h FROM drip.ilp_holds WHERE id = p_hold FOR UPDATE;
    -- A packet no longer held was given back to its sender, who owes
    -- nothing for it: paying the receiver would be the operator's loss.
    IF NOT FOUND THEN
        RETURN (NULL::bytea, NULL::bigint, NULL::bigint, NULL::bigint, 'not_held'::drip.reason);
    END IF;
    IF h.receiver IS NULL THEN
        RAISE EXCEPTION 'not a routed hold' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'drip.ilp_fulfilled keeps it.';
    END IF;
    IF h.fulfilled_at IS NULL AND h.expires_at < now() - drip._ilp_hold_grace() THEN
        RETURN (NULL::bytea, NULL::bigint, NULL::bigint, NULL::bigint, 'expired'::drip.reason);
    END IF;
    SELECT * INTO o FROM drip.ilp_outgoing WHERE account = h.receiver FOR UPDATE;
    IF o.channel_id IS NULL THEN
        RAISE EXCEPTION 'no outgoing channel' USING ERRCODE = 'no_data_found',
            DETAIL = format('Account %s has no channel to pay a fulfilled packet on.', h.receiver);
    END IF;
    IF h.fulfilled_at IS NOT NULL THEN
        -- Recorded already (the first answer was lost): paid once, and
        -- the claim as it stands.
        RETURN (o.channel_id, o.signed, drip._base_in_drops(o.signed, st.asset_scale)::bigint, o.funding, NULL::drip.reason);
    END IF;
    UPDATE drip.ilp_holds SET fulfilled_at = now() WHERE id = p_hold;
    drops := drip._base_in_drops(o.signed + h.amount, st.asset_scale)::bigint;
    UPDATE drip.ilp_outgoing
    SET signed = signed + h.amount, reserved = greatest(reserved - h.amount, 0), updated_at = now()
    WHERE account = h.receiver;
    -- Past half of the funding left: top the channel up before it runs dry.
    IF o.state = 'open' AND o.funding IS NULL AND drops > o.amount - st.outgoing_channel_amount / 2 THEN
        UPDATE drip.ilp_outgoing SET funding = st.outgoing_channel_amount WHERE account = h.receiver;
        INSERT INTO drip.outbox (kind, channel_id, ilp_account) VALUES ('ilp_fund', o.channel_id, h.receiver);
        o.funding := st.outgoing_channel_amount;
    END IF;
    RETURN (o.channel_id, o.signed + h.amount, drops, o.funding, NULL::drip.reason);
END
$$;
COMMENT ON FUNCTION drip.ilp_route_fulfilled(bigint) IS
'A routed packet was fulfilled: the receiver is owed its hold. Returns what drip''s claim to it must now pay (cumulative base units and drops, rounded up) on which channel, the same again for a hold fulfilled already; queues a PaymentChannelFund of drip.ilp_settings.outgoing_channel_amount drops when the claims pass half of it from the channel''s end. For a hold no longer held (reason not_held: rolled back, or released once expired) or past its expiry (expired) nothing is paid or charged: the sender must be rejected.';

-- Scheduled: packets nobody answered, whose holds a crashed or failing
-- sidecar never released. Locks as every hold's writer does, each set in
-- key order, so neither a packet nor another sweep deadlocks with it.
CREATE FUNCTION drip.ilp_release_expired(p_now timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    cutoff timestamptz := p_now - drip._ilp_hold_grace();
    senders text[];
    due bigint[];
    released integer;
BEGIN
    IF p_now IS NULL THEN
        RAISE EXCEPTION 'invalid time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    senders := ARRAY(SELECT a.account FROM drip.ilp_accounts a
                     WHERE a.account IN (SELECT h.account FROM drip.ilp_holds h
                                         WHERE h.fulfilled_at IS NULL AND h.expires_at < cutoff)
                     ORDER BY a.account FOR UPDATE);
    -- Only the locked senders' holds: one that expired since is left to
    -- the next sweep.
    due := ARRAY(SELECT h.id FROM drip.ilp_holds h
                 WHERE h.account = ANY (senders) AND h.fulfilled_at IS NULL AND h.expires_at < cutoff
                 ORDER BY h.id FOR UPDATE);
    PERFORM FROM drip.ilp_outgoing o
    WHERE o.account IN (SELECT h.receiver FROM drip.ilp_holds h WHERE h.id = ANY (due))
    ORDER BY o.account FOR UPDATE;
    WITH gone AS (
        DELETE FROM drip.ilp_holds h WHERE h.id = ANY (due)
        RETURNING h.account, h.receiver, h.amount
    ), sent AS (
        UPDATE drip.ilp_accounts a SET prepared = greatest(a.prepared - g.amount, 0), updated_at = now()
        FROM (SELECT account, sum(amount) AS amount FROM gone GROUP BY account) g
        WHERE a.account = g.account
    ), held AS (
        UPDATE drip.ilp_outgoing o SET reserved = greatest(o.reserved - g.amount, 0), updated_at = now()
        FROM (SELECT receiver, sum(amount) AS amount FROM gone WHERE receiver IS NOT NULL GROUP BY receiver) g
        WHERE o.account = g.receiver
    )
    SELECT count(*) INTO released FROM gone;
    -- Fulfilled holds past it were paid, and are too late for a retry.
    -- Last, and never waiting (a fulfilment's retry holds its hold before
    -- the receiver's channel).
    DELETE FROM drip.ilp_holds
    WHERE id IN (SELECT h.id FROM drip.ilp_holds h
                 WHERE h.fulfilled_at IS NOT NULL AND h.expires_at < cutoff
                 FOR UPDATE SKIP LOCKED);
    RETURN released;
END
$$;
COMMENT ON FUNCTION drip.ilp_release_expired(timestamptz) IS
'Sidecar only: releases the holds of packets still unanswered past their expiry (and drip._ilp_hold_grace()) at p_now, as drip.ilp_rollback would: their senders owe nothing for them, the receivers'' channels hold nothing. Forgets fulfilled holds past it. How many were released.';


-- Ledger work that always finishes: every outbox job ends (done, failed
-- with a reason, or retried after a backoff, with a lease while a worker
-- holds it); job results are compare-and-set on the transaction followed;
-- a channel's close records what the ledger paid and, below the best
-- claim, a loss (drip.losses); a closing channel keeps a live path to its
-- claim (drip.requeue_claim).
CREATE TABLE drip.losses (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id  drip.hash256 NOT NULL REFERENCES drip.channels (channel_id),
    amount      drip.positive_drops NOT NULL,
    reason      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX losses_channel_idx ON drip.losses (channel_id);
SELECT pg_catalog.pg_extension_config_dump('drip.losses', '');
REVOKE ALL ON drip.losses FROM PUBLIC;

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
SELECT pg_catalog.pg_extension_config_dump('drip.mpp_challenges', '');
REVOKE ALL ON drip.mpp_challenges FROM PUBLIC;
DROP FUNCTION drip.record_outbox(bigint, drip.outbox_state, bytea, bigint, text);
CREATE FUNCTION drip._verify_done(p_proposal_id text, p_tx_hash bytea, p_reason text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, drip AS $$
    UPDATE drip.outbox SET state = 'done', last_error = p_reason, not_before = NULL, updated_at = now()
    WHERE proposal_id = p_proposal_id AND tx_hash IS NOT DISTINCT FROM p_tx_hash
      AND kind IN ('verify_channel', 'verify_fund') AND state IN ('queued', 'submitted')
$$;
CREATE FUNCTION drip._queue_claim(p_channel_id bytea, p_session bigint, p_kind drip.outbox_kind)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    job bigint;
BEGIN
    -- An open close first: it serves any request.
    SELECT o.id INTO job FROM drip.outbox o
    WHERE o.channel_id = p_channel_id AND o.kind IN ('claim', 'claim_and_close')
      AND o.state IN ('queued', 'submitted')
    ORDER BY o.kind = 'claim_and_close' DESC, o.id LIMIT 1;
    IF FOUND AND p_kind = 'claim_and_close'
       AND NOT EXISTS (SELECT FROM drip.outbox o WHERE o.id = job AND o.kind = 'claim_and_close') THEN
        -- A close asked for now rides on a queued claim; one already signed
        -- without it is followed by a claim-and-close of its own.
        -- (SKIP LOCKED: a worker holding the job may be signing it already,
        -- and must not be waited for under the channel's locks.)
        UPDATE drip.outbox SET kind = 'claim_and_close', updated_at = now()
        WHERE id = (SELECT o.id FROM drip.outbox o WHERE o.id = job AND o.state = 'queued'
                    FOR UPDATE SKIP LOCKED);
        IF NOT FOUND AND NOT EXISTS (SELECT FROM drip.outbox o WHERE o.channel_id = p_channel_id
                                     AND o.kind = 'claim_and_close' AND o.state IN ('queued', 'submitted')) THEN
            job := NULL;
        END IF;
    END IF;
    IF job IS NOT NULL THEN
        RETURN job;
    END IF;
    INSERT INTO drip.outbox (kind, session, channel_id) VALUES (p_kind, p_session, p_channel_id)
    RETURNING id INTO job;
    RETURN job;
END
$$;
CREATE FUNCTION drip._lock_channel(p_channel_id bytea) RETURNS drip.channels
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    c drip.channels;
BEGIN
    SELECT * INTO c FROM drip.channels WHERE channel_id = p_channel_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown channel' USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM FROM drip.sessions WHERE id = c.session FOR UPDATE;
    PERFORM FROM drip.ilp_accounts WHERE account = c.ilp_account FOR UPDATE;
    SELECT * INTO c FROM drip.channels WHERE channel_id = p_channel_id FOR UPDATE;
    RETURN c;
END
$$;
CREATE FUNCTION drip.outbox_done(p_id bigint, p_tx_hash bytea, p_error text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
BEGIN
    UPDATE drip.outbox
    SET state = CASE WHEN p_error IS NULL THEN 'done' ELSE 'failed' END::drip.outbox_state,
        last_error = p_error, not_before = NULL, updated_at = now()
    WHERE id = p_id AND tx_hash IS NOT DISTINCT FROM p_tx_hash AND state IN ('queued', 'submitted');
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION drip.outbox_done(bigint, bytea, text) IS
'Sidecar only: the job ended (failed with p_error, or done), as the worker following transaction p_tx_hash saw it; false when the job moved on meanwhile.';
CREATE FUNCTION drip._outbox_max_failures() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT 10
$$;
CREATE FUNCTION drip._outbox_backoff(p_kind drip.outbox_kind, p_failures integer) RETURNS interval
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT make_interval(secs => least(power(2, least(greatest(p_failures - 1, 0), 10)),
        CASE WHEN p_kind IN ('claim', 'claim_and_close') THEN 60 ELSE 600 END))
$$;
CREATE FUNCTION drip._outbox_next_state(p_state drip.outbox_state, p_kind drip.outbox_kind, p_failures integer)
RETURNS drip.outbox_state
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, drip AS $$
    SELECT CASE WHEN p_state = 'queued' AND p_kind NOT IN ('claim', 'claim_and_close')
                     AND p_failures >= drip._outbox_max_failures()
                THEN 'failed' ELSE p_state END::drip.outbox_state
$$;
CREATE FUNCTION drip._outbox_given_up(o drip.outbox) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
BEGIN
    IF o.kind IN ('verify_channel', 'verify_fund') THEN
        UPDATE drip.outbox SET last_error = 'not_checked: ' || o.last_error WHERE id = o.id;
        PERFORM drip.reject_agreement(o.proposal_id, o.tx_hash, 'not_checked');
    ELSIF o.kind IN ('ilp_channel', 'ilp_fund') THEN
        PERFORM drip.ilp_outgoing_result(o.ilp_account, NULL, NULL, o.last_error);
    END IF;
END
$$;
CREATE FUNCTION drip.outbox_failed(p_id bigint, p_tx_hash bytea, p_error text) RETURNS drip.outbox_state
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    o drip.outbox;
BEGIN
    UPDATE drip.outbox
    SET failures = failures + 1, last_error = p_error, updated_at = now(),
        not_before = now() + drip._outbox_backoff(kind, failures + 1),
        state = drip._outbox_next_state(state, kind, failures + 1)
    WHERE id = p_id AND tx_hash IS NOT DISTINCT FROM p_tx_hash AND state IN ('queued', 'submitted')
    RETURNING * INTO o;
    IF o.state = 'failed' THEN
        PERFORM drip._outbox_given_up(o);
    END IF;
    RETURN o.state;
END
$$;
COMMENT ON FUNCTION drip.outbox_failed(bigint, bytea, text) IS
'Sidecar only: an attempt at the job failed with p_error: retried after a backoff (1 s doubling, to a minute for claims and 10 min for the rest), given up after 10 in a row with nothing in flight (claims never). Compare-and-set on the transaction followed.';
CREATE FUNCTION drip.requeue_claim(p_channel_id bytea) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    c drip.channels;
    st drip.session_state;
BEGIN
    c := drip._lock_channel(p_channel_id);
    SELECT s.state INTO st FROM drip.sessions s WHERE s.id = c.session;
    IF c.closed_at IS NOT NULL OR st = 'closed' THEN
        RAISE EXCEPTION 'channel closed' USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'The channel has left the ledger; there is nothing to claim.';
    END IF;
    RETURN drip._queue_claim(p_channel_id, c.session,
        CASE WHEN coalesce(st = 'closing', c.expiration IS NOT NULL OR c.finalized_at IS NOT NULL) THEN 'claim_and_close'
             ELSE 'claim' END::drip.outbox_kind);
END
$$;
COMMENT ON FUNCTION drip.requeue_claim(bytea) IS
'Give the channel''s best claim a live path to the ledger: queue its claim (claim-and-close for an ending session, a closing ILP channel or a finalized HTTP 402 channel) unless one is open. The open job''s id.';
CREATE FUNCTION drip.outbox_needs(OUT transactions bigint, OUT spends bigint, OUT new_objects bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    SELECT (SELECT count(*) FROM drip.outbox o
            WHERE o.state IN ('queued', 'submitted') AND o.kind IN ('claim', 'claim_and_close', 'ilp_channel', 'ilp_fund')),
           coalesce((SELECT sum(CASE WHEN g.state = 'opening' THEN g.amount ELSE g.funding END)
                     FROM drip.ilp_outgoing g
                     WHERE g.state = 'opening' OR (g.state = 'open' AND g.funding IS NOT NULL)), 0)::bigint,
           (SELECT count(*) FROM drip.outbox o
            WHERE o.state IN ('queued', 'submitted') AND o.kind = 'ilp_channel')
$$;
COMMENT ON FUNCTION drip.outbox_needs() IS
'Sidecar only: what the hot wallet must keep for queued ledger work: transactions still to send (a fee each), drops its queued ILP channel creates and funds put in, and the channels those creates will own (a reserve increment each).';
CREATE OR REPLACE FUNCTION drip._end_session(p_session bigint, p_reason text) RETURNS drip.session_state
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    c drip.channels;
    s drip.sessions;
BEGIN
    SELECT * INTO c FROM drip.channels WHERE session = p_session;
    UPDATE drip.sessions
    SET state = CASE WHEN c.channel_id IS NULL THEN 'closed' ELSE 'closing' END::drip.session_state,
        end_reason = p_reason, next_check_at = NULL, updated_at = now()
    WHERE id = p_session
    RETURNING * INTO s;
    IF c.channel_id IS NOT NULL THEN
        PERFORM drip._queue_claim(c.channel_id, p_session, 'claim_and_close');
    END IF;
    PERFORM drip._notify_session(s.id);
    RETURN s.state;
END
$$;
CREATE OR REPLACE VIEW drip.outbox_backlog AS
SELECT kind, state, count(*) AS jobs, min(created_at) AS oldest, max(attempts) AS max_attempts,
       count(*) FILTER (WHERE last_error IS NOT NULL) AS with_errors,
       max(failures) AS max_failures,
       min(not_before) FILTER (WHERE state IN ('queued', 'submitted')) AS next_attempt
FROM drip.outbox GROUP BY kind, state ORDER BY kind, state;
COMMENT ON VIEW drip.outbox_backlog IS 'Ledger work by kind and state: what waits, since when, what fails (failed: given up after drip._outbox_max_failures attempts) and when it is tried next.';
CREATE VIEW drip.losses_by_reason AS
SELECT reason, count(*) AS channels, sum(amount)::bigint AS drops, max(recorded_at) AS latest
FROM drip.losses GROUP BY reason ORDER BY drops DESC;
COMMENT ON VIEW drip.losses_by_reason IS 'Drops accepted in claims that the ledger never paid (drip.losses), by reason.';
REVOKE ALL ON FUNCTION drip._verify_done(text, bytea, text), drip._queue_claim(bytea, bigint, drip.outbox_kind),
    drip._lock_channel(bytea), drip.outbox_done(bigint, bytea, text), drip._outbox_max_failures(),
    drip._outbox_backoff(drip.outbox_kind, integer), drip._outbox_next_state(drip.outbox_state, drip.outbox_kind, integer),
    drip._outbox_given_up(drip.outbox), drip.outbox_failed(bigint, bytea, text), drip.requeue_claim(bytea),
    drip.record_channel_closed(bytea, bigint, text), drip.outbox_needs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drip.outbox_done(bigint, bytea, text), drip.outbox_failed(bigint, bytea, text),
    drip.requeue_claim(bytea), drip.record_channel_closed(bytea, bigint, text), drip.outbox_needs() TO drip_ledger;
GRANT EXECUTE ON FUNCTION drip.requeue_claim(bytea) TO drip_admin;
GRANT SELECT ON drip.losses_by_reason TO drip_admin, drip_ledger;


-- Refusals are drip.reason; drip.pay and the ILP claims keep a claim
-- through one function.
-- A claim taken: the channel's best claim, and the audit row. Call with
-- the channel locked, after every check. clock_timestamp(): the moment of
-- acceptance, after the lock wait, so the audit's time order is the
-- acceptance order.
CREATE FUNCTION drip._take_claim(p_channel_id bytea, p_amount bigint, p_signature bytea) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
BEGIN
    UPDATE drip.channels
    SET best_claim = p_amount, best_signature = p_signature, updated_at = now()
    WHERE channel_id = p_channel_id AND best_claim < p_amount AND p_amount <= amount;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'claim does not rise above the best or exceeds the channel'
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO drip.claims (channel_id, amount, signature, accepted_at)
    VALUES (p_channel_id, p_amount, p_signature, clock_timestamp());
END
$$;


CREATE OR REPLACE FUNCTION drip.destroy_session(p_session_id text) RETURNS drip.agreement
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
BEGIN
    SELECT * INTO s FROM drip.sessions WHERE session_id = p_session_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN (false, 'not_found'::drip.reason, NULL::drip.session_state);
    END IF;
    IF s.state IN ('closing', 'closed') THEN
        RETURN (false, 'already_ending'::drip.reason, s.state);
    END IF;
    RETURN (true, NULL::drip.reason, drip._end_session(s.id, 'destroyed'));
END
$$;
COMMENT ON FUNCTION drip.destroy_session(text) IS
'End the web server''s session: its channel is queued for claim-and-close (the best claim is redeemed, the rest refunded at once).';


-- One body for each of: a proposal (initial or refresh), a submitted
-- agreement (initial or refresh).
-- A signed proposal for session p_session, recorded: the terms' funding,
-- session length and inquiry lifetime, with the rest as given (an initial
-- proposal's from the terms, a refresh's from the accepted one).
CREATE FUNCTION drip._propose(t drip.terms, p_session bigint, p_kind drip.proposal_kind, p_channel_id bytea,
    p_payment_type drip.payment_type, p_rate bigint, p_polling_interval_secs integer,
    p_settle_delay_secs integer, p_destination text, p_destination_tag bigint)
RETURNS drip.inquiry
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    new_id text := drip._new_proposal_id();
    expires timestamptz;
    r drip.inquiry;
BEGIN
    expires := now() + make_interval(secs => t.inquiry_ttl_secs);
    INSERT INTO drip.proposals (proposal_id, session, kind, payment_type, rate,
        polling_interval_secs, channel_funding, settle_delay_secs, session_length_secs,
        destination, destination_tag, expires_at)
    VALUES (new_id, p_session, p_kind, p_payment_type, p_rate, p_polling_interval_secs,
        t.channel_funding, p_settle_delay_secs, t.session_length_secs,
        p_destination, p_destination_tag, expires);
    SELECT new_id, p.payload, p.signature, p.public_key, expires INTO r
    FROM drip.server_key k,
         drip._sign_proposal(k.secret, new_id, p_channel_id, p_payment_type::text, p_rate,
             p_polling_interval_secs, t.channel_funding, p_settle_delay_secs,
             p_destination, p_destination_tag, expires) p;
    RETURN r;
END
$$;

-- The wallet sent the transaction p_tx_hash for proposal p_proposal_id of
-- kind p_kind (the initial proposal's PaymentChannelCreate, a refresh's
-- PaymentChannelFund): queue its check on the validated ledger, or refuse.
CREATE FUNCTION drip._submit(p_kind drip.proposal_kind, p_proposal_id text, p_tx_hash bytea, p_drip_token text)
RETURNS drip.agreement
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    p drip.proposals;
    s drip.sessions;
    refusal drip.reason;
BEGIN
    PERFORM drip._check_tx_hash(p_tx_hash,
        CASE p_kind WHEN 'initial' THEN 'PaymentChannelCreate' ELSE 'PaymentChannelFund' END);
    p := drip._proposal(p_proposal_id, p_drip_token);
    SELECT * INTO s FROM drip.sessions WHERE id = p.session FOR UPDATE;
    refusal := CASE
        WHEN p_kind = 'initial' THEN CASE
            WHEN s.state <> 'created' THEN 'already_agreed'
            WHEN p.kind <> 'initial' THEN 'not_an_initial_proposal' END
        ELSE CASE
            WHEN p.kind <> 'refresh' THEN 'not_a_refresh_proposal'
            WHEN s.state <> 'active' THEN 'not_active'
            WHEN p.tx_hash IS NOT NULL THEN 'already_agreed' END
    END;
    IF refusal IS NULL AND p.expires_at < now() THEN
        refusal := 'proposal_expired';
    END IF;
    IF refusal IS NOT NULL THEN
        RETURN (false, refusal, s.state);
    END IF;
    UPDATE drip.proposals SET tx_hash = p_tx_hash WHERE proposal_id = p.proposal_id;
    IF p_kind = 'initial' THEN
        UPDATE drip.sessions SET state = 'pending', updated_at = now() WHERE id = s.id
        RETURNING * INTO s;
        INSERT INTO drip.outbox (kind, session, proposal_id, tx_hash)
        VALUES ('verify_channel', s.id, p.proposal_id, p_tx_hash);
        PERFORM drip._notify_session(s.id);
    ELSE
        INSERT INTO drip.outbox (kind, session, proposal_id, channel_id, tx_hash)
        SELECT 'verify_fund', s.id, p.proposal_id, c.channel_id, p_tx_hash
        FROM drip.channels c WHERE c.session = s.id;
    END IF;
    RETURN (true, NULL::drip.reason, s.state);
END
$$;

DROP FUNCTION drip._time_due(text, bigint, integer, timestamptz, timestamptz, bigint);
DROP FUNCTION drip._time_due_after(text, bigint, bigint, bigint);

-- Least privilege: one role per kind of caller (drip_merchant, drip_payer,
-- drip_ilp; 0.1.0's drip_app keeps the first two), and the ILP bounds in
-- drip.ilp_settings. A session's notices carry its id, not its drip token;
-- a settle delay must leave the claim window and a margin; refusals take no
-- lock, and the sweep waits briefly for a due session someone holds; an
-- agreement may name its drip token. Functions and privileges below read as
-- a fresh install's.
-- A session changed: tell listeners (drip_session) its id, never its drip
-- token, which is a bearer credential and any role may LISTEN.
CREATE FUNCTION drip._notify_session(p_session bigint) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_catalog.pg_notify('drip_session', p_session::pg_catalog.text)
$$;

-- The session for a token; unknown tokens are an error.
CREATE FUNCTION drip._session(p_drip_token text) RETURNS drip.sessions
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
BEGIN
    SELECT * INTO s FROM drip.sessions WHERE drip_token = p_drip_token;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown drip token'
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'No session has this drip token.',
                  HINT = 'Create the session first, or check the token the wallet received.';
    END IF;
    RETURN s;
END
$$;

-- The same, locked.
CREATE OR REPLACE FUNCTION drip._lock_session(p_drip_token text) RETURNS drip.sessions
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
BEGIN
    SELECT * INTO s FROM drip.sessions WHERE drip_token = p_drip_token FOR UPDATE;
    IF NOT FOUND THEN
        RETURN drip._session(p_drip_token);
    END IF;
    RETURN s;
END
$$;

-- When a session must start its claim-and-close: p_window_secs (the claim
-- window) before the earliest of its end, the channel's Expiration and its
-- CancelAfter. Plain SQL without SET so the planner inlines it (pay's hot
-- path reads the terms itself).
CREATE FUNCTION drip._claim_deadline_by(p_ends_at timestamptz, p_expiration timestamptz,
    p_cancel_after timestamptz, p_window_secs integer)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT least(p_ends_at, p_expiration, p_cancel_after)
        OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => p_window_secs)
$$;

-- The same under the terms' claim window.
CREATE OR REPLACE FUNCTION drip._claim_deadline(p_ends_at timestamptz, p_expiration timestamptz, p_cancel_after timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE SET search_path = pg_catalog, drip AS $$
    SELECT drip._claim_deadline_by(p_ends_at, p_expiration, p_cancel_after, t.claim_window_secs)
    FROM drip.terms t
$$;

-- A payer who asks to close gives drip the channel's settle delay to
-- redeem its best claim: drip notices the request on a validated ledger,
-- then submits the claim and waits for it to validate, in the claim window
-- at worst, plus a margin for a slow ledger.
CREATE FUNCTION drip._settle_margin_secs() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT 60
$$;

-- Terms that leave the rate undefined, or a settle delay too short to
-- claim in, are refused.
CREATE OR REPLACE FUNCTION drip.check_terms() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
BEGIN
    PERFORM drip.terms_rate(NEW.payment_type::text, NEW.polling_interval_secs,
                            NEW.channel_funding, NEW.session_length_secs);
    IF NEW.min_settle_delay_secs::bigint < NEW.claim_window_secs::bigint + drip._settle_margin_secs() THEN
        RAISE EXCEPTION 'settle delay too short'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('min_settle_delay_secs %s leaves no time to claim: it must be at least claim_window_secs (%s) plus %s seconds.',
                                  NEW.min_settle_delay_secs, NEW.claim_window_secs, drip._settle_margin_secs()),
                  HINT = 'A payer may close the channel at any time; drip then has the settle delay to redeem its best claim.';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- The terms in place must leave time to claim too.
UPDATE drip.terms SET updated_at = updated_at;

DROP FUNCTION drip._proposal(text);
-- The proposal with this id (of this drip token's session, when one is
-- given: a proposal id is no secret once its channel's memo is on the
-- ledger); unknown ids are an error.
CREATE FUNCTION drip._proposal(p_proposal_id text, p_drip_token text DEFAULT NULL) RETURNS drip.proposals
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, drip AS $$
DECLARE
    p drip.proposals;
BEGIN
    SELECT * INTO p FROM drip.proposals
    WHERE proposal_id = p_proposal_id
      AND (p_drip_token IS NULL
           OR session = (SELECT s.id FROM drip.sessions s WHERE s.drip_token = p_drip_token));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown proposal'
            USING ERRCODE = 'no_data_found', DETAIL = 'No proposal has this id.',
                  HINT = 'Use the proposal_id of a drip.inquire or drip.refresh_inquire result.';
    END IF;
    RETURN p;
END
$$;

DROP FUNCTION drip.submit_agreement(text, bytea);
CREATE FUNCTION drip.submit_agreement(p_proposal_id text, p_tx_hash bytea, p_drip_token text DEFAULT NULL)
RETURNS drip.agreement
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
BEGIN
    RETURN drip._submit('initial', p_proposal_id, p_tx_hash, p_drip_token);
END
$$;
COMMENT ON FUNCTION drip.submit_agreement(text, bytea, text) IS
'The wallet opened a channel for the proposal: queue its check on the validated ledger (session → pending). With p_drip_token, the proposal must be that session''s (a proposal id is public once the channel''s memo is on the ledger).';

DROP FUNCTION drip.submit_refresh(text, bytea);
CREATE FUNCTION drip.submit_refresh(p_proposal_id text, p_tx_hash bytea, p_drip_token text DEFAULT NULL)
RETURNS drip.agreement
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
BEGIN
    RETURN drip._submit('refresh', p_proposal_id, p_tx_hash, p_drip_token);
END
$$;

CREATE OR REPLACE FUNCTION drip.inquire(p_drip_token text) RETURNS drip.inquiry
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
    t drip.terms;
BEGIN
    -- A refusal takes no lock (a payer looping on it must not keep the
    -- sweep from its session).
    s := drip._session(p_drip_token);
    IF s.state = 'created' THEN
        s := drip._lock_session(p_drip_token);
    END IF;
    IF s.state <> 'created' THEN
        RAISE EXCEPTION 'session is %', s.state
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'An initial proposal is only made before an agreement.',
                  HINT = 'Use drip.refresh_inquire to fund an active session further.';
    END IF;
    SELECT * INTO t FROM drip.terms;
    RETURN drip._propose(t, s.id, 'initial', NULL, t.payment_type,
        drip.terms_rate(t.payment_type::text, t.polling_interval_secs, t.channel_funding, t.session_length_secs),
        t.polling_interval_secs, t.min_settle_delay_secs, coalesce(t.destination, ''), t.destination_tag);
END
$$;
COMMENT ON FUNCTION drip.inquire(text) IS
'A signed proposal for the session: the terms (snapshotted) the wallet''s channel must match.';

-- A refresh: the wallet funds the channel further and the session runs
-- another session length.
CREATE OR REPLACE FUNCTION drip.refresh_inquire(p_drip_token text) RETURNS drip.inquiry
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
    c drip.channels;
    first drip.proposals;
    t drip.terms;
BEGIN
    s := drip._session(p_drip_token);
    IF s.state = 'active' THEN
        s := drip._lock_session(p_drip_token);
    END IF;
    IF s.state <> 'active' THEN
        RAISE EXCEPTION 'session is %', s.state
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Only an active session can be refreshed.',
                  HINT = 'Start a new session instead.';
    END IF;
    SELECT * INTO c FROM drip.channels WHERE session = s.id;
    SELECT * INTO first FROM drip.proposals WHERE session = s.id AND kind = 'initial' AND accepted_at IS NOT NULL;
    -- The session keeps its rate; the refresh adds the terms' funding.
    SELECT * INTO t FROM drip.terms;
    RETURN drip._propose(t, s.id, 'refresh', c.channel_id, first.payment_type, first.rate,
        first.polling_interval_secs, first.settle_delay_secs, first.destination, first.destination_tag);
END
$$;
COMMENT ON FUNCTION drip.refresh_inquire(text) IS
'A signed refresh proposal: fund the session''s channel by the terms'' funding (PaymentChannelFund) to extend the session.';

-- Scheduled work, set-based: one statement reads only the sessions whose
-- next check has come (a partial index on next_check_at; only p_only, if
-- given), locks them (skipping rows others hold: concurrent sweeps skip
-- each other's) and for each judges the polling intervals that ended since
-- the last sweep: a strike if the best claim is short of what was due when
-- the latest one ended, otherwise strikes reset. Sessions at the past-due
-- limit or inside the claim window end, with a claim-and-close queued; the
-- rest get their next check.
CREATE FUNCTION drip._judge_sessions(p_now timestamptz, p_only bigint) RETURNS drip.sweep_result
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    r drip.sweep_result;
    ended_ids bigint[];
BEGIN
    WITH picked AS (
        SELECT s.* FROM drip.sessions s
        WHERE s.state = 'active' AND s.next_check_at <= p_now AND (p_only IS NULL OR s.id = p_only)
        FOR UPDATE SKIP LOCKED
    ), facts AS (
        SELECT s.id, s.drip_token, s.past_due_strikes, s.intervals_checked, s.active_at,
               s.polling_interval_secs, c.channel_id, e.ended,
               drip._claim_deadline(s.ends_at, c.expiration, c.cancel_after) AS deadline,
               c.best_claim,
               -- What was due when the latest ended interval closed: its
               -- charges and the unit debts recorded before its end.
               drip._due_after(s.payment_type::text, s.rate, e.ended,
                   coalesce((SELECT sum(d.amount) FROM drip.debts d
                             WHERE d.session = s.id
                               AND d.created_at < drip._interval_end(s.active_at,
                                   greatest(e.ended - 1, 0), s.polling_interval_secs)), 0)::bigint,
                   c.amount) AS due
        FROM picked s
        JOIN drip.channels c ON c.session = s.id
        CROSS JOIN LATERAL (SELECT drip._intervals_ended(s.active_at, p_now, s.polling_interval_secs) AS ended) e
    ), verdict AS (
        -- (A session whose terms cannot be judged keeps its strikes, and
        -- still ends at its deadline.)
        SELECT f.*, coalesce(j.strikes, f.past_due_strikes) AS strikes, coalesce(j.struck, false) AS struck,
               CASE WHEN p_now >= f.deadline THEN 'expired'
                    WHEN j.past_due THEN 'past_due'
               END AS end_reason
        FROM facts f CROSS JOIN drip.terms t
        LEFT JOIN LATERAL drip._judge_intervals(f.past_due_strikes, f.intervals_checked, f.ended,
                                                f.best_claim, f.due, t.past_due_limit) j ON true
    ), updated AS (
        UPDATE drip.sessions s
        SET past_due_strikes = v.strikes, intervals_checked = v.ended, updated_at = p_now,
            state = CASE WHEN v.end_reason IS NULL THEN s.state ELSE 'closing' END,
            end_reason = v.end_reason,
            next_check_at = CASE WHEN v.end_reason IS NULL
                THEN least(drip._interval_end(v.active_at, v.ended, v.polling_interval_secs), v.deadline) END
        FROM verdict v WHERE s.id = v.id
        RETURNING v.*
    ), queued AS (
        INSERT INTO drip.outbox (kind, session, channel_id)
        SELECT 'claim_and_close', u.id, u.channel_id FROM updated u WHERE u.end_reason IS NOT NULL
    )
    SELECT count(*), count(*) FILTER (WHERE u.struck), count(*) FILTER (WHERE u.end_reason IS NOT NULL),
           array_agg(u.id) FILTER (WHERE u.end_reason IS NOT NULL)
    INTO r.checked, r.struck, r.ended, ended_ids
    FROM updated u;
    PERFORM drip._notify_session(e) FROM unnest(ended_ids) e;
    RETURN r;
END
$$;

-- What changed in these functions' contracts.
COMMENT ON FUNCTION drip.amount_due(text) IS
'What the session owes (cumulative), what its best claim pays, the channel''s amount, when it ends, its state, and the id its drip_session notices carry.';
COMMENT ON FUNCTION drip.pay(text, bigint, bytea) IS
'Take a claim: the session must be active and before its claim deadline, the signature the channel key''s for this amount, the amount above the best claim and within the channel. Refusals for the session''s state, the signature or a replayed claim take no lock; an acceptance is one transaction under the session and channel locks.';
COMMENT ON FUNCTION drip.sweep(timestamptz) IS
'Scheduled work for the sidecar: past-due strikes, ending sessions at the past-due limit or inside the claim window, closing HTTP 402 channels inside the claim window, expiring stale proposals and used HTTP 402 challenges. Touches only rows that are due; safe to run concurrently. A due session another transaction holds is waited for briefly (up to 20 per sweep, 200 ms each), so none escapes its strikes or its end.';

-- Amounts in flight or signed are base units of the scale they were
-- counted in: the scale changes only while there are none.
CREATE FUNCTION drip._ilp_scale_unused(p_scale integer) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, drip AS $$
BEGIN
    IF EXISTS (SELECT FROM drip.ilp_accounts WHERE prepared <> 0)
       OR EXISTS (SELECT FROM drip.ilp_outgoing WHERE signed <> 0 OR reserved <> 0) THEN
        RAISE EXCEPTION 'asset scale in use'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('ILP amounts are counted in base units of scale %s.', p_scale),
                  HINT = 'Keep the asset scale of the accounts and channels drip already has.';
    END IF;
END
$$;

-- The ILP server's bounds come from the sidecar's configuration, written
-- under the ledger role: the ILP role only reads them. Amounts already in
-- flight or signed are base units of the scale they were counted in, so
-- the scale changes only while none are.
CREATE FUNCTION drip.ilp_configure(p_asset_scale integer, p_bandwidth bigint, p_max_hold_secs integer,
    p_outgoing_channel_amount bigint, p_min_incoming_channel_amount bigint)
RETURNS drip.ilp_settings
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip SET lock_timeout = '5s' AS $$
DECLARE
    st drip.ilp_settings;
BEGIN
    IF p_asset_scale IS NULL OR p_bandwidth IS NULL OR p_max_hold_secs IS NULL
       OR p_outgoing_channel_amount IS NULL OR p_min_incoming_channel_amount IS NULL THEN
        RAISE EXCEPTION 'invalid ILP settings'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Every setting is required.';
    END IF;
    SELECT * INTO st FROM drip.ilp_settings;
    IF p_asset_scale <> st.asset_scale THEN
        -- Refused before any lock while amounts are counted in the old scale.
        PERFORM drip._ilp_scale_unused(st.asset_scale);
        -- Every packet and payout reads the settings first and keeps the
        -- table's share lock to its end: this waits (briefly) for those in
        -- flight, holds new ones back until the new scale is committed, and
        -- looks again once they are done.
        LOCK TABLE drip.ilp_settings IN ACCESS EXCLUSIVE MODE;
    END IF;
    -- The settings as they stand now: another sidecar may have changed the
    -- scale since the first look.
    SELECT * INTO st FROM drip.ilp_settings FOR UPDATE;
    IF p_asset_scale <> st.asset_scale THEN
        LOCK TABLE drip.ilp_settings IN ACCESS EXCLUSIVE MODE;
        PERFORM drip._ilp_scale_unused(st.asset_scale);
    END IF;
    -- The table's checks refuse out-of-range values (23514).
    UPDATE drip.ilp_settings
    SET asset_scale = p_asset_scale, bandwidth = p_bandwidth, max_hold_secs = p_max_hold_secs,
        outgoing_channel_amount = p_outgoing_channel_amount,
        min_incoming_channel_amount = p_min_incoming_channel_amount, updated_at = now()
    RETURNING * INTO st;
    RETURN st;
END
$$;
COMMENT ON FUNCTION drip.ilp_configure(integer, bigint, integer, bigint, bigint) IS
'Sidecar only: the ILP server''s bounds (drip.ilp_settings), from its configuration. The asset scale changes only while no ILP amount is in flight or signed.';

-- Who may call what. Helpers and tables stay with the owner.
-- Each role gets what its holder calls, and nothing else.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA drip FROM PUBLIC, drip_app, drip_ledger, drip_admin;
GRANT EXECUTE ON FUNCTION drip.version(), drip.verify_claim(bytea, bigint, bytea, bytea),
    drip.terms_rate(text, integer, bigint, integer), drip.server_public_key() TO PUBLIC;
GRANT EXECUTE ON FUNCTION drip.create_session(text), drip.get_session(text), drip.destroy_session(text),
    drip.add_unit_debt(text, bigint)
    TO drip_merchant;
GRANT EXECUTE ON FUNCTION drip.inquire(text), drip.submit_agreement(text, bytea, text), drip.agreement_state(text),
    drip.amount_due(text), drip.pay(text, bigint, bytea),
    drip.refresh_inquire(text), drip.submit_refresh(text, bytea, text)
    TO drip_payer;
GRANT EXECUTE ON FUNCTION drip.ilp_connect(text, bytea), drip.ilp_account(text),
    drip.ilp_claim(text, bigint, bytea), drip.ilp_claims(text[], bigint[], bytea[]),
    drip.ilp_prepare(text, bigint, timestamptz), drip.ilp_rollback(bigint), drip.ilp_fulfilled(bigint),
    drip.ilp_route(text, text, bigint, timestamptz), drip.ilp_route_fulfilled(bigint),
    drip.ilp_outgoing_channel(text)
    TO drip_ilp;
-- An ILP channel's facts come from the ledger, and the server's channel to
-- a client is signed for by a key derived from the server's secret: both
-- are the ledger role's (the sidecar's BTP server holds it too).
GRANT EXECUTE ON FUNCTION drip.confirm_channel(text, bytea, bytea, text, bytea, bigint, integer, text, bigint, timestamptz, timestamptz, text),
    drip.sweep(timestamptz), drip.record_channel_closed(bytea, bigint, text),
    drip.confirm_fund(text, bytea, bytea, bigint, timestamptz),
    drip.record_channel_closing(bytea, timestamptz),
    drip.outbox_done(bigint, bytea, text), drip.outbox_failed(bigint, bytea, text),
    drip.take_outbox(integer, integer), drip.outbox_submitted(bigint, bytea, bigint, bytea),
    drip.outbox_requeue(bigint, bytea, text), drip.reject_agreement(text, bytea, text),
    drip.requeue_claim(bytea), drip.outbox_needs(),
    drip.watched_channels(),
    drip.ilp_open_channel(text, bytea, text, bytea, bigint, integer, text, timestamptz, timestamptz, bigint, integer),
    drip.ilp_queue_claims(bigint), drip.record_channel_balance(bytea, bigint),
    drip.ilp_fund_channel(text, text, bytea),
    drip.ilp_outgoing_result(text, bytea, bigint, text), drip.ilp_outgoing_closed(text, bytea),
    drip.ilp_outgoing_channel(text), drip.ilp_outgoing_open(), drip.ilp_release_expired(timestamptz),
    drip.ilp_configure(integer, bigint, integer, bigint, bigint)
    TO drip_ledger;
GRANT SELECT ON drip.sessions_overview, drip.exposure, drip.channels_by_deadline,
    drip.revenue_by_day, drip.outbox_backlog, drip.losses_by_reason TO drip_admin;
-- HTTP 402 (MPP sessions): sql/engine/mpp.sql.

-- When drip must redeem an HTTP channel: the claim window and the margin
-- for a slow ledger (drip._settle_margin_secs) before its Expiration or
-- CancelAfter; NULL while it has neither.
CREATE FUNCTION drip._mpp_deadline(p_expiration timestamptz, p_cancel_after timestamptz, p_window_secs integer)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT drip._claim_deadline_by(NULL, p_expiration, p_cancel_after,
                                   p_window_secs OPERATOR(pg_catalog.+) drip._settle_margin_secs())
$$;

-- Whether drip takes no more vouchers on the channel: closed, being
-- closed, or past its deadline.
CREATE FUNCTION drip._mpp_finalized(c drip.channels, p_window_secs integer, p_now timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT c.finalized_at IS NOT NULL OR c.closed_at IS NOT NULL
        OR coalesce(p_now OPERATOR(pg_catalog.>=)
                    drip._mpp_deadline(c.expiration, c.cancel_after, p_window_secs), false)
$$;

CREATE TYPE drip.mpp_channel AS (
    best      bigint,   -- the accepted total: the channel's best claim
    deposit   bigint,   -- the channel's amount on the validated ledger
    finalized boolean   -- drip takes no more vouchers on it
);

CREATE FUNCTION drip.mpp_channel(p_channel_id bytea) RETURNS drip.mpp_channel
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    SELECT c.best_claim, c.amount, drip._mpp_finalized(c, t.claim_window_secs, clock_timestamp())
    FROM drip.channels c CROSS JOIN drip.terms t
    WHERE c.channel_id = p_channel_id AND c.mpp
$$;
COMMENT ON FUNCTION drip.mpp_channel(bytea) IS
'An HTTP 402 channel: the total its vouchers paid (the next challenge''s cumulativeAmount), its amount on the ledger, and whether drip has stopped taking vouchers on it. NULL for a channel drip does not hold for HTTP.';

-- Sidecar only: a payer's channel for HTTP 402, as the validated ledger
-- has it (after drip submitted the payer's PaymentChannelCreate, or found
-- the channel a voucher named). A channel known already gets the ledger's
-- amount (a fund). NULL when taken; else why not.
CREATE FUNCTION drip.mpp_open_channel(p_channel_id bytea, p_source text, p_public_key bytea,
    p_amount bigint, p_settle_delay integer, p_destination text, p_expiration timestamptz,
    p_cancel_after timestamptz, p_ledger_balance bigint, p_min_settle_delay integer)
RETURNS drip.reason
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    c drip.channels;
    t drip.terms;
BEGIN
    IF length(p_channel_id) IS DISTINCT FROM 32 OR length(p_public_key) IS DISTINCT FROM 33
       OR p_source IS NULL OR p_amount IS NULL OR p_amount <= 0 OR p_ledger_balance IS NULL
       OR p_ledger_balance NOT BETWEEN 0 AND p_amount OR p_min_settle_delay IS NULL THEN
        RAISE EXCEPTION 'invalid channel'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'channel_id is 32 bytes, public_key 33, amount positive, ledger_balance within it, a source and a settle delay floor.',
                  HINT = 'Pass the PayChannel entry as the validated ledger has it.';
    END IF;
    SELECT * INTO c FROM drip.channels WHERE channel_id = p_channel_id FOR UPDATE;
    IF FOUND AND (NOT c.mpp OR c.source_account IS DISTINCT FROM p_source
                  OR c.public_key IS DISTINCT FROM p_public_key::drip.public_key) THEN
        RETURN 'channel_in_use';
    END IF;
    SELECT * INTO t FROM drip.terms;
    IF t.destination IS NULL OR p_destination IS DISTINCT FROM t.destination THEN
        RETURN 'wrong_destination';
    END IF;
    -- The payer may ask to close at any time: drip then has the settle
    -- delay to redeem, which must hold the claim window and a margin.
    IF p_settle_delay IS NULL
       OR p_settle_delay < greatest(p_min_settle_delay, t.claim_window_secs + drip._settle_margin_secs()) THEN
        RETURN 'settle_delay_too_short';
    END IF;
    IF c.channel_id IS NOT NULL THEN
        IF p_expiration IS NOT NULL AND c.expiration IS NULL AND c.closed_at IS NULL THEN
            -- The payer asked the ledger to close it: no more vouchers.
            UPDATE drip.channels SET expiration = p_expiration, finalized_at = coalesce(finalized_at, now()),
                updated_at = now()
            WHERE channel_id = p_channel_id;
            PERFORM drip._queue_claim(p_channel_id, NULL, 'claim_and_close');
            RETURN 'finalized';
        END IF;
        IF drip._mpp_finalized(c, t.claim_window_secs, clock_timestamp()) THEN
            RETURN 'finalized';
        END IF;
        UPDATE drip.channels SET amount = greatest(amount, p_amount),
            ledger_balance = greatest(ledger_balance, p_ledger_balance), updated_at = now()
        WHERE channel_id = p_channel_id;
        RETURN NULL;
    END IF;
    -- A channel whose payer already asked to close it, or that ends inside
    -- the claim window, could pay nothing drip could redeem in time.
    IF p_expiration IS NOT NULL THEN
        RETURN 'channel_expires';
    END IF;
    IF coalesce(clock_timestamp() >= drip._mpp_deadline(NULL, p_cancel_after, t.claim_window_secs), false) THEN
        RETURN 'cancel_after_too_soon';
    END IF;
    INSERT INTO drip.channels (channel_id, mpp, source_account, public_key, amount, settle_delay,
                               cancel_after, ledger_balance)
    VALUES (p_channel_id, true, p_source, p_public_key, p_amount, p_settle_delay,
            p_cancel_after, p_ledger_balance);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION drip.mpp_open_channel(bytea, text, bytea, bigint, integer, text, timestamptz, timestamptz, bigint, integer) IS
'Sidecar only: a payer''s channel for HTTP 402 as the validated ledger has it. NULL when taken (a known one gets the ledger''s amount); else why not: channel_in_use, wrong_destination, settle_delay_too_short (below p_min_settle_delay, or too short to claim in), channel_expires, cancel_after_too_soon, finalized.';

CREATE TYPE drip.mpp_payment AS (
    accepted boolean,
    reason   drip.reason,
    best     bigint,   -- the accepted total after this call
    deposit  bigint    -- the channel's amount
);

-- One request paid: a voucher (p_amount, the cumulative total, signed by
-- the channel's key) at least p_price above the accepted total, within the
-- channel, from its payer (p_source: the channel's Account), answering a
-- challenge not used before. With p_close, drip then takes no more
-- vouchers and redeems the best with a closing claim; a close pays for
-- nothing served, so it may repeat the accepted total (a spent channel
-- can still be closed). Refusals for what
-- never changes (the key, the payer, a finalized channel) take no lock;
-- an acceptance is one transaction under the channel's lock.
CREATE FUNCTION drip.mpp_pay(p_channel_id bytea, p_amount bigint, p_signature bytea, p_price bigint,
    p_source text, p_challenge_id text, p_challenge_expires timestamptz, p_close boolean)
RETURNS drip.mpp_payment
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    c drip.channels;
    w integer;
    denial drip.reason;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 OR p_price IS NULL OR p_price < 0 OR p_close IS NULL
       OR p_challenge_expires IS NULL OR length(p_challenge_id) NOT BETWEEN 1 AND 128
       OR p_challenge_id IS NULL THEN
        RAISE EXCEPTION 'invalid voucher'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'amount is positive drops, price zero or more; the challenge is named (1 to 128 characters) with its expiry; close is true or false.',
                  HINT = 'Vouchers are cumulative: sign for the total paid so far.';
    END IF;
    SELECT t.claim_window_secs INTO w FROM drip.terms t;
    SELECT * INTO c FROM drip.channels WHERE channel_id = p_channel_id AND mpp;
    IF NOT FOUND THEN
        RETURN (false, 'no_channel'::drip.reason, NULL::bigint, NULL::bigint);
    END IF;
    IF drip._mpp_finalized(c, w, clock_timestamp()) THEN
        RETURN (false, 'finalized'::drip.reason, c.best_claim::bigint, c.amount::bigint);
    END IF;
    IF NOT drip._check_claim(c.channel_id, p_amount, p_signature, c.public_key, c.prepared_key) THEN
        RETURN (false, 'bad_signature'::drip.reason, c.best_claim::bigint, c.amount::bigint);
    END IF;
    IF p_source IS DISTINCT FROM c.source_account THEN
        RETURN (false, 'wrong_source'::drip.reason, c.best_claim::bigint, c.amount::bigint);
    END IF;
    -- Again under the lock: what a voucher, a fund or a close committed
    -- meanwhile. The key checked above is the channel's for good.
    SELECT * INTO c FROM drip.channels WHERE channel_id = p_channel_id FOR UPDATE;
    IF drip._mpp_finalized(c, w, clock_timestamp()) THEN
        RETURN (false, 'finalized'::drip.reason, c.best_claim::bigint, c.amount::bigint);
    END IF;
    IF p_close AND p_amount = c.best_claim THEN
        denial := NULL;
    ELSE
        denial := drip._voucher_denial(p_amount, c.best_claim, c.amount, CASE WHEN p_close THEN 0 ELSE p_price END);
    END IF;
    IF denial IS NOT NULL THEN
        RETURN (false, denial, c.best_claim::bigint, c.amount::bigint);
    END IF;
    INSERT INTO drip.mpp_challenges (id, channel_id, expires_at)
    VALUES (p_challenge_id, p_channel_id, p_challenge_expires)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN (false, 'challenge_used'::drip.reason, c.best_claim::bigint, c.amount::bigint);
    END IF;
    IF p_amount > c.best_claim THEN
        PERFORM drip._take_claim(p_channel_id, p_amount, p_signature);
    END IF;
    IF p_close THEN
        UPDATE drip.channels SET finalized_at = now() WHERE channel_id = p_channel_id;
        PERFORM drip._queue_claim(p_channel_id, NULL, 'claim_and_close');
    END IF;
    RETURN (true, NULL::drip.reason, p_amount, c.amount::bigint);
END
$$;
COMMENT ON FUNCTION drip.mpp_pay(bytea, bigint, bytea, bigint, text, text, timestamptz, boolean) IS
'HTTP 402: take a voucher paying one request of p_price on an MPP channel (a close may repeat the accepted total). Refused: no_channel, finalized, bad_signature, wrong_source (p_source is not the channel''s Account), exceeds_channel, replayed (the accepted total again), below_best, underpaid (less than the price above it), challenge_used. With p_close, the best claim is then redeemed and the channel closed.';

-- Sweep's part: channels at their claim deadline are finalized and their
-- best claims redeemed with a close; channels paid on but idle for an hour
-- have their best redeemed with a plain claim (so value never waits for a
-- close that may not come), once at least 1,000 drops (a hundred fees)
-- wait; challenges past their expiry (and a minute for clocks) are
-- forgotten. How many channels were finalized.
CREATE FUNCTION drip._mpp_sweep(p_now timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    n integer;
BEGIN
    WITH due AS (
        UPDATE drip.channels c SET finalized_at = p_now, updated_at = now()
        FROM drip.terms t
        WHERE c.mpp AND c.finalized_at IS NULL AND c.closed_at IS NULL
          AND p_now >= drip._mpp_deadline(c.expiration, c.cancel_after, t.claim_window_secs)
        RETURNING c.channel_id
    )
    SELECT count(drip._queue_claim(due.channel_id, NULL, 'claim_and_close')) INTO n FROM due;
    INSERT INTO drip.outbox (kind, channel_id)
    SELECT 'claim', c.channel_id FROM drip.channels c
    WHERE c.mpp AND c.finalized_at IS NULL AND c.closed_at IS NULL
      AND c.best_claim - c.ledger_balance >= 1000 AND c.updated_at < p_now - interval '1 hour'
      AND NOT EXISTS (SELECT FROM drip.outbox o WHERE o.channel_id = c.channel_id
                      AND o.kind IN ('claim', 'claim_and_close') AND o.state IN ('queued', 'submitted'));
    DELETE FROM drip.mpp_challenges WHERE expires_at < p_now - interval '1 minute';
    RETURN n;
END
$$;

CREATE VIEW drip.mpp_channels AS
SELECT encode(c.channel_id, 'hex') AS channel_id, c.source_account AS payer, c.amount AS deposit,
       c.best_claim AS paid, c.ledger_balance AS redeemed, c.settle_delay, c.cancel_after, c.expiration,
       drip._mpp_deadline(c.expiration, c.cancel_after, t.claim_window_secs) AS claim_by,
       (SELECT count(*) FROM drip.claims k WHERE k.channel_id = c.channel_id) AS vouchers,
       c.finalized_at, c.closed_at
FROM drip.channels c CROSS JOIN drip.terms t WHERE c.mpp
ORDER BY c.closed_at IS NOT NULL, claim_by NULLS LAST;
COMMENT ON VIEW drip.mpp_channels IS 'HTTP 402 channels: their payer, deposit, the total vouchers paid, what the ledger redeemed, when drip must claim, and whether drip finalized or the ledger closed them.';

-- Created after the blanket REVOKE above: closed to PUBLIC here.
REVOKE ALL ON FUNCTION drip._mpp_deadline(timestamptz, timestamptz, integer),
    drip._mpp_finalized(drip.channels, integer, timestamptz),
    drip.mpp_channel(bytea),
    drip.mpp_open_channel(bytea, text, bytea, bigint, integer, text, timestamptz, timestamptz, bigint, integer),
    drip.mpp_pay(bytea, bigint, bytea, bigint, text, text, timestamptz, boolean),
    drip._mpp_sweep(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drip.mpp_channel(bytea),
    drip.mpp_pay(bytea, bigint, bytea, bigint, text, text, timestamptz, boolean)
    TO drip_http;
GRANT EXECUTE ON FUNCTION
    drip.mpp_open_channel(bytea, text, bytea, bigint, integer, text, timestamptz, timestamptz, bigint, integer)
    TO drip_ledger;
GRANT SELECT ON drip.mpp_channels TO drip_admin;
GRANT EXECUTE ON FUNCTION drip._mpp_deadline(timestamptz, timestamptz, integer) TO drip_admin;
-- Operators give a channel's claim a live path again.
GRANT EXECUTE ON FUNCTION drip.requeue_claim(bytea) TO drip_admin;
-- The sidecar reports the backlog and the losses as metrics.
GRANT SELECT ON drip.outbox_backlog, drip.losses_by_reason TO drip_ledger;
-- Views call these with the reader's privileges; they only compute.
GRANT EXECUTE ON FUNCTION drip._due(drip.sessions, bigint), drip._due_at(drip.sessions, bigint, timestamptz),
    drip._amount_due(text, bigint, integer, timestamptz, timestamptz, bigint, bigint),
    drip._claim_deadline(timestamptz, timestamptz, timestamptz),
    drip._claim_deadline_by(timestamptz, timestamptz, timestamptz, integer) TO drip_admin;
-- The terms trigger runs as whoever edits the terms.
GRANT EXECUTE ON FUNCTION drip._settle_margin_secs() TO drip_admin;
