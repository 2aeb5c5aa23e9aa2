//! drip_core against vectors it did not make: xrpl.js output
//! (`fixtures/xrpljs.json`, from `scripts/vectors/generate.sh`) and the
//! examples on xrpl.org (`fixtures/xrpl_org.json`).

// Fixture helpers fail the test on bad fixtures, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::panic)]

use drip_core::channel::channel_id;
use drip_core::claim::{claim_message, sign_claim, verify_claim};
use drip_core::codec::{self, field, Amount, Value};
use drip_core::keys::{KeyPair, KeyType, PublicKey, SignatureError};
use drip_core::tx::{self, signing_data};
use drip_core::{AccountId, Drops, Hash256, Seed};

mod common;
use common::{fixture, s, xrpljs};

#[test]
fn seeds_keys_and_addresses_match_xrpl_js() {
    let f = xrpljs();
    let keys = f["keys"].as_array().unwrap();
    assert!(keys.len() >= 9);
    for k in keys {
        let seed: Seed = s(k, "seed").parse().unwrap();
        let kt: KeyType = s(k, "key_type").parse().unwrap();
        assert_eq!(seed.key_type(), kt);
        assert_eq!(hex::encode_upper(seed.entropy()), s(k, "entropy"));
        assert_eq!(seed.encode(), s(k, "seed"));
        let pair = seed.key_pair().unwrap();
        assert_eq!(pair.public_key().to_hex(), s(k, "public_key"), "{k}");
        assert_eq!(pair.public_key().to_base58(), s(k, "public_key_base58"));
        assert_eq!(pair.account_id().to_address(), s(k, "address"));
        let back = PublicKey::from_base58(s(k, "public_key_base58")).unwrap();
        assert_eq!(&back, pair.public_key());
        let addr: AccountId = s(k, "address").parse().unwrap();
        assert_eq!(addr, pair.account_id());
    }
}

#[test]
fn channel_ids_match_xrpl_js() {
    let f = xrpljs();
    for c in f["channels"].as_array().unwrap() {
        let src: AccountId = s(c, "source").parse().unwrap();
        let dst: AccountId = s(c, "destination").parse().unwrap();
        let seq = u32::try_from(c["sequence"].as_u64().unwrap()).unwrap();
        assert_eq!(channel_id(&src, &dst, seq).to_string(), s(c, "channel_id"));
    }
}

