// `#[pg_test]`s of the session engine (included by lib.rs beside tests.rs).

use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyPair, KeyType, Seed};

const SERVER: &str = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";

fn payer() -> KeyPair {
    Seed::from_entropy([0x51; 16], KeyType::Ed25519).key_pair().unwrap()
}

fn text(sql: &str, args: &[pgrx::datum::DatumWithOid<'_>]) -> String {
    Spi::get_one_with_args::<String>(sql, args).unwrap().unwrap()
}

/// Terms with a 60 s interval over 1800 s and 1 XRP (rate 33,334).
fn set_terms() {
    Spi::run(&format!(
        "UPDATE drip.terms SET destination = '{SERVER}', polling_interval_secs = 60,
         session_length_secs = 1800, channel_funding = 1000000, min_settle_delay_secs = 1800,
         payment_type = 'both'"
    ))
    .unwrap();
}

/// A session through inquiry and agreement: (token, proposal id).
fn pending_session(web_id: &str) -> (String, String) {
    set_terms();
    let token = text("SELECT drip_token FROM drip.create_session($1)", &[web_id.into()]);
    let pid = text("SELECT proposal_id FROM drip.inquire($1)", &[token.as_str().into()]);
    let tx = vec![0xAB_u8; 32];
    let ok = Spi::get_one_with_args::<bool>(
        "SELECT accepted FROM drip.submit_agreement($1, $2)",
        &[pid.as_str().into(), tx.as_slice().into()],
    )
    .unwrap();
    assert_eq!(ok, Some(true));
    (token, pid)
}

/// Confirm the channel with these ledger facts; returns the reason (None = accepted).
fn confirm(pid: &str, amount: i64, settle: i32, memo: &str, cancel_after: Option<&str>) -> Option<String> {
    confirm_key(pid, &payer(), amount, settle, memo, cancel_after)
}

fn confirm_key(pid: &str, key: &KeyPair, amount: i64, settle: i32, memo: &str, cancel_after: Option<&str>) -> Option<String> {
    let sql = format!(
        "SELECT reason::text AS reason FROM drip.confirm_channel($1, $2, $3, 'rPayer', $4, $5, $6, '{SERVER}', NULL, NULL, {}, $7)",
        cancel_after.map_or("NULL".to_owned(), |c| format!("'{c}'::timestamptz"))
    );
    let chan = vec![0x5D_u8; 32];
    let tx = vec![0xAB_u8; 32];
    Spi::get_one_with_args::<String>(
        &sql,
        &[
            pid.into(),
            tx.as_slice().into(),
            chan.as_slice().into(),
            key.public_key().as_bytes().as_slice().into(),
            amount.into(),
            settle.into(),
            memo.into(),
        ],
    )
    .unwrap()
}

fn active_session(web_id: &str) -> String {
    let (token, pid) = pending_session(web_id);
    assert_eq!(confirm(&pid, 2_000_000, 1800, &pid, None), None);
    token
}

/// pay(token, amount) with a valid signature: (accepted, reason, due, paid).
fn pay(token: &str, amount: i64) -> (bool, Option<String>, Option<i64>, Option<i64>) {
    pay_as(&payer(), token, amount)
}

fn pay_as(key: &KeyPair, token: &str, amount: i64) -> (bool, Option<String>, Option<i64>, Option<i64>) {
    let sig = sign_claim(key, &Hash256([0x5D; 32]), Drops::new(amount as u64));
    pay_with(token, amount, &sig)
}

fn pay_with(token: &str, amount: i64, sig: &[u8]) -> (bool, Option<String>, Option<i64>, Option<i64>) {
    Spi::connect(|c| {
        let row = c
            .select(
                "SELECT accepted, reason::text AS reason, due, paid FROM drip.pay($1, $2, $3)",
                None,
                &[token.into(), amount.into(), sig.into()],
            )
            .unwrap()
            .first();
        (
            row.get::<bool>(1).unwrap().unwrap(),
            row.get::<String>(2).unwrap(),
            row.get::<i64>(3).unwrap(),
            row.get::<i64>(4).unwrap(),
        )
    })
}

#[pg_test]
fn a_session_goes_from_created_to_active() {
    let (token, pid) = pending_session("web-a");
    let state = text("SELECT state::text FROM drip.sessions WHERE drip_token = $1", &[token.as_str().into()]);
    assert_eq!(state, "pending");
    let queued = Spi::get_one::<i64>("SELECT count(*) FROM drip.outbox WHERE kind = 'verify_channel' AND state = 'queued'").unwrap();
    assert_eq!(queued, Some(1));
    assert_eq!(confirm(&pid, 2_000_000, 1800, &pid, None), None);
    let state = text("SELECT state::text FROM drip.amount_due($1)", &[token.as_str().into()]);
    assert_eq!(state, "active");
    let done = Spi::get_one::<i64>("SELECT count(*) FROM drip.outbox WHERE state = 'done'").unwrap();
    assert_eq!(done, Some(1));
}

#[pg_test]
fn create_session_is_idempotent_and_tokens_are_unguessable() {
    set_terms();
    let a = text("SELECT drip_token FROM drip.create_session('web-x')", &[]);
    let b = text("SELECT drip_token FROM drip.create_session('web-x')", &[]);
    let c = text("SELECT drip_token FROM drip.create_session('web-y')", &[]);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 40, "160 bits, hex");
}

