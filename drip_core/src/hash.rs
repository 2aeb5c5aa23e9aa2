//! SHA-512Half and the 256-bit hashes the ledger names things by.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha512};

/// Hash prefixes (rippled `HashPrefix.h`): each domain hashes under its own tag.
pub mod prefix {
    /// `"TXN\0"`: transaction id of a signed blob.
    pub const TRANSACTION_ID: [u8; 4] = *b"TXN\0";
    /// `"STX\0"`: single-signing data.
    pub const TX_SIGN: [u8; 4] = *b"STX\0";
    /// `"CLM\0"`: payment-channel claim.
    pub const PAYMENT_CHANNEL_CLAIM: [u8; 4] = *b"CLM\0";
}

/// The first 32 bytes of SHA-512 over the concatenation of `parts`.
pub fn sha512_half(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    let full = hasher.finalize();
    let mut out = [0u8; 32];
    out.copy_from_slice(full.get(..32).unwrap_or(&[0u8; 32]));
    out
}

/// A 256-bit hash (transaction id, ledger object index, ledger hash), shown as
/// 64 upper-case hex digits as rippled does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash256(pub [u8; 32]);

/// Why a 256-bit hash could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Not 32 bytes.
    #[error("must be 32 bytes, got {0}")]
    Length(usize),
    /// Not 64 hex digits.
    #[error("must be 64 hex digits, got {0}")]
    HexLength(usize),
    /// A character outside `0-9a-fA-F`.
    #[error("not hexadecimal")]
    NotHex,
}

impl Hash256 {
    /// The hash as bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Read exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HashError::Length(bytes.len()))
    }
}

impl FromStr for Hash256 {
    type Err = HashError;

    /// Read 64 hex digits, either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(HashError::HexLength(s.len()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| HashError::NotHex)?;
        Ok(Self(out))
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({self})")
    }
}

impl serde::Serialize for Hash256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Hash256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            if let Ok(h) = s.parse::<Hash256>() {
                prop_assert_eq!(h.to_string(), s.to_uppercase());
            }
        }
    }

    #[test]
    fn sha512_half_is_the_first_half_of_sha512() {
        // SHA-512("abc") starts ddaf35a193617aba cc417349ae204131 12e6fa4e89a97ea2 0a9eeee64b55d39a.
        let h = sha512_half(&[b"a", b"bc"]);
        assert_eq!(
            hex::encode(h),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        );
    }

    #[test]
    fn hash_parses_either_case_and_prints_upper() {
        let lower = "5db01b7ffed6b67e6b0414ded11e051d2ee2b7619ce0eaa6286d67a3a4d5bdb3";
        let h: Hash256 = lower.parse().unwrap();
        assert_eq!(h.to_string(), lower.to_uppercase());
        assert_eq!("zz".parse::<Hash256>(), Err(HashError::HexLength(2)));
        assert_eq!("g".repeat(64).parse::<Hash256>(), Err(HashError::NotHex));
    }
}
