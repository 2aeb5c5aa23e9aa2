//! Fixture loading shared by the vector tests.

// Each test crate uses part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use serde_json::Value as Json;

/// A file of `tests/fixtures/`, parsed.
pub fn fixture(name: &str) -> Json {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The vectors xrpl.js wrote (`scripts/vectors/generate.sh`).
pub fn xrpljs() -> Json {
    fixture("xrpljs.json")
}

/// A string field the vector must have.
pub fn s<'a>(v: &'a Json, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}
