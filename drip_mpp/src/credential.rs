//! The credential: `Authorization: Payment <base64url JSON>` with the echoed
//! challenge, the payer's DID and the session payload (`open`, `voucher` or
//! `close`). Parsing bounds the size first, then decodes, then checks every
//! field's syntax; what the values mean (signature, channel, high-water
//! mark) is for the caller.

use drip_core::Hash256;
use serde::Deserialize;

use crate::amount::{parse_drops, AmountError};
use crate::challenge::Challenge;
use crate::did::PayerDid;
use crate::problem::ProblemKind;
use crate::request::short_message;
use crate::{base64url, SCHEME};

/// The largest `Authorization` value read (the scheme included); checked
/// before anything is decoded.
pub const MAX_CREDENTIAL_BYTES: usize = 8192;
/// The largest signed `PaymentChannelCreate` an `open` may carry, in bytes.
pub const MAX_TRANSACTION_BYTES: usize = 2048;
/// The largest claim signature, in bytes (a DER secp256k1 signature is at
/// most 72, an Ed25519 one 64).
pub const MAX_SIGNATURE_BYTES: usize = 72;

/// Why a credential was refused. Every message is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Longer than [`MAX_CREDENTIAL_BYTES`].
    #[error("credential is larger than {MAX_CREDENTIAL_BYTES} bytes")]
    TooLarge,
    /// Not the `Payment` scheme.
    #[error("authorization does not use the Payment scheme")]
    Scheme,
    /// Not `Payment <token>` with exactly one space.
    #[error("authorization must be `Payment <base64url>`")]
    Syntax,
    /// The token is not canonical unpadded base64url.
    #[error("credential is not canonical unpadded base64url")]
    Base64,
    /// Not JSON of the credential's shape.
    #[error("credential JSON does not match the schema: {0}")]
    Json(String),
    /// A required payload member is absent.
    #[error("credential payload is missing {0}")]
    MissingField(&'static str),
    /// `payload.action` is not `open`, `voucher` or `close`.
    #[error("credential payload action must be open, voucher or close")]
    UnknownAction,
    /// A malformed or too large amount.
    #[error("credential {field} {source}")]
    Amount {
        /// The JSON member.
        field: &'static str,
        /// What is wrong with it.
        source: AmountError,
    },
    /// A member that must be hex is not (or is empty, or has an odd length).
    #[error("credential {0} must be non-empty hex")]
    InvalidHex(&'static str),
    /// A hex member decodes to more bytes than allowed.
    #[error("credential {field} is longer than {max} bytes")]
    TooLong {
        /// The JSON member.
        field: &'static str,
        /// The limit in bytes.
        max: usize,
    },
    /// `payload.channelId` is not 64 hex digits.
    #[error("credential payload.channelId must be 64 hex digits")]
    InvalidChannelId,
    /// `source` is not `did:pkh:xrpl:<network>:<classic address>`.
    #[error("credential source {0}")]
    InvalidSource(&'static str),
}

impl CredentialError {
    /// The problem type to answer with: always `malformed-credential`.
    pub fn problem_kind(&self) -> ProblemKind {
        ProblemKind::MalformedCredential
    }
}

/// The session payload, by `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Open a channel: the payer's signed, unsubmitted
    /// `PaymentChannelCreate` and the first claim on it.
    Open {
        /// `transaction`: the signed blob.
        transaction: Vec<u8>,
        /// `amount`: the first claim's cumulative drops.
        amount: u64,
        /// `signature`: the first claim's signature.
        signature: Vec<u8>,
    },
    /// A cumulative claim on an open channel.
    Voucher {
        /// `channelId`.
        channel_id: Hash256,
        /// `amount`: the new cumulative drops.
        amount: u64,
        /// `signature`: the claim's signature.
        signature: Vec<u8>,
    },
    /// The final cumulative claim: pay, then redeem and close.
    Close {
        /// `channelId`.
        channel_id: Hash256,
        /// `amount`: the final cumulative drops.
        amount: u64,
        /// `signature`: the claim's signature.
        signature: Vec<u8>,
    },
}

impl Payload {
    /// The wire `action`.
    pub fn action(&self) -> &'static str {
        match self {
            Payload::Open { .. } => "open",
            Payload::Voucher { .. } => "voucher",
            Payload::Close { .. } => "close",
        }
    }

    /// The claimed cumulative drops.
    pub fn amount(&self) -> u64 {
        match self {
            Payload::Open { amount, .. }
            | Payload::Voucher { amount, .. }
            | Payload::Close { amount, .. } => *amount,
        }
    }

    /// The claim's signature.
    pub fn signature(&self) -> &[u8] {
        match self {
            Payload::Open { signature, .. }
            | Payload::Voucher { signature, .. }
            | Payload::Close { signature, .. } => signature,
        }
    }

    /// The channel, when the payload names one (not on `open`, whose id
    /// comes from the validated transaction).
    pub fn channel_id(&self) -> Option<Hash256> {
        match self {
            Payload::Open { .. } => None,
            Payload::Voucher { channel_id, .. } | Payload::Close { channel_id, .. } => {
                Some(*channel_id)
            }
        }
    }
}

