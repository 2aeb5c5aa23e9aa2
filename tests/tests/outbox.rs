//! The outbox as the ledger worker drives it, through the SQL API: every
//! job ends (done, failed with a reason, or retried after a backoff), a
//! failing job never holds up another, results are compare-and-set on the
//! transaction followed, a channel's close records what the ledger paid
//! and any loss, and a closing channel keeps a live path to its claim.

use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyType, Seed};
use drip_tests::{active_session, agreed_session, describe, test_terms, TestDb, SERVER};
use tokio_postgres::{Client, Row};

const CHANNEL: [u8; 32] = [0xCA; 32];

async fn job(c: &Client, id: i64) -> Row {
    c.query_one(
        "SELECT state::text, last_error, failures, tx_hash, not_before > now() AS waiting
         FROM drip.outbox WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap()
}

/// The job ids `take_outbox` hands out now (taken and released).
async fn takeable(c: &Client) -> Vec<i64> {
    let rows = c
        .query("SELECT id FROM drip.take_outbox(100, 0) ORDER BY id", &[])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// A session whose agreement waits for its ledger check: its verify job.
async fn pending(c: &Client, web: &str, tx: u8) -> (String, i64) {
    let (_, pid) = agreed_session(c, web, &[tx; 32]).await;
    let id: i64 = c
        .query_one("SELECT id FROM drip.outbox WHERE proposal_id = $1", &[&pid])
        .await
        .unwrap()
        .get(0);
    (pid, id)
}

async fn confirm(c: &Client, pid: &str, tx: u8, channel: [u8; 32]) -> (bool, Option<String>) {
    let key = Seed::from_entropy([0x11; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    let r = c
        .query_one(
            &format!(
                "SELECT accepted, reason::text AS reason FROM drip.confirm_channel($1, $2, $3, 'rPayer', $4,
                 100000000, 1800, '{SERVER}', NULL, NULL, NULL, $1)"
            ),
            &[
                &pid,
                &vec![tx; 32],
                &channel.to_vec(),
                &key.public_key().as_bytes().to_vec(),
            ],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

#[tokio::test]
async fn a_session_destroyed_while_pending_ends_its_verify_job() {
    let db = TestDb::new("outbox_destroyed_pending").await;
    let c = db.client().await;
    test_terms(&c).await;
    let (pid, id) = pending(&c, "web-gone", 0xA1).await;
    c.execute("SELECT drip.destroy_session('web-gone')", &[])
        .await
        .unwrap();
    assert_eq!(
        confirm(&c, &pid, 0xA1, CHANNEL).await,
        (false, Some("not_pending".into()))
    );
    let j = job(&c, id).await;
    assert_eq!(j.get::<_, String>(0), "done");
    assert_eq!(
        j.get::<_, Option<String>>(1).as_deref(),
        Some("not_pending")
    );
    assert!(takeable(&c).await.is_empty(), "nothing left to take");
}

#[tokio::test]
async fn a_channel_already_held_is_refused_not_raised() {
    let db = TestDb::new("outbox_channel_in_use").await;
    let c = db.client().await;
    test_terms(&c).await;
    let (first, _) = pending(&c, "web-first", 0xB1).await;
    assert_eq!(confirm(&c, &first, 0xB1, CHANNEL).await, (true, None));
    // Another session's agreement names the same channel: a refusal, and
    // its job ends (a unique violation would roll back and leave it first
    // in line for ever).
    let (second, id) = pending(&c, "web-second", 0xB2).await;
    assert_eq!(
        confirm(&c, &second, 0xB2, CHANNEL).await,
        (false, Some("channel_in_use".into()))
    );
    assert_eq!(job(&c, id).await.get::<_, String>(0), "done");
    let state: String = c
        .query_one(
            "SELECT state::text FROM drip.get_session('web-second')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "created", "the wallet may agree again");
}

#[tokio::test]
async fn a_failing_job_backs_off_never_delays_the_next_and_is_given_up() {
    let db = TestDb::new("outbox_poison").await;
    let c = db.client().await;
    test_terms(&c).await;
    let (pid, poisoned) = pending(&c, "web-poison", 0xC1).await;
    let (_, next) = pending(&c, "web-next", 0xC2).await;
    assert_eq!(takeable(&c).await, vec![poisoned, next]);

    // The first job's attempt raised: recorded apart, with a backoff.
    let state: String = c
        .query_one(
            "SELECT drip.outbox_failed($1, $2, 'ledger unreachable')::text",
            &[&poisoned, &vec![0xC1u8; 32]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "queued");
    let j = job(&c, poisoned).await;
    assert_eq!(j.get::<_, i32>(2), 1);
    assert!(j.get::<_, bool>(4), "waits out a backoff");
    assert_eq!(takeable(&c).await, vec![next], "the next job goes first");

    // A report about another transaction changes nothing.
    let stale: Option<String> = c
        .query_one(
            "SELECT drip.outbox_failed($1, $2, 'x')::text",
            &[&poisoned, &vec![0xEEu8; 32]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stale, None);

    // Failing again and again: given up after ten, with its reason, shown
    // in the backlog, and the agreement refused so the wallet may retry.
    for _ in 1..10 {
        c.execute(
            "SELECT drip.outbox_failed($1, $2, 'ledger unreachable')",
            &[&poisoned, &vec![0xC1u8; 32]],
        )
        .await
        .unwrap();
    }
    let j = job(&c, poisoned).await;
    assert_eq!(j.get::<_, String>(0), "failed");
    assert_eq!(j.get::<_, i32>(2), 10);
    let backlog: (i64, i32) = c
        .query_one(
            "SELECT jobs, max_failures FROM drip.outbox_backlog
             WHERE kind = 'verify_channel' AND state = 'failed'",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(backlog, (1, 10));
    let agreement: (Option<bool>, Option<String>, String) = c
        .query_one(
            "SELECT accepted, reason::text AS reason, state::text FROM drip.agreement_state($1)",
            &[&pid],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    assert_eq!(agreement.0, Some(false));
    assert!(
        agreement
            .1
            .as_deref()
            .unwrap_or("")
            .starts_with("not_checked"),
        "{agreement:?}"
    );
    assert_eq!(agreement.2, "created");
}

/// A destroyed active session's claim-and-close job, and the session's
/// best claim (paid by `payer`).
async fn closing(c: &Client, web: &str) -> (i64, i64) {
    let payer = Seed::from_entropy([0x22; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    let token = active_session(c, &payer, web, CHANNEL).await;
    let best = 50_000i64;
    let signature = sign_claim(&payer, &Hash256(CHANNEL), Drops::new(50_000));
    let accepted: bool = c
        .query_one(
            "SELECT accepted FROM drip.pay($1, $2, $3)",
            &[&token, &best, &signature.to_vec()],
        )
        .await
        .unwrap()
        .get(0);
    assert!(accepted);
    c.execute("SELECT drip.destroy_session($1)", &[&web])
        .await
        .unwrap();
    let id: i64 = c
        .query_one(
            "SELECT id FROM drip.outbox WHERE kind = 'claim_and_close'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    (id, best)
}

#[tokio::test]
async fn a_late_worker_cannot_undo_a_newer_signing() {
    let db = TestDb::new("outbox_cas").await;
    let c = db.client().await;
    let (id, _) = closing(&c, "web-cas").await;
    let (h1, h2) = (vec![0x01u8; 32], vec![0x02u8; 32]);
    // Worker A signs h1 and waits on it.
    c.execute(
        "SELECT drip.outbox_submitted($1, $2, 100, '\\x00')",
        &[&id, &h1],
    )
    .await
    .unwrap();
    // A second transaction for the job while h1 is in flight is refused.
    let twice = c
        .execute(
            "SELECT drip.outbox_submitted($1, $2, 100, '\\x00')",
            &[&id, &h2],
        )
        .await
        .unwrap_err();
    let detail = twice.as_db_error().and_then(|e| e.detail()).unwrap_or("");
    assert!(detail.contains("in flight"), "{}", describe(&twice));
    // A's lease passes; worker B follows h1, finds it expired, and signs h2.
    let requeued: bool = c
        .query_one("SELECT drip.outbox_requeue($1, $2, 'expired')", &[&id, &h1])
        .await
        .unwrap()
        .get(0);
    assert!(requeued);
    c.execute(
        "SELECT drip.outbox_submitted($1, $2, 120, '\\x00')",
        &[&id, &h2],
    )
    .await
    .unwrap();
    // A, late, reports h1 expired, then failed, then done: none of it lands.
    for sql in [
        "SELECT drip.outbox_requeue($1, $2, 'expired')",
        "SELECT drip.outbox_done($1, $2, 'tecNO_TARGET')",
        "SELECT drip.outbox_done($1, $2, NULL)",
    ] {
        let applied: bool = c.query_one(sql, &[&id, &h1]).await.unwrap().get(0);
        assert!(!applied, "{sql}");
    }
    let j = job(&c, id).await;
    assert_eq!(j.get::<_, String>(0), "submitted");
    assert_eq!(j.get::<_, Option<Vec<u8>>>(3), Some(h2.clone()));
    // B's own result lands.
    let applied: bool = c
        .query_one("SELECT drip.outbox_done($1, $2, NULL)", &[&id, &h2])
        .await
        .unwrap()
        .get(0);
    assert!(applied);
    assert_eq!(job(&c, id).await.get::<_, String>(0), "done");
}

#[tokio::test]
async fn claims_are_retried_never_given_up_and_requeued_when_closing() {
    let db = TestDb::new("outbox_claims_retry").await;
    let c = db.client().await;
    let (id, _) = closing(&c, "web-retry").await;
    for n in 0..15u8 {
        let hash = vec![n + 1; 32];
        c.execute(
            "SELECT drip.outbox_submitted($1, $2, 100, '\\x00')",
            &[&id, &hash],
        )
        .await
        .unwrap();
        let applied: bool = c
            .query_one(
                "SELECT drip.outbox_requeue($1, $2, 'tecUNFUNDED_PAYMENT')",
                &[&id, &hash],
            )
            .await
            .unwrap()
            .get(0);
        assert!(applied);
    }
    let j = job(&c, id).await;
    assert_eq!(j.get::<_, String>(0), "queued", "a claim is never given up");
    assert_eq!(j.get::<_, i32>(2), 15);
    let wait: f64 = c
        .query_one(
            "SELECT extract(epoch FROM not_before - now())::float8 FROM drip.outbox WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(wait <= 60.0, "a claim waits a minute at most: {wait}");

    // A malformed claim ends the job; the channel's claim is queued again
    // by the close request, and by the operator, once.
    c.execute("SELECT drip.outbox_done($1, NULL, 'temBAD_AMOUNT')", &[&id])
        .await
        .unwrap();
    assert_eq!(job(&c, id).await.get::<_, String>(0), "failed");
    let open =
        "SELECT count(*) FROM drip.outbox WHERE kind = 'claim_and_close' AND state = 'queued'";
    assert_eq!(c.query_one(open, &[]).await.unwrap().get::<_, i64>(0), 0);
    c.execute(
        "SELECT drip.record_channel_closing($1, now() + interval '1 hour')",
        &[&CHANNEL.to_vec()],
    )
    .await
    .unwrap();
    assert_eq!(c.query_one(open, &[]).await.unwrap().get::<_, i64>(0), 1);
    let again: i64 = c
        .query_one("SELECT drip.requeue_claim($1)", &[&CHANNEL.to_vec()])
        .await
        .unwrap()
        .get(0);
    assert_ne!(again, id);
    assert_eq!(
        c.query_one(open, &[]).await.unwrap().get::<_, i64>(0),
        1,
        "one open claim per channel"
    );
}

#[tokio::test]
async fn a_close_records_what_the_ledger_paid_and_the_loss() {
    let db = TestDb::new("outbox_loss").await;
    let c = db.client().await;
    let (id, best) = closing(&c, "web-loss").await;
    // The claim reached a channel past its expiry: the ledger closed it
    // and paid nothing.
    let state: String = c
        .query_one(
            "SELECT drip.record_channel_closed($1, 0, 'expired_before_claim')::text",
            &[&CHANNEL.to_vec()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "closed");
    let (paid, lost, reason): (i64, i64, String) = c
        .query_one(
            "SELECT c.ledger_balance, l.amount, l.reason FROM drip.channels c
             JOIN drip.losses l USING (channel_id) WHERE c.channel_id = $1",
            &[&CHANNEL.to_vec()],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    assert_eq!(
        (paid, lost, reason.as_str()),
        (0, best, "expired_before_claim")
    );
    assert_eq!(job(&c, id).await.get::<_, String>(0), "done");
    let by_reason: i64 = c
        .query_one(
            "SELECT drops FROM drip.losses_by_reason WHERE reason = 'expired_before_claim'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(by_reason, best);
    // Said twice (the watch and the worker both saw it): recorded once.
    c.execute(
        "SELECT drip.record_channel_closed($1, 0, 'expired_before_claim')",
        &[&CHANNEL.to_vec()],
    )
    .await
    .unwrap();
    let losses: i64 = c
        .query_one("SELECT count(*) FROM drip.losses", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(losses, 1);
    // A closed channel has no claim to queue.
    let e = c
        .query_one("SELECT drip.requeue_claim($1)", &[&CHANNEL.to_vec()])
        .await
        .unwrap_err();
    assert!(describe(&e).contains("channel closed"), "{}", describe(&e));
}
