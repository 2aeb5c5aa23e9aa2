-- The drip flow as a DBA drives it from psql: the web server's calls, the
-- wallet's, and the sidecar's ledger facts, in one transaction so that now()
-- is fixed and every number below is exact. Claims are signed by xrpl-py
-- (scripts/vectors/golden_claims.py) for channel 5D…5D.
CREATE EXTENSION drip;
\set pubkey '\\xEDFFCF952DE18061F3EF902C59133E7047E916E501693312D6BDB3A23FF14FBF61'
\set chan '\\x5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D5D'
\set tx '\\xABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB'
\set sig40000 '\\xE73FA5082FC9AE2BB3F60DB966FE29C92F6D423D2C82EF58CA90DC390A91EFB262646FDB23A2E01DDEDB3F94F3EAB13F7BE0C0AC65B0A8D10754F1DFCCD63B06'
\set sig30000 '\\x6DF95FFA41598CE17E9BB911A992D514B3006EC1163C0459635E9BDC484B3E55B284AB2A3AC337932BCC353FBDB97DBBDFF41080E0F81D4AA036E34D5A074B0A'
\set sig60000 '\\x2B3887EF29D744E901267F2235A89D345A3EA027298646A09A623341F9A911074487BEF8CB8B2D83CA445614DE9590D2A6963AC3AB9C07DA04FBC5C8977D4404'
\set sig2000001 '\\x6A9D67E8E38D288486931A994538BFEC8BE9B62CE2ABB3D0FB0C1A8F02F6FFECD2FA8247F1569A80D1A78FA722F64DBC81D8B78CFB2BCDB321E3CE2E03EDD904'

BEGIN;
UPDATE drip.terms SET destination = 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', polling_interval_secs = 60,
       session_length_secs = 1800, channel_funding = 1000000, min_settle_delay_secs = 1800,
       payment_type = 'both', past_due_limit = 3;
-- The rate: ceil(1000000 / floor(1800 / 60)).
SELECT drip.terms_rate('both', 60, 1000000, 1800) AS rate;

-- Web server: a session and its deep link.
SELECT drip_token AS token, uri FROM drip.create_session('web-1') \gset
SELECT length(:'token') AS token_chars, :'uri' = 'drip://localhost/' || :'token' AS uri_is_deep_link;
SELECT state, channel_id, due, paid FROM drip.get_session('web-1');

-- Wallet: the signed proposal, then the agreement.
SELECT proposal_id AS pid, payload, signature, lower(public_key) = encode(drip.server_public_key(), 'hex') AS signed_by_server
FROM drip.inquire(:'token') \gset
SELECT :'signed_by_server' AS signed_by_server, length(:'signature') AS signature_hex_chars;
SELECT * FROM drip.submit_agreement(:'pid', :'tx');
SELECT * FROM drip.submit_agreement(:'pid', :'tx');
SELECT kind, state, attempts FROM drip.outbox;

-- Sidecar: the ledger's channel, first with the wrong memo, then as proposed.
SELECT * FROM drip.confirm_channel(:'pid', :'tx', :'chan', 'rPayer', :'pubkey', 2000000, 1800,
    'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', NULL, NULL, NULL, 'not-the-proposal');
SELECT proposal_id AS pid FROM drip.inquire(:'token') \gset
SELECT accepted FROM drip.submit_agreement(:'pid', :'tx');
SELECT * FROM drip.confirm_channel(:'pid', :'tx', :'chan', 'rPayer', :'pubkey', 2000000, 1800,
    'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', NULL, NULL, NULL, :'pid');

-- Active: the first interval is charged at its start.
SELECT due, paid, channel_amount, state FROM drip.amount_due(:'token');

-- Wallet: claims. A wrong signature, a good one, a stale one, one above the channel.
SELECT * FROM drip.pay(:'token', 40001, :'sig40000');
SELECT * FROM drip.pay(:'token', 40000, :'sig40000');
SELECT * FROM drip.pay(:'token', 30000, :'sig30000');
SELECT * FROM drip.pay(:'token', 2000001, :'sig2000001');

-- Web server: unit debts, and the seed's denial reasons.
SELECT * FROM drip.add_unit_debt(:'token', 20000);
SELECT * FROM drip.add_unit_debt(:'token', 1966666);
SELECT * FROM drip.add_unit_debt('no-such-token', 10);
SELECT * FROM drip.pay(:'token', 60000, :'sig60000');

-- DBA views.
SELECT session_id, state, channel_id, channel_amount, due, paid, past_due_strikes FROM drip.sessions_overview;
SELECT * FROM drip.exposure;
SELECT channel_id, session_id, amount, best_claim, claim_by = now() + interval '1500 seconds' AS claim_by_is_end_less_window
FROM drip.channels_by_deadline;
SELECT drops_claimed, claims FROM drip.revenue_by_day;

-- Web server: destroy. The channel is queued for claim-and-close.
SELECT * FROM drip.destroy_session('web-1');
SELECT * FROM drip.destroy_session('web-1');
SELECT * FROM drip.pay(:'token', 60000, :'sig60000');
SELECT kind, state FROM drip.outbox_backlog;
ROLLBACK;

DROP EXTENSION drip;
