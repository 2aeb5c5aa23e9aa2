-- What each role drip creates may do. Tables are the owner's; the app calls
-- functions; the ledger role reports facts; the admin edits terms and reads views.
CREATE EXTENSION drip;
\set SHOW_CONTEXT never
SET ROLE drip_app;
SELECT drip_token AS token FROM drip.create_session('web-roles') \gset
SELECT state FROM drip.get_session('web-roles');
SELECT * FROM drip.sessions;
SELECT * FROM drip.server_key;
UPDATE drip.terms SET channel_funding = 1;
SELECT * FROM drip.sweep();
SELECT drip.record_channel_closed('\x00', 0, NULL);
SELECT drip._new_token();
SELECT * FROM drip.sessions_overview;
RESET ROLE;
SET ROLE drip_ledger;
SELECT checked, struck, ended FROM drip.sweep();
SELECT drip.create_session('web-ledger');
SELECT * FROM drip.channels;
RESET ROLE;
SET ROLE drip_admin;
UPDATE drip.terms SET channel_funding = 2000000 RETURNING channel_funding;
SELECT session_id, state FROM drip.sessions_overview;
SELECT * FROM drip.server_key;
DELETE FROM drip.terms;
RESET ROLE;
-- Every function drip defines, with who may run it besides the owner.
SELECT p.proname,
       has_function_privilege('drip_app', p.oid, 'EXECUTE') AS app,
       has_function_privilege('drip_ledger', p.oid, 'EXECUTE') AS ledger,
       has_function_privilege('drip_admin', p.oid, 'EXECUTE') AS admin,
       p.prosecdef AS security_definer
FROM pg_proc p WHERE p.pronamespace = 'drip'::regnamespace AND p.prokind = 'f'
ORDER BY p.proname, p.oid::regprocedure::text;

DROP EXTENSION drip;
