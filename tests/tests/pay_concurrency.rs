//! Many payers race on one session over separate connections, with
//! interleaved amounts. Whatever the interleaving, the stored best claim must
//! equal the highest accepted claim, and the audit must show each accepted
//! claim above the one before it.

use std::sync::Arc;

use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyType, Seed};
use drip_tests::TestDb;

const SERVER: &str = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";
const CHANNEL: [u8; 32] = [0x5D; 32];

/// An active session whose channel key is `payer`'s; returns its drip token.
async fn active_session(db: &TestDb, payer: &drip_core::KeyPair) -> String {
    let c = db.client().await;
    c.batch_execute(&format!(
        "UPDATE drip.terms SET destination = '{SERVER}', polling_interval_secs = 60,
         session_length_secs = 1800, channel_funding = 1000000"
    ))
    .await
    .unwrap();
    let token: String = c
        .query_one("SELECT drip_token FROM drip.create_session('race')", &[])
        .await
        .unwrap()
        .get(0);
    let pid: String = c
        .query_one("SELECT proposal_id FROM drip.inquire($1)", &[&token])
        .await
        .unwrap()
        .get(0);
    let tx = vec![0xABu8; 32];
    c.execute("SELECT drip.submit_agreement($1, $2)", &[&pid, &tx])
        .await
        .unwrap();
    let key = payer.public_key().as_bytes().to_vec();
    let chan = CHANNEL.to_vec();
    let amount: i64 = 100_000_000;
    let settle: i32 = 1800;
    let row = c
        .query_one(
            &format!(
                "SELECT accepted, reason FROM drip.confirm_channel($1, $2, $3, 'rPayer', $4, $5, $6,
                 '{SERVER}', NULL, NULL, NULL, $1)"
            ),
            &[&pid, &tx, &chan, &key, &amount, &settle],
        )
        .await
        .unwrap();
    assert!(
        row.get::<_, bool>(0),
        "{:?}",
        row.get::<_, Option<String>>(1)
    );
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payments_end_with_the_highest_accepted_claim() {
    let db = TestDb::new("pay_race").await;
    let payer = Seed::from_entropy([0x61; 16], KeyType::Secp256k1)
        .key_pair()
        .unwrap();
    let token = active_session(&db, &payer).await;

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
                .prepare("SELECT accepted, reason FROM drip.pay($1, $2, $3)")
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
        .query("SELECT amount FROM drip.claims ORDER BY id", &[])
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
