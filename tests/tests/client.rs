//! The wallet (`drip_client`) against the real sidecar, extension and
//! devnet: the demo's flow for every payment type and both key types (its
//! channels with a CancelAfter drip accepts), a wallet killed mid-stream, a
//! mandate that stops payment (and default limits that refuse the tests'
//! fast terms), a server charging above the proposal, refresh, and the
//! rescue of a channel after the settle delay.

use std::path::{Path, PathBuf};
use std::time::Duration;

use drip_client::channels::{self, Closed};
use drip_client::store::SignedClaim;
use drip_client::{Api, Closing, Endpoint, Mandate, Payer, PayerConfig, Progress, Refusal, Wallet};
use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyType, Seed};
use drip_ledger::Submitter;
use drip_proto::{CreateSessionRequest, Denial, SessionState};
use drip_tests::sidecar::{
    api, destroy, finish, fund, session, sidecar, submitter, until, world, World, APP_TOKEN,
    MERCHANT_TOKEN,
};

/// Set the terms (a SQL SET list).
async fn terms(w: &World, set: &str) {
    w.db.client()
        .await
        .batch_execute(&format!("UPDATE drip.terms SET {set}"))
        .await
        .unwrap();
}

/// The API as a wallet reaches it (the app token, the sidecar's own
/// certificate).
fn wallet_api(w: &World) -> Api {
    let mut e = Endpoint::new(format!("https://{}", sidecar(w).grpc_addr));
    e.ca_pem = sidecar(w).certificate.clone().map(String::into_bytes);
    e.tls_name = Some("localhost".into());
    e.token = Some(APP_TOKEN.into());
    Api::new(&e).unwrap()
}

/// The tests' terms bill a whole funding a minute or faster (60 XRP an
/// hour at 1 XRP a minute, 360 at the refresh test's 6 s sessions of
/// 0.6 XRP), far above the wallet's default per-hour limit: their wallets
/// allow this much.
const TEST_PER_HOUR: Drops = Drops::new(400_000_000);

