-- drip's engine, in files by topic, loaded in this order (drip_pg/src/lib.rs):
-- setup, sessions, proposals, payments, sweep, ledger, views, ilp, mpp, grants.
-- Each money decision is one function, one transaction, holding the row
-- locks it reads. A channel row is written only under its session's row
-- lock, so the session lock serializes both (and is always taken first).
-- Rules come from drip_core through the drip._ helpers written in Rust.
--
-- This file: the server's key, what pg_dump keeps, the terms' rule.

-- The server's proposal key, made once per database.
INSERT INTO drip.server_key (secret, public_key)
SELECT secret, public_key FROM drip._generate_server_key();

-- Extension tables are dumped with their data by pg_dump.
SELECT pg_catalog.pg_extension_config_dump('drip.terms', '');
SELECT pg_catalog.pg_extension_config_dump('drip.server_key', '');
SELECT pg_catalog.pg_extension_config_dump('drip.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('drip.proposals', '');
SELECT pg_catalog.pg_extension_config_dump('drip.channels', '');
SELECT pg_catalog.pg_extension_config_dump('drip.debts', '');
SELECT pg_catalog.pg_extension_config_dump('drip.claims', '');
SELECT pg_catalog.pg_extension_config_dump('drip.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('drip.ilp_accounts', '');
SELECT pg_catalog.pg_extension_config_dump('drip.ilp_outgoing', '');
SELECT pg_catalog.pg_extension_config_dump('drip.ilp_holds', '');
SELECT pg_catalog.pg_extension_config_dump('drip.losses', '');
SELECT pg_catalog.pg_extension_config_dump('drip.ilp_settings', '');
SELECT pg_catalog.pg_extension_config_dump('drip.mpp_challenges', '');

-- A payer who asks to close gives drip the channel's settle delay to
-- redeem its best claim: drip notices the request on a validated ledger,
-- then submits the claim and waits for it to validate, in the claim window
-- at worst, plus a margin for a slow ledger.
CREATE FUNCTION drip._settle_margin_secs() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT 60
$$;

-- Terms that leave the rate undefined, or a settle delay too short to
-- claim in, are refused.
CREATE FUNCTION drip.check_terms() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, drip AS $$
BEGIN
    PERFORM drip.terms_rate(NEW.payment_type::text, NEW.polling_interval_secs,
                            NEW.channel_funding, NEW.session_length_secs);
    IF NEW.min_settle_delay_secs::bigint < NEW.claim_window_secs::bigint + drip._settle_margin_secs() THEN
        RAISE EXCEPTION 'settle delay too short'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('min_settle_delay_secs %s leaves no time to claim: it must be at least claim_window_secs (%s) plus %s seconds.',
                                  NEW.min_settle_delay_secs, NEW.claim_window_secs, drip._settle_margin_secs()),
                  HINT = 'A payer may close the channel at any time; drip then has the settle delay to redeem its best claim.';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER terms_check BEFORE INSERT OR UPDATE ON drip.terms
    FOR EACH ROW EXECUTE FUNCTION drip.check_terms();

CREATE FUNCTION drip.server_public_key() RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, drip AS $$
    SELECT public_key FROM drip.server_key
$$;
COMMENT ON FUNCTION drip.server_public_key() IS
'The Ed25519 key (33 bytes, 0xED…) that signs proposals; wallets check proposals against it.';
