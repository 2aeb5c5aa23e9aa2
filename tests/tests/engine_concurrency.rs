//! The session engine under concurrent connections: payers racing on one
//! session, unit debts racing payments, and two sweeps at once. Invariants
//! are checked after each run.

use std::sync::Arc;

use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyPair, KeyType, Seed};
use drip_tests::{active_session, TestDb};

const CHANNEL: [u8; 32] = [0x5D; 32];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payments_end_with_the_highest_accepted_claim() {
    let db = TestDb::new("pay_race").await;
    let payer = Seed::from_entropy([0x61; 16], KeyType::Secp256k1)
        .key_pair()
        .unwrap();
    let token = active_session(&db.client().await, &payer, "race", CHANNEL).await;

    // 8 payers, 40 claims each; payer w pays amounts ≡ w (mod 8), in an order
    // that interleaves rising and falling runs.
    let workers = 8u64;
    let per_worker = 40u64;
    let mut tasks = Vec::new();
    let key = Arc::new(payer);
    for w in 0..workers {
        let (url, token, key) = (db.url.clone(), token.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let c = drip_tests::connect(&url).await;
            let stmt = c
                .prepare("SELECT accepted, reason::text AS reason FROM drip.pay($1, $2, $3)")
                .await
                .unwrap();
            let mut accepted = Vec::new();
            for i in 0..per_worker {
                let step = if i % 2 == 0 { i } else { per_worker - i };
                let amount = 1_000 + (step * workers + w) * 1_000;
                let sig = sign_claim(&key, &Hash256(CHANNEL), Drops::new(amount));
                let amount = i64::try_from(amount).unwrap();
                let row = c.query_one(&stmt, &[&token, &amount, &sig]).await.unwrap();
                let (ok, reason): (bool, Option<String>) = (row.get(0), row.get(1));
                if ok {
                    accepted.push(amount);
                } else {
                    assert_eq!(
                        reason.as_deref(),
                        Some("not_above_best"),
                        "only stale claims are refused"
                    );
                }
            }
            accepted
        }));
    }
    let mut accepted = Vec::new();
    for t in tasks {
        accepted.extend(t.await.unwrap());
    }
    let c = db.client().await;
    let best: i64 = c
        .query_one("SELECT best_claim FROM drip.channels", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        Some(best),
        accepted.iter().copied().max(),
        "stored best = highest accepted"
    );
    let audit: Vec<i64> = c
        .query(
            "SELECT amount FROM drip.claims ORDER BY accepted_at, amount",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        audit.len(),
        accepted.len(),
        "every accepted claim is audited once"
    );
    assert!(
        audit.windows(2).all(|w| w[0] < w[1]),
        "each accepted claim beat the one before"
    );
    let paid: i64 = c
        .query_one("SELECT paid FROM drip.amount_due($1)", &[&token])
        .await
        .unwrap()
        .get(0);
    assert_eq!(paid, best);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unit_debts_racing_payments_never_outgrow_the_channel() {
    let db = TestDb::new("debt_race").await;
    let payer = Arc::new(
        Seed::from_entropy([0x62; 16], KeyType::Ed25519)
            .key_pair()
            .unwrap(),
    );
    let token = active_session(&db.client().await, &payer, "debts", CHANNEL).await;
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let (url, token) = (db.url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let c = drip_tests::connect(&url).await;
            let mut added = 0i64;
            for i in 0..50i64 {
                let amount = 900_000 + i64::try_from(w).unwrap() * 1_000 + i;
                let row = c
                    .query_one(
                        "SELECT accepted, reason::text AS reason FROM drip.add_unit_debt($1, $2)",
                        &[&token, &amount],
                    )
                    .await
                    .unwrap();
                if row.get::<_, bool>(0) {
                    added += amount;
                } else {
                    let reason: Option<String> = row.get(1);
                    assert!(
                        matches!(
                            reason.as_deref(),
                            Some("exceeds_channel" | "awaiting_payment")
                        ),
                        "{reason:?}"
                    );
                }
            }
            added
        }));
    }
    for w in 0..2u64 {
        let (url, token, key) = (db.url.clone(), token.clone(), payer.clone());
        tasks.push(tokio::spawn(async move {
            let c = drip_tests::connect(&url).await;
            for i in 0..50u64 {
                let amount = 10_000 + (i * 2 + w) * 1_000_000;
                let sig = sign_claim(&key, &Hash256(CHANNEL), Drops::new(amount));
                let amount = i64::try_from(amount).unwrap();
                c.query_one(
                    "SELECT accepted FROM drip.pay($1, $2, $3)",
                    &[&token, &amount, &sig],
                )
                .await
                .unwrap();
            }
            0
        }));
    }
    let mut added = 0;
    for t in tasks {
        added += t.await.unwrap();
    }
    let c = db.client().await;
    let recorded: i64 = c
        .query_one(
            "SELECT coalesce(sum(amount), 0)::bigint FROM drip.debts",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        recorded, added,
        "every accepted debt recorded once, no others"
    );
    let running: i64 = c
        .query_one("SELECT unit_debt FROM drip.sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        running, recorded,
        "the session's running total is the debts' sum"
    );
    let row = c
        .query_one(
            "SELECT due, channel_amount FROM drip.amount_due($1)",
            &[&token],
        )
        .await
        .unwrap();
    let (due, amount): (i64, i64) = (row.get(0), row.get(1));
    // One charged interval (33,334) plus the next one's headroom must fit.
    assert!(
        recorded + 2 * 33_334 <= amount,
        "{recorded} of unit debt in a {amount} channel"
    );
    assert_eq!(due, recorded + 33_334);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweeps_at_once_judge_each_session_once() {
    let db = TestDb::new("sweep_race").await;
    let payer = Seed::from_entropy([0x63; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    let sessions = 40u8;
    for n in 0..sessions {
        active_session(&db.client().await, &payer, &format!("s{n}"), [n; 32]).await;
    }
    let c = db.client().await;
    c.batch_execute("UPDATE drip.terms SET past_due_limit = 100")
        .await
        .unwrap();
    // Both sweeps look 61 s ahead: every session's first interval has ended unpaid.
    let sweep = |url: String| async move {
        let c = drip_tests::connect(&url).await;
        let row = c
            .query_one(
                "SELECT checked, struck FROM drip.sweep(now() + interval '61 seconds')",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i32>(0), row.get::<_, i32>(1))
    };
    let (a, b) = tokio::join!(
        tokio::spawn(sweep(db.url.clone())),
        tokio::spawn(sweep(db.url.clone()))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.0 + b.0,
        i32::from(sessions),
        "each session checked by exactly one sweep"
    );
    assert_eq!(a.1 + b.1, i32::from(sessions));
    let strikes: Vec<i32> = c
        .query(
            "SELECT past_due_strikes FROM drip.sessions ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        strikes.iter().all(|s| *s == 1),
        "one strike each, never two: {strikes:?}"
    );
}

/// A fresh database with one active session on CHANNEL: a connection,
/// the payer's Ed25519 key (from `seed`) and the session's drip token.
async fn live_session(test: &str, seed: u8) -> (TestDb, tokio_postgres::Client, KeyPair, String) {
    let db = TestDb::new(test).await;
    let c = db.client().await;
    let payer = Seed::from_entropy([seed; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    let token = active_session(&c, &payer, test, CHANNEL).await;
    (db, c, payer, token)
}

/// (checked, ended) of a sweep 10 years ahead: every session is past its
/// claim deadline.
async fn sweep_far_ahead(c: &tokio_postgres::Client) -> (i32, i32) {
    let row = c
        .query_one(
            "SELECT checked, ended FROM drip.sweep(now() + interval '10 years')",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_session_past_its_deadline_ends_whatever_its_payers_hold_open() {
    let (db, c, payer, token) = live_session("sweep_held", 0x62).await;

    // A caller leaves its transaction open after a bad claim: it took no
    // lock, and the sweep ends the session.
    let flooder = db.client().await;
    flooder.batch_execute("BEGIN").await.unwrap();
    let bad = flooder
        .query_one(
            "SELECT reason::text AS reason FROM drip.pay($1, 1, $2)",
            &[&token, &vec![0u8; 64]],
        )
        .await
        .unwrap();
    assert_eq!(
        bad.get::<_, Option<String>>(0).as_deref(),
        Some("bad_signature")
    );
    assert_eq!(sweep_far_ahead(&c).await, (1, 1));
    flooder.batch_execute("ROLLBACK").await.unwrap();

    // A good claim's transaction left open holds the lock: the sweep waits
    // a bounded while, then leaves the session for a later sweep, which
    // ends it once the lock is gone.
    let token = active_session(&c, &payer, "held-2", [0x5E; 32]).await;
    let holder = db.client().await;
    holder.batch_execute("BEGIN").await.unwrap();
    let sig = sign_claim(&payer, &Hash256([0x5E; 32]), Drops::new(5_000));
    let good = holder
        .query_one(
            "SELECT accepted FROM drip.pay($1, 5000, $2)",
            &[&token, &sig],
        )
        .await
        .unwrap();
    assert!(good.get::<_, bool>(0));
    assert_eq!(sweep_far_ahead(&c).await, (0, 0));
    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(sweep_far_ahead(&c).await, (1, 1));
    let state: String = c
        .query_one("SELECT state::text FROM drip.amount_due($1)", &[&token])
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "closing");
}

#[tokio::test]
async fn no_payment_is_taken_past_the_claim_deadline() {
    let (_db, c, payer, token) = live_session("pay_late", 0x63).await;
    let sig = sign_claim(&payer, &Hash256(CHANNEL), Drops::new(1_000));
    // A claim window as long as the session: its deadline is now.
    c.batch_execute("UPDATE drip.terms SET min_settle_delay_secs = 3600, claim_window_secs = 1800")
        .await
        .unwrap();
    let row = c
        .query_one(
            "SELECT accepted, reason::text AS reason FROM drip.pay($1, 1000, $2)",
            &[&token, &sig],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, bool>(0),
            row.get::<_, Option<String>>(1).as_deref()
        ),
        (false, Some("not_active"))
    );
    let best: i64 = c
        .query_one("SELECT paid FROM drip.amount_due($1)", &[&token])
        .await
        .unwrap()
        .get(0);
    assert_eq!(best, 0);
}

#[tokio::test]
async fn terms_leave_time_to_claim_before_a_payer_can_close() {
    let db = TestDb::new("terms_settle").await;
    let c = db.client().await;
    for (settle, window) in [(0, 0), (300, 300), (359, 300), (60, 30)] {
        let e = c
            .execute(
                "UPDATE drip.terms SET min_settle_delay_secs = $1, claim_window_secs = $2",
                &[&settle, &window],
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.code(),
            Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE),
            "{settle} {window}"
        );
    }
    c.execute(
        "UPDATE drip.terms SET min_settle_delay_secs = 360, claim_window_secs = 300",
        &[],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_agreement_naming_another_sessions_token_is_refused() {
    let db = TestDb::new("agree_token").await;
    let c = db.client().await;
    drip_tests::test_terms(&c).await;
    let mine: String = c
        .query_one("SELECT drip_token FROM drip.create_session('mine')", &[])
        .await
        .unwrap()
        .get(0);
    let theirs: String = c
        .query_one("SELECT drip_token FROM drip.create_session('theirs')", &[])
        .await
        .unwrap()
        .get(0);
    let pid: String = c
        .query_one("SELECT proposal_id FROM drip.inquire($1)", &[&mine])
        .await
        .unwrap()
        .get(0);
    let tx = vec![0xABu8; 32];
    let e = c
        .query_one(
            "SELECT * FROM drip.submit_agreement($1, $2, $3)",
            &[&pid, &tx, &theirs],
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::NO_DATA_FOUND)
    );
    let state: String = c
        .query_one("SELECT state::text FROM drip.amount_due($1)", &[&mine])
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "created");
    let ok: bool = c
        .query_one(
            "SELECT accepted FROM drip.submit_agreement($1, $2, $3)",
            &[&pid, &tx, &mine],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payer_holding_its_session_busy_still_gets_its_strikes() {
    let (db, c, _payer, token) = live_session("sweep_busy", 0x64).await;
    // Four connections take the session's lock back to back (a refresh
    // inquiry locks an active session), as a payer looping on it would.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (url, token, stop) = (db.url.clone(), token.clone(), stop.clone());
        loops.push(tokio::spawn(async move {
            let c = drip_tests::connect(&url).await;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.execute("SELECT drip.refresh_inquire($1)", &[&token])
                    .await
                    .unwrap();
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // One interval ended unpaid: a strike, however busy the session is.
    let row = c
        .query_one(
            "SELECT checked, struck FROM drip.sweep(now() + interval '61 seconds')",
            &[],
        )
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }
    assert_eq!((row.get::<_, i32>(0), row.get::<_, i32>(1)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_passed_during_the_lock_wait_refuses_the_payment() {
    let (db, _c, payer, token) = live_session("pay_wait_deadline", 0x65).await;
    // Another transaction holds the session; meanwhile the channel's
    // Expiration moves to now (as a close request on the ledger would).
    let holder = db.client().await;
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT FROM drip.sessions WHERE drip_token = '{token}' FOR UPDATE;
             UPDATE drip.channels SET expiration = now() WHERE channel_id = '\\x{}'",
            hex::encode(CHANNEL)
        ))
        .await
        .unwrap();
    let sig = sign_claim(&payer, &Hash256(CHANNEL), Drops::new(1_000));
    let url = db.url.clone();
    let token2 = token.clone();
    let paying = tokio::spawn(async move {
        let c = drip_tests::connect(&url).await;
        let row = c
            .query_one(
                "SELECT accepted, reason::text AS reason FROM drip.pay($1, 1000, $2)",
                &[&token2, &sig],
            )
            .await
            .unwrap();
        (row.get::<_, bool>(0), row.get::<_, Option<String>>(1))
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(paying.await.unwrap(), (false, Some("not_active".into())));
}
