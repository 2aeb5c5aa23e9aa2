//! RFC 9457 problem details for the body of a 402 (or 400): the core
//! scheme's problem types and the XRPL session method's `session/*` ones,
//! under `https://paymentauth.org/problems/`.

use serde::Serialize;

/// The media type of a [`Problem`] body.
pub const CONTENT_TYPE: &str = "application/problem+json";
/// The base URI of every problem type.
pub const TYPE_BASE: &str = "https://paymentauth.org/problems/";

/// A problem type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// `payment-required`: no credential; pay with the challenge.
    PaymentRequired,
    /// `malformed-credential`: bad base64url, JSON or fields.
    MalformedCredential,
    /// `invalid-challenge`: the echoed challenge is unknown, altered or used.
    InvalidChallenge,
    /// `payment-expired`: the challenge has expired.
    PaymentExpired,
    /// `verification-failed`: the proof is invalid (destination, settle
    /// delay, replay, …; `detail` says which).
    VerificationFailed,
    /// `payment-insufficient`: the claim does not cover the price.
    PaymentInsufficient,
    /// `method-unsupported` (400): not a method or intent this server takes.
    MethodUnsupported,
    /// `session/channel-not-found`.
    ChannelNotFound,
    /// `session/channel-finalized`: closed, closing or expired.
    ChannelFinalized,
    /// `session/amount-exceeds-deposit`: the claim is above the channel's
    /// funds.
    AmountExceedsDeposit,
    /// `session/invalid-signature`: the claim's signature does not verify.
    InvalidSignature,
}

impl ProblemKind {
    /// Every problem type.
    pub const ALL: [ProblemKind; 11] = [
        ProblemKind::PaymentRequired,
        ProblemKind::MalformedCredential,
        ProblemKind::InvalidChallenge,
        ProblemKind::PaymentExpired,
        ProblemKind::VerificationFailed,
        ProblemKind::PaymentInsufficient,
        ProblemKind::MethodUnsupported,
        ProblemKind::ChannelNotFound,
        ProblemKind::ChannelFinalized,
        ProblemKind::AmountExceedsDeposit,
        ProblemKind::InvalidSignature,
    ];

    /// The slug under [`TYPE_BASE`].
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::PaymentRequired => "payment-required",
            ProblemKind::MalformedCredential => "malformed-credential",
            ProblemKind::InvalidChallenge => "invalid-challenge",
            ProblemKind::PaymentExpired => "payment-expired",
            ProblemKind::VerificationFailed => "verification-failed",
            ProblemKind::PaymentInsufficient => "payment-insufficient",
            ProblemKind::MethodUnsupported => "method-unsupported",
            ProblemKind::ChannelNotFound => "session/channel-not-found",
            ProblemKind::ChannelFinalized => "session/channel-finalized",
            ProblemKind::AmountExceedsDeposit => "session/amount-exceeds-deposit",
            ProblemKind::InvalidSignature => "session/invalid-signature",
        }
    }

    /// The type's title.
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::PaymentRequired => "Payment Required",
            ProblemKind::MalformedCredential => "Malformed Credential",
            ProblemKind::InvalidChallenge => "Invalid Challenge",
            ProblemKind::PaymentExpired => "Payment Expired",
            ProblemKind::VerificationFailed => "Payment Verification Failed",
            ProblemKind::PaymentInsufficient => "Payment Insufficient",
            ProblemKind::MethodUnsupported => "Method Unsupported",
            ProblemKind::ChannelNotFound => "Channel Not Found",
            ProblemKind::ChannelFinalized => "Channel Finalized",
            ProblemKind::AmountExceedsDeposit => "Amount Exceeds Deposit",
            ProblemKind::InvalidSignature => "Invalid Signature",
        }
    }

    /// The HTTP status: 402, or 400 for `method-unsupported`.
    pub fn status(self) -> u16 {
        match self {
            ProblemKind::MethodUnsupported => 400,
            _ => 402,
        }
    }

    /// The full `type` URI.
    pub fn type_uri(self) -> String {
        format!("{TYPE_BASE}{}", self.slug())
    }

    /// The kind whose slug is `slug`.
    pub fn from_slug(slug: &str) -> Option<ProblemKind> {
        ProblemKind::ALL.into_iter().find(|k| k.slug() == slug)
    }
}

/// A problem details body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The problem type (gives `type`, `title` and `status`).
    pub kind: ProblemKind,
    /// `detail`: what happened, for this occurrence.
    pub detail: String,
    /// `challengeId`: the fresh challenge sent with it, if any.
    pub challenge_id: Option<String>,
}

#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'static str,
    status: u16,
    detail: &'a str,
    #[serde(rename = "challengeId", skip_serializing_if = "Option::is_none")]
    challenge_id: Option<&'a str>,
}

impl Problem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
            challenge_id: None,
        }
    }

    /// The same problem naming the fresh challenge sent with it.
    pub fn with_challenge_id(mut self, id: impl Into<String>) -> Problem {
        self.challenge_id = Some(id.into());
        self
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The JSON body: `{type, title, status, detail, challengeId?}`.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = Wire {
            type_uri: self.kind.type_uri(),
            title: self.kind.title(),
            status: self.kind.status(),
            detail: &self.detail,
            challenge_id: self.challenge_id.as_deref(),
        };
        // Strings and a number always serialise.
        serde_json::to_vec(&wire).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn renders_the_body() {
        let p = Problem::new(ProblemKind::PaymentRequired, "Payment required for access.")
            .with_challenge_id("qB3wErTyU7iOpAsD9fGhJk");
        let v: Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(
            v,
            json!({
                "type": "https://paymentauth.org/problems/payment-required",
                "title": "Payment Required",
                "status": 402,
                "detail": "Payment required for access.",
                "challengeId": "qB3wErTyU7iOpAsD9fGhJk",
            })
        );
        let p = Problem::new(
            ProblemKind::InvalidSignature,
            "claim \"signature\" is wrong",
        );
        assert_eq!(
            String::from_utf8(p.to_json()).unwrap(),
            r#"{"type":"https://paymentauth.org/problems/session/invalid-signature","title":"Invalid Signature","status":402,"detail":"claim \"signature\" is wrong"}"#
        );
    }

    #[test]
    fn every_kind_has_a_distinct_slug_and_the_right_status() {
        for k in ProblemKind::ALL {
            assert_eq!(ProblemKind::from_slug(k.slug()), Some(k));
            assert!(!k.title().is_empty());
            let want = if k == ProblemKind::MethodUnsupported {
                400
            } else {
                402
            };
            assert_eq!(k.status(), want);
            assert!(k.type_uri().starts_with(TYPE_BASE));
        }
        assert_eq!(ProblemKind::from_slug("nope"), None);
        assert_eq!(
            ProblemKind::AmountExceedsDeposit.type_uri(),
            "https://paymentauth.org/problems/session/amount-exceeds-deposit"
        );
    }
}
