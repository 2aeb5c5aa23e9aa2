// `#[pg_test]`s: the SQL API inside a real PostgreSQL backend (included by lib.rs).

use pgrx::prelude::*;
use serde_json::Value as Json;

fn fixture() -> Json {
    serde_json::from_str(include_str!("../../drip_core/tests/fixtures/xrpljs.json"))
        .expect("fixture is JSON")
}

fn hexbytes(v: &Json, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().expect("field present")).expect("hex")
}

fn verify(channel: &[u8], amount: i64, sig: &[u8], key: &[u8]) -> Option<bool> {
    Spi::get_one_with_args::<bool>(
        "SELECT drip.verify_claim($1, $2, $3, $4)",
        &[channel.into(), amount.into(), sig.into(), key.into()],
    )
    .expect("query runs")
}

/// What a boolean query gives: its value, or the SQLSTATE and detail it raises.
fn outcome(sql: &str) -> Result<Option<bool>, (PgSqlErrorCode, String)> {
    PgTryBuilder::new(|| Ok(Spi::get_one::<bool>(sql).expect("runs")))
        .catch_others(|e| match e {
            pg_sys::panic::CaughtError::PostgresError(r)
            | pg_sys::panic::CaughtError::ErrorReport(r)
            | pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => {
                Err((r.sql_error_code(), r.detail().unwrap_or_default().to_owned()))
            }
        })
        .execute()
}

/// The SQLSTATE and detail of the error `sql` must raise.
fn error_of(sql: &str) -> (PgSqlErrorCode, String) {
    let caught = PgTryBuilder::new(|| {
        Spi::run(sql).expect("runs");
        None
    })
    .catch_others(|e| match e {
        pg_sys::panic::CaughtError::PostgresError(r)
        | pg_sys::panic::CaughtError::ErrorReport(r)
        | pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => {
            Some((r.sql_error_code(), r.detail().unwrap_or_default().to_owned()))
        }
    })
    .execute();
    caught.unwrap_or_else(|| panic!("{sql} raised no error"))
}

fn verify_sql(channel: &[u8], amount: i64, sig: &[u8], key: &[u8]) -> String {
    format!(
        "SELECT drip.verify_claim('\\x{}', {amount}, '\\x{}', '\\x{}')",
        hex::encode(channel),
        hex::encode(sig),
        hex::encode(key)
    )
}

#[pg_test]
fn version_is_the_crate_version() {
    let v = Spi::get_one::<String>("SELECT drip.version()").expect("runs");
    assert_eq!(v.as_deref(), Some(env!("CARGO_PKG_VERSION")));
}

#[pg_test]
fn the_schema_is_drip_and_public_is_untouched() {
    let in_public = Spi::get_one::<i64>(
        "SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         JOIN pg_proc p ON p.oid = d.objid
         WHERE e.extname = 'drip' AND p.pronamespace = 'public'::regnamespace",
    )
    .expect("runs");
    assert_eq!(in_public, Some(0));
    let relocatable = Spi::get_one::<bool>(
        "SELECT extrelocatable FROM pg_extension WHERE extname = 'drip'",
    )
    .expect("runs");
    assert_eq!(relocatable, Some(false));
    let volatility = Spi::get_one::<String>(
        "SELECT provolatile::text || proisstrict::text || proparallel::text
         FROM pg_proc WHERE oid = 'drip.verify_claim(bytea,bigint,bytea,bytea)'::regprocedure",
    )
    .expect("runs");
    assert_eq!(volatility.as_deref(), Some("itrues"));
}