/// A wallet file for a funded account of `key_type`, allowing the tests'
/// rates (`TEST_PER_HOUR`); its path and the account's submitter.
async fn new_wallet(w: &World, name: &str, byte: u8, key_type: KeyType) -> (PathBuf, Submitter) {
    let seed = Seed::from_entropy([byte; 16], key_type);
    let key = seed.key_pair().unwrap();
    fund(w, &key.account_id(), 30_000_000).await;
    let dir = std::env::temp_dir().join(format!("drip-client-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("wallet-{byte}.json"));
    let _ = std::fs::remove_file(&path);
    Wallet::create(&path, key_type, Some(seed))
        .unwrap()
        .update(|f| f.mandate.per_hour = TEST_PER_HOUR)
        .unwrap();
    (path, submitter(&w.devnet, key))
}

async fn create(w: &World, web_id: &str) -> String {
    api(w, Some(MERCHANT_TOKEN))
        .await
        .create_session(CreateSessionRequest {
            session_id: web_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .uri
}

/// Run a wallet's pay loop (polling every 200 ms) in a task: the closing it
/// reports and every round's progress.
fn pay(
    api: Api,
    ledger: Submitter,
    path: PathBuf,
    uri: String,
    config: PayerConfig,
    stop: Option<Duration>,
) -> tokio::task::JoinHandle<(Option<Closing>, Vec<Progress>)> {
    tokio::spawn(async move {
        let mut wallet = Wallet::open(&path).unwrap();
        let config = PayerConfig {
            poll: Some(Duration::from_millis(200)),
            ..config
        };
        let mut payer = Payer::new(api, ledger, &mut wallet, &uri.parse().unwrap(), "", config);
        let mut seen = Vec::new();
        let until = stop.map(|s| tokio::time::Instant::now() + s);
        let closing = payer.run(until, |p| seen.push(p.clone())).await.unwrap();
        (closing, seen)
    })
}

fn best(path: &Path) -> (Hash256, Drops) {
    let w = Wallet::open(path).unwrap();
    let r = w.file().sessions.values().next().unwrap();
    (r.channel_id.unwrap(), r.best_amount())
}

/// Record a purchase. A wallet that fell behind an interval (a busy machine)
/// has its session awaiting payment, where purchases are denied as in the
/// seed; once it caught up the purchase is asked for again.
async fn add_unit_debt(w: &World, web_id: &str, token: &str, amount: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = api(w, Some(MERCHANT_TOKEN))
            .await
            .add_unit_debt(drip_proto::AddUnitDebtRequest {
                drip_token: token.into(),
                amount,
            })
            .await
            .unwrap()
            .into_inner();
        if r.accepted {
            return;
        }
        assert_eq!(r.denial(), Denial::AwaitingPayment, "{r:?}");
        assert!(tokio::time::Instant::now() < deadline, "{r:?}");
        until(w, web_id, "catching up", Duration::from_secs(30), |s| {
            s.paid >= r.due
        })
        .await;
    }
}

/// The demo's flow: the merchant makes sessions, records purchases (unit and
/// both) while wallets of each key type pay, then ends them; the wallets
/// report the channel's close, which pays the merchant exactly the best
/// claim less the fee and refunds the payer the rest.
async fn demo_flow(name: &str, payment_type: &str) {
    let w = world(name).await;
    // 1 s intervals, 1 XRP funding over 60 s: 16,667 drops per interval.
    terms(
        &w,
        &format!(
            "payment_type = '{payment_type}', polling_interval_secs = 1, session_length_secs = 60,
             min_settle_delay_secs = 65, claim_window_secs = 5, channel_funding = 1000000"
        ),
    )
    .await;
    let rate = if payment_type == "unit" { 0 } else { 16_667 };
    let mut wallets = Vec::new();
    for (byte, key_type) in [(1u8, KeyType::Ed25519), (2, KeyType::Secp256k1)] {
        let web_id = format!("{name}-{byte}");
        let uri = create(&w, &web_id).await;
        let (path, ledger) = new_wallet(&w, name, byte, key_type).await;
        let config = PayerConfig {
            key_type,
            ..PayerConfig::default()
        };
        let task = pay(
            wallet_api(&w),
            ledger,
            path.clone(),
            uri.clone(),
            config,
            None,
        );
        wallets.push((web_id, uri, path, task, key_type));
    }
    for (web_id, uri, ..) in &wallets {
        let s = until(&w, web_id, "activation", Duration::from_secs(30), |s| {
            s.state() == SessionState::Active
        })
        .await;
        // The wallet's channel expires by itself (CancelAfter), after the
        // session's end, as drip's check of the channel demands.
        let channel = w
            .genesis
            .client()
            .channel(&s.channel_id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        let cancel_after =
            drip_core::time::ripple_to_unix(channel.cancel_after.expect("a CancelAfter"));
        let ends_at = s.ends_at.unwrap().seconds;
        assert!(
            (ends_at..ends_at + 86_400).contains(&cancel_after),
            "CancelAfter {cancel_after}, session ends {ends_at}"
        );
        let token = uri.rsplit('/').next().unwrap();
        let mut units = 0;
        if payment_type != "time" {
            for amount in [5_000u64, 7_000, 11_000] {
                add_unit_debt(&w, web_id, token, amount).await;
                units += amount;
            }
        }
        // Paid up, across at least three intervals of time debt.
        until(&w, web_id, "payment", Duration::from_secs(30), |s| {
            s.paid >= units + 3 * rate && s.paid == s.due
        })
        .await;
    }
    for (web_id, ..) in &wallets {
        destroy(&w, web_id).await;
    }
    for (web_id, _, path, task, key_type) in wallets {
        let (closing, seen) = task.await.unwrap();
        let closing = closing.expect("the wallet saw the session end");
        // The wallet reads the close from the ledger; the sidecar records
        // it once its own claim transaction is followed to validation.
        let s = until(&w, &web_id, "close", Duration::from_secs(30), |s| {
            s.state() == SessionState::Closed
        })
        .await;
        let (channel, signed) = best(&path);
        assert_eq!(closing.channel_id, channel.to_string());
        assert_eq!(
            s.paid,
            signed.get(),
            "the server holds the wallet's best claim"
        );
        assert_eq!(closing.tx_type, "PaymentChannelClaim");
        assert!(closing.ledger_index > 0);
        assert_eq!(
            closing.refund,
            i128::from(1_000_000 - s.paid),
            "{key_type:?}"
        );
        let fee = i128::from(s.paid) - closing.merchant_gain;
        assert!(
            (1..=10_000).contains(&fee),
            "merchant gained the claim less a fee of {fee}"
        );
        // Every claim the wallet made was accepted: paid never ran ahead of due.
        assert!(
            seen.iter().all(|p| p.paid <= p.due && p.refused.is_none()),
            "{seen:?}"
        );
        if payment_type == "unit" {
            assert_eq!(s.paid, 23_000);
        }
    }
    finish(w).await;
}

#[tokio::test]
async fn the_demo_flow_time() {
    demo_flow("client_time", "time").await;
}

#[tokio::test]
async fn the_demo_flow_unit() {
    demo_flow("client_unit", "unit").await;
}

#[tokio::test]
async fn the_demo_flow_both() {
    demo_flow("client_both", "both").await;
}

/// A wallet killed mid-stream resumes the same channel; a claim it signed
/// and recorded but never sent is the next one the server gets, and nothing
/// lower follows it.
#[tokio::test]
async fn a_restarted_wallet_continues_without_signing_lower() {
    let w = world("client_restart").await;
    terms(
        &w,
        "payment_type = 'time', polling_interval_secs = 1, session_length_secs = 60,
         min_settle_delay_secs = 65, claim_window_secs = 5, channel_funding = 1000000",
    )
    .await;
    let web_id = "restart";
    let uri = create(&w, web_id).await;
    let (path, ledger) = new_wallet(&w, "restart", 3, KeyType::Ed25519).await;
    let payer = ledger.address().parse().unwrap();
    let task = pay(
        wallet_api(&w),
        ledger,
        path.clone(),
        uri.clone(),
        PayerConfig::default(),
        None,
    );
    until(&w, web_id, "two payments", Duration::from_secs(30), |s| {
        s.paid >= 2 * 16_667
    })
    .await;
    tokio::time::sleep(Duration::from_millis(370)).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    // As if killed between recording a claim and sending it.
    let (channel, before) = best(&path);
    let held = session(&w, web_id).await.paid;
    assert!(before.get() >= held, "the file is never behind the server");
    let higher = Drops::new(held.max(before.get()) + 5 * 16_667);
    {
        let mut wallet = Wallet::open(&path).unwrap();
        let key = wallet
            .file()
            .sessions
            .values()
            .next()
            .unwrap()
            .channel_key()
            .unwrap();
        let signed = SignedClaim {
            amount: higher,
            signature: hex::encode_upper(sign_claim(&key, &channel, higher)),
        };
        wallet
            .update(|f| f.sessions.values_mut().next().unwrap().best = Some(signed))
            .unwrap();
    }

    let ledger = submitter(
        &w.devnet,
        Seed::from_entropy([3; 16], KeyType::Ed25519)
            .key_pair()
            .unwrap(),
    );
    let task = pay(
        wallet_api(&w),
        ledger,
        path.clone(),
        uri,
        PayerConfig::default(),
        None,
    );
    until(
        &w,
        web_id,
        "payment past the held claim",
        Duration::from_secs(30),
        |s| s.paid > higher.get(),
    )
    .await;
    let lines = w.genesis.client().account_channels(&payer).await.unwrap();
    assert_eq!(lines.len(), 1, "the same channel, not a second one");
    assert_eq!(lines[0].channel_id, channel);
    destroy(&w, web_id).await;
    let (closing, _) = task.await.unwrap();
    assert!(closing.is_some());

    let rows =
        w.db.client()
            .await
            .query(
                "SELECT amount FROM drip.claims WHERE channel_id = $1 ORDER BY accepted_at",
                &[&channel.0.to_vec()],
            )
            .await
            .unwrap();
    let amounts: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let i = amounts
        .iter()
        .position(|a| *a == i64::try_from(higher.get()).unwrap())
        .expect("the recorded claim reached the server");
    assert!(amounts.windows(2).all(|p| p[0] < p[1]), "{amounts:?}");
    assert!(
        i + 1 < amounts.len(),
        "payment went on after it: {amounts:?}"
    );
    finish(w).await;
}

/// The default limits refuse the tests' terms (1 XRP a minute, 60 XRP an
/// hour) before a channel is opened; a per-session limit stops payment,
/// the wallet says why, and the session ends by past-due, its channel
/// claimed at the last accepted claim.
#[tokio::test]
async fn a_mandate_stops_payment_and_the_session_ends_past_due() {
    let w = world("client_mandate").await;
    terms(
        &w,
        "payment_type = 'time', polling_interval_secs = 1, session_length_secs = 60,
         min_settle_delay_secs = 65, claim_window_secs = 5, channel_funding = 1000000,
         past_due_limit = 2",
    )
    .await;
    let uri = create(&w, "mandate").await;
    let (path, ledger) = new_wallet(&w, "mandate", 4, KeyType::Secp256k1).await;
    {
        let mut wallet = Wallet::open(&path).unwrap();
        wallet.update(|f| f.mandate = Mandate::default()).unwrap();
        let mut payer = Payer::new(
            wallet_api(&w),
            submitter(
                &w.devnet,
                Seed::from_entropy([4; 16], KeyType::Secp256k1)
                    .key_pair()
                    .unwrap(),
            ),
            &mut wallet,
            &uri.parse().unwrap(),
            "",
            PayerConfig::default(),
        );
        let refused = payer.open().await.unwrap_err();
        assert!(
            matches!(
                refused,
                drip_client::Error::Mandate(Refusal::PerHour { amount, limit })
                    if amount == Drops::new(60_001_200) && limit == Mandate::default().per_hour
            ),
            "{refused}"
        );
    }
    let account = ledger.address().parse().unwrap();
    assert!(ledger
        .client()
        .account_channels(&account)
        .await
        .unwrap()
        .is_empty());
    let limit = Drops::new(3 * 16_667);
    {
        let mut wallet = Wallet::open(&path).unwrap();
        wallet
            .update(|f| {
                f.mandate = Mandate {
                    per_hour: TEST_PER_HOUR,
                    per_session: limit,
                    ..Mandate::default()
                };
                // The refused proposal is not kept: the next run asks anew.
                assert!(f.sessions.is_empty());
            })
            .unwrap();
    }
    // Told to: the account's own key signs the claims.
    let config = PayerConfig {
        key_type: KeyType::Secp256k1,
        fresh_key: false,
        ..PayerConfig::default()
    };
    let (closing, seen) = pay(wallet_api(&w), ledger, path.clone(), uri, config, None)
        .await
        .unwrap();
    let closing = closing.expect("the session ended");
    let s = session(&w, "mandate").await;
    assert_eq!(s.end_reason, "past_due");
    assert_eq!(s.paid, limit.get());
    assert_eq!(best(&path).1, limit, "nothing above the limit was signed");
    let wallet = Wallet::open(&path).unwrap();
    let record = wallet.file().sessions.values().next().unwrap();
    assert_eq!(record.channel_seed, wallet.file().seed);
    let refusal = seen
        .iter()
        .find_map(|p| p.refused.clone())
        .expect("the wallet said why");
    assert!(refusal.contains("per session"), "{refusal}");
    assert_eq!(closing.refund, i128::from(1_000_000 - limit.get()));
    finish(w).await;
}

/// A server that asks for more than the proposal's rate (here its session
/// row, changed behind its back) is refused: the wallet signs nothing above
/// what the rate allows, says why, and the session ends past-due.
#[tokio::test]
async fn a_server_charging_above_the_proposal_is_refused() {
    let w = world("client_overcharge").await;
    terms(
        &w,
        "payment_type = 'time', polling_interval_secs = 1, session_length_secs = 60,
         min_settle_delay_secs = 65, claim_window_secs = 5, channel_funding = 1000000,
         past_due_limit = 2",
    )
    .await;
    let started = drip_client::payer::unix_now();
    let uri = create(&w, "overcharge").await;
    let (path, ledger) = new_wallet(&w, "overcharge", 7, KeyType::Ed25519).await;
    let task = pay(
        wallet_api(&w),
        ledger,
        path.clone(),
        uri,
        PayerConfig::default(),
        None,
    );
    until(
        &w,
        "overcharge",
        "a payment",
        Duration::from_secs(30),
        |s| s.paid >= 16_667,
    )
    .await;
    // Ten times the agreed rate from now on.
    w.db.client()
        .await
        .execute(
            "UPDATE drip.sessions SET rate = rate * 10 WHERE session_id = 'overcharge'",
            &[],
        )
        .await
        .unwrap();
    let (closing, seen) = task.await.unwrap();
    assert!(closing.is_some(), "the session ended");
    let ended = drip_client::payer::unix_now();
    let s = session(&w, "overcharge").await;
    assert_eq!(s.end_reason, "past_due");
    let refusal = seen
        .iter()
        .find_map(|p| p.refused.clone())
        .expect("the wallet said why");
    assert!(refusal.contains("the proposal allows"), "{refusal}");
    let signed = best(&path).1.get();
    let elapsed = u64::try_from(ended - started).unwrap();
    assert!(
        signed <= 16_667 * (elapsed + 2),
        "signed {signed} in {elapsed} s at 16,667 a second"
    );
    assert_eq!(s.paid, signed);
    finish(w).await;
}

/// A 6 s session lives on past its first end: the wallet funds the channel
/// by a refresh proposal before it runs out.
#[tokio::test]
async fn refresh_keeps_a_session_alive_past_its_first_end() {
    let w = world("client_refresh").await;
    // 100,000 drops per 1 s interval; the session would end 6 s after it starts.
    terms(
        &w,
        "payment_type = 'time', polling_interval_secs = 1, session_length_secs = 6,
         min_settle_delay_secs = 61, claim_window_secs = 1, channel_funding = 600000",
    )
    .await;
    let uri = create(&w, "refresh").await;
    let (path, ledger) = new_wallet(&w, "refresh", 5, KeyType::Ed25519).await;
    let payer: drip_core::AccountId = ledger.address().parse().unwrap();
    let task = pay(
        wallet_api(&w),
        ledger,
        path.clone(),
        uri,
        PayerConfig::default(),
        None,
    );
    let first = until(&w, "refresh", "activation", Duration::from_secs(30), |s| {
        s.state() == SessionState::Active
    })
    .await;
    let first_end = first.ends_at.unwrap().seconds;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let s = session(&w, "refresh").await;
    assert_eq!(s.state(), SessionState::Active, "{s:?}");
    assert!(s.ends_at.unwrap().seconds > first_end + 3);
    assert!(s.channel_amount >= 1_200_000, "{s:?}");
    assert!(s.paid >= 800_000, "paid on past the first funding: {s:?}");
    destroy(&w, "refresh").await;
    let (closing, seen) = task.await.unwrap();
    let closing = closing.unwrap();
    assert!(seen.iter().any(|p| p
        .event
        .as_deref()
        .is_some_and(|e| e.starts_with("refreshed"))));
    // What the payer put in, by the ledger: a fund may validate after drip
    // stopped taking refreshes (the session was ending), so the ledger's
    // amount, not the session's, is what the close refunds from.
    let put_in: u64 = w
        .genesis
        .client()
        .account_tx(&payer, 50)
        .await
        .unwrap()
        .iter()
        .filter(|t| {
            t["meta"]["TransactionResult"] == "tesSUCCESS"
                && matches!(
                    t["TransactionType"].as_str(),
                    Some("PaymentChannelCreate" | "PaymentChannelFund")
                )
        })
        .map(|t| t["Amount"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    let s = session(&w, "refresh").await;
    assert_eq!(closing.refund, i128::from(put_in - s.paid));
    finish(w).await;
}

/// With the server gone, the payer closes its channel itself: the first
/// close starts the settle delay, an early second one changes nothing, and
/// after the delay (the devnet's clock moved) the channel is deleted and
/// its XRP returned.
#[tokio::test]
async fn rescue_returns_a_channel_after_the_settle_delay() {
    let mut w = world("client_rescue").await;
    terms(
        &w,
        "payment_type = 'time', polling_interval_secs = 1, session_length_secs = 600,
         min_settle_delay_secs = 600, claim_window_secs = 5, channel_funding = 1000000",
    )
    .await;
    let uri = create(&w, "rescue").await;
    let (path, ledger) = new_wallet(&w, "rescue", 6, KeyType::Ed25519).await;
    let (closing, _) = pay(
        wallet_api(&w),
        ledger,
        path.clone(),
        uri,
        PayerConfig::default(),
        Some(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    assert!(closing.is_none(), "stopped with the session open");
    w.sidecar.take().unwrap().shutdown().await;

    let (channel, _) = best(&path);
    let payer = submitter(
        &w.devnet,
        Seed::from_entropy([6; 16], KeyType::Ed25519)
            .key_pair()
            .unwrap(),
    );
    let account = payer.address().parse().unwrap();
    let listed = channels::list(payer.client(), &account).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.channel_id).collect::<Vec<_>>(),
        vec![channel]
    );
    let Closed::Closing { expiration } = channels::close(&payer, &channel).await.unwrap() else {
        panic!("a payer's close waits for the settle delay");
    };
    assert_eq!(
        channels::close(&payer, &channel).await.unwrap(),
        Closed::Closing { expiration },
        "an early close changes nothing"
    );
    // The ledger's clock moves past the Expiration.
    let parent = w.devnet.last_close_time();
    assert!(
        expiration > parent && expiration <= parent + 600,
        "the settle delay runs from the close"
    );
    w.devnet.close_at(expiration + 1);
    let Closed::Closed { refund, fee, .. } = channels::close(&payer, &channel).await.unwrap()
    else {
        panic!("closed after the settle delay");
    };
    assert_eq!(
        refund,
        i128::from(1_000_000 - fee.get()),
        "all of it back, less the fee"
    );
    assert!(channels::list(payer.client(), &account)
        .await
        .unwrap()
        .is_empty());
    finish(w).await;
}