#[pg_test]
fn the_inquiry_is_signed_by_the_published_key_and_snapshots_the_terms() {
    set_terms();
    let token = text("SELECT drip_token FROM drip.create_session('web-p')", &[]);
    let (payload, signature, public_key) = Spi::connect(|c| {
        let r = c
            .select("SELECT payload, signature, public_key FROM drip.inquire($1)", None, &[token.as_str().into()])
            .unwrap()
            .first();
        (
            r.get::<String>(1).unwrap().unwrap(),
            r.get::<String>(2).unwrap().unwrap(),
            r.get::<String>(3).unwrap().unwrap(),
        )
    });
    let published = Spi::get_one::<Vec<u8>>("SELECT drip.server_public_key()").unwrap().unwrap();
    let key = drip_core::PublicKey::from_slice(&published).unwrap();
    let signed = drip_core::proposal::SignedProposal { payload, signature, public_key };
    let proposal = signed.verify(&key, 0).unwrap();
    assert_eq!(proposal.rate, Drops::new(33_334));
    assert_eq!(proposal.channel_funding, Drops::new(1_000_000));
    assert_eq!(proposal.destination.to_address(), SERVER);
    // Later terms changes do not touch the proposal's snapshot.
    Spi::run("UPDATE drip.terms SET channel_funding = 5000000").unwrap();
    let snap = Spi::get_one::<i64>("SELECT channel_funding FROM drip.proposals").unwrap();
    assert_eq!(snap, Some(1_000_000));
}

#[pg_test]
fn channels_that_do_not_match_the_proposal_are_denied() {
    let (_, pid) = pending_session("web-d");
    assert_eq!(confirm(&pid, 999_999, 1800, &pid, None).as_deref(), Some("underfunded"));
    // Denied sessions go back to `created`; a fresh agreement is needed.
    let (_, pid) = pending_session("web-d2");
    assert_eq!(confirm(&pid, 1_000_000, 1799, &pid, None).as_deref(), Some("settle_delay_too_short"));
    let (_, pid) = pending_session("web-d3");
    assert_eq!(confirm(&pid, 1_000_000, 1800, "other", None).as_deref(), Some("memo_mismatch"));
    let (_, pid) = pending_session("web-d4");
    let soon = "now() + interval '10 minutes'";
    let when = Spi::get_one::<String>(&format!("SELECT ({soon})::text")).unwrap().unwrap();
    assert_eq!(confirm(&pid, 1_000_000, 1800, &pid, Some(&when)).as_deref(), Some("cancel_after_too_soon"));
    let states = Spi::get_one::<i64>("SELECT count(*) FROM drip.sessions WHERE state = 'created'").unwrap();
    assert_eq!(states, Some(4));
}

