//! The sidecar under a fault: PostgreSQL restarted under load. The sidecar
//! reconnects, listens again and catches up on rows written meanwhile. Its
//! own test binary, with one test: restarting the cluster would disturb
//! tests running beside it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use drip_core::KeyType;
use drip_tests::sidecar::{
    api, claim, closed_with, finish, key, open_and_pay, world_with, APP_TOKEN,
};

/// `pg_ctl restart` of the private cluster (`./dev test` says how).
fn restart_postgres() {
    let command = std::env::var("DRIP_PG_CTL").unwrap_or_else(|_| {
        panic!("DRIP_PG_CTL is not set: run the integration tests through `./dev test`")
    });
    let mut words = command.split_whitespace();
    let program = words.next().unwrap();
    let status = std::process::Command::new(program)
        .args(words)
        .args(["-w", "-m", "fast", "restart"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl restart failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_is_rejoined_and_caught_up() {
    // The outbox poll is an hour: only LISTEN and the catch-up after a
    // reconnect can wake the ledger worker here.
    let w = world_with("fault_restart", |c| {
        c.outbox_poll = Duration::from_secs(3600)
    })
    .await;
    let payer = key(0x31, KeyType::Ed25519);
    let (channel, first) = open_and_pay(&w, "web-restart", payer.clone()).await;

    // Payments keep coming while PostgreSQL restarts; some fail meanwhile.
    let wallet = api(&w, Some(APP_TOKEN)).await;
    let drip_token = token_of(&w, "web-restart").await;
    let running = Arc::new(AtomicBool::new(true));
    let best = Arc::new(AtomicU64::new(first));
    let loader = {
        let (running, best, mut wallet, payer, drip_token) = (
            running.clone(),
            best.clone(),
            wallet.clone(),
            payer.clone(),
            drip_token.clone(),
        );
        tokio::spawn(async move {
            let mut amount = first;
            let mut failures = 0u32;
            while running.load(Ordering::SeqCst) {
                amount += 1;
                match wallet
                    .pay(claim(&drip_token, &payer, &channel, amount))
                    .await
                {
                    Ok(r) if r.get_ref().accepted => best.store(amount, Ordering::SeqCst),
                    Ok(r) => panic!("a fresh higher claim was refused: {:?}", r.into_inner()),
                    Err(_) => {
                        failures += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            failures
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_restart = best.load(Ordering::SeqCst);
    tokio::task::spawn_blocking(restart_postgres).await.unwrap();
    // Written while the sidecar may still be reconnecting: its NOTIFY can be
    // lost; the sidecar must catch up when it listens again.
    let accepted_after = {
        let mut seen = before_restart;
        for _ in 0..100 {
            seen = best.load(Ordering::SeqCst);
            if seen > before_restart + 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen
    };
    assert!(
        accepted_after > before_restart + 5,
        "payments resumed after the restart"
    );
    running.store(false, Ordering::SeqCst);
    let failures = loader.await.unwrap();
    let best = best.load(Ordering::SeqCst);
    let merchant_before = w
        .genesis
        .client()
        .account_info(&w.merchant.account_id())
        .await
        .unwrap();
    w.db.client()
        .await
        .execute("SELECT drip.destroy_session('web-restart')", &[])
        .await
        .unwrap();
    closed_with(&w, "web-restart", &channel, best, merchant_before).await;
    eprintln!("payments refused while PostgreSQL restarted: {failures}");
    finish(w).await;
}

async fn token_of(w: &drip_tests::sidecar::World, web_id: &str) -> String {
    w.db.client()
        .await
        .query_one(
            "SELECT drip_token FROM drip.sessions WHERE session_id = $1",
            &[&web_id],
        )
        .await
        .unwrap()
        .get(0)
}
