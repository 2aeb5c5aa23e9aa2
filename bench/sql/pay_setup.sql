-- Set-up for the pay benchmark: one active session per (key type, client)
-- whose channel key signed bench.claims (loaded from pay-claims' CSV).
CREATE SCHEMA bench;
CREATE TABLE bench.raw (key_type text, client int, seq int, amount bigint, channel text,
                        signature text, public_key text);
\copy bench.raw FROM 'target/bench/claims.csv' WITH (FORMAT csv)
CREATE TABLE bench.claims AS
SELECT key_type, client, seq, amount, channel, decode(signature, 'hex') AS signature,
       decode(public_key, 'hex') AS public_key
FROM bench.raw;
CREATE UNIQUE INDEX ON bench.claims (key_type, client, seq);
UPDATE drip.terms SET destination = 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', polling_interval_secs = 60,
       session_length_secs = 86400, channel_funding = 1000000, past_due_limit = 0;
CREATE TABLE bench.sessions AS
SELECT DISTINCT key_type, client, channel, public_key, NULL::text AS drip_token FROM bench.claims;
DO $$
DECLARE
    r record;
    tok text;
    pid text;
BEGIN
    FOR r IN SELECT * FROM bench.sessions LOOP
        tok := (drip.create_session(r.key_type || '-' || r.client)).drip_token;
        pid := (drip.inquire(tok)).proposal_id;
        PERFORM drip.submit_agreement(pid, decode(r.channel, 'hex'));
        PERFORM drip.confirm_channel(pid, decode(r.channel, 'hex'), decode(r.channel, 'hex'),
            'rPayer', r.public_key, 100000000000000, 86400,
            'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', NULL, NULL, NULL, pid);
        UPDATE bench.sessions SET drip_token = tok WHERE key_type = r.key_type AND client = r.client;
    END LOOP;
END
$$;
ANALYZE;
