-- The ledger's side: channel facts the sidecar reports, and the outbox of
-- ledger work (verifications, claims, offloads) it takes jobs from.

-- Queue a claim on the channel unless one is queued or in flight already
-- (a second one would only spend a fee); the open job's id either way.
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

-- Lock a channel the way every writer of it does: its owner (the session,
-- or the ILP account) first, then the channel.
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

-- Sidecar only: the channel left the validated ledger (drip's final claim,
-- the payer's close, or an expiry), having paid p_ledger_balance in all
-- (NULL: what drip recorded before). A best claim above that is a loss,
-- recorded with p_reason.
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

-- Sidecar only: the payer asked to close the channel (an Expiration
-- appeared on the ledger). drip claims at once rather than wait.
CREATE FUNCTION drip.record_channel_closing(p_channel_id bytea, p_expiration timestamptz) RETURNS drip.session_state
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

-- Operators and the watch: make sure the channel's best claim has a live
-- path to the ledger (after a claim job failed for good, say). Queues a
-- claim (a claim-and-close for an ending session or a closing ILP
-- channel) unless one is open; that job's id.
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

-- Sidecar only: the job is over (done, or failed with p_error), as the
-- worker that followed the transaction p_tx_hash (NULL: none) found it.
-- Compare-and-set: a worker whose lease passed, and whose job another
-- worker signed again meanwhile, changes nothing (false).
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

-- Attempts that fail in a row before a job with nothing in flight is given
-- up (about half an hour of retries). Claims are never given up: while
-- their channel is on the ledger they are tried again, a minute apart at
-- most, and drip.record_channel_closed ends them.
CREATE FUNCTION drip._outbox_max_failures() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT 10
$$;

-- The wait before the attempt after p_failures failures: 1 s, doubling, at
-- most a minute for a claim (its channel's deadline nears) and ten for the
-- rest.
CREATE FUNCTION drip._outbox_backoff(p_kind drip.outbox_kind, p_failures integer) RETURNS interval
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT make_interval(secs => least(power(2, least(greatest(p_failures - 1, 0), 10)),
        CASE WHEN p_kind IN ('claim', 'claim_and_close') THEN 60 ELSE 600 END))
$$;

-- The state of a job of p_kind going to p_state after its p_failures-th
-- failure in a row: given up when nothing of it is in flight.
CREATE FUNCTION drip._outbox_next_state(p_state drip.outbox_state, p_kind drip.outbox_kind, p_failures integer)
RETURNS drip.outbox_state
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, drip AS $$
    SELECT CASE WHEN p_state = 'queued' AND p_kind NOT IN ('claim', 'claim_and_close')
                     AND p_failures >= drip._outbox_max_failures()
                THEN 'failed' ELSE p_state END::drip.outbox_state
$$;

-- A job given up ends what it stood for, so nothing waits on it for ever:
-- an agreement is refused (the wallet may agree again), an ILP channel's
-- create or fund is recorded failed (the client may ask again).
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

-- Sidecar only: an attempt at the job raised p_error (the database, the
-- ledger unreachable, a bug). Recorded outside the attempt's rolled-back
-- transaction; the job waits out a backoff so it never delays the others,
-- and keeps a transaction still in flight (it may yet apply). Past
-- drip._outbox_max_failures, a job with nothing in flight is given up
-- (claims never are). Compare-and-set on p_tx_hash. The job's state after.
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

-- Sidecar only: up to p_limit jobs due now, locked until the caller's
-- transaction ends (other workers skip them) and leased for p_lease_secs
-- after it (a worker may wait that long on the ledger). A job whose lease
-- passed is taken again: its worker may have died mid-wait.
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

-- Sidecar only: try the job again. For a job that submits, its transaction
-- p_tx_hash provably never applied (refused, expired unvalidated) or
-- applied with a tec code: it is forgotten, and the intent signed again
-- after a backoff (given up as drip.outbox_failed says). A verify job
-- keeps the wallet's transaction and looks again in a second.
-- Compare-and-set: false when the job moved on meanwhile (another worker
-- followed it after this one's lease and signed again).
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

-- Sidecar only: what the hot wallet must keep for the outbox's work: one
-- fee per transaction still to send (every open job that submits), the
-- drops its queued ILP channel creates and funds put in, and the channels
-- those creates will own (a reserve increment each).
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
