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
    let key = payer();
    let sql = format!(
        "SELECT reason FROM drip.confirm_channel($1, $2, $3, 'rPayer', $4, $5, $6, '{SERVER}', NULL, NULL, {}, $7)",
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
    let sig = sign_claim(&payer(), &Hash256([0x5D; 32]), Drops::new(amount as u64));
    pay_with(token, amount, &sig)
}

fn pay_with(token: &str, amount: i64, sig: &[u8]) -> (bool, Option<String>, Option<i64>, Option<i64>) {
    Spi::connect(|c| {
        let row = c
            .select(
                "SELECT accepted, reason, due, paid FROM drip.pay($1, $2, $3)",
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