#[pg_test]
fn reference_claims_verify_in_sql() {
    let f = fixture();
    let claims = f["claims"].as_array().expect("claims");
    let mut checked = 0;
    for c in claims {
        let amount: u64 = c["amount"].as_str().expect("amount").parse().expect("u64");
        // bigint holds amounts up to 2^63-1; larger ones cannot be passed.
        let Ok(amount) = i64::try_from(amount) else { continue };
        let (chan, sig, key) = (hexbytes(c, "channel_id"), hexbytes(c, "signature"), hexbytes(c, "public_key"));
        assert_eq!(verify(&chan, amount, &sig, &key), Some(true), "{c}");
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[pg_test]
fn tampered_claims_are_false() {
    let f = fixture();
    for c in f["claims"].as_array().expect("claims") {
        let amount: u64 = c["amount"].as_str().expect("amount").parse().expect("u64");
        let Ok(amount) = i64::try_from(amount) else { continue };
        let (chan, sig, key) = (hexbytes(c, "channel_id"), hexbytes(c, "signature"), hexbytes(c, "public_key"));
        assert_eq!(verify(&chan, amount ^ 1, &sig, &key), Some(false), "wrong amount");
        let mut other = chan.clone();
        other[0] ^= 0x80;
        assert_eq!(verify(&other, amount, &sig, &key), Some(false), "wrong channel");
        let mut flipped = sig.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        assert_eq!(verify(&chan, amount, &flipped, &key), Some(false), "flipped bit");
    }
}

#[pg_test]
fn the_high_s_twin_of_a_valid_secp256k1_claim_is_false() {
    use k256::elliptic_curve::ops::Neg as _;
    let f = fixture();
    let c = f["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .find(|c| c["key_type"] == "secp256k1")
        .expect("a secp256k1 claim");
    let amount: i64 = c["amount"].as_str().expect("amount").parse().expect("i64");
    let (chan, sig, key) = (hexbytes(c, "channel_id"), hexbytes(c, "signature"), hexbytes(c, "public_key"));
    let parsed = k256::ecdsa::Signature::from_der(&sig).expect("DER");
    let (r, s) = parsed.split_scalars();
    let twin = k256::ecdsa::Signature::from_scalars(r, s.as_ref().neg()).expect("scalars");
    let twin = twin.to_der();
    assert_eq!(verify(&chan, amount, &sig, &key), Some(true));
    assert_eq!(verify(&chan, amount, twin.as_bytes(), &key), Some(false));
}

#[pg_test]
fn a_wrong_key_type_byte_is_an_error_or_false() {
    let f = fixture();
    let c = &f["claims"][0];
    let amount: i64 = c["amount"].as_str().expect("amount").parse().expect("i64");
    let (chan, sig, mut key) = (hexbytes(c, "channel_id"), hexbytes(c, "signature"), hexbytes(c, "public_key"));
    key[0] = 0x04;
    let (code, detail) = error_of(&verify_sql(&chan, amount, &sig, &key));
    assert_eq!(code, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE);
    assert!(detail.contains("public_key"), "{detail}");
    // The same bytes read as an Ed25519 key: not this signer, or not a point.
    key[0] = 0xED;
    match outcome(&verify_sql(&chan, amount, &sig, &key)) {
        Ok(v) => assert_eq!(v, Some(false)),
        Err((code, _)) => assert_eq!(code, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE),
    }
}

#[pg_test]
fn malformed_inputs_raise_22023_with_detail() {
    let key = format!("'\\x02{}'", "11".repeat(32));
    let cases = [
        (format!("SELECT drip.verify_claim('\\x00', 1, '\\x00', {key})"), "channel_id"),
        (
            format!("SELECT drip.verify_claim('\\x{}', -1, '\\x00', {key})", "00".repeat(32)),
            "amount",
        ),
        (
            format!("SELECT drip.verify_claim('\\x{}', 1, '\\x00', '\\x0211')", "00".repeat(32)),
            "public_key",
        ),
    ];
    for (sql, argument) in cases {
        let (code, detail) = error_of(&sql);
        assert_eq!(code, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, "{sql}");
        assert!(detail.contains(argument), "{sql}: {detail}");
    }
}

#[pg_test]
fn nulls_give_null() {
    let v = Spi::get_one::<bool>("SELECT drip.verify_claim(NULL, 1, '\\x00', '\\x00')").expect("runs");
    assert_eq!(v, None);
}
