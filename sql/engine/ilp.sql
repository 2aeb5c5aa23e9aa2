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
-- channel's claims taken earlier in the batch. The taken claims are
-- written set-wise too, as drip._take_claim would write them one by one
-- (each channel's best once, every claim in the audit): a loop calling it
-- measured 0.78x (BENCHMARKS.md). Answers each claim's verdict and the
-- best claim it met.
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

-- Many claims in one transaction (one commit for all): the ILP server
-- batches claims arriving together.
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
-- held until p_expires_at (at most drip.ilp_settings.max_hold_secs from
-- now), under the sender's account lock and then the receiver's outgoing
-- channel's (always in that order). Scale and bandwidth are the settings'.
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
