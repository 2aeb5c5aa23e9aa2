//! The drip PostgreSQL extension (`CREATE EXTENSION drip`).
//!
//! Everything lives in schema `drip`; nothing is created in `public`. Each
//! `#[pg_extern]` is a thin wrapper over `drip_core`: argument mapping and
//! error reporting here, rules there.

use pgrx::prelude::*;

mod engine;
mod error;
mod released;

::pgrx::pg_module_magic!(name, version);

/// The extension's version (the `drip_pg` crate version).
#[pg_extern(immutable, parallel_safe)]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Whether `signature` is `public_key`'s payment-channel claim for `amount`
/// drops on `channel_id`. Malformed inputs (wrong lengths, a negative amount,
/// a key that is not a point) raise SQLSTATE 22023; a well-formed claim that
/// does not verify is `false`.
#[pg_extern(immutable, strict, parallel_safe)]
fn verify_claim(channel_id: &[u8], amount: i64, signature: &[u8], public_key: &[u8]) -> bool {
    claim_or_raise(drip_core::claim::check_claim(
        channel_id, amount, signature, public_key,
    ))
}

/// `verify_claim` with the channel's `prepared_key` (NULL: none), as
/// `drip.pay` and `drip.ilp_claim` call it: the same answers and errors,
/// about half the work for a secp256k1 key.
#[pg_extern(immutable, parallel_safe, name = "_check_claim")]
fn check_claim(
    channel_id: Option<&[u8]>,
    amount: Option<i64>,
    signature: Option<&[u8]>,
    public_key: Option<&[u8]>,
    prepared_key: Option<&[u8]>,
) -> Option<bool> {
    Some(claim_or_raise(drip_core::claim::check_claim_prepared(
        channel_id?,
        amount?,
        signature?,
        public_key?,
        prepared_key,
    )))
}

fn claim_or_raise(checked: Result<bool, drip_core::claim::ClaimInputError>) -> bool {
    checked.unwrap_or_else(|e| error::invalid_parameter(&e.to_string(), e.argument(), e.hint()))
}

/// A channel key's multiplication tables (1,025 bytes) for a secp256k1
/// key; NULL for an Ed25519 key, or bytes that are no key.
#[pg_extern(immutable, strict, parallel_safe, name = "_prepared_key")]
fn prepared_key(public_key: &[u8]) -> Option<Vec<u8>> {
    drip_core::PublicKey::from_slice(public_key).ok()?.prepare()
}

/// For batches that must not abort on one claim: why it fails its
/// signature check (`bad_signature`, `malformed`), or NULL when
/// `public_key` signed it (with its `prepared_key`, if any).
#[pg_extern(immutable, parallel_safe, name = "_claim_fault")]
fn claim_fault(
    channel_id: Option<&[u8]>,
    amount: Option<i64>,
    signature: Option<&[u8]>,
    public_key: Option<&[u8]>,
    prepared_key: Option<&[u8]>,
) -> Option<&'static str> {
    let (Some(channel_id), Some(amount), Some(signature), Some(public_key)) =
        (channel_id, amount, signature, public_key)
    else {
        return Some("malformed");
    };
    match drip_core::claim::check_claim_prepared(
        channel_id,
        amount,
        signature,
        public_key,
        prepared_key,
    ) {
        Ok(true) => None,
        Ok(false) => Some("bad_signature"),
        Err(_) => Some("malformed"),
    }
}

// Tables, types and roles come first; the SQL functions that own the
// transactions come after every Rust helper, one file per topic in the
// order each needs the last (`sql/engine/setup.sql` says what is where).
extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/engine/setup.sql",
    name = "engine_setup",
    requires = [
        "channel_prepared_key",
        version,
        verify_claim,
        check_claim,
        claim_fault,
        engine::new_token,
        engine::new_proposal_id,
        engine::generate_server_key,
        engine::terms_rate,
        engine::sign_proposal,
        engine::amount_due,
        engine::due_after,
        engine::intervals_ended,
        engine::interval_end,
        engine::judge_intervals,
        engine::admit_unit_debt,
        engine::claim_denial,
        engine::voucher_denial,
    ]
);
extension_sql_file!(
    "../sql/engine/sessions.sql",
    name = "engine_sessions",
    requires = ["engine_setup"]
);
extension_sql_file!(
    "../sql/engine/proposals.sql",
    name = "engine_proposals",
    requires = ["engine_sessions"]
);
extension_sql_file!(
    "../sql/engine/payments.sql",
    name = "engine_payments",
    requires = ["engine_proposals"]
);
extension_sql_file!(
    "../sql/engine/sweep.sql",
    name = "engine_sweep",
    requires = ["engine_payments"]
);
extension_sql_file!(
    "../sql/engine/ledger.sql",
    name = "engine_ledger",
    requires = ["engine_sweep"]
);
extension_sql_file!(
    "../sql/engine/views.sql",
    name = "engine_views",
    requires = ["engine_ledger"]
);
extension_sql_file!(
    "../sql/engine/ilp.sql",
    name = "engine_ilp",
    requires = ["engine_views"]
);
extension_sql_file!(
    "../sql/engine/mpp.sql",
    name = "engine_mpp",
    requires = ["engine_ilp"]
);
extension_sql_file!("../sql/engine/grants.sql", name = "engine_grants", finalize);

// Generated from the key, so it cannot disagree with it; pay's updates
// leave public_key alone, so PostgreSQL does not recompute it.
extension_sql!(
    r#"
ALTER TABLE drip.channels
    ADD COLUMN prepared_key bytea GENERATED ALWAYS AS (drip._prepared_key(public_key)) STORED;
COMMENT ON COLUMN drip.channels.prepared_key IS
'The secp256k1 key''s multiplication tables (NULL for Ed25519): claims verify with them at about half the cost.';
"#,
    name = "channel_prepared_key",
    requires = ["schema", prepared_key]
);

extension_sql!(
    r#"
COMMENT ON SCHEMA drip IS 'drip: XRP Ledger payment-channel micropayments';
COMMENT ON FUNCTION drip.version() IS 'The installed drip extension version.';
COMMENT ON FUNCTION drip.verify_claim(bytea, bigint, bytea, bytea) IS
'Whether signature is public_key''s claim for amount drops on channel_id (CLM\0 || channel || u64be drops; Ed25519 strict, secp256k1 strict DER low-S). Malformed inputs raise 22023.';
"#,
    name = "comments",
    requires = [version, verify_claim]
);

#[cfg(feature = "pg_test")]
#[pg_schema]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    // `#[pg_schema]` needs an inline module; the tests live in their own file.
    include!("tests.rs");
    include!("engine_tests.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
