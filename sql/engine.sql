-- drip's session engine: each money decision is one function, one
-- transaction, holding the row locks it reads. Lock order everywhere:
-- session, then channel. Rules come from drip_core through the _helpers.

-- The server's proposal key, made once per database.
INSERT INTO drip.server_key (secret, public_key)
SELECT secret, public_key FROM drip._generate_server_key();

-- Extension tables are dumped with their data by pg_dump.
SELECT pg_catalog.pg_extension_config_dump('drip.terms', '');
SELECT pg_catalog.pg_extension_config_dump('drip.server_key', '');
SELECT pg_catalog.pg_extension_config_dump('drip.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('drip.proposals', '');
SELECT pg_catalog.pg_extension_config_dump('drip.channels', '');
SELECT pg_catalog.pg_extension_config_dump('drip.debts', '');
SELECT pg_catalog.pg_extension_config_dump('drip.claims', '');
SELECT pg_catalog.pg_extension_config_dump('drip.outbox', '');

-- Terms that leave the rate undefined are refused.
CREATE FUNCTION drip.check_terms() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
BEGIN
    PERFORM drip.terms_rate(NEW.payment_type::text, NEW.polling_interval_secs,
                            NEW.channel_funding, NEW.session_length_secs);
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER terms_check BEFORE INSERT OR UPDATE ON drip.terms
    FOR EACH ROW EXECUTE FUNCTION drip.check_terms();

CREATE FUNCTION drip.server_public_key() RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    SELECT public_key FROM drip.server_key
$$;
COMMENT ON FUNCTION drip.server_public_key() IS
'The Ed25519 key (33 bytes, 0xED…) that signs proposals; wallets check proposals against it.';

-- The session for a token, locked; unknown tokens are an error.
CREATE FUNCTION drip._lock_session(p_drip_token text) RETURNS drip.sessions
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
BEGIN
    SELECT * INTO s FROM drip.sessions WHERE drip_token = p_drip_token FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown drip token'
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'No session has this drip token.',
                  HINT = 'Create the session first, or check the token the wallet received.';
    END IF;
    RETURN s;
END
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

CREATE TYPE drip.inquiry AS (
    proposal_id text,
    payload     text,
    signature   text,
    public_key  text,
    expires_at  timestamptz
);

CREATE FUNCTION drip.inquire(p_drip_token text) RETURNS drip.inquiry
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
    t drip.terms;
    k drip.server_key;
    id text := drip._new_proposal_id();
    rate bigint;
    expires timestamptz;
    r drip.inquiry;
BEGIN
    s := drip._lock_session(p_drip_token);
    IF s.state <> 'created' THEN
        RAISE EXCEPTION 'session is %', s.state
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'An initial proposal is only made before an agreement.',
                  HINT = 'Use drip.refresh_inquire to fund an active session further.';
    END IF;
    SELECT * INTO t FROM drip.terms;
    SELECT * INTO k FROM drip.server_key;
    rate := drip.terms_rate(t.payment_type::text, t.polling_interval_secs,
                            t.channel_funding, t.session_length_secs);
    expires := now() + make_interval(secs => t.inquiry_ttl_secs);
    INSERT INTO drip.proposals (proposal_id, session, kind, payment_type, rate,
        polling_interval_secs, channel_funding, settle_delay_secs, session_length_secs,
        destination, destination_tag, expires_at)
    VALUES (id, s.id, 'initial', t.payment_type, rate, t.polling_interval_secs,
        t.channel_funding, t.min_settle_delay_secs, t.session_length_secs,
        coalesce(t.destination, ''), t.destination_tag, expires);
    SELECT id, p.payload, p.signature, p.public_key, expires INTO r
    FROM drip._sign_proposal(k.secret, id, NULL, t.payment_type::text, rate,
        t.polling_interval_secs, t.channel_funding, t.min_settle_delay_secs,
        coalesce(t.destination, ''), t.destination_tag, expires) p;
    RETURN r;
END
$$;
COMMENT ON FUNCTION drip.inquire(text) IS
'A signed proposal for the session: the terms (snapshotted) the wallet''s channel must match.';

CREATE TYPE drip.agreement AS (
    accepted boolean,
    reason   text,
    state    drip.session_state
);

CREATE FUNCTION drip.submit_agreement(p_proposal_id text, p_tx_hash bytea) RETURNS drip.agreement
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    p drip.proposals;
    s drip.sessions;
BEGIN
    IF p_tx_hash IS NULL OR length(p_tx_hash) <> 32 THEN
        RAISE EXCEPTION 'invalid tx_hash'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('tx_hash must be 32 bytes, got %s.', coalesce(length(p_tx_hash), 0)),
                  HINT = 'Pass the PaymentChannelCreate''s transaction id.';
    END IF;
    SELECT * INTO p FROM drip.proposals WHERE proposal_id = p_proposal_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown proposal'
            USING ERRCODE = 'no_data_found', DETAIL = 'No proposal has this id.',
                  HINT = 'Use the proposal_id of a drip.inquire result.';
    END IF;
    SELECT * INTO s FROM drip.sessions WHERE id = p.session FOR UPDATE;
    IF s.state <> 'created' THEN
        RETURN (false, 'already_agreed'::text, s.state);
    END IF;
    IF p.kind <> 'initial' THEN
        RETURN (false, 'not_an_initial_proposal'::text, s.state);
    END IF;
    IF p.expires_at < now() THEN
        RETURN (false, 'proposal_expired'::text, s.state);
    END IF;
    UPDATE drip.proposals SET tx_hash = p_tx_hash WHERE proposal_id = p.proposal_id;
    UPDATE drip.sessions SET state = 'pending', updated_at = now() WHERE id = s.id;
    INSERT INTO drip.outbox (kind, session, proposal_id, tx_hash)
    VALUES ('verify_channel', s.id, p.proposal_id, p_tx_hash);
    PERFORM pg_notify('drip_session', s.drip_token);
    RETURN (true, NULL::text, 'pending'::drip.session_state);
END
$$;
COMMENT ON FUNCTION drip.submit_agreement(text, bytea) IS
'The wallet opened a channel for the proposal: queue its check on the validated ledger (session → pending).';

-- Sidecar only: the validated ledger's facts about the agreement's channel.
CREATE FUNCTION drip.confirm_channel(
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
    reason text;
BEGIN
    SELECT * INTO p FROM drip.proposals WHERE proposal_id = p_proposal_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown proposal' USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO s FROM drip.sessions WHERE id = p.session FOR UPDATE;
    IF s.state <> 'pending' OR p.tx_hash IS DISTINCT FROM p_tx_hash THEN
        RETURN (false, 'not_pending'::text, s.state);
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
    END;
    UPDATE drip.outbox SET state = 'done', updated_at = now()
    WHERE proposal_id = p.proposal_id AND kind = 'verify_channel' AND state IN ('queued', 'submitted');
    IF reason IS NOT NULL THEN
        -- The wallet may try again with a new inquiry.
        UPDATE drip.sessions SET state = 'created', updated_at = now() WHERE id = s.id;
        UPDATE drip.proposals SET tx_hash = NULL WHERE proposal_id = p.proposal_id;
        PERFORM pg_notify('drip_session', s.drip_token);
        RETURN (false, reason, 'created'::drip.session_state);
    END IF;
    INSERT INTO drip.channels (channel_id, session, source_account, public_key, amount,
        settle_delay, expiration, cancel_after, destination_tag)
    VALUES (p_channel_id, s.id, p_source_account, p_public_key, p_amount, p_settle_delay,
        p_expiration, p_cancel_after, p_destination_tag);
    UPDATE drip.proposals SET accepted_at = now() WHERE proposal_id = p.proposal_id;
    UPDATE drip.sessions
    SET state = 'active', client_address = p_source_account, active_at = now(),
        ends_at = session_end, updated_at = now()
    WHERE id = s.id;
    PERFORM pg_notify('drip_session', s.drip_token);
    RETURN (true, NULL::text, 'active'::drip.session_state);
END
$$;
COMMENT ON FUNCTION drip.confirm_channel(text, bytea, bytea, text, bytea, bigint, integer, text, bigint, timestamptz, timestamptz, text) IS
'Sidecar only: the agreement''s channel as the validated ledger shows it. Activates the session, or denies with a reason.';

CREATE TYPE drip.amount_due AS (
    due            bigint,
    paid           bigint,
    channel_amount bigint,
    ends_at        timestamptz,
    state          drip.session_state
);

-- What a locked (or read) session owes now.
CREATE FUNCTION drip._due(s drip.sessions, c drip.channels) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, drip AS $$
    SELECT least(
        drip._time_due(p.payment_type::text, p.rate, p.polling_interval_secs, s.active_at, now(), c.amount)
            + coalesce((SELECT sum(d.amount) FROM drip.debts d WHERE d.session = s.id), 0)::bigint,
        c.amount)
    FROM drip.proposals p
    WHERE p.session = s.id AND p.kind = 'initial' AND p.accepted_at IS NOT NULL
$$;

CREATE FUNCTION drip.amount_due(p_drip_token text) RETURNS drip.amount_due
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
    c drip.channels;
BEGIN
    SELECT * INTO s FROM drip.sessions WHERE drip_token = p_drip_token;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown drip token' USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO c FROM drip.channels WHERE session = s.id;
    IF NOT FOUND THEN
        RETURN (0::bigint, 0::bigint, NULL::bigint, s.ends_at, s.state);
    END IF;
    RETURN (coalesce(drip._due(s, c), 0), c.best_claim, c.amount, s.ends_at, s.state);
END
$$;
COMMENT ON FUNCTION drip.amount_due(text) IS
'What the session owes (cumulative), what its best claim pays, the channel''s amount, when it ends, its state.';

CREATE TYPE drip.payment AS (
    accepted boolean,
    reason   text,
    due      bigint,
    paid     bigint
);

CREATE FUNCTION drip.pay(p_drip_token text, p_amount bigint, p_signature bytea) RETURNS drip.payment
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
DECLARE
    s drip.sessions;
    c drip.channels;
    due bigint;
    denial text;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid amount'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('amount must be a positive number of drops, got %s.', coalesce(p_amount::text, 'NULL')),
                  HINT = 'Claims are cumulative: sign for the total paid so far.';
    END IF;
    s := drip._lock_session(p_drip_token);
    IF s.state <> 'active' THEN
        RETURN (false, 'not_active'::text, NULL::bigint, NULL::bigint);
    END IF;
    SELECT * INTO c FROM drip.channels WHERE session = s.id FOR UPDATE;
    due := drip._due(s, c);
    IF NOT drip.verify_claim(c.channel_id, p_amount, p_signature, c.public_key) THEN
        RETURN (false, 'bad_signature'::text, due, c.best_claim);
    END IF;
    denial := drip._claim_denial(p_amount, c.best_claim, c.amount);
    IF denial IS NOT NULL THEN
        RETURN (false, denial, due, c.best_claim);
    END IF;
    UPDATE drip.channels
    SET best_claim = p_amount, best_signature = p_signature, updated_at = now()
    WHERE channel_id = c.channel_id;
    INSERT INTO drip.claims (channel_id, amount, signature) VALUES (c.channel_id, p_amount, p_signature);
    IF p_amount >= due THEN
        UPDATE drip.sessions SET past_due_strikes = 0, updated_at = now() WHERE id = s.id;
    END IF;
    PERFORM pg_notify('drip_session', s.drip_token);
    RETURN (true, NULL::text, due, p_amount);
END
$$;
COMMENT ON FUNCTION drip.pay(text, bigint, bytea) IS
'Take a claim: the session must be active, the signature the channel key''s for this amount, the amount above the best claim and within the channel. One transaction under the session and channel locks.';

-- Who may call what. Helpers and tables stay with the owner.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA drip FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drip.version(), drip.verify_claim(bytea, bigint, bytea, bytea),
    drip.terms_rate(text, integer, bigint, integer), drip.server_public_key() TO PUBLIC;
GRANT EXECUTE ON FUNCTION drip.create_session(text), drip.inquire(text),
    drip.submit_agreement(text, bytea), drip.amount_due(text), drip.pay(text, bigint, bytea)
    TO drip_app;
GRANT EXECUTE ON FUNCTION drip.confirm_channel(text, bytea, bytea, text, bytea, bigint, integer, text, bigint, timestamptz, timestamptz, text)
    TO drip_ledger;
GRANT drip_app TO drip_admin;
