-- One drip.ilp_claims batch per transaction, as the sidecar batches the
-- claims arriving together: the next pre-signed claim of each of this
-- pgbench client's ILP accounts (every other one, by number).
-- :n counts this client's transactions (pgbench keeps variables per client).
\set n :n + 1
SELECT count(*) FILTER (WHERE v.accepted)
FROM (SELECT array_agg(c.account ORDER BY c.client) AS accounts,
             array_agg(c.amount ORDER BY c.client) AS amounts,
             array_agg(c.signature ORDER BY c.client) AS signatures
      FROM bench.ilp_claims c
      WHERE c.seq = :n AND c.client % 2 = :client_id) b,
     drip.ilp_claims(b.accounts, b.amounts, b.signatures) v;