#[pg_test]
fn pay_takes_higher_valid_claims_and_refuses_the_rest() {
    let token = active_session("web-pay");
    let (ok, reason, due, paid) = pay(&token, 33_334);
    assert!(ok, "{reason:?}");
    assert_eq!((due, paid), (Some(33_334), Some(33_334)), "the first interval is charged at once");
    assert_eq!(pay(&token, 33_334).1.as_deref(), Some("not_above_best"));
    assert_eq!(pay(&token, 33_000).1.as_deref(), Some("not_above_best"));
    assert_eq!(pay(&token, 2_000_001).1.as_deref(), Some("exceeds_channel"));
    let sig = sign_claim(&payer(), &Hash256([0x5D; 32]), Drops::new(50_000));
    assert_eq!(pay_with(&token, 50_001, &sig).1.as_deref(), Some("bad_signature"));
    assert!(pay(&token, 2_000_000).0, "up to the channel amount");
    let claims = Spi::get_one::<i64>("SELECT count(*) FROM drip.claims").unwrap();
    assert_eq!(claims, Some(2), "only accepted claims are audited");
    let best = Spi::get_one::<i64>("SELECT best_claim FROM drip.channels").unwrap();
    assert_eq!(best, Some(2_000_000));
}

#[pg_test]
fn pay_refuses_inactive_sessions_and_errors_on_bad_input() {
    let (token, _) = pending_session("web-inactive");
    assert_eq!(pay(&token, 10).1.as_deref(), Some("not_active"));
    let (code, _) = error_of("SELECT drip.pay('no-such-token', 1, '\\x00')");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_NO_DATA_FOUND);
    let (code, detail) = error_of(&format!("SELECT drip.pay('{token}', -5, '\\x00')"));
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE);
    assert!(detail.contains("-5"), "{detail}");
}

#[pg_test]
fn the_channel_and_claim_rules_hold_even_for_the_tables_owner() {
    // Domains (one column) and table CHECKs (across columns) together.
    active_session("web-rules");
    for set in [
        "channel_id = '\\x00'",
        "public_key = '\\x00'",
        "amount = 0",
        "settle_delay = -1",
        "ledger_balance = -1",
        "best_claim = -1",
        "ledger_balance = amount + 1",
        "best_claim = amount + 1, best_signature = '\\x01'",
        "best_claim = 5",
    ] {
        let (code, _) = error_of(&format!("UPDATE drip.channels SET {set}"));
        assert_eq!(code, PgSqlErrorCode::ERRCODE_CHECK_VIOLATION, "{set}");
    }
    let (code, _) =
        error_of("INSERT INTO drip.claims (channel_id, amount, signature) SELECT channel_id, 0, '\\x01' FROM drip.channels");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_CHECK_VIOLATION);
    let unchanged = Spi::get_one::<bool>(
        "SELECT amount = 2000000 AND best_claim = 0 AND ledger_balance = 0 AND settle_delay = 1800 FROM drip.channels",
    )
    .unwrap();
    assert_eq!(unchanged, Some(true));
}

fn calls(function: &str) -> i64 {
    Spi::get_one::<i64>(&format!("SELECT coalesce(pg_stat_get_xact_function_calls('{function}'::regproc), 0)"))
        .unwrap()
        .unwrap()
}

