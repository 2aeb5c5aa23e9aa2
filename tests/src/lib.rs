//! Helpers for drip's integration tests: each test gets a fresh database with
//! the extension, in the private cluster that `./dev test` starts (its URL in
//! `DRIP_DATABASE_URL`).

use std::sync::atomic::{AtomicU32, Ordering};

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
            .batch_execute("CREATE EXTENSION drip")
            .await
            .unwrap_or_else(|e| panic!("CREATE EXTENSION drip failed: {}", describe(&e)));
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