/// A parsed `Payment` credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The challenge, as echoed: check it with [`Challenge::verify`].
    pub challenge: Challenge,
    /// `source`: the payer's DID, when sent.
    pub source: Option<PayerDid>,
    /// `payload`.
    pub payload: Payload,
}

#[derive(Deserialize)]
struct WireCredential {
    challenge: Challenge,
    #[serde(default)]
    source: Option<String>,
    payload: WirePayload,
}

/// Every member any action uses; others are ignored.
#[derive(Deserialize)]
struct WirePayload {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    transaction: Option<String>,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(rename = "channelId", default)]
    channel_id: Option<String>,
}

fn required<'a>(v: &'a Option<String>, field: &'static str) -> Result<&'a str, CredentialError> {
    v.as_deref().ok_or(CredentialError::MissingField(field))
}

/// Non-empty, even-length hex of at most `max` bytes, either case.
fn hex_field(s: &str, field: &'static str, max: usize) -> Result<Vec<u8>, CredentialError> {
    if s.len() > max.saturating_mul(2) {
        return Err(CredentialError::TooLong { field, max });
    }
    if s.is_empty() {
        return Err(CredentialError::InvalidHex(field));
    }
    hex::decode(s).map_err(|_| CredentialError::InvalidHex(field))
}

impl WirePayload {
    fn into_payload(self) -> Result<Payload, CredentialError> {
        let action = required(&self.action, "payload.action")?;
        if !matches!(action, "open" | "voucher" | "close") {
            return Err(CredentialError::UnknownAction);
        }
        let amount = parse_drops(required(&self.amount, "payload.amount")?).map_err(|source| {
            CredentialError::Amount {
                field: "payload.amount",
                source,
            }
        })?;
        let signature = hex_field(
            required(&self.signature, "payload.signature")?,
            "payload.signature",
            MAX_SIGNATURE_BYTES,
        )?;
        let channel_id = || -> Result<Hash256, CredentialError> {
            required(&self.channel_id, "payload.channelId")?
                .parse()
                .map_err(|_| CredentialError::InvalidChannelId)
        };
        match action {
            "open" => Ok(Payload::Open {
                transaction: hex_field(
                    required(&self.transaction, "payload.transaction")?,
                    "payload.transaction",
                    MAX_TRANSACTION_BYTES,
                )?,
                amount,
                signature,
            }),
            "voucher" => Ok(Payload::Voucher {
                channel_id: channel_id()?,
                amount,
                signature,
            }),
            "close" => Ok(Payload::Close {
                channel_id: channel_id()?,
                amount,
                signature,
            }),
            _ => Err(CredentialError::UnknownAction),
        }
    }
}

