-- What a session owes and how it is paid: the amount due, claims
-- (drip.pay) and unit debts.

CREATE TYPE drip.amount_due AS (
    due            bigint,
    paid           bigint,
    channel_amount bigint,
    ends_at        timestamptz,
    state          drip.session_state,
    notice_id      bigint
);

-- What a locked (or read) session owes at p_at: time charged so far plus
-- unit debts, never more than the channel holds. NULL before the session
-- is active. Plain SQL without SET so the planner inlines it.
CREATE FUNCTION drip._due_at(s drip.sessions, channel_amount bigint, p_at timestamptz) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT drip._amount_due(s.payment_type::text, s.rate, s.polling_interval_secs, s.active_at,
                            p_at, s.unit_debt, channel_amount)
$$;

-- The same, now.
CREATE FUNCTION drip._due(s drip.sessions, channel_amount bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT drip._due_at(s, channel_amount, pg_catalog.now())
$$;

CREATE FUNCTION drip.amount_due(p_drip_token text) RETURNS drip.amount_due
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
COMMENT ON FUNCTION drip.amount_due(text) IS
'What the session owes (cumulative), what its best claim pays, the channel''s amount, when it ends, its state, and the id its drip_session notices carry.';

-- A claim taken: the channel's best claim, and the audit row. Call with
-- the channel locked, after every check; a claim that would not rise or
-- would not fit the channel raises all the same (a caller's check gone
-- wrong must not lower the best claim). clock_timestamp(): the moment of
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

CREATE TYPE drip.payment AS (
    accepted boolean,
    reason   drip.reason,
    due      bigint,
    paid     bigint
);

CREATE FUNCTION drip.pay(p_drip_token text, p_amount bigint, p_signature bytea) RETURNS drip.payment
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
COMMENT ON FUNCTION drip.pay(text, bigint, bytea) IS
'Take a claim: the session must be active and before its claim deadline, the signature the channel key''s for this amount, the amount above the best claim and within the channel. Refusals for the session''s state, the signature or a replayed claim take no lock; an acceptance is one transaction under the session and channel locks.';

CREATE TYPE drip.unit_debt AS (
    accepted boolean,
    reason   drip.reason,
    due      bigint
);

CREATE FUNCTION drip.add_unit_debt(p_drip_token text, p_amount bigint) RETURNS drip.unit_debt
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
COMMENT ON FUNCTION drip.add_unit_debt(text, bigint) IS
'Record a purchase. Denied (with the seed''s reasons) unless the session is active, unit-billed, paid up, and the channel still covers it plus the next time charge.';
