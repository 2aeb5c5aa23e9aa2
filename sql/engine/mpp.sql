-- HTTP 402: the Machine Payments Protocol's XRPL sessions
-- (draft-xrpl-session). A payer's channel to drip, opened through the
-- sidecar's HTTP front door (or by the payer, and named in a voucher),
-- pays for requests with vouchers: claims for the cumulative total, each at
-- least the request's price above the total accepted before. drip redeems
-- the best with a closing claim when the payer closes the session, when
-- the channel nears its Expiration or CancelAfter (the claim window), or
-- when the payer asks the ledger to close it.

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
