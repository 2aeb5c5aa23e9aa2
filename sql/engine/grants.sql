-- Who may call what. Helpers and tables stay with the owner.
-- Each role gets what its holder calls, and nothing else.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA drip FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drip.version(), drip.verify_claim(bytea, bigint, bytea, bytea),
    drip.terms_rate(text, integer, bigint, integer), drip.server_public_key() TO PUBLIC;
GRANT EXECUTE ON FUNCTION drip.create_session(text), drip.get_session(text), drip.destroy_session(text),
    drip.add_unit_debt(text, bigint)
    TO drip_merchant;
GRANT EXECUTE ON FUNCTION drip.inquire(text), drip.submit_agreement(text, bytea, text), drip.agreement_state(text),
    drip.amount_due(text), drip.pay(text, bigint, bytea),
    drip.refresh_inquire(text), drip.submit_refresh(text, bytea, text)
    TO drip_payer;
GRANT EXECUTE ON FUNCTION drip.ilp_connect(text, bytea), drip.ilp_account(text),
    drip.ilp_claim(text, bigint, bytea), drip.ilp_claims(text[], bigint[], bytea[]),
    drip.ilp_prepare(text, bigint, timestamptz), drip.ilp_rollback(bigint), drip.ilp_fulfilled(bigint),
    drip.ilp_route(text, text, bigint, timestamptz), drip.ilp_route_fulfilled(bigint),
    drip.ilp_outgoing_channel(text)
    TO drip_ilp;
-- An ILP channel's facts come from the ledger, and the server's channel to
-- a client is signed for by a key derived from the server's secret: both
-- are the ledger role's (the sidecar's BTP server holds it too).
GRANT EXECUTE ON FUNCTION drip.confirm_channel(text, bytea, bytea, text, bytea, bigint, integer, text, bigint, timestamptz, timestamptz, text),
    drip.sweep(timestamptz), drip.record_channel_closed(bytea, bigint, text),
    drip.confirm_fund(text, bytea, bytea, bigint, timestamptz),
    drip.record_channel_closing(bytea, timestamptz),
    drip.outbox_done(bigint, bytea, text), drip.outbox_failed(bigint, bytea, text),
    drip.take_outbox(integer, integer), drip.outbox_submitted(bigint, bytea, bigint, bytea),
    drip.outbox_requeue(bigint, bytea, text), drip.reject_agreement(text, bytea, text),
    drip.requeue_claim(bytea), drip.outbox_needs(),
    drip.watched_channels(),
    drip.ilp_open_channel(text, bytea, text, bytea, bigint, integer, text, timestamptz, timestamptz, bigint, integer),
    drip.ilp_queue_claims(bigint), drip.record_channel_balance(bytea, bigint),
    drip.ilp_fund_channel(text, text, bytea),
    drip.ilp_outgoing_result(text, bytea, bigint, text), drip.ilp_outgoing_closed(text, bytea),
    drip.ilp_outgoing_channel(text), drip.ilp_outgoing_open(), drip.ilp_release_expired(timestamptz),
    drip.ilp_configure(integer, bigint, integer, bigint, bigint)
    TO drip_ledger;
-- The HTTP 402 front door reads a channel's total and takes vouchers; the
-- channel's facts, like every ledger fact, are the ledger role's.
GRANT EXECUTE ON FUNCTION drip.mpp_channel(bytea),
    drip.mpp_pay(bytea, bigint, bytea, bigint, text, text, timestamptz, boolean)
    TO drip_http;
GRANT EXECUTE ON FUNCTION
    drip.mpp_open_channel(bytea, text, bytea, bigint, integer, text, timestamptz, timestamptz, bigint, integer)
    TO drip_ledger;
GRANT SELECT ON drip.sessions_overview, drip.exposure, drip.channels_by_deadline, drip.mpp_channels,
    drip.revenue_by_day, drip.outbox_backlog, drip.losses_by_reason TO drip_admin;
-- Operators give a channel's claim a live path again.
GRANT EXECUTE ON FUNCTION drip.requeue_claim(bytea) TO drip_admin;
-- The sidecar reports the backlog and the losses as metrics.
GRANT SELECT ON drip.outbox_backlog, drip.losses_by_reason TO drip_ledger;
-- Views call these with the reader's privileges; they only compute.
GRANT EXECUTE ON FUNCTION drip._due(drip.sessions, bigint), drip._due_at(drip.sessions, bigint, timestamptz),
    drip._amount_due(text, bigint, integer, timestamptz, timestamptz, bigint, bigint),
    drip._claim_deadline(timestamptz, timestamptz, timestamptz),
    drip._claim_deadline_by(timestamptz, timestamptz, timestamptz, integer) TO drip_admin;
-- drip.mpp_channels computes each channel's deadline with it.
GRANT EXECUTE ON FUNCTION drip._mpp_deadline(timestamptz, timestamptz, integer) TO drip_admin;
-- The terms trigger runs as whoever edits the terms.
GRANT EXECUTE ON FUNCTION drip._settle_margin_secs() TO drip_admin;
