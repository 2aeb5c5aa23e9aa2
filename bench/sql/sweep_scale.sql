-- drip.sweep at scale: :total active sessions of which :due are due for a
-- check now. Prints the sweep's wall time. Run in a scratch database.
CREATE EXTENSION drip;
UPDATE drip.terms SET destination = 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', past_due_limit = 0;
INSERT INTO drip.sessions (session_id, drip_token, uri, state, active_at, ends_at, next_check_at,
    payment_type, rate, polling_interval_secs)
SELECT 's' || g, md5(g::text), '', 'active', now() - interval '90 seconds', now() + interval '1 day',
       CASE WHEN g <= :due THEN now() - interval '1 second' ELSE now() + interval '1 hour' END,
       'both', 33334, 60
FROM generate_series(1, :total) g;
INSERT INTO drip.proposals (proposal_id, session, kind, payment_type, rate, polling_interval_secs,
    channel_funding, settle_delay_secs, session_length_secs, destination, expires_at, accepted_at)
SELECT 'p' || id, id, 'initial', 'both', 33334, 60, 1000000, 1800, 86400, 'r', now(), now()
FROM drip.sessions;
INSERT INTO drip.channels (channel_id, session, source_account, public_key, amount, settle_delay)
SELECT decode(lpad(to_hex(id), 64, '0'), 'hex'), id, 'rPayer', decode(repeat('02', 33), 'hex'), 2000000, 1800
FROM drip.sessions;
ANALYZE;
SELECT clock_timestamp() AS t0 \gset
SELECT checked FROM drip.sweep() \gset
SELECT :total AS sessions, :due AS due, :checked AS checked,
       round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000) AS sweep_ms;
