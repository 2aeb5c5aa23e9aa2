-- One Ed25519 claim verification per transaction. The amount goes through
-- \set so that, under -M prepared, it is a parameter and the IMMUTABLE
-- function cannot be folded into the cached plan (see build.md).
\set amount 1000000
SELECT drip.verify_claim(:channel::bytea, :amount, :ed_sig::bytea, :ed_key::bytea);
