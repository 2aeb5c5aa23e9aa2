//! Helpers for drip's integration tests: each test gets a fresh database with
//! the extension, in the private cluster that `./dev test` starts (its URL in
//! `DRIP_DATABASE_URL`).

use std::sync::atomic::{AtomicU32, Ordering};

use drip_core::KeyPair;
use tokio_postgres::{Client, NoTls};

/// The cluster's URL, or a clear failure telling how tests are meant to run.
pub fn cluster_url() -> String {
    std::env::var("DRIP_DATABASE_URL").unwrap_or_else(|_| {
        panic!("DRIP_DATABASE_URL is not set: run the integration tests through `./dev test`")
    })
}

/// Connect to `url`, driving the connection on the current runtime.
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test cluster: {e}"));
    tokio::spawn(async move {
        // The connection ends when the client is dropped.
        let _ = connection.await;
    });
    client
}

/// A fresh database with `CREATE EXTENSION drip`, named after the test.
#[derive(Debug)]
pub struct TestDb {
    /// The database's URL.
    pub url: String,
}

impl TestDb {
    /// Create the database and the extension in it.
    pub async fn new(test: &str) -> TestDb {
        TestDb::with(test, "CREATE EXTENSION drip").await
    }

    /// Create the database and run `setup` in it (say, an older version of
    /// the extension).
    pub async fn with(test: &str, setup: &str) -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{}_{}_{n}", test, std::process::id());
        let base = cluster_url();
        let admin = connect(&base).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {}", describe(&e)));
        let url = match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("DRIP_DATABASE_URL has no database part: {base}"),
        };
        connect(&url)
            .await
            .batch_execute(setup)
            .await
            .unwrap_or_else(|e| panic!("{setup} failed: {}", describe(&e)));
        TestDb { url }
    }

    /// A new connection to this database.
    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }
}

/// An error with PostgreSQL's own message, which `Display` leaves out.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({:?})", db.severity(), db.message(), db.code()),
        None => e.to_string(),
    }
}

/// The xrpl.js reference vectors shared with drip_core's tests.
pub fn reference_vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../../drip_core/tests/fixtures/xrpljs.json"))
        .unwrap_or_else(|e| panic!("fixture is not JSON: {e}"))
}

/// The operator's address in the tests' terms.
pub const SERVER: &str = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";

/// The tests' terms: destination [`SERVER`], 60 s intervals over 1800 s,
/// 1 XRP of funding.
pub async fn test_terms(c: &Client) {
    c.batch_execute(&format!(
        "UPDATE drip.terms SET destination = '{SERVER}', polling_interval_secs = 60,
         session_length_secs = 1800, channel_funding = 1000000"
    ))
    .await
    .unwrap();
}

/// A session (web id `web`) whose wallet agreed with transaction `tx`:
/// pending its ledger check. Its drip token and proposal id.
pub async fn agreed_session(c: &Client, web: &str, tx: &[u8]) -> (String, String) {
    let token: String = c
        .query_one("SELECT drip_token FROM drip.create_session($1)", &[&web])
        .await
        .unwrap()
        .get(0);
    let pid: String = c
        .query_one("SELECT proposal_id FROM drip.inquire($1)", &[&token])
        .await
        .unwrap()
        .get(0);
    c.execute("SELECT drip.submit_agreement($1, $2)", &[&pid, &tx])
        .await
        .unwrap();
    (token, pid)
}

/// An active session (web id `web`, 100 XRP on `channel`, 60 s intervals over
/// 1800 s at 1 XRP) whose channel key is `payer`'s, driven through the SQL
/// API with the sidecar's ledger facts; returns its drip token.
pub async fn active_session(c: &Client, payer: &KeyPair, web: &str, channel: [u8; 32]) -> String {
    test_terms(c).await;
    let tx = vec![0xABu8; 32];
    let (token, pid) = agreed_session(c, web, &tx).await;
    let key = payer.public_key().as_bytes().to_vec();
    let chan = channel.to_vec();
    let amount: i64 = 100_000_000;
    let settle: i32 = 1800;
    let row = c
        .query_one(
            &format!(
                "SELECT accepted, reason::text AS reason FROM drip.confirm_channel($1, $2, $3, 'rPayer', $4, $5, $6,
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
pub mod raw;
pub mod sidecar;
pub mod sim;
