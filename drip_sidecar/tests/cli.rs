//! The `drip-sidecar` binary's start-up contract: one clear line naming the
//! key for a bad or missing setting, every setting in `--help`, and the
//! secret helper.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::Write as _;
use std::process::{Command, Stdio};

fn sidecar() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_drip-sidecar"));
    // Only what each test sets.
    for (k, _) in std::env::vars() {
        if k.starts_with("DRIP_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn a_missing_setting_is_one_line_naming_the_key() {
    let out = sidecar().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("drip-sidecar: config: database.url: missing"),
        "{err}"
    );
}

#[test]
fn a_bad_setting_names_the_key_and_not_the_value() {
    let out = sidecar()
        .env("DRIP_DATABASE_URL", "postgresql://drip@127.0.0.1/drip")
        .env("DRIP_AUTH_MERCHANT_TOKEN", "merchant-token-0123456789")
        .env("DRIP_LEDGER_RPC_URL", "http://127.0.0.1:5005/")
        .env("DRIP_WALLET_SEED", "sSuperSecretButWrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.trim(),
        "drip-sidecar: config: wallet.seed: not an XRPL seed (s… or sEd…)"
    );
}

#[test]
fn help_documents_every_setting() {
    let out = sidecar().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--config",
        "--database-url",
        "--database-password",
        "--database-pool-size",
        "--grpc-listen",
        "--tls-disabled",
        "--tls-cert",
        "--tls-key",
        "--tls-dir",
        "--tls-client-ca",
        "--auth-merchant-token",
        "--auth-app-token",
        "--ledger-rpc-url",
        "--ledger-ws-url",
        "--ledger-max-fee",
        "--wallet-seed",
        "--wallet-address",
        "--offload-address",
        "--offload-threshold",
        "--jobs-sweep-ms",
        "--jobs-outbox-poll-ms",
        "--jobs-watch-ms",
        "--jobs-outbox-lease-secs",
        "--jobs-offload-ms",
        "--metrics-listen",
        "--log-level",
        "--log-format",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert!(help.contains("[env: DRIP_WALLET_SEED"), "env names shown");
}

#[test]
fn secret_encrypt_seals_what_the_config_opens() {
    let mut child = sidecar()
        .args(["secret", "encrypt"])
        .env("DRIP_SECRET", "demo passphrase")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sEdTM1uX8pu2do5XvTnutH6HsouMaM2\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let sealed = String::from_utf8(out.stdout).unwrap();
    assert!(!sealed.contains("sEdTM1uX8"));
    let opened = drip_sidecar::secret::open(sealed.trim(), "demo passphrase").unwrap();
    assert_eq!(opened, "sEdTM1uX8pu2do5XvTnutH6HsouMaM2");
}
