//! The `Payment-Receipt` header of a paid 2xx: base64url (no padding) of
//! the receipt JSON, JCS-ordered. Clients advance their session state only
//! on a receipt whose `reference` matches what they signed:
//! `open:<CHANNELID>:<TXHASH>` after an open, `<CHANNELID>:<cumulative>`
//! after a voucher or a close, hex in upper case.

use drip_core::Hash256;
use serde::{Deserialize, Serialize};

use crate::amount::parse_drops;
use crate::request::short_message;
use crate::{base64url, rfc3339, METHOD};

/// What the paid request did, and for an open the transaction that did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptAction {
    /// The channel was opened by the `PaymentChannelCreate` `tx_hash`.
    Open {
        /// The validated transaction's hash.
        tx_hash: Hash256,
    },
    /// A voucher was accepted.
    Voucher,
    /// The final voucher was accepted; the channel is to be closed.
    Close,
}

impl ReceiptAction {
    /// The wire `action`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptAction::Open { .. } => "open",
            ReceiptAction::Voucher => "voucher",
            ReceiptAction::Close => "close",
        }
    }
}

/// A receipt for one accepted claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// `timestamp`, unix seconds (written as RFC 3339 UTC).
    pub timestamp: i64,
    /// `challengeId`: the id of the challenge the credential answered.
    pub challenge_id: String,
    /// `channelId`.
    pub channel_id: Hash256,
    /// `cumulative`: the accepted claim's cumulative drops.
    pub cumulative: u64,
    /// `action` (and `txHash` for an open).
    pub action: ReceiptAction,
}

/// Why a receipt could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not canonical unpadded base64url.
    #[error("receipt is not canonical unpadded base64url")]
    Base64,
    /// Not JSON of the receipt's shape.
    #[error("receipt JSON does not match the schema: {0}")]
    Json(String),
    /// A member with a wrong value.
    #[error("receipt {0} is invalid")]
    Field(&'static str),
}

/// The receipt as written, members in JCS (sorted) order.
#[derive(Serialize)]
struct WireOut<'a> {
    action: &'static str,
    #[serde(rename = "challengeId")]
    challenge_id: &'a str,
    #[serde(rename = "channelId")]
    channel_id: String,
    cumulative: String,
    method: &'static str,
    reference: String,
    status: &'static str,
    timestamp: String,
    #[serde(rename = "txHash", skip_serializing_if = "Option::is_none")]
    tx_hash: Option<String>,
}

#[derive(Deserialize)]
struct WireIn {
    action: String,
    #[serde(rename = "challengeId")]
    challenge_id: String,
    #[serde(rename = "channelId")]
    channel_id: String,
    cumulative: String,
    method: String,
    reference: String,
    status: String,
    timestamp: String,
    #[serde(rename = "txHash", default)]
    tx_hash: Option<String>,
}

impl Receipt {
    /// `reference`: `open:<CHANNELID>:<TXHASH>` or `<CHANNELID>:<cumulative>`.
    pub fn reference(&self) -> String {
        match self.action {
            ReceiptAction::Open { tx_hash } => format!("open:{}:{tx_hash}", self.channel_id),
            ReceiptAction::Voucher | ReceiptAction::Close => {
                format!("{}:{}", self.channel_id, self.cumulative)
            }
        }
    }

    /// `txHash`: the open's transaction.
    pub fn tx_hash(&self) -> Option<Hash256> {
        match self.action {
            ReceiptAction::Open { tx_hash } => Some(tx_hash),
            ReceiptAction::Voucher | ReceiptAction::Close => None,
        }
    }

