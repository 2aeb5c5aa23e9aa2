//! The binary codec under random and mutated input: it returns a value or a
//! typed error, never panics, and whatever it accepts re-encodes to the same
//! bytes (so there is one encoding per object).

// Fixture helpers fail the test on bad fixtures, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::panic)]

use drip_core::codec;
use proptest::prelude::*;

fn sample_blobs() -> Vec<Vec<u8>> {
    let path = format!("{}/tests/fixtures/xrpljs.json", env!("CARGO_MANIFEST_DIR"));
    let f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| hex::decode(t["tx_blob"].as_str().unwrap()).unwrap())
        .collect()
}

fn accepted_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(obj) = codec::decode(bytes) {
        prop_assert_eq!(codec::encode(&obj).unwrap(), bytes.to_vec());
        let json = codec::to_json(&obj);
        // What we show as JSON reads back to the same object (XRP-only blobs).
        if let Ok(back) = codec::from_json(&json) {
            prop_assert_eq!(back, obj);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        accepted_is_canonical(&bytes)?;
    }

    #[test]
    fn mutated_blobs(which in 0usize..10, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in any::<usize>()) {
        let blobs = sample_blobs();
        let mut blob = blobs[which % blobs.len()].clone();
        for (pos, byte) in edits {
            let i = pos % blob.len();
            blob[i] = byte;
        }
        accepted_is_canonical(&blob)?;
        let keep = cut % (blob.len() + 1);
        accepted_is_canonical(&blob[..keep])?;
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    // Memos (0xF9) holding Memo (0xEA) objects holding … : a stack bomb.
    let mut bytes = Vec::new();
    for _ in 0..10_000 {
        bytes.extend_from_slice(&[0xF9, 0xEA]);
    }
    assert!(codec::decode(&bytes).is_err());
}

#[test]
fn length_prefixes_beyond_the_input_are_refused_before_allocating() {
    // A Blob field (0x71 = PublicKey) claiming 918,744 bytes with none present.
    assert_eq!(
        codec::decode(&[0x71, 0xFE, 0xD4, 0x17]),
        Err(codec::CodecError::Truncated)
    );
}

#[test]
fn out_of_order_and_repeated_fields_are_refused() {
    // Sequence (0x24) before Flags (0x22), then Flags twice.
    assert!(codec::decode(&[0x24, 0, 0, 0, 1, 0x22, 0, 0, 0, 0]).is_err());
    assert!(codec::decode(&[0x22, 0, 0, 0, 0, 0x22, 0, 0, 0, 0]).is_err());
}

#[test]
fn negative_and_oversized_xrp_are_refused() {
    // Fee (0x68): sign bit clear = negative.
    assert_eq!(
        codec::decode(&[0x68, 0, 0, 0, 0, 0, 0, 0, 10]),
        Err(codec::CodecError::NegativeXrp)
    );
    assert_eq!(
        codec::decode(&[0x68, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        Err(codec::CodecError::XrpOverflow)
    );
}

/// Arbitrary JSON values, nested a few levels, with field names drip knows
/// mixed in so that the typed paths are reached.
fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let names = prop::sample::select(vec![
        "Account",
        "Amount",
        "Fee",
        "Flags",
        "Sequence",
        "Memos",
        "Memo",
        "MemoData",
        "TransactionType",
        "Channel",
        "OwnerNode",
        "SigningPubKey",
        "Destination",
        "nope",
    ]);
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::from),
        any::<i64>().prop_map(J::from),
        any::<u64>().prop_map(J::from),
        any::<f64>().prop_map(J::from),
        "[0-9A-Fa-f]{0,70}".prop_map(J::from),
        "\\PC{0,20}".prop_map(J::from),
        Just(J::from("Payment")),
        Just(J::from("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
            prop::collection::vec((names.clone(), inner), 0..5).prop_map(|kv| {
                J::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn from_json_never_panics_and_what_it_accepts_encodes(json in arb_json()) {
        if let Ok(obj) = codec::from_json(&json) {
            // Anything accepted is encodable and decodes back to itself.
            let bytes = codec::encode(&obj).unwrap();
            prop_assert_eq!(codec::decode(&bytes).unwrap(), obj);
        }
    }
}
