//! Account ids and classic addresses (`r…`).

use std::fmt;
use std::str::FromStr;

use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

use crate::base58::{self, Base58Error};

/// Version prefix of classic addresses.
const ADDRESS_VERSION: [u8; 1] = [0x00];

/// A 20-byte account id: RIPEMD-160(SHA-256(master public key)).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AccountId(pub [u8; 20]);

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not a classic address (`r…`, 25 bytes with a valid checksum).
    #[error("not a classic XRPL address: {0}")]
    Base58(#[from] Base58Error),
    /// Not 20 bytes.
    #[error("account id must be 20 bytes, got {0}")]
    Length(usize),
}

impl AccountId {
    /// The account id of a 33-byte public key.
    pub fn from_public_key(public_key: &[u8]) -> Self {
        let digest = Ripemd160::digest(Sha256::digest(public_key));
        let mut id = [0u8; 20];
        id.copy_from_slice(digest.get(..20).unwrap_or(&[0; 20]));
        AccountId(id)
    }

    /// From exactly 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AddressError> {
        <[u8; 20]>::try_from(bytes)
            .map(AccountId)
            .map_err(|_| AddressError::Length(bytes.len()))
    }

    /// The 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The classic address (`r…`).
    pub fn to_address(&self) -> String {
        base58::encode_check(&ADDRESS_VERSION, &self.0)
    }
}

impl FromStr for AccountId {
    type Err = AddressError;

    /// Read a classic address.
    fn from_str(s: &str) -> Result<Self, AddressError> {
        Ok(AccountId(base58::decode_check::<20>(s, &ADDRESS_VERSION)?))
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_address())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.to_address())
    }
}

impl serde::Serialize for AccountId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_addresses() {
        // ACCOUNT_ONE from rippled's documentation.
        let mut one = [0u8; 20];
        one[19] = 1;
        assert_eq!(AccountId(one).to_address(), "rrrrrrrrrrrrrrrrrrrrBZbvji");
        let a: AccountId = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".parse().unwrap();
        assert_eq!(a.to_string(), "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh");
    }

    #[test]
    fn refuses_non_addresses() {
        assert!("".parse::<AccountId>().is_err());
        assert!("snoPBrXtMeMyMHUVTgbuqAfg1SUTb"
            .parse::<AccountId>()
            .is_err());
        assert!("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTi"
            .parse::<AccountId>()
            .is_err());
        assert_eq!(AccountId::from_slice(&[0; 3]), Err(AddressError::Length(3)));
    }

    proptest! {
        #[test]
        fn round_trips(id in any::<[u8; 20]>()) {
            let a = AccountId(id);
            prop_assert_eq!(a.to_address().parse::<AccountId>(), Ok(a));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,60}") {
            let _ = s.parse::<AccountId>();
        }
    }
}