    /// The receipt JSON (JCS: sorted keys, no whitespace).
    pub fn to_json(&self) -> Vec<u8> {
        let wire = WireOut {
            action: self.action.as_str(),
            challenge_id: &self.challenge_id,
            channel_id: self.channel_id.to_string(),
            cumulative: self.cumulative.to_string(),
            method: METHOD,
            reference: self.reference(),
            status: "success",
            timestamp: rfc3339::format(self.timestamp),
            tx_hash: self.tx_hash().map(|h| h.to_string()),
        };
        // A struct of strings always serialises.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// The `Payment-Receipt` header value.
    pub fn header_value(&self) -> String {
        base64url::encode(&self.to_json())
    }

    /// Read a `Payment-Receipt` value as [`header_value`](Self::header_value)
    /// writes it (unknown members are ignored; `reference` must agree with
    /// the other members).
    pub fn decode(s: &str) -> Result<Receipt, ReceiptError> {
        let json = base64url::decode(s).map_err(|_| ReceiptError::Base64)?;
        let wire: WireIn =
            serde_json::from_slice(&json).map_err(|e| ReceiptError::Json(short_message(&e)))?;
        if wire.status != "success" {
            return Err(ReceiptError::Field("status"));
        }
        if wire.method != METHOD {
            return Err(ReceiptError::Field("method"));
        }
        let hash = |s: &str, field| s.parse::<Hash256>().map_err(|_| ReceiptError::Field(field));
        let action = match (wire.action.as_str(), wire.tx_hash.as_deref()) {
            ("open", Some(tx)) => ReceiptAction::Open {
                tx_hash: hash(tx, "txHash")?,
            },
            ("open", None) => return Err(ReceiptError::Field("txHash")),
            ("voucher", _) => ReceiptAction::Voucher,
            ("close", _) => ReceiptAction::Close,
            _ => return Err(ReceiptError::Field("action")),
        };
        let receipt = Receipt {
            timestamp: rfc3339::parse(&wire.timestamp)
                .map_err(|_| ReceiptError::Field("timestamp"))?,
            challenge_id: wire.challenge_id,
            channel_id: hash(&wire.channel_id, "channelId")?,
            cumulative: parse_drops(&wire.cumulative)
                .map_err(|_| ReceiptError::Field("cumulative"))?,
            action,
        };
        if wire.reference != receipt.reference() {
            return Err(ReceiptError::Field("reference"));
        }
        Ok(receipt)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const CHANNEL: &str = "C008A7B1E4C3A6B2D5F0E9C8B7A6D5E4F3C2B1A0918273645546372819A0B1C2";
    const TX: &str = "5DB01B7FFED6B67E6B0414DED11E051D2EE2B7619CE0EAA6286D67A3A4D5BDB3";

    fn voucher() -> Receipt {
        Receipt {
            timestamp: 1_736_942_400,
            challenge_id: "kNbr".into(),
            channel_id: CHANNEL.to_lowercase().parse().unwrap(),
            cumulative: 3000,
            action: ReceiptAction::Voucher,
        }
    }

    #[test]
    fn writes_sorted_json_with_the_reference() {
        let r = voucher();
        assert_eq!(
            String::from_utf8(r.to_json()).unwrap(),
            format!(
                r#"{{"action":"voucher","challengeId":"kNbr","channelId":"{CHANNEL}","cumulative":"3000","method":"xrpl","reference":"{CHANNEL}:3000","status":"success","timestamp":"2025-01-15T12:00:00Z"}}"#
            )
        );
        let open = Receipt {
            action: ReceiptAction::Open {
                tx_hash: TX.to_lowercase().parse().unwrap(),
            },
            ..voucher()
        };
        let json = String::from_utf8(open.to_json()).unwrap();
        assert!(json.starts_with(r#"{"action":"open","#));
        assert!(json.contains(&format!(r#""reference":"open:{CHANNEL}:{TX}""#)));
        assert!(json.ends_with(&format!(r#""txHash":"{TX}"}}"#)));
        let close = Receipt {
            action: ReceiptAction::Close,
            ..voucher()
        };
        assert_eq!(close.reference(), format!("{CHANNEL}:3000"));
        for r in [r, open, close] {
            assert_eq!(Receipt::decode(&r.header_value()), Ok(r));
        }
    }

    #[test]
    fn decode_checks_the_members_agree() {
        let json = String::from_utf8(voucher().to_json()).unwrap();
        let bad = |from: &str, to: &str| {
            Receipt::decode(&base64url::encode(json.replace(from, to).as_bytes()))
        };
        assert_eq!(
            bad(":3000\"", ":3001\""),
            Err(ReceiptError::Field("reference"))
        );
        assert_eq!(
            bad("success", "failure"),
            Err(ReceiptError::Field("status"))
        );
        assert_eq!(
            bad("\"xrpl\"", "\"tempo\""),
            Err(ReceiptError::Field("method"))
        );
        assert_eq!(
            bad("\"voucher\"", "\"open\""),
            Err(ReceiptError::Field("txHash"))
        );
        assert_eq!(
            bad("\"voucher\"", "\"pay\""),
            Err(ReceiptError::Field("action"))
        );
        assert_eq!(
            bad("12:00:00Z", "12:00:00"),
            Err(ReceiptError::Field("timestamp"))
        );
        assert!(matches!(
            bad("\"3000\"", "3000"),
            Err(ReceiptError::Json(_))
        ));
        assert_eq!(Receipt::decode("e30="), Err(ReceiptError::Base64));
    }

    proptest! {
        #[test]
        fn round_trips(
            t in rfc3339::MIN_UNIX..=rfc3339::MAX_UNIX,
            id in "[A-Za-z0-9_-]{0,43}",
            channel in any::<[u8; 32]>(),
            cumulative in 0..=i64::MAX as u64,
            tx in proptest::option::of(any::<[u8; 32]>()),
            close in any::<bool>(),
        ) {
            let action = match (tx, close) {
                (Some(tx), _) => ReceiptAction::Open { tx_hash: Hash256(tx) },
                (None, true) => ReceiptAction::Close,
                (None, false) => ReceiptAction::Voucher,
            };
            let r = Receipt { timestamp: t, challenge_id: id, channel_id: Hash256(channel), cumulative, action };
            prop_assert_eq!(Receipt::decode(&r.header_value()), Ok(r));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,200}") {
            let _ = Receipt::decode(&s);
        }
    }
}
