//! XRPL seeds: 16 bytes of entropy, written `s…` (secp256k1 family seeds) or
//! `sEd…` (Ed25519), and the key derivation rippled applies to each.

use std::fmt;
use std::str::FromStr;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::base58;
use crate::hash::sha512_half;
use crate::keys::{KeyError, KeyPair, KeyType};

/// Version prefix of secp256k1 family seeds (`s…`).
const FAMILY_SEED_VERSION: [u8; 1] = [0x21];
/// Version prefix of Ed25519 seeds (`sEd…`).
const ED25519_SEED_VERSION: [u8; 3] = [0x01, 0xE1, 0x4B];

/// A seed: the secret every key of a wallet comes from. Wiped on drop; its
/// `Debug` output never shows it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Seed {
    entropy: [u8; 16],
    #[zeroize(skip)]
    key_type: KeyType,
}

/// Why a seed string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// Neither an `sEd…` nor an `s…` seed with a valid checksum.
    #[error("not an XRPL seed (expected s… or sEd… with a valid checksum)")]
    Invalid,
}

impl Seed {
    /// A seed from 16 bytes of entropy (for new wallets: from the OS RNG).
    pub fn from_entropy(entropy: [u8; 16], key_type: KeyType) -> Self {
        Seed { entropy, key_type }
    }

    /// The key type this seed derives.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The seed's 16 bytes of entropy.
    pub fn entropy(&self) -> &[u8; 16] {
        &self.entropy
    }

    /// The seed written as rippled writes it (`s…` or `sEd…`).
    pub fn encode(&self) -> String {
        let version: &[u8] = match self.key_type {
            KeyType::Secp256k1 => &FAMILY_SEED_VERSION,
            KeyType::Ed25519 => &ED25519_SEED_VERSION,
        };
        base58::encode_check(version, &self.entropy)
    }

    /// Derive the account key pair, as rippled's `generateKeyPair` does.
    pub fn key_pair(&self) -> Result<KeyPair, KeyError> {
        match self.key_type {
            KeyType::Ed25519 => {
                let mut secret = sha512_half(&[&self.entropy]);
                let pair = KeyPair::ed25519_from_secret(&secret);
                secret.zeroize();
                pair
            }
            KeyType::Secp256k1 => secp256k1_account_key(&self.entropy),
        }
    }
}

/// rippled's secp256k1 derivation: a root key from the seed, then account 0's
/// key as root secret + an intermediate scalar derived from the root public key.
// Scalar and point arithmetic is modular: it cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
fn secp256k1_account_key(entropy: &[u8; 16]) -> Result<KeyPair, KeyError> {
    use k256::elliptic_curve::sec1::ToSec1Point as _;
    use k256::elliptic_curve::PrimeField as _;

    let root = first_valid_scalar(entropy, &[])?;
    let root_public = k256::ProjectivePoint::GENERATOR * root;
    let root_public = root_public.to_affine().to_sec1_point(true);
    // The account index (always 0 for account keys) sits between the root
    // public key and the counter.
    let intermediate = first_valid_scalar(root_public.as_bytes(), &[0, 0, 0, 0])?;
    let mut secret: [u8; 32] = (root + intermediate).to_repr().into();
    let pair = KeyPair::secp256k1_from_secret(&secret);
    secret.zeroize();
    pair
}

/// SHA-512Half(`input` ‖ `extra` ‖ u32be counter) for counter = 0, 1, … until it
/// is a valid non-zero scalar.
fn first_valid_scalar(input: &[u8], extra: &[u8]) -> Result<k256::Scalar, KeyError> {
    use k256::elliptic_curve::PrimeField as _;

    for counter in 0..=u32::MAX {
        let mut candidate = sha512_half(&[input, extra, &counter.to_be_bytes()]);
        let scalar = Option::<k256::Scalar>::from(k256::Scalar::from_repr(candidate.into()));
        candidate.zeroize();
        if let Some(scalar) = scalar.filter(|s| !bool::from(s.is_zero())) {
            return Ok(scalar);
        }
    }
    Err(KeyError::Derivation)
}

impl FromStr for Seed {
    type Err = SeedError;

    fn from_str(s: &str) -> Result<Self, SeedError> {
        if let Ok(entropy) = base58::decode_check::<16>(s, &ED25519_SEED_VERSION) {
            return Ok(Seed::from_entropy(entropy, KeyType::Ed25519));
        }
        base58::decode_check::<16>(s, &FAMILY_SEED_VERSION)
            .map(|entropy| Seed::from_entropy(entropy, KeyType::Secp256k1))
            .map_err(|_| SeedError::Invalid)
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seed(<redacted>, {})", self.key_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn genesis_seed_derives_the_genesis_account() {
        // rippled's stand-alone genesis account (`rippled --standalone`).
        let seed: Seed = "snoPBrXtMeMyMHUVTgbuqAfg1SUTb".parse().unwrap();
        assert_eq!(seed.key_type(), KeyType::Secp256k1);
        let pair = seed.key_pair().unwrap();
        assert_eq!(
            pair.account_id().to_address(),
            "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"
        );
        assert_eq!(seed.encode(), "snoPBrXtMeMyMHUVTgbuqAfg1SUTb");
    }

    #[test]
    fn debug_hides_the_secret() {
        let seed: Seed = "snoPBrXtMeMyMHUVTgbuqAfg1SUTb".parse().unwrap();
        let shown = format!("{seed:?} {:?}", seed.key_pair().unwrap());
        assert!(!shown.contains("snoPB"));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn refuses_non_seeds() {
        assert_eq!("".parse::<Seed>(), Err(SeedError::Invalid));
        assert_eq!(
            "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".parse::<Seed>(),
            Err(SeedError::Invalid)
        );
        assert_eq!(
            "snoPBrXtMeMyMHUVTgbuqAfg1SUTc".parse::<Seed>(),
            Err(SeedError::Invalid)
        );
    }

    proptest! {
        #[test]
        fn round_trips_both_types(entropy in any::<[u8; 16]>(), ed in any::<bool>()) {
            let kt = if ed { KeyType::Ed25519 } else { KeyType::Secp256k1 };
            let seed = Seed::from_entropy(entropy, kt);
            prop_assert_eq!(seed.encode().parse::<Seed>(), Ok(seed));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Seed>();
        }
    }
}