#[pg_test]
fn secp256k1_channels_keep_their_key_tables_and_pay_with_them() {
    let secp = Seed::from_entropy([0x52; 16], KeyType::Secp256k1).key_pair().unwrap();
    let (token, pid) = pending_session("web-secp");
    assert_eq!(confirm_key(&pid, &secp, 2_000_000, 1800, &pid, None), None);
    let stored = Spi::get_one::<Vec<u8>>("SELECT prepared_key FROM drip.channels").unwrap().unwrap();
    assert_eq!(Some(stored), secp.public_key().prepare());
    // Ed25519 keys have none.
    let ed = Spi::get_one_with_args::<Vec<u8>>("SELECT drip._prepared_key($1)", &[payer().public_key().as_bytes().as_slice().into()]).unwrap();
    assert_eq!(ed, None);
    let (code, _) = error_of("UPDATE drip.channels SET prepared_key = '\\x00'");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_GENERATED_ALWAYS);

    Spi::run("SET LOCAL track_functions = 'all'").unwrap();
    assert_eq!(pay_as(&secp, &token, 40_000), (true, None, Some(33_334), Some(40_000)));
    // Signed by another key, or for another amount: refused.
    let other = Seed::from_entropy([0x53; 16], KeyType::Secp256k1).key_pair().unwrap();
    assert_eq!(pay_as(&other, &token, 50_000).1.as_deref(), Some("bad_signature"));
    let sig = sign_claim(&secp, &Hash256([0x5D; 32]), Drops::new(60_000));
    assert_eq!(pay_with(&token, 60_001, &sig).1.as_deref(), Some("bad_signature"));
    assert!(pay_with(&token, 60_000, &sig).0);
    // Verified with the stored tables, which pay's updates did not recompute.
    assert_eq!(calls("drip._check_claim"), 4);
    assert_eq!(calls("drip.verify_claim"), 0);
    assert_eq!(calls("drip._prepared_key"), 0);
    Spi::run("UPDATE drip.channels SET public_key = public_key").unwrap();
    assert_eq!(calls("drip._prepared_key"), 1, "a key update recomputes them");
}

#[pg_test]
fn terms_that_leave_the_rate_undefined_are_refused() {
    let (code, detail) = error_of("UPDATE drip.terms SET polling_interval_secs = 4000, session_length_secs = 1800 RETURNING true");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE);
    assert!(detail.contains("polling interval"), "{detail}");
    let rate = Spi::get_one::<i64>("SELECT drip.terms_rate('unit', 60, 1000000, 1800)").unwrap();
    assert_eq!(rate, Some(0));
}

