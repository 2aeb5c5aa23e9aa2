-- Scheduled work: the past-due rule and the claim deadline, applied to
-- every session whose check has come.

CREATE TYPE drip.sweep_result AS (
    checked           integer,
    struck            integer,
    ended             integer,
    proposals_expired integer
);

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

CREATE FUNCTION drip.sweep(p_now timestamptz DEFAULT now()) RETURNS drip.sweep_result
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
COMMENT ON FUNCTION drip.sweep(timestamptz) IS
'Scheduled work for the sidecar: past-due strikes, ending sessions at the past-due limit or inside the claim window, closing HTTP 402 channels inside the claim window, expiring stale proposals and used HTTP 402 challenges. Touches only rows that are due; safe to run concurrently. A due session another transaction holds is waited for briefly (up to 20 per sweep, 200 ms each), so none escapes its strikes or its end.';
