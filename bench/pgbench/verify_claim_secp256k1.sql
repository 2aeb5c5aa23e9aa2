-- One secp256k1 claim verification per transaction (see the Ed25519 script).
\set amount 1000000
SELECT drip.verify_claim(:channel::bytea, :amount, :secp_sig::bytea, :secp_key::bytea);