#[pg_test]
fn the_app_role_uses_functions_not_tables_and_not_sidecar_functions() {
    let token = active_session("web-role");
    Spi::run("SET LOCAL ROLE drip_app").unwrap();
    let due = Spi::get_one_with_args::<i64>("SELECT due FROM drip.amount_due($1)", &[token.as_str().into()]).unwrap();
    assert_eq!(due, Some(33_334));
    let (code, _) = error_of("SELECT count(*) FROM drip.sessions");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
    let (code, _) = error_of("SELECT count(*) FROM drip.server_key");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
    let (code, _) = error_of(
        "SELECT drip.confirm_channel('x', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    );
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
    let (code, _) = error_of("SELECT drip._new_token()");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
}

fn sweep_at(offset: &str) -> (i32, i32, i32, i32) {
    Spi::connect(|c| {
        let r = c
            .select(&format!("SELECT * FROM drip.sweep(now() + interval '{offset}')"), None, &[])
            .unwrap()
            .first();
        (
            r.get::<i32>(1).unwrap().unwrap(),
            r.get::<i32>(2).unwrap().unwrap(),
            r.get::<i32>(3).unwrap().unwrap(),
            r.get::<i32>(4).unwrap().unwrap(),
        )
    })
}

fn strikes_and_state(web_id: &str) -> (i32, String, Option<String>) {
    Spi::connect(|c| {
        let r = c
            .select(
                "SELECT past_due_strikes, state::text, end_reason FROM drip.sessions WHERE session_id = $1",
                None,
                &[web_id.into()],
            )
            .unwrap()
            .first();
        (r.get::<i32>(1).unwrap().unwrap(), r.get::<String>(2).unwrap().unwrap(), r.get::<String>(3).unwrap())
    })
}

fn unit_debt(token: &str, amount: i64) -> (bool, Option<String>) {
    Spi::connect(|c| {
        let r = c
            .select("SELECT accepted, reason::text AS reason FROM drip.add_unit_debt($1, $2)", None, &[token.into(), amount.into()])
            .unwrap()
            .first();
        (r.get::<bool>(1).unwrap().unwrap(), r.get::<String>(2).unwrap())
    })
}

#[pg_test]
fn unit_debts_are_added_or_denied_with_the_seeds_reasons() {
    let token = active_session("web-units");
    // 2 XRP channel, 33,334 charged so far, next charge 33,334: room for 1,933,332.
    assert_eq!(unit_debt(&token, 1_933_332), (true, None));
    assert_eq!(unit_debt(&token, 1), (false, Some("exceeds_channel".into())));
    assert_eq!(unit_debt("nope", 1), (false, Some("not_found".into())));
    Spi::run("UPDATE drip.sessions SET past_due_strikes = 1").unwrap();
    assert_eq!(unit_debt(&token, 1), (false, Some("awaiting_payment".into())));
    Spi::run("UPDATE drip.sessions SET past_due_strikes = 0").unwrap();
    Spi::run("UPDATE drip.sessions SET payment_type = 'time'").unwrap();
    assert_eq!(unit_debt(&token, 1), (false, Some("not_unit_based".into())));
    let (code, _) = error_of(&format!("SELECT drip.add_unit_debt('{token}', 0)"));
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE);
    let (pending, _) = pending_session("web-units-2");
    assert_eq!(unit_debt(&pending, 1), (false, Some("not_active".into())));
    Spi::run("SELECT drip.destroy_session('web-units')").unwrap();
    assert_eq!(unit_debt(&token, 1), (false, Some("session_ending".into())));
    let due = Spi::get_one_with_args::<i64>("SELECT due FROM drip.amount_due($1)", &[token.as_str().into()]).unwrap();
    assert_eq!(due, Some(33_334 + 1_933_332), "time and units");
}

#[pg_test]
fn destroy_queues_claim_and_close_once() {
    let token = active_session("web-destroy");
    assert!(pay(&token, 33_334).0);
    let ok = Spi::get_one::<bool>("SELECT accepted FROM drip.destroy_session('web-destroy')").unwrap();
    assert_eq!(ok, Some(true));
    let again = Spi::get_one::<String>("SELECT reason::text AS reason FROM drip.destroy_session('web-destroy')").unwrap();
    assert_eq!(again.as_deref(), Some("already_ending"));
    let jobs = Spi::get_one::<i64>("SELECT count(*) FROM drip.outbox WHERE kind = 'claim_and_close'").unwrap();
    assert_eq!(jobs, Some(1));
    assert_eq!(pay(&token, 40_000).1.as_deref(), Some("not_active"), "no claims after the end");
    // A session without a channel just closes.
    set_terms();
    Spi::run("SELECT drip.create_session('web-empty')").unwrap();
    let state = Spi::get_one::<String>("SELECT state::text FROM drip.destroy_session('web-empty')").unwrap();
    assert_eq!(state.as_deref(), Some("closed"));
    let nope = Spi::get_one::<String>("SELECT reason::text AS reason FROM drip.destroy_session('no-such')").unwrap();
    assert_eq!(nope.as_deref(), Some("not_found"));
}

