-- Set-up for the ILP claims benchmark, after pay_setup.sql: one ILP account
-- per Ed25519 client of pay-claims' second CSV (channels apart from the
-- sessions'), the client's channel as its incoming channel, so its
-- pre-signed claims (bench.ilp_claims) are the account's.
CREATE TABLE bench.ilp_raw (LIKE bench.raw);
\copy bench.ilp_raw FROM 'target/bench/ilp_claims.csv' WITH (FORMAT csv)
CREATE TABLE bench.ilp_claims AS
SELECT 'acct-' || client AS account, client, seq, amount, decode(signature, 'hex') AS signature
FROM bench.ilp_raw WHERE key_type = 'ed25519';
CREATE UNIQUE INDEX ON bench.ilp_claims (seq, client);
DO $$
DECLARE
    a record;
    refused drip.reason;
BEGIN
    FOR a IN SELECT DISTINCT 'acct-' || client AS account, channel, public_key
             FROM bench.ilp_raw WHERE key_type = 'ed25519' LOOP
        IF (drip.ilp_connect(a.account, sha256(a.account::bytea))).account IS NULL THEN
            RAISE EXCEPTION 'account % not connected', a.account;
        END IF;
        refused := drip.ilp_open_channel(a.account, decode(a.channel, 'hex'), 'rPayer',
            decode(a.public_key, 'hex'), 100000000000000, 86400, 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh',
            NULL, NULL, 0, 3600);
        IF refused IS NOT NULL THEN
            RAISE EXCEPTION 'channel of % refused: %', a.account, refused;
        END IF;
    END LOOP;
END
$$;
