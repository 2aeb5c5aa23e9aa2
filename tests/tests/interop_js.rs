//! drip's ILP server against the real JavaScript `ilp-plugin-btp` 1.5.0 from
//! npm (`tests/interop/btp_client.mjs`), over wss: auth, a Message round trip
//! (IL-DCP), channels registered with their ownership proofs, an ILP Prepare
//! routed between two JS clients and fulfilled, a Reject, and a token
//! refused. `./dev test` installs the package under
//! `target/interop-node` and runs this with `--ignored`
//! (`DRIP_INTEROP_NODE_MODULES` names the folder).

use drip_core::{KeyType, Seed};
use drip_ilp::asym;
use drip_tests::sidecar::{btp_config, finish, fund, ilp_channel, sidecar, world_with};
use serde_json::Value as Json;

#[tokio::test]
#[ignore = "needs Node.js and ilp-plugin-btp from npm: run by ./dev test"]
async fn the_javascript_btp_plugin_talks_to_drip() {
    let modules = std::env::var("DRIP_INTEROP_NODE_MODULES")
        .expect("DRIP_INTEROP_NODE_MODULES: the node_modules folder with ilp-plugin-btp");
    let w = world_with("btp_interop", |c| {
        c.btp = Some(btp_config(u64::MAX));
    })
    .await;
    // Alice's channel and Bob's, each proven its client's: only a client
    // with a channel sends packets, even of nothing, or is sent them.
    let payer = Seed::from_entropy([0x4B; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    fund(&w, &payer.account_id(), 50_000_000).await;
    let alice = format!("test.drip.{}", asym::account_name("alice-js-token"));
    let bob = format!("test.drip.{}", asym::account_name("bob-js-token"));
    let mut proven = Vec::new();
    for address in [&alice, &bob] {
        let channel = ilp_channel(&w, &payer, 3600).await;
        let proof = payer.sign(&asym::ownership_message(&channel, address));
        proven.push((hex::encode(channel.0), hex::encode(proof)));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/btp_client.mjs");
    // Over wss: Node trusts the sidecar's self-signed certificate.
    let out = tokio::process::Command::new("node")
        .arg(script)
        .arg(sidecar(&w).btp_addr.unwrap().to_string())
        .arg("wss")
        .env("NODE_MODULES", &modules)
        .env("NODE_EXTRA_CA_CERTS", w.tls_dir.join("cert.pem"))
        .env("ALICE_CHANNEL", &proven[0].0)
        .env("ALICE_CHANNEL_SIGNATURE", &proven[0].1)
        .env("BOB_CHANNEL", &proven[1].0)
        .env("BOB_CHANNEL_SIGNATURE", &proven[1].1)
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "node failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let r: Json = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(r["connected"], true);
    assert_eq!(r["alice"], alice);
    assert_eq!(r["bob"], bob);
    assert_eq!(r["asset"], serde_json::json!([6, "XRP"]));
    assert_eq!(r["fulfill"]["type"], 13);
    assert_eq!(r["fulfill"]["fulfillment"], "07".repeat(32));
    assert_eq!(r["fulfill"]["data"], "thanks for tea");
    assert_eq!(r["reject"]["code"], "T04");
    assert_eq!(r["reject"]["triggeredBy"], "test.drip");
    assert_eq!(r["refused"], true, "{r}");
    finish(w).await;
}