#[test]
fn claims_match_xrpl_js_byte_for_byte() {
    let f = xrpljs();
    let keys = f["keys"].as_array().unwrap();
    let claims = f["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 16);
    for c in claims {
        let key = PublicKey::from_hex(s(c, "public_key")).unwrap();
        let channel: Hash256 = s(c, "channel_id").parse().unwrap();
        let amount: Drops = s(c, "amount").parse().unwrap();
        let sig = hex::decode(s(c, "signature")).unwrap();
        assert_eq!(
            hex::encode_upper(claim_message(&channel, amount)),
            s(c, "message")
        );
        assert_eq!(verify_claim(&key, &channel, amount, &sig), Ok(()), "{c}");
        // Signing is deterministic for both key types: we make the same bytes.
        let seed = keys
            .iter()
            .find(|k| s(k, "public_key") == s(c, "public_key"))
            .map(|k| s(k, "seed").parse::<Seed>().unwrap())
            .unwrap();
        let ours = sign_claim(&seed.key_pair().unwrap(), &channel, amount);
        assert_eq!(hex::encode_upper(ours), s(c, "signature"));
    }
    let amounts: Vec<&str> = claims.iter().map(|c| s(c, "amount")).collect();
    for edge in [
        "1",
        "1000000",
        "9223372036854775807",
        "18446744073709551615",
    ] {
        assert!(amounts.contains(&edge), "no claim for {edge}");
    }
}

#[test]
fn tampered_claims_are_refused() {
    let f = xrpljs();
    for c in f["claims"].as_array().unwrap() {
        let key = PublicKey::from_hex(s(c, "public_key")).unwrap();
        let channel: Hash256 = s(c, "channel_id").parse().unwrap();
        let amount: Drops = s(c, "amount").parse().unwrap();
        let sig = hex::decode(s(c, "signature")).unwrap();

        let other_amount = Drops::new(amount.get() ^ 1);
        assert_eq!(
            verify_claim(&key, &channel, other_amount, &sig),
            Err(SignatureError::Mismatch)
        );
        let mut other_channel = channel;
        other_channel.0[31] ^= 1;
        assert_eq!(
            verify_claim(&key, &other_channel, amount, &sig),
            Err(SignatureError::Mismatch)
        );
        for i in 0..sig.len() {
            let mut flipped = sig.clone();
            flipped[i] ^= 0x10;
            assert!(verify_claim(&key, &channel, amount, &flipped).is_err());
        }
        // The same signature under a key of the other type, or a bad type byte.
        let mut wrong_type = *key.as_bytes();
        wrong_type[0] = if wrong_type[0] == 0xED { 0x02 } else { 0xED };
        if let Ok(k) = PublicKey::from_slice(&wrong_type) {
            assert!(verify_claim(&k, &channel, amount, &sig).is_err());
        }
        wrong_type[0] = 0x04;
        assert!(PublicKey::from_slice(&wrong_type).is_err());
    }
}

#[test]
fn field_table_matches_the_reference_definitions() {
    let f = xrpljs();
    let defs = &f["definitions"];
    for fd in field::FIELDS {
        let d = &defs["fields"][fd.name];
        assert!(d.is_object(), "{} is not in definitions.json", fd.name);
        assert_eq!(
            d["type_code"].as_u64(),
            Some(fd.type_code as u64),
            "{}",
            fd.name
        );
        assert_eq!(d["nth"].as_u64(), Some(u64::from(fd.nth)), "{}", fd.name);
        assert_eq!(d["signing"].as_bool(), Some(fd.signing), "{}", fd.name);
    }
    for (name, code) in field::TRANSACTION_TYPES {
        assert_eq!(
            defs["transaction_types"][name].as_u64(),
            Some(u64::from(*code)),
            "{name}"
        );
    }
    for (name, code) in field::LEDGER_ENTRY_TYPES {
        assert_eq!(
            defs["ledger_entry_types"][name].as_u64(),
            Some(u64::from(*code)),
            "{name}"
        );
    }
}

#[test]
fn transactions_match_xrpl_js_byte_for_byte() {
    let f = xrpljs();
    let txs = f["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 10);
    for t in txs {
        let blob = hex::decode(s(t, "tx_blob")).unwrap();
        // Decode, re-encode: the same bytes; the same JSON as xrpl.js decodes.
        let decoded = codec::decode(&blob).unwrap();
        assert_eq!(codec::encode(&decoded).unwrap(), blob);
        assert_eq!(codec::to_json(&decoded), t["signed_json"]);
        assert_eq!(tx::transaction_id(&blob).to_string(), s(t, "hash"));
        tx::verify_signature(&decoded).unwrap();

        // Build from the unsigned JSON and sign ourselves: the same blob.
        let mut ours = codec::from_json(&t["tx_json"]).unwrap();
        let key = s(t, "seed").parse::<Seed>().unwrap().key_pair().unwrap();
        let mut unsigned = ours.clone();
        unsigned
            .set_named(
                "SigningPubKey",
                Value::Blob(key.public_key().as_bytes().to_vec()),
            )
            .unwrap();
        assert_eq!(
            hex::encode_upper(signing_data(&unsigned).unwrap()),
            s(t, "signing_data")
        );
        let signed = tx::sign(&mut ours, &key).unwrap();
        assert_eq!(
            hex::encode_upper(&signed.blob),
            s(t, "tx_blob"),
            "{}",
            t["tx_json"]
        );
        assert_eq!(signed.hash.to_string(), s(t, "hash"));
    }
}

#[test]
fn a_changed_field_breaks_the_transaction_signature() {
    let f = xrpljs();
    for t in f["transactions"].as_array().unwrap() {
        let mut decoded = codec::decode(&hex::decode(s(t, "tx_blob")).unwrap()).unwrap();
        let fee = decoded.xrp("Fee").unwrap();
        decoded
            .set_named("Fee", Value::Amount(Amount::Xrp(Drops::new(fee.get() + 1))))
            .unwrap();
        assert!(tx::verify_signature(&decoded).is_err());
    }
}

#[test]
fn xrpl_org_channel_verify_example() {
    let f = fixture("xrpl_org.json");
    let v = &f["channel_verify"];
    let key = PublicKey::from_hex(s(v, "public_key_hex")).unwrap();
    assert_eq!(key.to_base58(), s(v, "public_key_base58"));
    let channel: Hash256 = s(v, "channel_id").parse().unwrap();
    let amount: Drops = s(v, "amount").parse().unwrap();
    let sig = hex::decode(s(v, "signature")).unwrap();
    assert_eq!(verify_claim(&key, &channel, amount, &sig), Ok(()));
}

#[test]
fn xrpl_org_submit_examples_hash_to_their_ids() {
    let f = fixture("xrpl_org.json");
    for ex in f["submit"].as_array().unwrap() {
        let blob = hex::decode(s(ex, "tx_blob")).unwrap();
        assert_eq!(tx::transaction_id(&blob).to_string(), s(ex, "hash"));
        // They are issued-currency payments: decode, re-encode, verify.
        let decoded = codec::decode(&blob).unwrap();
        assert_eq!(codec::encode(&decoded).unwrap(), blob);
        assert_eq!(
            decoded.account("Account").unwrap().to_address(),
            s(ex, "account")
        );
        assert_eq!(
            decoded.account("Destination").unwrap().to_address(),
            s(ex, "destination")
        );
        assert_eq!(
            u64::from(decoded.u32("Sequence").unwrap()),
            ex["sequence"].as_u64().unwrap()
        );
        let json = codec::to_json(&decoded);
        assert_eq!(json["Amount"]["value"], "1");
        assert_eq!(json["Amount"]["currency"], "USD");
        let key = tx::verify_signature(&decoded).unwrap();
        assert_eq!(key.key_type(), KeyType::Secp256k1);
        assert_eq!(key.account_id().to_address(), s(ex, "account"));
    }
}

#[test]
fn key_pair_from_secret_matches_seed_derivation() {
    let f = xrpljs();
    for k in f["keys"].as_array().unwrap() {
        let private = hex::decode(s(k, "private_key")).unwrap();
        let secret: [u8; 32] = private[1..].try_into().unwrap();
        let pair = match s(k, "key_type") {
            "ed25519" => KeyPair::ed25519_from_secret(&secret),
            _ => KeyPair::secp256k1_from_secret(&secret),
        }
        .unwrap();
        assert_eq!(pair.public_key().to_hex(), s(k, "public_key"));
    }
}
