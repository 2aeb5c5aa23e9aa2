-- Loops for counting the instructions of one call (./dev bench runs them
-- under callgrind in a single-user backend): instruction counts do not
-- move with the machine's noise, so they compare across runs. Each takes n
-- of client 1's pre-signed claims after seq `first`, in order; pay_loop
-- commits each payment, as pgbench's transactions do.
CREATE PROCEDURE bench.pay_loop(k text, first int, n int)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT s.drip_token, c.amount, c.signature
             FROM bench.claims c JOIN bench.sessions s USING (key_type, client)
             WHERE c.key_type = k AND c.client = 1 AND c.seq > first AND c.seq <= first + n
             ORDER BY c.seq LOOP
        IF NOT (drip.pay(r.drip_token, r.amount, r.signature)).accepted THEN
            RAISE EXCEPTION 'claim of % drops refused', r.amount;
        END IF;
        COMMIT;
    END LOOP;
END
$$;

-- The baseline: the same claims' signature checks, nothing else.
CREATE PROCEDURE bench.verify_loop(k text, first int, n int)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT decode(c.channel, 'hex') AS channel, c.amount, c.signature, c.public_key
             FROM bench.claims c
             WHERE c.key_type = k AND c.client = 1 AND c.seq > first AND c.seq <= first + n
             ORDER BY c.seq LOOP
        IF NOT drip.verify_claim(r.channel, r.amount, r.signature, r.public_key) THEN
            RAISE EXCEPTION 'claim of % drops does not verify', r.amount;
        END IF;
        COMMIT;
    END LOOP;
END
$$;
