-- The main job's SQL, run by `./dev demo` against a private cluster, with a
-- claim the payer signed on a channel it just opened on drip-devnet
-- (psql variables channel, amount, signature, public_key; hex).
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS drip;

\echo
\echo 'drip is installed:'
SELECT drip.version() AS version;

\echo 'The payer''s claim, checked inside PostgreSQL (and the same signature for one drop more):'
SELECT claim.drops,
       drip.verify_claim(decode(:'channel', 'hex'), claim.drops,
                         decode(:'signature', 'hex'), decode(:'public_key', 'hex')) AS signature_valid
FROM (VALUES (:amount::bigint), (:amount::bigint + 1)) AS claim(drops);

\echo 'The channel_verify example from xrpl.org (secp256k1):'
SELECT drip.verify_claim(
         '\x5DB01B7FFED6B67E6B0414DED11E051D2EE2B7619CE0EAA6286D67A3A4D5BDB3', 1000000,
         '\x304402204EF0AFB78AC23ED1C472E74F4299C0C21F1B21D07EFC0A3838A420F76D783A400220154FB11B6F54320666E4C36CA7F686C16A3A0456800BBC43746F34AF50290064',
         '\x023693F15967AE357D0327974AD46FE3C127113B1110D6044FD41E723689F81CC6'
       ) AS signature_valid;

\echo 'A malformed claim is an error, not false:'
\set ON_ERROR_STOP 0
SELECT drip.verify_claim('\x00', 1, '\x00', '\x00');
\set ON_ERROR_STOP 1
