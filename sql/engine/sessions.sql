-- A session's life: look-ups and locks, creation, its claim deadline, its
-- end, and what the merchant sees of it.

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
CREATE FUNCTION drip._lock_session(p_drip_token text) RETURNS drip.sessions
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

-- A session changed: tell listeners (drip_session) its id, never its drip
-- token, which is a bearer credential and any role may LISTEN.
CREATE FUNCTION drip._notify_session(p_session bigint) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_catalog.pg_notify('drip_session', p_session::pg_catalog.text)
$$;

CREATE FUNCTION drip.create_session(p_session_id text, OUT drip_token text, OUT uri text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    t drip.terms;
BEGIN
    IF p_session_id IS NULL OR length(p_session_id) NOT BETWEEN 1 AND 256 THEN
        RAISE EXCEPTION 'invalid session_id'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'session_id must be 1 to 256 characters.',
                  HINT = 'Use the web server''s own session identifier.';
    END IF;
    -- Idempotent: a retried create gets the same session back.
    SELECT s.drip_token, s.uri INTO drip_token, uri
    FROM drip.sessions s WHERE s.session_id = p_session_id;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO t FROM drip.terms;
    drip_token := drip._new_token();
    uri := format('drip://%s/%s', t.domain, drip_token);
    INSERT INTO drip.sessions (session_id, drip_token, uri)
    VALUES (p_session_id, drip_token, uri)
    ON CONFLICT (session_id) DO NOTHING;
    IF NOT FOUND THEN
        -- A concurrent create won: return its session.
        SELECT s.drip_token, s.uri INTO drip_token, uri
        FROM drip.sessions s WHERE s.session_id = p_session_id;
    END IF;
END
$$;
COMMENT ON FUNCTION drip.create_session(text) IS
'A session for the web server''s session id: an unguessable drip token (160 bits) and the wallet''s deep link. Idempotent.';

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
CREATE FUNCTION drip._claim_deadline(p_ends_at timestamptz, p_expiration timestamptz, p_cancel_after timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE SET search_path = pg_catalog, drip AS $$
    SELECT drip._claim_deadline_by(p_ends_at, p_expiration, p_cancel_after, t.claim_window_secs)
    FROM drip.terms t
$$;

CREATE TYPE drip.agreement AS (
    accepted boolean,
    reason   drip.reason,
    state    drip.session_state
);

-- A session ends: it stops taking claims and debts, and its channel is
-- queued for claim-and-close. Call with the session locked.
CREATE FUNCTION drip._end_session(p_session bigint, p_reason text) RETURNS drip.session_state
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

CREATE FUNCTION drip.destroy_session(p_session_id text) RETURNS drip.agreement
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

CREATE TYPE drip.session_info AS (
    session_id       text,
    drip_token       text,
    uri              text,
    state            drip.session_state,
    client_address   text,
    created_at       timestamptz,
    active_at        timestamptz,
    ends_at          timestamptz,
    channel_id       bytea,
    channel_amount   bigint,
    due              bigint,
    paid             bigint,
    past_due_strikes integer,
    end_reason       text
);

CREATE FUNCTION drip.get_session(p_session_id text) RETURNS drip.session_info
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
