-- One drip.pay per transaction on this client's own session, with the next
-- pre-signed secp256k1 claim (amounts rise, so every claim is accepted).
-- :n counts this client's transactions (pgbench keeps variables per client).
\set n :n + 1
SELECT (drip.pay(s.drip_token, c.amount, c.signature)).accepted
FROM bench.claims c JOIN bench.sessions s USING (key_type, client)
WHERE c.key_type = 'secp256k1' AND c.client = :client_id AND c.seq = :n;
