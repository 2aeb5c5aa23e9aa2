//! The whole drip flow over gRPC, through the real sidecar (TLS, bearer
//! tokens), the real extension in the private cluster, and a real devnet on
//! loopback: a payer opens a channel for the proposal, pays claims, the
//! merchant adds unit debt and destroys the session, and the sidecar redeems
//! the best claim on the ledger; a killed sidecar and a payer's close.

use std::sync::atomic::Ordering;
use std::time::Duration;

use drip_core::{Drops, KeyType};
use drip_sidecar::proto::drip_client::DripClient;
use drip_sidecar::proto::{
    AddUnitDebtRequest, AgreementRequest, AmountDueRequest, CreateSessionRequest, Denial,
    DestroySessionRequest, GetSessionRequest, InquireRequest, SessionState, WatchSessionRequest,
};
use drip_sidecar::Sidecar;
use drip_tests::sidecar::{
    api, claim, closed, closed_with, destroy, finish, flow, key, must, open, open_and_pay, session,
    sidecar, submitter, until, world, world_with, Bearer, World, APP_TOKEN, MERCHANT_TOKEN,
};
use serde_json::json;
use tonic::transport::Channel;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_flow_over_grpc_for_both_key_types() {
    let w = world("grpc_flow").await;
    flow(&w, "web-ed25519", key(0x21, KeyType::Ed25519)).await;
    flow(&w, "web-secp256k1", key(0x22, KeyType::Secp256k1)).await;
    // What happened shows in the metrics.
    let text = reqwest::get(format!(
        "http://{}/metrics",
        sidecar(&w).metrics_addr.unwrap()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} not in:\n{text}"))
    };
    // Per session: two accepted payments, one stale, one forged.
    assert_eq!(value("drip_claims_total{outcome=\"accepted\"}"), 4.0);
    assert_eq!(value("drip_claims_total{outcome=\"not_above_best\"}"), 2.0);
    assert_eq!(value("drip_claims_total{outcome=\"bad_signature\"}"), 2.0);
    assert_eq!(value("drip_ledger_results_total{code=\"tesSUCCESS\"}"), 2.0);
    assert_eq!(
        value("drip_grpc_request_seconds_count{method=\"Pay\"}"),
        8.0
    );
    assert!(text.contains("drip_outbox_jobs{"), "{text}");
    // No false alarms: drip redeemed everything itself.
    assert!(!text.contains("drip_ledger_drift_total{"), "{text}");
    finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_without_good_credentials_or_tls_are_refused() {
    let w = world("grpc_auth").await;
    let req = || CreateSessionRequest {
        session_id: "web-auth".into(),
    };
    let none = api(&w, None).await.create_session(req()).await.unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated);
    let wrong = api(&w, Some("not-the-token-at-all-000"))
        .await
        .create_session(req())
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let refused = api(&w, Some(APP_TOKEN))
        .await
        .destroy_session(DestroySessionRequest {
            session_id: "web-auth".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // The app token (shared by every wallet) reads no session's drip token.
    let get = || GetSessionRequest {
        session_id: "web-auth".into(),
    };
    let mut merchant = api(&w, Some(MERCHANT_TOKEN)).await;
    let mine = merchant
        .create_session(req())
        .await
        .unwrap()
        .into_inner()
        .drip_token;
    let theirs = merchant
        .create_session(CreateSessionRequest {
            session_id: "web-auth-2".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .drip_token;
    let app_get = api(&w, Some(APP_TOKEN)).await.get_session(get()).await;
    assert_eq!(app_get.unwrap_err().code(), Code::PermissionDenied);
    // A payer's own drip token authorises its own session's calls, and
    // nothing else.
    let mut payer = api(&w, Some(Box::leak(mine.clone().into_boxed_str()))).await;
    let due = |t: &str| AmountDueRequest {
        drip_token: t.into(),
    };
    payer.amount_due(due(&mine)).await.unwrap();
    let other = payer.amount_due(due(&theirs)).await.unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let watch = payer
        .watch_session(WatchSessionRequest {
            drip_token: theirs.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(watch.code(), Code::PermissionDenied);
    assert_eq!(
        payer.get_session(get()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // A proposal id is public once its channel's memo is on the ledger:
    // another session's bearer cannot agree to it with a junk transaction.
    let proposal = payer
        .inquire(InquireRequest {
            drip_token: mine.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut intruder = api(&w, Some(Box::leak(theirs.clone().into_boxed_str()))).await;
    let junk = |drip_token: &str| AgreementRequest {
        proposal_id: proposal.proposal_id.clone(),
        tx_hash: "AB".repeat(32),
        wait: false,
        wait_seconds: 0,
        drip_token: drip_token.into(),
    };
    for (token, code) in [
        (theirs.as_str(), Code::NotFound),
        (mine.as_str(), Code::PermissionDenied),
        ("", Code::InvalidArgument),
    ] {
        let e = intruder.submit_agreement(junk(token)).await.unwrap_err();
        assert_eq!(e.code(), code, "{}", e.message());
    }
    // Nor through the app token (shared by wallets' proxies) without the
    // session's drip token.
    let e = api(&w, Some(APP_TOKEN))
        .await
        .submit_agreement(junk(""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    let state = payer
        .amount_due(due(&mine))
        .await
        .unwrap()
        .into_inner()
        .state;
    assert_eq!(state, i32::from(SessionState::Created));
    assert_eq!(
        payer.create_session(req()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // Plaintext HTTP/2 to the TLS port gets nowhere.
    let plain = Channel::from_shared(format!("http://{}", sidecar(&w).grpc_addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2))
        .connect()
        .await;
    if let Ok(channel) = plain {
        let r = DripClient::with_interceptor(channel, Bearer(Some(MERCHANT_TOKEN)))
            .create_session(req())
            .await;
        assert!(r.is_err(), "plaintext call answered: {r:?}");
    }
    // Bad input is INVALID_ARGUMENT with the extension's words.
    let bad = api(&w, Some(MERCHANT_TOKEN))
        .await
        .create_session(CreateSessionRequest {
            session_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{}", bad.message());
    assert!(bad.message().contains("session_id"), "{}", bad.message());
    finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sidecar_killed_mid_claim_is_followed_up_without_paying_twice() {
    // A worker's lease on its job is what it promised when it took it.
    let mut w = world_with("grpc_crash", |c| c.outbox_lease = Duration::from_secs(2)).await;
    let (channel, best) = open_and_pay(&w, "web-crash", key(0x23, KeyType::Ed25519)).await;
    let before = w
        .genesis
        .client()
        .account_info(&w.merchant.account_id())
        .await
        .unwrap();
    // Ledgers stop closing, so the claim cannot validate yet.
    w.closing.store(false, Ordering::SeqCst);
    destroy(&w, "web-crash").await;
    let db = w.db.client().await;
    let mut submitted = false;
    for _ in 0..200 {
        let state: String = db
            .query_one(
                "SELECT state::text FROM drip.outbox WHERE kind = 'claim_and_close'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if state == "submitted" {
            submitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(submitted, "the claim was recorded as submitted");
    // Killed while waiting for validation; a new sidecar takes over once
    // the lease runs out, and ledgers close again.
    w.sidecar.take().unwrap().abort();
    w.sidecar = Some(Sidecar::start(w.config.clone()).await.unwrap());
    w.closing.store(true, Ordering::SeqCst);
    closed_with(&w, "web-crash", &channel, best, before).await;
    finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payer_asking_to_close_is_answered_with_the_best_claim() {
    // The periodic watch is an hour: the ledger stream must bring the news.
    let w = world_with("grpc_payer_close", |c| {
        c.watch_every = Duration::from_secs(3600)
    })
    .await;
    let payer = key(0x24, KeyType::Secp256k1);
    let (channel, best) = open_and_pay(&w, "web-payer-close", payer.clone()).await;
    let before = w
        .genesis
        .client()
        .account_info(&w.merchant.account_id())
        .await
        .unwrap();
    // The payer asks to close: the ledger sets an Expiration a settle delay
    // away, and the sidecar must redeem before then.
    let close = must(
        &submitter(&w.devnet, payer),
        json!({"TransactionType": "PaymentChannelClaim", "Channel": channel.to_string(), "Flags": 0x0002_0000u32}),
    )
    .await;
    // (Read from the request's metadata: the sidecar may have closed the
    // channel already.)
    let expiration = close["meta"]["AffectedNodes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|n| {
            let m = n.get("ModifiedNode")?;
            (m["LedgerEntryType"] == "PayChannel")
                .then(|| m["FinalFields"]["Expiration"].as_u64())?
        });
    assert!(expiration.is_some(), "the close request set an Expiration");
    closed_with(&w, "web-payer-close", &channel, best, before).await;
    let s = session(&w, "web-payer-close").await;
    assert_eq!(s.end_reason, "payer_closing");
    finish(w).await;
}

/// A close request made while no sidecar ran, found with the ledger's clock
/// moved to shortly before the channel may expire: the best claim is still
/// redeemed, the payer gets exactly the rest, and expiry takes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_close_request_found_late_is_claimed_before_the_ledger_expires_it() {
    let mut w = world("grpc_expiry").await;
    let payer = key(0x29, KeyType::Ed25519);
    let (channel, best) = open_and_pay(&w, "web-expiry", payer.clone()).await;
    let ledger = w.genesis.client().clone();
    let before = ledger.account_info(&w.merchant.account_id()).await.unwrap();
    w.sidecar.take().unwrap().shutdown().await;
    must(
        &submitter(&w.devnet, payer.clone()),
        json!({"TransactionType": "PaymentChannelClaim", "Channel": channel.to_string(), "Flags": 0x0002_0000u32}),
    )
    .await;
    let entry = ledger.channel(&channel).await.unwrap().unwrap();
    let expiration = entry
        .expiration
        .expect("the close request set an Expiration");
    let (_, payer_before) = ledger.account_info(&payer.account_id()).await.unwrap();

    // Five minutes of ledger time left (ledgers close ten times a second
    // here, each at least a second after its parent: half a minute of wall
    // time) when a sidecar starts again.
    w.closing.store(false, Ordering::SeqCst);
    let target = expiration - 300;
    assert!(
        target > w.devnet.last_close_time(),
        "the ledger is not there yet by itself"
    );
    assert!(w.devnet.close_at(target) >= target);
    assert!(ledger.channel(&channel).await.unwrap().is_some());
    w.sidecar = Some(Sidecar::start(w.config.clone()).await.unwrap());
    w.closing.store(true, Ordering::SeqCst);
    closed_with(&w, "web-expiry", &channel, best, before).await;
    assert_eq!(session(&w, "web-expiry").await.end_reason, "payer_closing");

    // Past the Expiration: the channel is gone, and the payer has what the
    // claim left, to the drop.
    w.devnet.advance_time(600);
    assert!(ledger.channel(&channel).await.unwrap().is_none());
    let (_, payer_after) = ledger.account_info(&payer.account_id()).await.unwrap();
    assert_eq!(
        payer_after.get(),
        payer_before.get() + entry.amount.get() - best,
        "all that the claim left came back"
    );
    finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sidecars_on_one_outbox_redeem_each_claim_once() {
    let mut w = world("fault_two").await;
    let second = Sidecar::start(w.config.clone()).await.unwrap();
    let mut sessions = Vec::new();
    for n in 0..4u8 {
        let web = format!("web-two-{n}");
        let kt = if n % 2 == 0 {
            KeyType::Ed25519
        } else {
            KeyType::Secp256k1
        };
        let (channel, best) = open_and_pay(&w, &web, key(0x40 + n, kt)).await;
        sessions.push((web, channel, best));
    }
    let (seq, balance) = w
        .genesis
        .client()
        .account_info(&w.merchant.account_id())
        .await
        .unwrap();
    let db = w.db.client().await;
    for (web, _, _) in &sessions {
        db.execute("SELECT drip.destroy_session($1)", &[web])
            .await
            .unwrap();
    }
    // Each session closes; across them, one claim transaction each.
    let mut expected_seq = seq;
    let mut expected_balance = balance.get();
    for (web, channel, best) in &sessions {
        assert_eq!(closed(&w, web, channel).await, *best);
        expected_seq += 1;
        expected_balance += best;
    }
    let (seq_after, after) = w
        .genesis
        .client()
        .account_info(&w.merchant.account_id())
        .await
        .unwrap();
    assert_eq!(
        seq_after, expected_seq,
        "one claim transaction per channel, none twice"
    );
    let fees = expected_balance - after.get();
    assert!(fees > 0 && fees <= 4 * 10_000, "fees {fees}");
    second.shutdown().await;
    w.sidecar.take().unwrap().shutdown().await;
    finish(w).await;
}

/// Destroy `web` with the devnet answering `code` to the next submission;
/// the claim job's final state and error once it settles.
async fn destroy_with_fault(w: &World, web: &str, code: &str) -> (String, Option<String>) {
    w.devnet
        .call("devnet_fail", json!({"engine_result": code, "count": 1}))
        .unwrap();
    let db = w.db.client().await;
    db.execute("SELECT drip.destroy_session($1)", &[&web])
        .await
        .unwrap();
    for _ in 0..200 {
        let r = db
            .query_one(
                "SELECT o.state::text, o.last_error FROM drip.outbox o
                 JOIN drip.sessions s ON s.id = o.session
                 WHERE s.session_id = $1 AND o.kind = 'claim_and_close'",
                &[&web],
            )
            .await
            .unwrap();
        let state: String = r.get(0);
        if state == "done" || state == "failed" {
            return (state, r.get(1));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the claim for {web} did not settle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passing_refusals_end_in_one_redeemed_claim() {
    let w = world("grpc_retryable").await;
    for (n, code) in ["telINSUF_FEE_P", "terQUEUED", "tefPAST_SEQ", "terPRE_SEQ"]
        .into_iter()
        .enumerate()
    {
        let web = format!("web-{code}");
        let (channel, best) = open_and_pay(&w, &web, key(0x50 + n as u8, KeyType::Ed25519)).await;
        let before = w
            .genesis
            .client()
            .account_info(&w.merchant.account_id())
            .await
            .unwrap();
        let (state, error) = destroy_with_fault(&w, &web, code).await;
        assert_eq!(state, "done", "{code}: {error:?}");
        let fee = closed_with(&w, &web, &channel, best, before).await;
        if code == "telINSUF_FEE_P" {
            // rippled held the refused claim and applied it with the next
            // ledger; drip followed it rather than sign the close again.
            assert_eq!(fee, 10, "the held claim applied, not a second one");
        }
    }
    finish(w).await;
}

/// A claim whose transaction failed with a tec code (the fee spent, nothing
/// else) is signed again and redeemed; a malformed one (tem) is recorded
/// failed and redeemed when the operator queues the claim again. Never taken
/// for success, never left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_results_are_retried_or_recorded_and_never_taken_for_success() {
    let w = world("grpc_failing").await;
    for (n, code) in [
        "tecNO_TARGET",
        "tecUNFUNDED_PAYMENT",
        "tecNO_PERMISSION",
        "temBAD_AMOUNT",
    ]
    .into_iter()
    .enumerate()
    {
        let web = format!("web-{code}");
        let (channel, best) = open_and_pay(&w, &web, key(0x60 + n as u8, KeyType::Secp256k1)).await;
        let before = w
            .genesis
            .client()
            .account_info(&w.merchant.account_id())
            .await
            .unwrap();
        let db = w.db.client().await;
        let (state, error) = destroy_with_fault(&w, &web, code).await;
        if code.starts_with("tec") {
            // The retry: one more transaction (the tec one spent its fee
            // and a sequence), and the best claim on the ledger.
            assert_eq!(state, "done", "{code}: {error:?}");
            assert_eq!(closed(&w, &web, &channel).await, best, "{code}");
            let (seq_after, after) = w
                .genesis
                .client()
                .account_info(&w.merchant.account_id())
                .await
                .unwrap();
            assert_eq!(seq_after, before.0 + 2, "{code}: a tec and a success");
            let fees = before.1.get() + best - after.get();
            assert!(fees > 0 && fees <= 20_000, "{code}: {fees}");
            let failures: i32 = db
                .query_one(
                    "SELECT failures FROM drip.outbox WHERE kind = 'claim_and_close' AND channel_id = $1",
                    &[&channel.0.to_vec()],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(failures, 1, "{code}");
            continue;
        }
        assert_eq!(state, "failed", "{code}");
        assert!(
            error.as_deref().unwrap_or("").starts_with(code),
            "{code}: {error:?}"
        );
        // Not closed: the session waits, its channel is still there, and
        // nothing was spent.
        assert!(w
            .genesis
            .client()
            .channel(&channel)
            .await
            .unwrap()
            .is_some());
        let (seq_after, _) = w
            .genesis
            .client()
            .account_info(&w.merchant.account_id())
            .await
            .unwrap();
        assert_eq!(seq_after, before.0, "{code}");
        // The operator queues the claim again; it is redeemed once.
        db.execute("SELECT drip.requeue_claim($1)", &[&channel.0.to_vec()])
            .await
            .unwrap();
        closed_with(&w, &web, &channel, best, before).await;
    }
    finish(w).await;
}

/// The sidecar was down while a payer's close request ran out: its claim
/// reaches a channel past its Expiration, which rippled closes with
/// tesSUCCESS paying nothing. drip records what the ledger paid (nothing
/// more) and the loss with its reason, not the claim as paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_on_an_expired_channel_is_recorded_as_a_loss_not_as_paid() {
    let mut w = world("grpc_expired_claim").await;
    let payer = key(0x2A, KeyType::Ed25519);
    let (channel, best) = open_and_pay(&w, "web-expired", payer.clone()).await;
    let ledger = w.genesis.client().clone();
    let (_, merchant_before) = ledger.account_info(&w.merchant.account_id()).await.unwrap();
    w.sidecar.take().unwrap().shutdown().await;
    must(
        &submitter(&w.devnet, payer.clone()),
        json!({"TransactionType": "PaymentChannelClaim", "Channel": channel.to_string(), "Flags": 0x0002_0000u32}),
    )
    .await;
    let expiration = ledger
        .channel(&channel)
        .await
        .unwrap()
        .unwrap()
        .expiration
        .unwrap();
    // Past the Expiration, with the channel still on the ledger (nobody
    // has sent a transaction on it since).
    w.closing.store(false, Ordering::SeqCst);
    w.devnet.close_at(expiration + 10);
    assert!(ledger.channel(&channel).await.unwrap().is_some());
    w.sidecar = Some(Sidecar::start(w.config.clone()).await.unwrap());
    w.closing.store(true, Ordering::SeqCst);
    let s = until(
        &w,
        "web-expired",
        "the close on the ledger",
        Duration::from_secs(20),
        |s| s.state() == SessionState::Closed,
    )
    .await;
    assert_eq!(s.end_reason, "payer_closing");
    assert!(ledger.channel(&channel).await.unwrap().is_none());
    let db = w.db.client().await;
    let r = db
        .query_one(
            "SELECT c.ledger_balance, l.amount, l.reason FROM drip.channels c
             JOIN drip.losses l USING (channel_id) WHERE c.channel_id = $1",
            &[&channel.0.to_vec()],
        )
        .await
        .unwrap();
    let (paid, lost, reason): (i64, i64, String) = (r.get(0), r.get(1), r.get(2));
    assert_eq!(paid, 0, "the ledger paid nothing");
    assert_eq!(lost, best as i64);
    assert_eq!(reason, "expired_before_claim");
    // And the merchant indeed got nothing but a fee bill.
    let (_, merchant_after) = ledger.account_info(&w.merchant.account_id()).await.unwrap();
    assert!(merchant_after.get() < merchant_before.get());
    finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_hot_wallets_excess_goes_to_the_cold_address_once() {
    let cold = key(0x70, KeyType::Ed25519).account_id();
    let threshold = Drops::new(20_000_000);
    let w = world_with("grpc_offload", |c| {
        c.offload = Some((cold.to_address(), threshold));
        c.offload_every = Duration::from_millis(300);
    })
    .await;
    // The merchant was funded with 50 XRP: 30 XRP less one fee goes out,
    // exactly the threshold stays.
    let client = w.genesis.client();
    let received = offloaded(client, &cold).await;
    let (seq, hot) = client.account_info(&w.merchant.account_id()).await.unwrap();
    assert_eq!(hot, threshold, "the hot wallet keeps the threshold");
    assert_eq!(received.get(), 30_000_000 - 10, "the excess less the fee");
    // Nothing more to send: later runs do nothing.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (seq_later, _) = client.account_info(&w.merchant.account_id()).await.unwrap();
    assert_eq!(seq_later, seq, "no second offload");
    finish(w).await;
}

/// What the cold address received, once it exists (the offload went out).
async fn offloaded(client: &drip_ledger::Client, cold: &drip_core::AccountId) -> Drops {
    for _ in 0..100 {
        if let Ok((_, b)) = client.account_info(cold).await {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cold address was never funded");
}

/// Whatever the threshold, the hot wallet keeps its reserve, a fee for
/// every transaction the outbox still has to send (claims waiting out a
/// backoff here) and what a queued ILP channel create puts in and holds in
/// reserve, so offloading never leaves a claim unpaid for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offload_keeps_the_reserve_and_the_fees_of_queued_work() {
    let cold = key(0x71, KeyType::Ed25519).account_id();
    let mut w = world("grpc_offload_needs").await;
    w.db.client()
        .await
        .batch_execute(
            "INSERT INTO drip.outbox (kind, channel_id, not_before)
             SELECT 'claim', decode(repeat(to_hex(n), 32), 'hex'), now() + interval '1 hour'
             FROM generate_series(17, 19) n;
             INSERT INTO drip.ilp_accounts (account, token_hash) VALUES ('alice', decode(repeat('ab', 32), 'hex'));
             INSERT INTO drip.ilp_outgoing (account, destination, public_key, amount)
             VALUES ('alice', 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', decode('ED' || repeat('01', 32), 'hex'), 1000000);
             INSERT INTO drip.outbox (kind, ilp_account, not_before) VALUES ('ilp_channel', 'alice', now() + interval '1 hour');",
        )
        .await
        .unwrap();
    w.sidecar.take().unwrap().shutdown().await;
    let mut config = w.config.clone();
    config.offload = Some((cold.to_address(), Drops::new(1)));
    config.offload_every = Duration::from_millis(300);
    w.sidecar = Some(Sidecar::start(config).await.unwrap());
    let client = w.genesis.client();
    offloaded(client, &cold).await;
    let state = client.call("server_state", json!({})).await.unwrap();
    let reserve = &state["state"]["validated_ledger"];
    let (base, inc) = (
        reserve["reserve_base"].as_u64().unwrap(),
        reserve["reserve_inc"].as_u64().unwrap(),
    );
    let (_, hot) = client.account_info(&w.merchant.account_id()).await.unwrap();
    assert_eq!(
        hot.get(),
        base + inc + 4 * w.config.max_fee.get() + 1_000_000,
        "the reserve (and the queued channel's), four transactions' fees and the channel's drops stay"
    );
    finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_funds_the_channel_and_extends_the_session() {
    let w = world("grpc_refresh").await;
    let payer = key(0x25, KeyType::Ed25519);
    let (token, channel) = open(&w, "web-refresh", &payer).await;
    let mut wallet = api(&w, Some(APP_TOKEN)).await;
    let before = wallet
        .amount_due(AmountDueRequest {
            drip_token: token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let proposal = wallet
        .refresh_inquire(InquireRequest {
            drip_token: token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proposal.action, "RefreshProposal");
    // The wallet adds the terms' funding (1 XRP) to the channel.
    let fund = must(
        &submitter(&w.devnet, payer),
        json!({"TransactionType": "PaymentChannelFund", "Channel": channel.to_string(), "Amount": "1000000"}),
    )
    .await;
    let refreshed = wallet
        .submit_refresh(AgreementRequest {
            proposal_id: proposal.proposal_id,
            tx_hash: fund["hash"].as_str().unwrap().into(),
            wait: true,
            wait_seconds: 20,
            drip_token: token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(refreshed.accepted, "{refreshed:?}");
    assert_eq!(refreshed.action, "RefreshApproved", "{refreshed:?}");
    let after = wallet
        .amount_due(AmountDueRequest { drip_token: token })
        .await
        .unwrap()
        .into_inner();
    // drip tracks the ledger's new amount: the fund added to it.
    assert_eq!(after.channel_amount, before.channel_amount + 1_000_000);
    let (b, a) = (before.ends_at.unwrap(), after.ends_at.unwrap());
    assert_eq!(a.seconds - b.seconds, 1800, "one more session length");
    finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_due_and_expired_sessions_are_claimed_and_closed() {
    let w = world("grpc_time").await;
    // Time-billed, 1 s intervals over a 6 s session (rate 166,667), two
    // strikes allowed, claim 2 s before the end.
    w.db.client()
        .await
        .batch_execute(
            "UPDATE drip.terms SET payment_type = 'time', polling_interval_secs = 1,
             session_length_secs = 6, past_due_limit = 2, claim_window_secs = 2",
        )
        .await
        .unwrap();
    let mut wallet = api(&w, Some(APP_TOKEN)).await;
    let mut merchant = api(&w, Some(MERCHANT_TOKEN)).await;
    let units = merchant
        .add_unit_debt(AddUnitDebtRequest {
            drip_token: String::new(),
            amount: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(units.denial(), Denial::NotFound);

    // One payer pays the first interval and stops: two unpaid intervals end
    // the session as past due, and the first claim is redeemed.
    let late = key(0x26, KeyType::Ed25519);
    let (late_token, late_channel) = open(&w, "web-late", &late).await;
    let debt = merchant
        .add_unit_debt(AddUnitDebtRequest {
            drip_token: late_token.clone(),
            amount: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        debt.denial(),
        Denial::NotUnitBased,
        "time-billed sessions take no unit debt"
    );
    let first = claim(&late_token, &late, &late_channel, 166_667);
    assert!(wallet.pay(first).await.unwrap().into_inner().accepted);
    let before = w
        .genesis
        .client()
        .account_info(&w.merchant.account_id())
        .await
        .unwrap();
    closed_with(&w, "web-late", &late_channel, 166_667, before).await;
    let ended = session(&w, "web-late").await;
    assert_eq!(ended.end_reason, "past_due");

    // Another pays what is due every 200 ms until drip ends the session
    // inside the claim window: the last accepted claim is what is redeemed.
    let steady = key(0x27, KeyType::Secp256k1);
    let (token, channel) = open(&w, "web-steady", &steady).await;
    let before = w
        .genesis
        .client()
        .account_info(&w.merchant.account_id())
        .await
        .unwrap();
    let mut best = 0;
    for _ in 0..100 {
        let due = wallet
            .amount_due(AmountDueRequest {
                drip_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if due.state() != SessionState::Active {
            break;
        }
        if due.due > best {
            let paid = wallet
                .pay(claim(&token, &steady, &channel, due.due))
                .await
                .unwrap()
                .into_inner();
            if paid.accepted {
                best = due.due;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(best > 166_667, "several intervals were paid");
    closed_with(&w, "web-steady", &channel, best, before).await;
    let ended = session(&w, "web-steady").await;
    assert_eq!(ended.end_reason, "expired");
    finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unit_billing_takes_debts_and_claims_for_them() {
    let w = world("grpc_units").await;
    w.db.client()
        .await
        .batch_execute("UPDATE drip.terms SET payment_type = 'unit'")
        .await
        .unwrap();
    let payer = key(0x28, KeyType::Ed25519);
    let (token, channel) = open(&w, "web-units", &payer).await;
    let mut wallet = api(&w, Some(APP_TOKEN)).await;
    let mut merchant = api(&w, Some(MERCHANT_TOKEN)).await;
    let due = |t: String| AmountDueRequest { drip_token: t };
    assert_eq!(
        wallet
            .amount_due(due(token.clone()))
            .await
            .unwrap()
            .into_inner()
            .due,
        0,
        "no time charge"
    );
    let debt = |amount| AddUnitDebtRequest {
        drip_token: token.clone(),
        amount,
    };
    let added = merchant
        .add_unit_debt(debt(250_000))
        .await
        .unwrap()
        .into_inner();
    assert!(
        added.accepted && added.action == "PurchaseApproved",
        "{added:?}"
    );
    assert_eq!(added.due, 250_000);
    let paid = wallet
        .pay(claim(&token, &payer, &channel, 250_000))
        .await
        .unwrap()
        .into_inner();
    assert!(paid.accepted);
    // The 2 XRP channel holds 1,750,000 more, not one drop above.
    let over = merchant
        .add_unit_debt(debt(1_750_001))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(over.denial(), Denial::ExceedsChannel);
    let full = merchant
        .add_unit_debt(debt(1_750_000))
        .await
        .unwrap()
        .into_inner();
    assert!(full.accepted, "{full:?}");
    assert_eq!(full.due, 2_000_000);
    finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_certificate_from_the_configured_ca_is_the_merchant() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair,
    };
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["merchant-web".to_owned()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca).unwrap();
    let ca_path =
        std::env::temp_dir().join(format!("drip-test-client-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_path, ca.pem()).unwrap();

    let path = ca_path.clone();
    let w = world_with("grpc_mtls", move |c| {
        if let drip_sidecar::config::Tls::SelfSigned { client_ca, .. } = &mut c.tls {
            *client_ca = Some(path);
        }
    })
    .await;
    let server_ca = Certificate::from_pem(sidecar(&w).certificate.clone().unwrap());
    let endpoint = format!("https://{}", sidecar(&w).grpc_addr);
    let connect = |identity: Option<Identity>| {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(server_ca.clone())
            .domain_name("localhost");
        if let Some(id) = identity {
            tls = tls.identity(id);
        }
        let endpoint = Channel::from_shared(endpoint.clone())
            .unwrap()
            .tls_config(tls)
            .unwrap();
        async move { endpoint.connect().await }
    };
    // With the certificate and no token: a merchant, so unit debt is allowed
    // (and answered: there is no such session).
    let with_cert = connect(Some(Identity::from_pem(
        client_cert.pem(),
        client_key.serialize_pem(),
    )))
    .await
    .unwrap();
    let answer = DripClient::new(with_cert)
        .add_unit_debt(AddUnitDebtRequest {
            drip_token: "none".into(),
            amount: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.denial(), Denial::NotFound);
    // Neither certificate nor token: refused.
    let bare = connect(None).await.unwrap();
    let refused = DripClient::new(bare)
        .add_unit_debt(AddUnitDebtRequest {
            drip_token: "none".into(),
            amount: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    finish(w).await;
    let _ = std::fs::remove_file(ca_path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_held_open_by_another_caller_delays_a_call_boundedly() {
    let w = world("grpc_held").await;
    let payer = key(0x26, KeyType::Ed25519);
    let (token, channel) = open(&w, "web-held", &payer).await;
    // Another caller (a proxy with SQL access) leaves a transaction open on
    // the session's row.
    let holder = w.db.client().await;
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT FROM drip.sessions WHERE drip_token = '{token}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let mut wallet = api(&w, Some(APP_TOKEN)).await;
    let busy = wallet
        .pay(claim(&token, &payer, &channel, 1_000))
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Code::Unavailable, "{}", busy.message());
    holder.batch_execute("ROLLBACK").await.unwrap();
    let paid = wallet
        .pay(claim(&token, &payer, &channel, 1_000))
        .await
        .unwrap()
        .into_inner();
    assert!(paid.accepted, "{paid:?}");
    finish(w).await;
}

/// An extension whose enums say more than the sidecar knows (a refusal
/// reason added by a newer release) would fail every read of that type in
/// the middle of a payment: the sidecar refuses to start, naming the type.
#[tokio::test]
async fn a_sidecar_refuses_an_extension_with_words_it_does_not_know() {
    let mut w = world("enum_drift").await;
    w.sidecar.take().unwrap().shutdown().await;
    w.db.client()
        .await
        .batch_execute("ALTER TYPE drip.reason ADD VALUE 'a_newer_refusal'")
        .await
        .unwrap();
    let Err(refused) = Sidecar::start(w.config.clone()).await else {
        panic!("started against an extension with an unknown drip.reason")
    };
    let message = refused.to_string();
    assert!(
        message.contains("drip.reason") && message.contains("a_newer_refusal"),
        "{message}"
    );
    finish(w).await;
}