#[pg_test]
fn sweep_counts_unpaid_intervals_resets_when_paid_and_ends_at_the_limit() {
    let token = active_session("web-sweep");
    Spi::run("UPDATE drip.terms SET past_due_limit = 3").unwrap();
    // Nothing is due for a check yet.
    assert_eq!(sweep_at("1 second"), (0, 0, 0, 0));
    // Interval 0 ended unpaid: one strike.
    assert_eq!(sweep_at("61 seconds").1, 1);
    assert_eq!(strikes_and_state("web-sweep").0, 1);
    // Paying what was due at the end of interval 1 resets the count.
    assert!(pay(&token, 66_668).0);
    assert_eq!(sweep_at("121 seconds").1, 0);
    assert_eq!(strikes_and_state("web-sweep").0, 0);
    // Three more unpaid intervals end the session by past-due.
    sweep_at("181 seconds");
    sweep_at("241 seconds");
    let (_, _, ended, _) = sweep_at("301 seconds");
    assert_eq!(ended, 1);
    assert_eq!(strikes_and_state("web-sweep"), (3, "closing".into(), Some("past_due".into())));
    let jobs = Spi::get_one::<i64>("SELECT count(*) FROM drip.outbox WHERE kind = 'claim_and_close'").unwrap();
    assert_eq!(jobs, Some(1));
}

#[pg_test]
fn sweep_ends_sessions_inside_the_claim_window() {
    let token = active_session("web-window");
    Spi::run("UPDATE drip.terms SET past_due_limit = 0, claim_window_secs = 300").unwrap();
    assert!(pay(&token, 2_000_000).0, "fully paid: only the deadline can end it");
    // Session length 1800 s, claim window 300 s: the claim-and-close starts at 1500 s.
    sweep_at("1499 seconds");
    assert_eq!(strikes_and_state("web-window").1, "active");
    sweep_at("1500 seconds");
    assert_eq!(strikes_and_state("web-window"), (0, "closing".into(), Some("expired".into())));
}

#[pg_test]
fn sweep_expires_stale_proposals() {
    set_terms();
    let token = text("SELECT drip_token FROM drip.create_session('web-stale')", &[]);
    Spi::run_with_args("SELECT drip.inquire($1)", &[token.as_str().into()]).unwrap();
    assert_eq!(sweep_at("30 seconds").3, 0);
    assert_eq!(sweep_at("61 seconds").3, 1);
    let left = Spi::get_one::<i64>("SELECT count(*) FROM drip.proposals").unwrap();
    assert_eq!(left, Some(0));
}

#[pg_test]
fn the_ledger_role_confirms_and_sweeps_but_takes_no_payments() {
    let (token, pid) = pending_session("web-ledger-role");
    Spi::run("SET LOCAL ROLE drip_ledger").unwrap();
    assert_eq!(confirm(&pid, 2_000_000, 1800, &pid, None), None);
    sweep_at("1 second");
    let (code, _) = error_of(&format!("SELECT drip.pay('{token}', 1, '\\x00')"));
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
    let (code, _) = error_of("SELECT drip.create_session('x')");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
    let (code, _) = error_of("UPDATE drip.terms SET channel_funding = 1");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
}

#[pg_test]
fn the_admin_role_edits_terms_and_reads_views() {
    let token = active_session("web-admin");
    assert!(pay(&token, 10_000).0);
    Spi::run("SET LOCAL ROLE drip_admin").unwrap();
    Spi::run("UPDATE drip.terms SET claim_window_secs = 600").unwrap();
    let unsecured = Spi::get_one::<i64>("SELECT sum(unsecured)::bigint FROM drip.exposure").unwrap();
    assert_eq!(unsecured, Some(23_334));
    let revenue = Spi::get_one::<i64>("SELECT sum(drops_claimed)::bigint FROM drip.revenue_by_day").unwrap();
    assert_eq!(revenue, Some(10_000));
    let open = Spi::get_one::<i64>("SELECT count(*) FROM drip.channels_by_deadline").unwrap();
    assert_eq!(open, Some(1));
    let (code, _) = error_of("SELECT count(*) FROM drip.server_key");
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
}

