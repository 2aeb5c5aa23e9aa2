//! Payment-channel claims: `"CLM\0"` ‖ channel id ‖ drops (u64 big-endian),
//! signed by the channel's public key.
//!
//! Verification is what guards drip's money, so it is strict: Ed25519 with
//! canonical S and no small-order keys; secp256k1 over SHA-512Half of the
//! message, strict DER, low S only.

use crate::channel::ChannelId;
use crate::drops::{Drops, DropsError};
use crate::hash::{prefix, Hash256, HashError};
use crate::keys::{KeyError, KeyPair, PreparedKey, PublicKey, SignatureError};

/// The 44 bytes a claim signature covers.
pub fn claim_message(channel: &ChannelId, amount: Drops) -> [u8; 44] {
    let mut msg = [0u8; 44];
    let (tag, rest) = msg.split_at_mut(4);
    let (chan, drops) = rest.split_at_mut(32);
    tag.copy_from_slice(&prefix::PAYMENT_CHANNEL_CLAIM);
    chan.copy_from_slice(channel.as_bytes());
    drops.copy_from_slice(&amount.get().to_be_bytes());
    msg
}

/// Sign a claim for `amount` drops on `channel`.
pub fn sign_claim(key: &KeyPair, channel: &ChannelId, amount: Drops) -> Vec<u8> {
    key.sign(&claim_message(channel, amount))
}

/// Check that `signature` is `public_key`'s claim for `amount` on `channel`.
pub fn verify_claim(
    public_key: &PublicKey,
    channel: &ChannelId,
    amount: Drops,
    signature: &[u8],
) -> Result<(), SignatureError> {
    public_key.verify(&claim_message(channel, amount), signature)
}

/// A claim whose inputs are malformed: an error for the caller, as opposed to
/// a well-formed claim that does not verify (`Ok(false)` from [`check_claim`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimInputError {
    /// The channel id is not 32 bytes.
    #[error("invalid channel_id: {0}")]
    ChannelId(HashError),
    /// The amount is negative.
    #[error("invalid amount: {0}")]
    Amount(DropsError),
    /// The public key is malformed.
    #[error("invalid public_key: {0}")]
    PublicKey(KeyError),
    /// No signature of the key's type can have this length.
    #[error("invalid signature: {0}")]
    Signature(SignatureError),
}

impl ClaimInputError {
    /// Which argument was wrong.
    pub fn argument(&self) -> &'static str {
        match self {
            ClaimInputError::ChannelId(_) => "channel_id",
            ClaimInputError::Amount(_) => "amount",
            ClaimInputError::PublicKey(_) => "public_key",
            ClaimInputError::Signature(_) => "signature",
        }
    }

    /// What a well-formed value of that argument looks like.
    pub fn hint(&self) -> &'static str {
        match self {
            ClaimInputError::ChannelId(_) => {
                "A channel id is the 32-byte index of the PayChannel ledger entry."
            }
            ClaimInputError::Amount(_) => "Claim amounts are whole drops, zero or more.",
            ClaimInputError::PublicKey(_) => {
                "Channel keys are 33 bytes: 0xED then 32 bytes (Ed25519), or a compressed secp256k1 point (0x02/0x03)."
            }
            ClaimInputError::Signature(_) => {
                "Ed25519 signatures are 64 bytes; secp256k1 signatures are DER, 8 to 72 bytes."
            }
        }
    }
}

/// Check a claim given as raw inputs (as SQL passes them): malformed inputs
/// are errors; a well-formed claim is `Ok(true)` if the signature verifies
/// and `Ok(false)` if it does not.
pub fn check_claim(
    channel_id: &[u8],
    amount: i64,
    signature: &[u8],
    public_key: &[u8],
) -> Result<bool, ClaimInputError> {
    let (channel, amount) = claim_inputs(channel_id, amount)?;
    let key = PublicKey::from_slice(public_key).map_err(ClaimInputError::PublicKey)?;
    verdict(verify_claim(&key, &channel, amount, signature))
}

/// [`check_claim`] with what [`PublicKey::prepare`] made of the key, if
/// anything: the same answers, about half the work for a secp256k1 key.
/// `prepared` that does not belong to `public_key` is ignored.
pub fn check_claim_prepared(
    channel_id: &[u8],
    amount: i64,
    signature: &[u8],
    public_key: &[u8],
    prepared: Option<&[u8]>,
) -> Result<bool, ClaimInputError> {
    let Some(key) = prepared.and_then(|p| PreparedKey::from_bytes(public_key, p)) else {
        return check_claim(channel_id, amount, signature, public_key);
    };
    let (channel, amount) = claim_inputs(channel_id, amount)?;
    verdict(key.verify(&claim_message(&channel, amount), signature))
}

fn claim_inputs(channel_id: &[u8], amount: i64) -> Result<(ChannelId, Drops), ClaimInputError> {
    Ok((
        Hash256::from_slice(channel_id).map_err(ClaimInputError::ChannelId)?,
        Drops::from_i64(amount).map_err(ClaimInputError::Amount)?,
    ))
}

