-- Baseline for pay: the same claim lookup and signature check, nothing else.
\set n :n + 1
SELECT drip.verify_claim(decode(c.channel, 'hex'), c.amount, c.signature, c.public_key)
FROM bench.claims c
WHERE c.key_type = 'secp256k1' AND c.client = :client_id AND c.seq = :n;