/// A refresh through inquiry and submission: its proposal id.
fn refresh(token: &str) -> String {
    let pid = text("SELECT proposal_id FROM drip.refresh_inquire($1)", &[token.into()]);
    let tx = vec![0xCD_u8; 32];
    let ok = Spi::get_one_with_args::<bool>(
        "SELECT accepted FROM drip.submit_refresh($1, $2)",
        &[pid.as_str().into(), tx.as_slice().into()],
    )
    .unwrap();
    assert_eq!(ok, Some(true));
    pid
}

fn confirm_fund(pid: &str, ledger_amount: i64) -> Option<String> {
    let (tx, chan) = (vec![0xCD_u8; 32], vec![0x5D_u8; 32]);
    Spi::get_one_with_args::<String>(
        "SELECT reason::text AS reason FROM drip.confirm_fund($1, $2, $3, $4, NULL)",
        &[pid.into(), tx.as_slice().into(), chan.as_slice().into(), ledger_amount.into()],
    )
    .unwrap()
}

#[pg_test]
fn refresh_tracks_the_ledgers_amount_and_extends_the_session() {
    let token = active_session("web-refresh");
    let ends = |t: &str| Spi::get_one_with_args::<String>("SELECT ends_at::text FROM drip.amount_due($1)", &[t.into()]).unwrap();
    let before = ends(&token);
    let pid = refresh(&token);
    let kind = Spi::get_one_with_args::<String>("SELECT kind::text FROM drip.proposals WHERE proposal_id = $1", &[pid.as_str().into()]).unwrap();
    assert_eq!(kind.as_deref(), Some("refresh"));
    // The wallet's check: signed by the published key, naming this channel.
    let signed = Spi::connect(|c| {
        let r = c
            .select("SELECT payload, signature, public_key FROM drip.refresh_inquire($1)", None, &[token.as_str().into()])
            .unwrap()
            .first();
        drip_core::proposal::SignedProposal {
            payload: r.get::<String>(1).unwrap().unwrap(),
            signature: r.get::<String>(2).unwrap().unwrap(),
            public_key: r.get::<String>(3).unwrap().unwrap(),
        }
    });
    let key = Spi::get_one::<Vec<u8>>("SELECT drip.server_public_key()").unwrap().unwrap();
    let proposal = signed.verify(&drip_core::PublicKey::from_slice(&key).unwrap(), 0).unwrap();
    assert_eq!(
        proposal.kind,
        drip_core::proposal::ProposalKind::Refresh { channel_id: Hash256([0x5D; 32]) }
    );
    assert_eq!(proposal.rate, Drops::new(33_334), "the session keeps its rate");
    // A fund short of old amount + funding is refused; the ledger's amount is what counts.
    assert_eq!(confirm_fund(&pid, 2_999_999).as_deref(), Some("underfunded"));
    let pid = refresh(&token);
    assert_eq!(confirm_fund(&pid, 3_000_000), None);
    let amount = Spi::get_one_with_args::<i64>("SELECT channel_amount FROM drip.amount_due($1)", &[token.as_str().into()]).unwrap();
    assert_eq!(amount, Some(3_000_000));
    assert!(ends(&token) > before, "the session runs longer");
    // Claims up to the new amount are taken now.
    assert!(pay(&token, 2_500_000).0);
}

#[pg_test]
fn a_payer_close_on_the_ledger_ends_the_session_at_once() {
    let token = active_session("web-payer-close");
    assert!(pay(&token, 33_334).0);
    let chan = vec![0x5D_u8; 32];
    let state = Spi::get_one_with_args::<String>(
        "SELECT drip.record_channel_closing($1, now() + interval '1800 seconds')::text",
        &[chan.as_slice().into()],
    )
    .unwrap();
    assert_eq!(state.as_deref(), Some("closing"));
    let (_, _, reason) = strikes_and_state("web-payer-close");
    assert_eq!(reason.as_deref(), Some("payer_closing"));
    let jobs = Spi::get_one::<i64>("SELECT count(*) FROM drip.outbox WHERE kind = 'claim_and_close'").unwrap();
    assert_eq!(jobs, Some(1));
}
