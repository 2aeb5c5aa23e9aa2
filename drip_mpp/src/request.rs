//! The XRPL session method's request object: what one request costs, on
//! which channel, to whom. A challenge carries it as base64url of its JCS
//! (RFC 8785) serialisation, and clients re-canonicalise it and refuse the
//! challenge unless the bytes match, so the rendering here is JCS exactly:
//! keys sorted, no whitespace, every value a string.

use std::fmt;
use std::str::FromStr;

use drip_core::{AccountId, Hash256};
use serde::{Deserialize, Serialize};

use crate::amount::{parse_drops, AmountError};
use crate::{base64url, CURRENCY};

/// The longest base64url `request` [`SessionRequest::from_base64url`] reads
/// (clients refuse longer ones too).
pub const MAX_REQUEST_B64_LEN: usize = 16_384;

/// The XRPL network named in `methodDetails.network` and in `did:pkh:xrpl`
/// sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// `mainnet`.
    Mainnet,
    /// `testnet`.
    Testnet,
    /// `devnet`.
    Devnet,
}

impl Network {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Devnet => "devnet",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Network {
    type Err = RequestError;

    /// One of `mainnet`, `testnet`, `devnet` (exact case).
    fn from_str(s: &str) -> Result<Self, RequestError> {
        match s {
            "mainnet" => Ok(Network::Mainnet),
            "testnet" => Ok(Network::Testnet),
            "devnet" => Ok(Network::Devnet),
            _ => Err(RequestError::Network),
        }
    }
}

/// A session request: the terms of one paid request. Its `currency` is
/// always `XRP`, so it is not a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    /// `amount`: the price of this request in drops.
    pub amount: u64,
    /// `channelId`: the channel to pay on, or `None` (`""`) when the payer
    /// must open one.
    pub channel_id: Option<Hash256>,
    /// `recipient`: the channel's destination.
    pub recipient: AccountId,
    /// `description`: display only.
    pub description: Option<String>,
    /// `methodDetails.cumulativeAmount`: the channel's high-water mark the
    /// payer must build on.
    pub cumulative_amount: Option<u64>,
    /// `methodDetails.network`.
    pub network: Option<Network>,
}

/// Why a `request` could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Longer than [`MAX_REQUEST_B64_LEN`].
    #[error("request is too long")]
    TooLong,
    /// Not canonical unpadded base64url.
    #[error("request is not canonical unpadded base64url")]
    Base64,
    /// Not JSON of the request's schema (unknown keys, non-string values,
    /// duplicate keys, …).
    #[error("request does not match the session request schema: {0}")]
    Json(String),
    /// A malformed amount.
    #[error("request {field} {source}")]
    Amount {
        /// The JSON member.
        field: &'static str,
        /// What is wrong with it.
        source: AmountError,
    },
    /// `channelId` neither empty nor 64 hex digits.
    #[error("request channelId must be empty or 64 hex digits")]
    ChannelId,
    /// `recipient` not a classic address.
    #[error("request recipient is not a classic XRPL address")]
    Recipient,
    /// `currency` not `"XRP"`.
    #[error("request currency must be XRP")]
    Currency,
    /// `network` not one of mainnet, testnet, devnet.
    #[error("network must be mainnet, testnet or devnet")]
    Network,
    /// Valid, but not the JCS bytes this crate would write for it.
    #[error("request is not JCS-canonical")]
    NotCanonical,
}

/// The request as written: members in JCS (sorted) order, absent options
/// left out.
#[derive(Serialize)]
struct WireOut<'a> {
    amount: String,
    #[serde(rename = "channelId")]
    channel_id: String,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(rename = "methodDetails", skip_serializing_if = "Option::is_none")]
    method_details: Option<DetailsOut>,
    recipient: String,
}

#[derive(Serialize)]
struct DetailsOut {
    #[serde(rename = "cumulativeAmount", skip_serializing_if = "Option::is_none")]
    cumulative_amount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<&'static str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn {
    amount: String,
    #[serde(rename = "channelId")]
    channel_id: String,
    currency: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "methodDetails", default)]
    method_details: Option<DetailsIn>,
    recipient: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailsIn {
    #[serde(rename = "cumulativeAmount", default)]
    cumulative_amount: Option<String>,
    #[serde(default)]
    network: Option<String>,
}

/// A serde message, cut short: it may quote the input.
pub(crate) fn short_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", full.get(..at).unwrap_or_default()),
        None => full,
    }
}

