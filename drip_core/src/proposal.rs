//! The proposal a drip server makes to a wallet (DESIGN step 2), signed with
//! the server's Ed25519 key so the wallet can check where it came from.
//!
//! The signature covers the exact payload bytes under a domain prefix, so the
//! JSON never needs a canonical form: the wallet verifies the bytes it got,
//! then parses them.

use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::channel::ChannelId;
use crate::drops::Drops;
use crate::keys::{KeyPair, KeyType, PublicKey};
use crate::terms::PaymentType;

/// Signed bytes are `DOMAIN ‖ payload`, so a proposal signature can never
/// pass for a claim or a transaction signature.
const DOMAIN: &[u8] = b"drip-proposal-v1\0";

/// What the server proposes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Unique id; the wallet puts it in the channel-create memo.
    pub proposal_id: String,
    /// `initial` opens a channel; `refresh` funds an existing one further.
    pub kind: ProposalKind,
    /// How the session is billed.
    #[serde(with = "payment_type_serde")]
    pub payment_type: PaymentType,
    /// Drops charged per polling interval (0 for unit-only sessions).
    pub rate: Drops,
    /// Seconds between charges.
    pub polling_interval_secs: u32,
    /// Drops to put in the channel: its Amount (initial) or the Fund amount
    /// (refresh).
    pub channel_funding: Drops,
    /// The channel's SettleDelay must be at least this.
    pub settle_delay_secs: u32,
    /// The channel's destination: the server's wallet.
    pub destination: AccountId,
    /// The channel's DestinationTag, if the server wants one.
    pub destination_tag: Option<u32>,
    /// Unix seconds after which the proposal is void.
    pub expires_at: i64,
}

/// Initial or refresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProposalKind {
    /// Open a new channel.
    Initial,
    /// Fund this channel further (PaymentChannelFund).
    Refresh {
        /// The session's channel.
        channel_id: ChannelId,
    },
}

mod payment_type_serde {
    use super::PaymentType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(p: &PaymentType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PaymentType, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A proposal as sent: the payload, its signature, and the signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProposal {
    /// The proposal's JSON, exactly as signed.
    pub payload: String,
    /// Ed25519 signature over `DOMAIN ‖ payload`, hex.
    pub signature: String,
    /// The server's key (33 bytes, `ED…`), hex.
    pub public_key: String,
}

/// Why a signed proposal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// Only Ed25519 server keys sign proposals.
    #[error("proposals are signed with Ed25519 keys")]
    KeyType,
    /// Signed by a key other than the server's published key.
    #[error("proposal signed by an unexpected key")]
    WrongKey,
    /// Not hex, or a malformed key.
    #[error("malformed signature or key")]
    Malformed,
    /// The signature does not match the payload.
    #[error("proposal signature does not verify")]
    BadSignature,
    /// The payload is not a proposal.
    #[error("proposal payload: {0}")]
    Payload(String),
    /// Past `expires_at`.
    #[error("proposal expired")]
    Expired,
}

impl Proposal {
    /// Sign with the server's Ed25519 key.
    pub fn sign(&self, server: &KeyPair) -> Result<SignedProposal, ProposalError> {
        if server.key_type() != KeyType::Ed25519 {
            return Err(ProposalError::KeyType);
        }
        let payload =
            serde_json::to_string(self).map_err(|e| ProposalError::Payload(e.to_string()))?;
        let signature = server.sign(&[DOMAIN, payload.as_bytes()].concat());
        Ok(SignedProposal {
            payload,
            signature: hex::encode_upper(signature),
            public_key: server.public_key().to_hex(),
        })
    }
}

impl SignedProposal {
    /// Check the signature against the server's published key, then read the
    /// proposal and check it has not expired at `now` (unix seconds).
    pub fn verify(&self, server: &PublicKey, now: i64) -> Result<Proposal, ProposalError> {
        if server.key_type() != KeyType::Ed25519 {
            return Err(ProposalError::KeyType);
        }
        let key = PublicKey::from_hex(&self.public_key).map_err(|_| ProposalError::Malformed)?;
        if &key != server {
            return Err(ProposalError::WrongKey);
        }
        let signature = hex::decode(&self.signature).map_err(|_| ProposalError::Malformed)?;
        server
            .verify(&[DOMAIN, self.payload.as_bytes()].concat(), &signature)
            .map_err(|_| ProposalError::BadSignature)?;
        let proposal: Proposal = serde_json::from_str(&self.payload)
            .map_err(|e| ProposalError::Payload(e.to_string()))?;
        if now > proposal.expires_at {
            return Err(ProposalError::Expired);
        }
        Ok(proposal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash256;
    use crate::seed::Seed;
    use proptest::prelude::*;

    fn server() -> KeyPair {
        Seed::from_entropy([3; 16], KeyType::Ed25519)
            .key_pair()
            .unwrap()
    }

    fn proposal(kind: ProposalKind) -> Proposal {
        Proposal {
            proposal_id: "01J9ZK5V3Q8Y6T2W4R7M0N1P2A".into(),
            kind,
            payment_type: PaymentType::Both,
            rate: Drops::new(33_334),
            polling_interval_secs: 60,
            channel_funding: Drops::new(1_000_000),
            settle_delay_secs: 1800,
            destination: server().account_id(),
            destination_tag: Some(7),
            expires_at: 2_000_000_000,
        }
    }

    #[test]
    fn round_trips_both_kinds() {
        for kind in [
            ProposalKind::Initial,
            ProposalKind::Refresh {
                channel_id: Hash256([9; 32]),
            },
        ] {
            let p = proposal(kind);
            let signed = p.sign(&server()).unwrap();
            assert_eq!(signed.verify(server().public_key(), 1_900_000_000), Ok(p));
        }
    }

    #[test]
    fn refuses_tampering_other_keys_and_expiry() {
        let signed = proposal(ProposalKind::Initial).sign(&server()).unwrap();
        let key = server();
        let mut tampered = signed.clone();
        tampered.payload = tampered.payload.replace("33334", "33333");
        assert_eq!(
            tampered.verify(key.public_key(), 0),
            Err(ProposalError::BadSignature)
        );
        let other = Seed::from_entropy([4; 16], KeyType::Ed25519)
            .key_pair()
            .unwrap();
        let forged = proposal(ProposalKind::Initial).sign(&other).unwrap();
        assert_eq!(
            forged.verify(key.public_key(), 0),
            Err(ProposalError::WrongKey)
        );
        assert_eq!(
            signed.verify(key.public_key(), 2_000_000_001),
            Err(ProposalError::Expired)
        );
        let secp = Seed::from_entropy([4; 16], KeyType::Secp256k1)
            .key_pair()
            .unwrap();
        assert_eq!(
            proposal(ProposalKind::Initial).sign(&secp),
            Err(ProposalError::KeyType)
        );
        // A claim signature over the same bytes does not pass: the domain differs.
        let mut bare = signed.clone();
        bare.signature = hex::encode_upper(key.sign(signed.payload.as_bytes()));
        assert_eq!(
            bare.verify(key.public_key(), 0),
            Err(ProposalError::BadSignature)
        );
    }

    proptest! {
        #[test]
        fn garbage_never_verifies(payload in "\\PC{0,200}", sig in "[0-9A-F]{0,130}") {
            let key = server();
            let s = SignedProposal { payload, signature: sig, public_key: key.public_key().to_hex() };
            prop_assert!(s.verify(key.public_key(), 0).is_err());
        }
    }
}
