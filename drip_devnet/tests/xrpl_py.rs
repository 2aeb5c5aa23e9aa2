//! xrpl-py against the devnet, over JSON-RPC and WebSocket (`xrpl_py/client.py`).
//!
//! Needs xrpl-py: `./dev test` installs it into a virtualenv under `target/`
//! and runs this test with `DRIP_XRPL_PY` naming that venv's python. Plain
//! `cargo test` lists it as ignored.

use std::time::Duration;

use drip_devnet::{Devnet, Options};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs xrpl-py; ./dev test runs it"]
async fn xrpl_py_funds_opens_reads_and_redeems_a_channel() {
    let python = std::env::var("DRIP_XRPL_PY").expect("DRIP_XRPL_PY names a python with xrpl-py");
    let devnet = Devnet::start(Options {
        ledger_interval: Some(Duration::from_millis(250)),
        ..Options::default()
    })
    .await
    .expect("devnet starts");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/xrpl_py/client.py");
    let (rpc, ws) = (devnet.rpc_url.clone(), devnet.ws_url.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args([script, &rpc, &ws])
            .output()
    })
    .await
    .expect("joins")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "xrpl-py client failed");
    assert!(stdout.contains("xrpl-py client: all checks passed"));
    devnet.shutdown().await;
}