impl SessionRequest {
    /// The JCS (RFC 8785) serialisation: sorted keys, no whitespace, strings
    /// escaped as JCS requires.
    pub fn to_jcs(&self) -> Vec<u8> {
        let details =
            (self.cumulative_amount.is_some() || self.network.is_some()).then(|| DetailsOut {
                cumulative_amount: self.cumulative_amount.map(|v| v.to_string()),
                network: self.network.map(Network::as_str),
            });
        let wire = WireOut {
            amount: self.amount.to_string(),
            channel_id: self.channel_id.map(|id| id.to_string()).unwrap_or_default(),
            currency: CURRENCY,
            description: self.description.as_deref(),
            method_details: details,
            recipient: self.recipient.to_address(),
        };
        // A struct of strings always serialises.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// The challenge's `request` parameter: base64url (no padding) of
    /// [`to_jcs`](Self::to_jcs).
    pub fn to_base64url(&self) -> String {
        base64url::encode(&self.to_jcs())
    }

    /// Read a `request` parameter back, as [`to_base64url`](Self::to_base64url)
    /// wrote it: unknown keys, non-string values and non-canonical bytes are
    /// refused.
    pub fn from_base64url(s: &str) -> Result<Self, RequestError> {
        if s.len() > MAX_REQUEST_B64_LEN {
            return Err(RequestError::TooLong);
        }
        let bytes = base64url::decode(s).map_err(|_| RequestError::Base64)?;
        let wire: WireIn =
            serde_json::from_slice(&bytes).map_err(|e| RequestError::Json(short_message(&e)))?;
        let amount = |field, s: &str| {
            parse_drops(s).map_err(|source| RequestError::Amount { field, source })
        };
        if wire.currency != CURRENCY {
            return Err(RequestError::Currency);
        }
        let channel_id = match wire.channel_id.as_str() {
            "" => None,
            id => Some(id.parse::<Hash256>().map_err(|_| RequestError::ChannelId)?),
        };
        let (cumulative_amount, network) = match wire.method_details {
            None => (None, None),
            Some(d) => (
                d.cumulative_amount
                    .as_deref()
                    .map(|s| amount("methodDetails.cumulativeAmount", s))
                    .transpose()?,
                d.network.as_deref().map(str::parse).transpose()?,
            ),
        };
        let request = SessionRequest {
            amount: amount("amount", &wire.amount)?,
            channel_id,
            recipient: wire
                .recipient
                .parse()
                .map_err(|_| RequestError::Recipient)?,
            description: wire.description,
            cumulative_amount,
            network,
        };
        if request.to_jcs() != bytes {
            return Err(RequestError::NotCanonical);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const RECIPIENT: &str = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";
    const CHANNEL: &str = "5DB01B7FFED6B67E6B0414DED11E051D2EE2B7619CE0EAA6286D67A3A4D5BDB3";

    fn open() -> SessionRequest {
        SessionRequest {
            amount: 1000,
            channel_id: None,
            recipient: RECIPIENT.parse().unwrap(),
            description: None,
            cumulative_amount: None,
            network: None,
        }
    }

    fn text(r: &SessionRequest) -> String {
        String::from_utf8(r.to_jcs()).unwrap()
    }

    #[test]
    fn renders_sorted_compact_strings() {
        assert_eq!(
            text(&open()),
            format!(
                r#"{{"amount":"1000","channelId":"","currency":"XRP","recipient":"{RECIPIENT}"}}"#
            )
        );
        let voucher = SessionRequest {
            channel_id: Some(CHANNEL.to_lowercase().parse().unwrap()),
            description: Some("one call".into()),
            cumulative_amount: Some(3000),
            network: Some(Network::Devnet),
            ..open()
        };
        assert_eq!(
            text(&voucher),
            format!(
                r#"{{"amount":"1000","channelId":"{CHANNEL}","currency":"XRP","description":"one call","methodDetails":{{"cumulativeAmount":"3000","network":"devnet"}},"recipient":"{RECIPIENT}"}}"#
            )
        );
        let only_network = SessionRequest {
            network: Some(Network::Testnet),
            ..open()
        };
        assert!(text(&only_network).contains(r#""methodDetails":{"network":"testnet"}"#));
    }

    #[test]
    fn strings_are_escaped_as_jcs_requires() {
        let r = SessionRequest {
            description: Some("a\u{0}\u{1f}\u{7f}\u{8}\t\n\u{c}\r\"\\/é€😀".into()),
            ..open()
        };
        // Controls as \u00xx (lower-case hex) or their short forms, DEL,
        // '/' and non-ASCII raw.
        assert!(text(&r)
            .contains("\"description\":\"a\\u0000\\u001f\u{7f}\\b\\t\\n\\f\\r\\\"\\\\/é€😀\""));
        assert_eq!(SessionRequest::from_base64url(&r.to_base64url()), Ok(r));
    }

    #[test]
    fn reads_back_what_it_writes() {
        let voucher = SessionRequest {
            channel_id: Some(CHANNEL.parse().unwrap()),
            cumulative_amount: Some(0),
            network: Some(Network::Mainnet),
            description: Some(String::new()),
            ..open()
        };
        for r in [open(), voucher] {
            assert_eq!(SessionRequest::from_base64url(&r.to_base64url()), Ok(r));
        }
    }

    fn decode_json(json: &str) -> Result<SessionRequest, RequestError> {
        SessionRequest::from_base64url(&base64url::encode(json.as_bytes()))
    }

    #[test]
    fn refuses_what_it_would_not_write() {
        let ok = format!(
            r#"{{"amount":"1","channelId":"","currency":"XRP","recipient":"{RECIPIENT}"}}"#
        );
        assert!(decode_json(&ok).is_ok());
        let cases = [
            (ok.replace(r#""1""#, "1"), "Json"),
            (ok.replace(r#""1""#, r#""01""#), "NotCanonical"),
            (ok.replace(r#""1""#, r#""-1""#), "Amount"),
            (ok.replace(r#""1""#, r#""9223372036854775808""#), "Amount"),
            (ok.replace(r#""XRP""#, r#""USD""#), "Currency"),
            (
                ok.replace(r#""channelId":"""#, r#""channelId":"AB""#),
                "ChannelId",
            ),
            (
                ok.replace(RECIPIENT, "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTi"),
                "Recipient",
            ),
            (ok.replace('{', r#"{"externalId":"x","#), "Json"),
            (
                ok.replace(r#"","currency"#, r#"","currency":"XRP","currency"#),
                "Json",
            ),
            (ok.replace(':', ": "), "NotCanonical"),
            (
                ok.replace(r#""recipient""#, r#""methodDetails":{},"recipient""#),
                "NotCanonical",
            ),
            (
                ok.replace(
                    r#""recipient""#,
                    r#""methodDetails":{"network":"standalone"},"recipient""#,
                ),
                "Network",
            ),
            (
                ok.replace(
                    r#""recipient""#,
                    r#""methodDetails":{"reference":"x"},"recipient""#,
                ),
                "Json",
            ),
            (
                ok.replace(
                    r#""currency":"XRP","#,
                    r#""currency":"XRP","description":null,"#,
                ),
                "NotCanonical",
            ),
            (
                format!(
                    r#"{{"amount":"1","channelId":"{}","currency":"XRP","recipient":"{RECIPIENT}"}}"#,
                    CHANNEL.to_lowercase()
                ),
                "NotCanonical",
            ),
            ("[]".to_owned(), "Json"),
            (String::new(), "Json"),
        ];
        for (json, want) in cases {
            let got = decode_json(&json);
            let name = format!("{got:?}");
            assert!(name.starts_with(&format!("Err({want}")), "{json}: {name}");
        }
        assert_eq!(
            SessionRequest::from_base64url("eyJ9=="),
            Err(RequestError::Base64)
        );
        assert_eq!(
            SessionRequest::from_base64url(&"A".repeat(MAX_REQUEST_B64_LEN + 1)),
            Err(RequestError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn round_trips(
            amount in 0..=i64::MAX as u64,
            channel in proptest::option::of(any::<[u8; 32]>()),
            recipient in any::<[u8; 20]>(),
            description in proptest::option::of("\\PC{0,20}|[\\x00-\\x7f]{0,20}"),
            cumulative in proptest::option::of(0..=i64::MAX as u64),
            network in proptest::option::of(prop_oneof![Just(Network::Mainnet), Just(Network::Testnet), Just(Network::Devnet)]),
        ) {
            let r = SessionRequest {
                amount,
                channel_id: channel.map(Hash256),
                recipient: AccountId(recipient),
                description,
                cumulative_amount: cumulative,
                network,
            };
            prop_assert_eq!(SessionRequest::from_base64url(&r.to_base64url()), Ok(r));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,200}") {
            let _ = SessionRequest::from_base64url(&s);
        }

        #[test]
        fn garbage_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = SessionRequest::from_base64url(&base64url::encode(&bytes));
        }
    }
}
