-- DBA views.
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

CREATE VIEW drip.channels_by_deadline AS
SELECT encode(c.channel_id, 'hex') AS channel_id, s.session_id, s.state, c.amount, c.best_claim,
       drip._claim_deadline(s.ends_at, c.expiration, c.cancel_after) AS claim_by,
       drip._claim_deadline(s.ends_at, c.expiration, c.cancel_after) - now() AS time_left
FROM drip.channels c JOIN drip.sessions s ON s.id = c.session
WHERE s.state IN ('active', 'closing')
ORDER BY claim_by;
COMMENT ON VIEW drip.channels_by_deadline IS 'Open channels, soonest claim deadline first.';

CREATE VIEW drip.revenue_by_day AS
SELECT date_trunc('day', accepted_at) AS day,
       sum(amount - coalesce(previous, 0))::bigint AS drops_claimed,
       count(*) AS claims
FROM (SELECT accepted_at, amount,
             lag(amount) OVER (PARTITION BY channel_id ORDER BY amount) AS previous
      FROM drip.claims) increments
GROUP BY 1 ORDER BY 1;
COMMENT ON VIEW drip.revenue_by_day IS 'Drops newly secured by accepted claims, per day.';

CREATE VIEW drip.outbox_backlog AS
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
