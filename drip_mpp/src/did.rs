//! The credential's `source`: `did:pkh:xrpl:<network>:<classic address>`,
//! the payer's account as a DID (CAIP-10 style).

use std::fmt;

use drip_core::AccountId;

use crate::credential::CredentialError;

/// The longest DID read: the prefix, a 32-byte network and a 35-byte
/// address fit well inside.
pub const MAX_DID_LEN: usize = 128;

/// A parsed `did:pkh:xrpl:<network>:<address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerDid {
    /// The network name as the payer wrote it (`mainnet`, `testnet`,
    /// `devnet`, …): 1 to 32 of `[A-Za-z0-9_-]`. Comparing it with the
    /// server's network is the caller's choice.
    pub network: String,
    /// The payer's classic address, checksum verified.
    pub address: AccountId,
}

impl PayerDid {
    /// Read `did:pkh:xrpl:<network>:<r-address>`.
    pub fn parse(s: &str) -> Result<PayerDid, CredentialError> {
        let bad = CredentialError::InvalidSource;
        if s.len() > MAX_DID_LEN {
            return Err(bad("is too long"));
        }
        let rest = s
            .strip_prefix("did:pkh:xrpl:")
            .ok_or(bad("must start with did:pkh:xrpl:"))?;
        let (network, address) = rest
            .split_once(':')
            .ok_or(bad("must be did:pkh:xrpl:<network>:<address>"))?;
        if network.is_empty()
            || network.len() > 32
            || !network
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("network must be 1 to 32 of A-Z a-z 0-9 - _"));
        }
        let address = address
            .parse()
            .map_err(|_| bad("address is not a classic XRPL address"))?;
        Ok(PayerDid {
            network: network.to_owned(),
            address,
        })
    }
}

impl fmt::Display for PayerDid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "did:pkh:xrpl:{}:{}", self.network, self.address)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_client_source() {
        let s = "did:pkh:xrpl:testnet:rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL";
        let did = PayerDid::parse(s).unwrap();
        assert_eq!(did.network, "testnet");
        assert_eq!(
            did.address.to_address(),
            "rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL"
        );
        assert_eq!(did.to_string(), s);
    }

    #[test]
    fn refuses_other_shapes() {
        for s in [
            "",
            "did:pkh:xrpl:testnet",
            "did:pkh:eip155:1:rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL",
            "DID:pkh:xrpl:testnet:rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL",
            "did:pkh:xrpl::rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL",
            "did:pkh:xrpl:test net:rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL",
            "did:pkh:xrpl:testnet:rG31cLyErnqeVj2eomEjBZtq7PYaupGYzM",
            "did:pkh:xrpl:testnet:rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL:x",
            "did:pkh:xrpl:testnet:XVLhHMPHU98es4dbozjVtdWzVrDjtV18pX8yuPT7y4xaEHi",
        ] {
            assert!(
                matches!(PayerDid::parse(s), Err(CredentialError::InvalidSource(_))),
                "{s:?}"
            );
        }
        let long = format!(
            "did:pkh:xrpl:{}:rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL",
            "a".repeat(100)
        );
        assert_eq!(
            PayerDid::parse(&long),
            Err(CredentialError::InvalidSource("is too long"))
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(s in "\\PC{0,140}") {
            let _ = PayerDid::parse(&s);
        }

        #[test]
        fn near_misses_never_panic(s in "did:pkh:xrpl:[a-z:]{0,10}:?r[1-9A-Za-z:]{0,40}") {
            let _ = PayerDid::parse(&s);
        }

        #[test]
        fn round_trips(id in any::<[u8; 20]>(), network in "[A-Za-z0-9_-]{1,32}") {
            let did = PayerDid { network, address: AccountId(id) };
            prop_assert_eq!(PayerDid::parse(&did.to_string()), Ok(did));
        }
    }
}
