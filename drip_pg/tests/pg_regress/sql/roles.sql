-- What each role drip creates may do. Tables are the owner's; each kind of
-- caller calls its functions: the merchant's web server, the payer-facing
-- path, the ILP server, the ledger worker, the HTTP 402 front door; the
-- admin edits terms and reads views.
CREATE EXTENSION drip;
\set SHOW_CONTEXT never
SET ROLE drip_merchant;
SELECT drip_token AS token FROM drip.create_session('web-roles') \gset
SELECT state FROM drip.get_session('web-roles');
SELECT * FROM drip.pay(:'token', 1, '\x00');
SELECT * FROM drip.ilp_route_fulfilled(1);
SELECT * FROM drip.sessions;
RESET ROLE;
SET ROLE drip_payer;
SELECT due, paid, state FROM drip.amount_due(:'token');
SELECT * FROM drip.get_session('web-roles');
SELECT * FROM drip.destroy_session('web-roles');
SELECT * FROM drip.add_unit_debt(:'token', 1);
RESET ROLE;
SET ROLE drip_ilp;
SELECT * FROM drip.ilp_rollback(1);
SELECT drip.create_session('web-ilp');
SELECT * FROM drip.ilp_configure(6, 1000000, 30, 1, 0);
RESET ROLE;
SET ROLE drip_app;
SELECT state FROM drip.get_session('web-roles');
SELECT * FROM drip.ilp_route_fulfilled(1);
SELECT * FROM drip.server_key;
UPDATE drip.terms SET channel_funding = 1;
SELECT * FROM drip.sweep();
SELECT drip.record_channel_closed('\x00', 0, NULL);
SELECT drip._new_token();
SELECT * FROM drip.sessions_overview;
RESET ROLE;
SET ROLE drip_ledger;
SELECT checked, struck, ended FROM drip.sweep();
SELECT asset_scale, bandwidth FROM drip.ilp_configure(6, 0, 30, 1000000, 10000000);
SELECT drip.create_session('web-ledger');
SELECT * FROM drip.channels;
RESET ROLE;
SET ROLE drip_admin;
UPDATE drip.terms SET channel_funding = 2000000 RETURNING channel_funding;
UPDATE drip.terms SET min_settle_delay_secs = 60, claim_window_secs = 30;
SELECT session_id, state FROM drip.sessions_overview;
SELECT asset_scale, outgoing_channel_amount FROM drip.ilp_settings;
SELECT * FROM drip.server_key;
SELECT drip.create_session('web-admin');
DELETE FROM drip.terms;
RESET ROLE;
-- Every function drip defines, with who may run it besides the owner.
SELECT p.proname,
       has_function_privilege('drip_merchant', p.oid, 'EXECUTE') AS merchant,
       has_function_privilege('drip_payer', p.oid, 'EXECUTE') AS payer,
       has_function_privilege('drip_ilp', p.oid, 'EXECUTE') AS ilp,
       has_function_privilege('drip_ledger', p.oid, 'EXECUTE') AS ledger,
       has_function_privilege('drip_admin', p.oid, 'EXECUTE') AS admin,
       has_function_privilege('drip_http', p.oid, 'EXECUTE') AS http,
       p.prosecdef AS security_definer
FROM pg_proc p WHERE p.pronamespace = 'drip'::regnamespace AND p.prokind = 'f'
ORDER BY p.proname, p.oid::regprocedure::text;

DROP EXTENSION drip;