/// A signature of an impossible length is malformed input; any other
/// failure is a claim that does not verify.
fn verdict(result: Result<(), SignatureError>) -> Result<bool, ClaimInputError> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.is_length() => Err(ClaimInputError::Signature(e)),
        Err(_) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;
    use crate::seed::Seed;
    use proptest::prelude::*;

    const CHANNEL: &str = "5DB01B7FFED6B67E6B0414DED11E051D2EE2B7619CE0EAA6286D67A3A4D5BDB3";

    fn pair(kt: KeyType) -> KeyPair {
        Seed::from_entropy([7; 16], kt).key_pair().unwrap()
    }

    /// The channel_verify example on xrpl.org: a key and its signature of
    /// 1,000,000 drops on `CHANNEL`.
    fn xrpl_org_example() -> (PublicKey, Vec<u8>) {
        let key = PublicKey::from_hex(
            "023693F15967AE357D0327974AD46FE3C127113B1110D6044FD41E723689F81CC6",
        )
        .unwrap();
        let sig = hex::decode(
            "304402204EF0AFB78AC23ED1C472E74F4299C0C21F1B21D07EFC0A3838A420F76D783A400220154FB11B6F54320666E4C36CA7F686C16A3A0456800BBC43746F34AF50290064",
        )
        .unwrap();
        (key, sig)
    }

    #[test]
    fn xrpl_org_channel_verify_example() {
        let (key, sig) = xrpl_org_example();
        let channel: Hash256 = CHANNEL.parse().unwrap();
        assert_eq!(
            verify_claim(&key, &channel, Drops::new(1_000_000), &sig),
            Ok(())
        );
        assert_eq!(
            verify_claim(&key, &channel, Drops::new(1_000_001), &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn message_layout() {
        let channel: Hash256 = CHANNEL.parse().unwrap();
        let msg = claim_message(&channel, Drops::new(1_000_000));
        assert_eq!(
            hex::encode_upper(msg),
            format!("434C4D00{CHANNEL}00000000000F4240")
        );
    }

    #[test]
    fn high_s_twin_is_refused() {
        use k256::elliptic_curve::ops::Neg as _;
        let key = pair(KeyType::Secp256k1);
        let channel: Hash256 = CHANNEL.parse().unwrap();
        let sig = sign_claim(&key, &channel, Drops::new(5));
        let parsed = k256::ecdsa::Signature::from_der(&sig).unwrap();
        let (r, s) = parsed.split_scalars();
        let twin = k256::ecdsa::Signature::from_scalars(r, s.as_ref().neg()).unwrap();
        let twin = twin.to_der();
        assert_eq!(
            verify_claim(key.public_key(), &channel, Drops::new(5), twin.as_bytes()),
            Err(SignatureError::HighS)
        );
    }

    #[test]
    fn secp256k1_r_or_s_outside_1_to_n_is_not_canonical() {
        // The curve order n: r and s must lie in [1, n - 1].
        const N: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141";
        let der = |r: &str, s: &str| {
            hex::decode(format!("30{:02X}{r}{s}", (r.len() + s.len()) / 2)).unwrap()
        };
        let n = format!("022100{N}");
        let one = "020101";
        let zero = "020100";
        let key = pair(KeyType::Secp256k1);
        let channel: Hash256 = CHANNEL.parse().unwrap();
        for sig in [der(&n, one), der(one, &n), der(zero, one), der(one, zero)] {
            assert_eq!(
                verify_claim(key.public_key(), &channel, Drops::new(5), &sig),
                Err(SignatureError::NotCanonical),
                "{}",
                hex::encode_upper(&sig)
            );
        }
    }

    #[test]
    fn wrong_lengths_are_malformed() {
        let channel: Hash256 = CHANNEL.parse().unwrap();
        for kt in [KeyType::Ed25519, KeyType::Secp256k1] {
            let key = pair(kt);
            let err = verify_claim(key.public_key(), &channel, Drops::ZERO, &[0; 7]).unwrap_err();
            assert!(err.is_length(), "{kt}: {err}");
        }
    }

    #[test]
    fn check_claim_separates_malformed_from_wrong() {
        let key = pair(KeyType::Ed25519);
        let channel: Hash256 = CHANNEL.parse().unwrap();
        let sig = sign_claim(&key, &channel, Drops::new(10));
        let pk = key.public_key().as_bytes();
        assert_eq!(check_claim(channel.as_bytes(), 10, &sig, pk), Ok(true));
        assert_eq!(check_claim(channel.as_bytes(), 11, &sig, pk), Ok(false));
        let err = check_claim(&[0; 31], 10, &sig, pk).unwrap_err();
        assert_eq!(err.argument(), "channel_id");
        let err = check_claim(channel.as_bytes(), -1, &sig, pk).unwrap_err();
        assert_eq!(err.argument(), "amount");
        let err = check_claim(channel.as_bytes(), 10, &sig, &pk[..32]).unwrap_err();
        assert_eq!(err.argument(), "public_key");
        let err = check_claim(channel.as_bytes(), 10, &sig[..63], pk).unwrap_err();
        assert_eq!(err.argument(), "signature");
    }

    #[test]
    fn prepared_check_separates_malformed_from_wrong() {
        let (key, sig) = xrpl_org_example();
        let channel: Hash256 = CHANNEL.parse().unwrap();
        let (pk, prepared) = (key.as_bytes(), key.prepare());
        let check = |channel: &[u8], amount, sig: &[u8]| {
            check_claim_prepared(channel, amount, sig, pk, prepared.as_deref())
        };
        assert_eq!(check(channel.as_bytes(), 1_000_000, &sig), Ok(true));
        assert_eq!(check(channel.as_bytes(), 1_000_001, &sig), Ok(false));
        assert_eq!(
            check(&[0; 31], 1_000_000, &sig).unwrap_err().argument(),
            "channel_id"
        );
        assert_eq!(
            check(channel.as_bytes(), -1, &sig).unwrap_err().argument(),
            "amount"
        );
        assert_eq!(
            check(channel.as_bytes(), 1_000_000, &sig[..7])
                .unwrap_err()
                .argument(),
            "signature"
        );
        // The tables do not stand in for a malformed key.
        let err = check_claim_prepared(
            channel.as_bytes(),
            1_000_000,
            &sig,
            &pk[..32],
            prepared.as_deref(),
        )
        .unwrap_err();
        assert_eq!(err.argument(), "public_key");
    }

    proptest! {
        #[test]
        fn sign_then_verify(amount in any::<u64>(), chan in any::<[u8; 32]>(), ed in any::<bool>()) {
            let key = pair(if ed { KeyType::Ed25519 } else { KeyType::Secp256k1 });
            let channel = Hash256(chan);
            let sig = sign_claim(&key, &channel, Drops::new(amount));
            prop_assert_eq!(verify_claim(key.public_key(), &channel, Drops::new(amount), &sig), Ok(()));
            let other = Drops::new(amount ^ 1);
            prop_assert_eq!(verify_claim(key.public_key(), &channel, other, &sig), Err(SignatureError::Mismatch));
        }

        #[test]
        fn garbage_signatures_never_verify(sig in proptest::collection::vec(any::<u8>(), 0..100), ed in any::<bool>()) {
            let key = pair(if ed { KeyType::Ed25519 } else { KeyType::Secp256k1 });
            let channel: Hash256 = CHANNEL.parse().unwrap();
            prop_assert!(verify_claim(key.public_key(), &channel, Drops::new(1), &sig).is_err());
        }

        #[test]
        fn prepared_keys_give_the_same_answers(
            entropy in any::<[u8; 16]>(),
            ed in any::<bool>(),
            amount in 0i64..=i64::MAX,
            chan in any::<[u8; 32]>(),
            flip in proptest::option::of((0usize..72, 0u8..8)),
            garbage in proptest::collection::vec(any::<u8>(), 0..1100),
        ) {
            let kt = if ed { KeyType::Ed25519 } else { KeyType::Secp256k1 };
            let key = Seed::from_entropy(entropy, kt).key_pair().unwrap();
            let other = pair(kt);
            let drops = Drops::from_i64(amount).unwrap();
            let mut sig = sign_claim(&key, &Hash256(chan), drops);
            if let Some((pos, bit)) = flip {
                let pos = pos.checked_rem(sig.len()).unwrap();
                sig[pos] ^= 1 << bit;
            }
            let pk = key.public_key().as_bytes();
            let prepared = key.public_key().prepare();
            prop_assert_eq!(prepared.is_some(), !ed);
            let want = check_claim(&chan, amount, &sig, pk);
            prop_assert_eq!(want.clone().is_ok_and(|v| v), flip.is_none());
            // Its own tables, none, another key's, garbage: the same answer.
            for with in [prepared.clone(), None, other.public_key().prepare(), Some(garbage.clone())] {
                prop_assert_eq!(&check_claim_prepared(&chan, amount, &sig, pk, with.as_deref()), &want);
            }
            // Other amounts and channels fail alike.
            prop_assert_eq!(
                check_claim_prepared(&chan, amount ^ 1, &sig, pk, prepared.as_deref()),
                check_claim(&chan, amount ^ 1, &sig, pk)
            );
        }

        #[test]
        fn garbage_keys_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = PublicKey::from_slice(&bytes);
        }

        #[test]
        fn mutated_valid_signatures_never_verify(pos in 0usize..72, bit in 0u8..8, ed in any::<bool>()) {
            let key = pair(if ed { KeyType::Ed25519 } else { KeyType::Secp256k1 });
            let channel: Hash256 = CHANNEL.parse().unwrap();
            let mut sig = sign_claim(&key, &channel, Drops::new(9));
            let pos = pos.checked_rem(sig.len()).unwrap();
            sig[pos] ^= 1 << bit;
            prop_assert!(verify_claim(key.public_key(), &channel, Drops::new(9), &sig).is_err());
        }
    }
}
