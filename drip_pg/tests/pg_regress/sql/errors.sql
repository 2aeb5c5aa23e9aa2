-- Malformed input is an error with a specific SQLSTATE, a detail and a hint;
-- nothing is written. Denials are results (see flow.sql).
CREATE EXTENSION drip;
\set SHOW_CONTEXT never
SELECT drip.verify_claim('\x00', 1, '\x00', '\x00');
\echo :LAST_ERROR_SQLSTATE
SELECT drip.verify_claim(decode(repeat('5D', 32), 'hex'), -1, '\x00', decode('ED' || repeat('00', 32), 'hex'));
\echo :LAST_ERROR_SQLSTATE
SELECT drip.create_session('');
\echo :LAST_ERROR_SQLSTATE
SELECT drip.inquire('no-such-token');
\echo :LAST_ERROR_SQLSTATE
SELECT drip.submit_agreement('no-such-proposal', '\x00');
\echo :LAST_ERROR_SQLSTATE
SELECT drip.submit_agreement('no-such-proposal', decode(repeat('AB', 32), 'hex'));
\echo :LAST_ERROR_SQLSTATE
SELECT drip_token AS token FROM drip.create_session('web-err') \gset
-- Proposals need the operator's address in the terms.
SELECT drip.inquire(:'token');
\echo :LAST_ERROR_SQLSTATE
UPDATE drip.terms SET destination = 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh';
SELECT proposal_id AS pid FROM drip.inquire(:'token') \gset
SELECT drip.submit_agreement(:'pid', '\xABAB');
\echo :LAST_ERROR_SQLSTATE
SELECT drip.pay(:'token', 0, '\x00');
\echo :LAST_ERROR_SQLSTATE
SELECT drip.pay('no-such-token', 1, '\x00');
\echo :LAST_ERROR_SQLSTATE
SELECT drip.add_unit_debt(:'token', -5);
\echo :LAST_ERROR_SQLSTATE
-- A terms change that leaves the rate undefined is refused.
UPDATE drip.terms SET polling_interval_secs = 3600, session_length_secs = 1800;
\echo :LAST_ERROR_SQLSTATE
SELECT polling_interval_secs, session_length_secs FROM drip.terms;
-- Nothing was half-written by the failed calls.
SELECT state FROM drip.sessions;
SELECT count(*) AS outbox_rows FROM drip.outbox;

DROP EXTENSION drip;
