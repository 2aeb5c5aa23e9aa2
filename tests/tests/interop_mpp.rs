//! drip's HTTP 402 front door against an MPP client nobody here wrote:
//! `xrpl-mpp-client` 0.2.0 from PyPI (`tests/interop/mpp_pay.py`), over
//! https. It signs a PaymentChannelCreate against the devnet, opens the
//! channel through drip, pays requests with vouchers and closes; drip then
//! redeems the last voucher on the ledger. `./dev test` installs the client
//! in `target/mpp-client` and runs this with `--ignored`
//! (`DRIP_MPP_PYTHON` names its interpreter).

use std::time::Duration;

use drip_core::{Drops, KeyType, Seed};
use drip_mpp::Network;
use drip_sidecar::http::{ChallengeKey, HttpConfig, Route};
use drip_tests::sidecar::{finish, fund, sidecar, world_with};
use serde_json::Value as Json;

const PRICE: u64 = 1000;
const REQUESTS: u64 = 4;

#[tokio::test]
#[ignore = "needs xrpl-mpp-client from PyPI: run by ./dev test"]
async fn the_python_mpp_client_pays_a_drip_route_and_drip_redeems_it() {
    let python = std::env::var("DRIP_MPP_PYTHON")
        .expect("DRIP_MPP_PYTHON: a python with xrpl-mpp-client installed");
    let w = world_with("mpp_interop", |c| {
        let route = Route {
            path: "/metered".into(),
            price: Drops::new(PRICE),
            upstream: None,
            description: Some("a metered API".into()),
        };
        let mut http = HttpConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            vec![route],
            ChallengeKey::derive("mpp-interop-secret"),
        );
        http.network = Some(Network::Devnet);
        c.http = Some(http);
    })
    .await;
    let seed = Seed::from_entropy([0x61; 16], KeyType::Ed25519);
    let payer = seed.key_pair().unwrap();
    fund(&w, &payer.account_id(), 50_000_000).await;
    let url = format!(
        "https://localhost:{}/metered",
        sidecar(&w).http_addr.unwrap().port()
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/mpp_pay.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(&url)
        .arg(&w.devnet.rpc_url)
        .arg(seed.encode())
        .arg(w.merchant.account_id().to_address())
        .arg(w.tls_dir.join("cert.pem"))
        .arg(REQUESTS.to_string())
        .arg("devnet")
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Json = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));

    // Every request paid, each voucher one price above the last.
    let responses = seen["responses"].as_array().unwrap();
    assert_eq!(responses.len() as u64, REQUESTS);
    for (i, r) in responses.iter().enumerate() {
        assert_eq!(r["status"], 200, "{r}");
        let cumulative = (i as u64 + 1) * PRICE;
        assert_eq!(r["receipt"]["cumulative"], cumulative.to_string(), "{r}");
    }
    assert_eq!(responses[0]["receipt"]["action"], "open");
    let close = &seen["close"];
    assert_eq!(close["status"], 200, "{close}");
    assert_eq!(close["receipt"]["action"], "close");
    let last = (REQUESTS + 1) * PRICE;
    assert_eq!(close["receipt"]["cumulative"], last.to_string());
    let channel = close["receipt"]["channelId"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();

    // drip redeems the close's voucher with a closing claim: the ledger
    // pays exactly it.
    let db = w.db.client().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row = db
            .query_one(
                "SELECT paid, redeemed, closed_at IS NOT NULL FROM drip.mpp_channels WHERE channel_id = $1",
                &[&channel],
            )
            .await
            .unwrap();
        if row.get::<_, bool>(2) {
            assert_eq!(row.get::<_, i64>(0), last as i64);
            assert_eq!(row.get::<_, i64>(1), last as i64);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not redeemed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    finish(w).await;
}