impl Credential {
    /// The `Authorization` value a payer sends: `Payment ` and base64url of
    /// the credential JSON (hex in upper case, amounts as strings).
    pub fn header_value(&self) -> String {
        let mut payload = serde_json::Map::new();
        let mut put = |k: &str, v: String| {
            payload.insert(k.to_owned(), serde_json::Value::String(v));
        };
        put("action", self.payload.action().to_owned());
        put("amount", self.payload.amount().to_string());
        put("signature", hex::encode_upper(self.payload.signature()));
        match &self.payload {
            Payload::Open { transaction, .. } => put("transaction", hex::encode_upper(transaction)),
            Payload::Voucher { channel_id, .. } | Payload::Close { channel_id, .. } => {
                put("channelId", channel_id.to_string())
            }
        }
        let mut json = serde_json::json!({"challenge": self.challenge, "payload": payload});
        if let (Some(source), Some(o)) = (&self.source, json.as_object_mut()) {
            o.insert("source".into(), source.to_string().into());
        }
        format!(
            "{SCHEME} {}",
            base64url::encode(json.to_string().as_bytes())
        )
    }

    /// Read an `Authorization` header value: `Payment` (any case), one
    /// space, then base64url (no padding) of the credential JSON. Unknown
    /// members are ignored, duplicate members refused.
    pub fn parse(header_value: &str) -> Result<Credential, CredentialError> {
        if header_value.len() > MAX_CREDENTIAL_BYTES {
            return Err(CredentialError::TooLarge);
        }
        let (scheme, token) = header_value
            .split_once(' ')
            .ok_or(CredentialError::Syntax)?;
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return Err(CredentialError::Scheme);
        }
        if token.is_empty() || token.contains(' ') {
            return Err(CredentialError::Syntax);
        }
        let json = base64url::decode(token).map_err(|_| CredentialError::Base64)?;
        let wire: WireCredential =
            serde_json::from_slice(&json).map_err(|e| CredentialError::Json(short_message(&e)))?;
        Ok(Credential {
            source: wire.source.as_deref().map(PayerDid::parse).transpose()?,
            payload: wire.payload.into_payload()?,
            challenge: wire.challenge,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    const CHANNEL: &str = "c008a7b1e4c3a6b2d5f0e9c8b7a6d5e4f3c2b1a0918273645546372819a0b1c2";
    const SOURCE: &str = "did:pkh:xrpl:testnet:rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL";

    fn challenge() -> Value {
        json!({
            "expires": "2026-12-08T02:58:40Z",
            "id": "kNbr",
            "intent": "session",
            "method": "xrpl",
            "realm": "merchant.test",
            "request": "eyJ9",
        })
    }

    fn header(v: &Value) -> String {
        format!("Payment {}", base64url::encode(v.to_string().as_bytes()))
    }

    fn voucher() -> Value {
        json!({
            "challenge": challenge(),
            "payload": {"action": "voucher", "amount": "2000", "channelId": CHANNEL, "signature": "66C6AB"},
            "source": SOURCE,
        })
    }

    type Change = Box<dyn Fn(&mut Value)>;

    fn parse(v: &Value) -> Result<Credential, CredentialError> {
        Credential::parse(&header(v))
    }

    #[test]
    fn a_credential_written_is_read_back() {
        let c = parse(&voucher()).unwrap();
        assert_eq!(Credential::parse(&c.header_value()).unwrap(), c);
        let open = Credential {
            payload: Payload::Open {
                transaction: vec![0x12, 0x00, 0x0D],
                amount: 1000,
                signature: vec![0xAB; 64],
            },
            ..c
        };
        assert_eq!(Credential::parse(&open.header_value()).unwrap(), open);
    }

    #[test]
    fn reads_a_voucher() {
        let c = parse(&voucher()).unwrap();
        assert_eq!(c.challenge.id, "kNbr");
        assert_eq!(c.challenge.expires.as_deref(), Some("2026-12-08T02:58:40Z"));
        assert_eq!(c.challenge.description, None);
        assert_eq!(c.source.unwrap().to_string(), SOURCE);
        assert_eq!(
            c.payload,
            Payload::Voucher {
                channel_id: CHANNEL.parse().unwrap(),
                amount: 2000,
                signature: vec![0x66, 0xc6, 0xab],
            }
        );
        assert_eq!(c.payload.action(), "voucher");
        assert_eq!(
            c.payload.channel_id().unwrap().to_string(),
            CHANNEL.to_uppercase()
        );
    }

    #[test]
    fn reads_open_and_close() {
        let mut v = voucher();
        v["payload"] = json!({"action": "open", "transaction": "1200", "amount": "1000", "signature": "AA", "extra": [1, {"x": null}]});
        let c = parse(&v).unwrap();
        assert_eq!(
            c.payload,
            Payload::Open {
                transaction: vec![0x12, 0],
                amount: 1000,
                signature: vec![0xaa]
            }
        );
        assert_eq!(c.payload.channel_id(), None);
        v["payload"] =
            json!({"action": "close", "amount": "4000", "channelId": CHANNEL, "signature": "aa"});
        let c = parse(&v).unwrap();
        assert_eq!(c.payload.action(), "close");
        assert_eq!(c.payload.amount(), 4000);
        assert_eq!(c.payload.signature(), [0xaa]);
    }

    #[test]
    fn scheme_and_framing() {
        let token = header(&voucher());
        let token = token.strip_prefix("Payment ").unwrap();
        for scheme in ["payment", "PAYMENT", "pAyMeNt"] {
            assert!(Credential::parse(&format!("{scheme} {token}")).is_ok());
        }
        assert_eq!(
            Credential::parse(&format!("Bearer {token}")),
            Err(CredentialError::Scheme)
        );
        assert_eq!(
            Credential::parse(&format!("Payment  {token}")),
            Err(CredentialError::Syntax)
        );
        assert_eq!(
            Credential::parse(&format!("Payment {token} ")),
            Err(CredentialError::Syntax)
        );
        assert_eq!(Credential::parse("Payment"), Err(CredentialError::Syntax));
        assert_eq!(Credential::parse("Payment "), Err(CredentialError::Syntax));
        assert_eq!(
            Credential::parse(&format!("Payment\t{token}")),
            Err(CredentialError::Syntax)
        );
        assert_eq!(
            Credential::parse(&format!("Payment {token}=")),
            Err(CredentialError::Base64)
        );
        assert_eq!(
            Credential::parse("Payment e30="),
            Err(CredentialError::Base64)
        );
        assert!(matches!(
            Credential::parse("Payment e30"),
            Err(CredentialError::Json(_))
        ));
    }

    #[test]
    fn size_is_bounded_before_decoding() {
        let big = format!("Payment {}", "A".repeat(MAX_CREDENTIAL_BYTES));
        assert_eq!(Credential::parse(&big), Err(CredentialError::TooLarge));
        let mut v = voucher();
        v["payload"]["pad"] = json!("x".repeat(5000));
        assert!(header(&v).len() <= MAX_CREDENTIAL_BYTES);
        assert!(parse(&v).is_ok());
        v["payload"]["pad"] = json!("x".repeat(7000));
        assert_eq!(parse(&v), Err(CredentialError::TooLarge));
    }

    #[test]
    fn refuses_bad_fields() {
        use CredentialError::*;
        let cases: Vec<(Change, CredentialError)> = vec![
            (
                Box::new(|v| v["payload"]["action"] = json!("refund")),
                UnknownAction,
            ),
            (
                Box::new(|v| v["payload"]["action"] = json!("Voucher")),
                UnknownAction,
            ),
            (
                Box::new(|v| drop(v["payload"].as_object_mut().unwrap().remove("action"))),
                MissingField("payload.action"),
            ),
            (
                Box::new(|v| drop(v["payload"].as_object_mut().unwrap().remove("channelId"))),
                MissingField("payload.channelId"),
            ),
            (
                Box::new(|v| v["payload"]["amount"] = json!("+1")),
                Amount {
                    field: "payload.amount",
                    source: AmountError::Syntax,
                },
            ),
            (
                Box::new(|v| v["payload"]["amount"] = json!("9223372036854775808")),
                Amount {
                    field: "payload.amount",
                    source: AmountError::TooLarge,
                },
            ),
            (
                Box::new(|v| v["payload"]["amount"] = json!("123456789012345678901")),
                Amount {
                    field: "payload.amount",
                    source: AmountError::Syntax,
                },
            ),
            (
                Box::new(|v| v["payload"]["channelId"] = json!("ABCD")),
                InvalidChannelId,
            ),
            (
                Box::new(|v| v["payload"]["signature"] = json!("")),
                InvalidHex("payload.signature"),
            ),
            (
                Box::new(|v| v["payload"]["signature"] = json!("ABC")),
                InvalidHex("payload.signature"),
            ),
            (
                Box::new(|v| v["payload"]["signature"] = json!("0xAB")),
                InvalidHex("payload.signature"),
            ),
            (
                Box::new(|v| v["payload"]["signature"] = json!("AB".repeat(73))),
                TooLong {
                    field: "payload.signature",
                    max: 72,
                },
            ),
            (
                Box::new(
                    |v| v["payload"] = json!({"action": "open", "amount": "1", "signature": "AB", "transaction": "12".repeat(2049)}),
                ),
                TooLong {
                    field: "payload.transaction",
                    max: 2048,
                },
            ),
            (
                Box::new(|v| {
                    v["payload"] = json!({"action": "open", "amount": "1", "signature": "AB"})
                }),
                MissingField("payload.transaction"),
            ),
            (
                Box::new(|v| v["source"] = json!("did:pkh:xrpl:testnet:rBad")),
                InvalidSource("address is not a classic XRPL address"),
            ),
        ];
        for (change, want) in cases {
            let mut v = voucher();
            change(&mut v);
            assert_eq!(parse(&v), Err(want), "{v}");
        }
        let json_errors: Vec<Change> = vec![
            Box::new(|v| v["payload"]["amount"] = json!(2000)),
            Box::new(|v| v["source"] = json!(5)),
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("payload"))),
            Box::new(|v| drop(v["challenge"].as_object_mut().unwrap().remove("id"))),
            Box::new(|v| v["challenge"]["expires"] = json!(17)),
            Box::new(|v| v["payload"] = json!("voucher")),
        ];
        for change in json_errors {
            let mut v = voucher();
            change(&mut v);
            assert!(matches!(parse(&v), Err(Json(_))), "{v}");
        }
        // Duplicate members are refused, not resolved.
        let json = voucher()
            .to_string()
            .replace(r#""amount":"2000""#, r#""amount":"1","amount":"2000""#);
        let dup = format!("Payment {}", base64url::encode(json.as_bytes()));
        assert!(matches!(Credential::parse(&dup), Err(Json(_))));
    }

    #[test]
    fn null_source_and_optional_challenge_members() {
        let mut v = voucher();
        v["source"] = Value::Null;
        v["challenge"]["description"] = json!("Paid \"API\"");
        v["challenge"]["digest"] = json!("sha-256=:x:");
        v["challenge"]["header"] = json!("Payment-Authorization");
        v["unknown"] = json!({"deep": [[[]]]});
        let c = parse(&v).unwrap();
        assert_eq!(c.source, None);
        assert_eq!(c.challenge.description.as_deref(), Some("Paid \"API\""));
        assert_eq!(c.challenge.digest.as_deref(), Some("sha-256=:x:"));
    }

    #[test]
    fn errors_do_not_echo_long_input() {
        let mut v = voucher();
        v["payload"]["amount"] = json!(["x".repeat(3000)]);
        let e = parse(&v).unwrap_err().to_string();
        assert!(e.len() < 300, "{e}");
    }

    proptest! {
        #[test]
        fn garbage_headers_never_panic(s in "\\PC{0,300}") {
            let _ = Credential::parse(&s);
            let _ = Credential::parse(&format!("Payment {s}"));
        }

        #[test]
        fn garbage_tokens_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Credential::parse(&format!("Payment {}", base64url::encode(&bytes)));
        }

        #[test]
        fn near_miss_payloads_never_panic(
            action in "open|voucher|close|x",
            amount in "[0-9+-]{0,22}",
            signature in "[0-9A-Fa-g]{0,150}",
            channel in "[0-9A-Fa-g]{0,66}",
            transaction in "[0-9a-f]{0,10}",
        ) {
            let mut v = voucher();
            v["payload"] = json!({"action": action, "amount": amount, "signature": signature, "channelId": channel, "transaction": transaction});
            let _ = parse(&v);
        }
    }
}
