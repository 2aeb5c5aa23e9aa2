-- Proposals and agreements: a signed proposal (initial or refresh), the
-- wallet's transaction for it, and the validated ledger's verdict.

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

-- A transaction id must be 32 bytes; `what` names the transaction expected.
CREATE FUNCTION drip._check_tx_hash(p_tx_hash bytea, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
BEGIN
    IF p_tx_hash IS NULL OR length(p_tx_hash) <> 32 THEN
        RAISE EXCEPTION 'invalid tx_hash'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('tx_hash must be 32 bytes, got %s.', coalesce(length(p_tx_hash), 0)),
                  HINT = format('Pass the %s''s transaction id.', what);
    END IF;
END
$$;

CREATE TYPE drip.inquiry AS (
    proposal_id text,
    payload     text,
    signature   text,
    public_key  text,
    expires_at  timestamptz
);

-- A signed proposal for session p_session, recorded: the funding, session
-- length and inquiry lifetime of t (the caller's one read of the terms, so
-- that an initial proposal's rate and funding come from the same terms),
-- with the rest as given (an initial proposal's from t, a refresh's from
-- the accepted one).
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

CREATE FUNCTION drip.inquire(p_drip_token text) RETURNS drip.inquiry
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
CREATE FUNCTION drip.refresh_inquire(p_drip_token text) RETURNS drip.inquiry
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

CREATE FUNCTION drip.submit_agreement(p_proposal_id text, p_tx_hash bytea, p_drip_token text DEFAULT NULL)
RETURNS drip.agreement
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
BEGIN
    RETURN drip._submit('initial', p_proposal_id, p_tx_hash, p_drip_token);
END
$$;
COMMENT ON FUNCTION drip.submit_agreement(text, bytea, text) IS
'The wallet opened a channel for the proposal: queue its check on the validated ledger (session → pending). With p_drip_token, the proposal must be that session''s (a proposal id is public once the channel''s memo is on the ledger).';

CREATE FUNCTION drip.submit_refresh(p_proposal_id text, p_tx_hash bytea, p_drip_token text DEFAULT NULL)
RETURNS drip.agreement
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
BEGIN
    RETURN drip._submit('refresh', p_proposal_id, p_tx_hash, p_drip_token);
END
$$;

-- The ledger check of a proposal's transaction is over: its verify job
-- ends, with the refusal's reason if any, whatever became of the session
-- meanwhile (a job left open would be taken again for ever).
CREATE FUNCTION drip._verify_done(p_proposal_id text, p_tx_hash bytea, p_reason text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, drip AS $$
    UPDATE drip.outbox SET state = 'done', last_error = p_reason, not_before = NULL, updated_at = now()
    WHERE proposal_id = p_proposal_id AND tx_hash IS NOT DISTINCT FROM p_tx_hash
      AND kind IN ('verify_channel', 'verify_fund') AND state IN ('queued', 'submitted')
$$;

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

-- Sidecar only: the refresh's PaymentChannelFund as the validated ledger
-- shows it. drip tracks the ledger's Amount (a fund adds to it), never its
-- own sum.
CREATE FUNCTION drip.confirm_fund(
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
