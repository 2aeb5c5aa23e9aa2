//! drip_mpp against the Python reference (`xrpl-mpp-core` 0.2.0, the library
//! `xrpl-mpp-client` pays with): the same request bytes, challenge ids and
//! headers, receipts, and credentials read back. The vectors are written by
//! `tests/vectors/generate.py`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use drip_core::Hash256;
use drip_mpp::amount::parse_drops;
use drip_mpp::{
    base64url, rfc3339, Challenge, Credential, Network, Payload, Receipt, ReceiptAction,
    SessionRequest,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/mpp_core.json")).unwrap()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// The request object, field by field, as drip_mpp's struct.
fn request_from_object(o: &Value) -> SessionRequest {
    let known = [
        "amount",
        "channelId",
        "currency",
        "description",
        "methodDetails",
        "recipient",
    ];
    for key in o.as_object().unwrap().keys() {
        assert!(known.contains(&key.as_str()), "{key}");
    }
    assert_eq!(text(o, "currency"), "XRP");
    let details = &o["methodDetails"];
    SessionRequest {
        amount: parse_drops(text(o, "amount")).unwrap(),
        channel_id: match text(o, "channelId") {
            "" => None,
            id => Some(id.parse().unwrap()),
        },
        recipient: text(o, "recipient").parse().unwrap(),
        description: o["description"].as_str().map(str::to_owned),
        cumulative_amount: details["cumulativeAmount"]
            .as_str()
            .map(|s| parse_drops(s).unwrap()),
        network: details["network"]
            .as_str()
            .map(|s| s.parse::<Network>().unwrap()),
    }
}

fn named_request(v: &Value, name: &str) -> SessionRequest {
    let r = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap();
    request_from_object(&r["object"])
}

#[test]
fn requests_are_byte_identical_jcs() {
    let v = vectors();
    let requests = v["requests"].as_array().unwrap();
    assert!(requests.len() >= 5);
    for r in requests {
        let request = request_from_object(&r["object"]);
        assert_eq!(
            String::from_utf8(request.to_jcs()).unwrap(),
            text(r, "jcs"),
            "{}",
            r["name"]
        );
        assert_eq!(
            request.to_base64url(),
            text(r, "base64url"),
            "{}",
            r["name"]
        );
        assert_eq!(
            SessionRequest::from_base64url(text(r, "base64url")),
            Ok(request)
        );
    }
}

#[test]
fn challenge_ids_and_headers_are_identical() {
    let v = vectors();
    for c in v["challenges"].as_array().unwrap() {
        let key: [u8; 32] = text(c, "key").as_bytes().try_into().unwrap();
        let expires = rfc3339::parse(text(c, "expires")).unwrap();
        let request = named_request(&v, text(c, "request_name"));
        let issued = Challenge::issue(
            &key,
            text(c, "realm"),
            &request,
            expires,
            c["description"].as_str(),
        )
        .unwrap();
        assert_eq!(issued.id, text(c, "id"));
        assert_eq!(issued.expires.as_deref(), Some(text(c, "expires")));
        assert_eq!(issued.header_value(), text(c, "header"));
        assert_eq!(issued.verify(&key, expires - 1), Ok(()));
    }
}

#[test]
fn receipts_are_byte_identical() {
    let v = vectors();
    let receipts = v["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 3);
    for r in receipts {
        let o = &r["object"];
        let action = match text(o, "action") {
            "open" => ReceiptAction::Open {
                tx_hash: text(o, "txHash").parse().unwrap(),
            },
            "voucher" => ReceiptAction::Voucher,
            "close" => ReceiptAction::Close,
            other => panic!("{other}"),
        };
        let receipt = Receipt {
            timestamp: rfc3339::parse(text(o, "timestamp")).unwrap(),
            challenge_id: text(o, "challengeId").to_owned(),
            channel_id: text(o, "channelId").parse().unwrap(),
            cumulative: parse_drops(text(o, "cumulative")).unwrap(),
            action,
        };
        assert_eq!(receipt.reference(), text(o, "reference"));
        assert_eq!(receipt.header_value(), text(r, "base64url"), "{o}");
        assert_eq!(Receipt::decode(text(r, "base64url")), Ok(receipt));
    }
}

#[test]
fn reference_credentials_parse_and_their_challenge_verifies() {
    let v = vectors();
    let challenge = &v["challenges"][0];
    let key: [u8; 32] = text(challenge, "key").as_bytes().try_into().unwrap();
    let expires = rfc3339::parse(text(challenge, "expires")).unwrap();
    for c in v["credentials"].as_array().unwrap() {
        let parsed = Credential::parse(text(c, "header")).unwrap();
        assert_eq!(parsed.challenge.id, text(challenge, "id"));
        assert_eq!(
            parsed.challenge.description.as_deref(),
            challenge["description"].as_str()
        );
        assert_eq!(parsed.challenge.verify(&key, expires - 60), Ok(()));
        assert_eq!(
            parsed.challenge.session_request(),
            Ok(named_request(&v, text(challenge, "request_name")))
        );
        assert_eq!(parsed.source.unwrap().to_string(), text(c, "source"));
        let p = &c["payload"];
        assert_eq!(parsed.payload.action(), text(p, "action"));
        assert_eq!(
            parsed.payload.amount(),
            parse_drops(text(p, "amount")).unwrap()
        );
        assert_eq!(
            parsed.payload.signature(),
            hex::decode(text(p, "signature")).unwrap()
        );
        match &parsed.payload {
            Payload::Open { transaction, .. } => {
                assert_eq!(*transaction, hex::decode(text(p, "transaction")).unwrap());
            }
            Payload::Voucher { channel_id, .. } | Payload::Close { channel_id, .. } => {
                assert_eq!(
                    *channel_id,
                    text(p, "channelId").parse::<Hash256>().unwrap()
                );
            }
        }
        // The credential JSON is the client's JCS; its token is canonical.
        let token = text(c, "header").strip_prefix("Payment ").unwrap();
        assert_eq!(base64url::encode(&base64url::decode(token).unwrap()), token);
    }
}
