//! `drip.verify_claim` over the wire: real connections to the private
//! cluster, the installed (non-test) build of the extension.

use drip_tests::{reference_vectors, TestDb};
use tokio_postgres::error::SqlState;

struct Claim {
    channel: Vec<u8>,
    amount: i64,
    signature: Vec<u8>,
    key: Vec<u8>,
}

/// The reference claims that fit in a `bigint`.
fn claims() -> Vec<Claim> {
    let f = reference_vectors();
    f["claims"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let h = |k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
            let amount = c["amount"].as_str().unwrap().parse::<i64>().ok()?;
            Some(Claim {
                channel: h("channel_id"),
                amount,
                signature: h("signature"),
                key: h("public_key"),
            })
        })
        .collect()
}

const VERIFY: &str = "SELECT drip.verify_claim($1, $2, $3, $4)";

#[tokio::test]
async fn reference_claims_verify_through_prepared_statements() {
    let db = TestDb::new("reference").await;
    let client = db.client().await;
    let stmt = client.prepare(VERIFY).await.unwrap();
    let claims = claims();
    assert_eq!(claims.len(), 12);
    for c in &claims {
        let ok: bool = client
            .query_one(&stmt, &[&c.channel, &c.amount, &c.signature, &c.key])
            .await
            .unwrap()
            .get(0);
        assert!(ok);
        let wrong: bool = client
            .query_one(&stmt, &[&c.channel, &(c.amount ^ 1), &c.signature, &c.key])
            .await
            .unwrap()
            .get(0);
        assert!(!wrong);
    }
}

#[tokio::test]
async fn malformed_input_is_22023_with_detail_and_hint() {
    let db = TestDb::new("malformed").await;
    let client = db.client().await;
    let c = &claims()[0];
    let err = client
        .query_one(VERIFY, &[&c.channel, &-5i64, &c.signature, &c.key])
        .await
        .unwrap_err();
    let db_err = err.as_db_error().expect("a database error");
    assert_eq!(db_err.code(), &SqlState::INVALID_PARAMETER_VALUE);
    assert_eq!(db_err.message(), "invalid amount");
    assert!(db_err.detail().unwrap().contains("-5"));
    assert!(db_err.hint().is_some());
    // The session is fine afterwards.
    let ok: bool = client
        .query_one(VERIFY, &[&c.channel, &c.amount, &c.signature, &c.key])
        .await
        .unwrap()
        .get(0);
    assert!(ok);
}

#[tokio::test]
async fn many_connections_verify_concurrently() {
    let db = TestDb::new("concurrent").await;
    let claims = std::sync::Arc::new(claims());
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let url = db.url.clone();
        let claims = claims.clone();
        tasks.push(tokio::spawn(async move {
            let client = drip_tests::connect(&url).await;
            let stmt = client.prepare(VERIFY).await.unwrap();
            let mut valid = 0;
            for round in 0..25 {
                let c = &claims[(worker + round) % claims.len()];
                // Every other query uses a wrong amount, which must be false.
                let amount = if round % 2 == 0 {
                    c.amount
                } else {
                    c.amount ^ 2
                };
                let ok: bool = client
                    .query_one(&stmt, &[&c.channel, &amount, &c.signature, &c.key])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(ok, round % 2 == 0);
                valid += usize::from(ok);
            }
            valid
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 8 * 13);
}

#[tokio::test]
async fn the_extension_lives_in_schema_drip_only() {
    let db = TestDb::new("schema").await;
    let client = db.client().await;
    let rows = client
        .query(
            "SELECT n.nspname, count(*) FROM pg_depend d
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'drip'
             JOIN pg_proc p ON p.oid = d.objid
             JOIN pg_namespace n ON n.oid = p.pronamespace
             GROUP BY n.nspname",
            &[],
        )
        .await
        .unwrap();
    let schemas: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        schemas,
        vec!["drip".to_owned()],
        "every function is in schema drip"
    );
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_depend d ON d.objid = c.oid
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'drip'
             WHERE c.relnamespace <> 'drip'::regnamespace",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "no table outside schema drip");
    let version: String = client
        .query_one("SELECT drip.version()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
}
