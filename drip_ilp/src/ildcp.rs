//! IL-DCP (RFC 0031): how a client learns its ILP address and asset from
//! its parent. The request is a Prepare of 0 to `peer.config` with the
//! condition SHA-256(32 zero bytes); the answer a Fulfill with the zero
//! fulfillment whose data is `varOctets address ‖ u8 scale ‖ varOctets code`.

use crate::ilp::{Address, Fulfill, Prepare, Timestamp};
use crate::oer::{put_var_octets, DecodeError, Reader};

/// The destination of IL-DCP requests.
pub const PEER_CONFIG: &str = "peer.config";

/// SHA-256 of 32 zero bytes: the condition of every IL-DCP request.
pub const CONDITION: [u8; 32] = [
    0x66, 0x68, 0x7a, 0xad, 0xf8, 0x62, 0xbd, 0x77, 0x6c, 0x8f, 0xc1, 0x8b, 0x8e, 0x9f, 0x8e, 0x20,
    0x08, 0x97, 0x14, 0x85, 0x6e, 0xe2, 0x33, 0xb3, 0x90, 0x2a, 0x59, 0x1d, 0x0d, 0x5f, 0x29, 0x25,
];

/// What the parent tells its child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The child's ILP address.
    pub client_address: Address,
    /// Decimal places of the asset's base unit (6 for drops of XRP).
    pub asset_scale: u8,
    /// e.g. `XRP`.
    pub asset_code: String,
}

/// An IL-DCP request expiring at `expires_at`.
pub fn request(expires_at: Timestamp) -> Result<Prepare, DecodeError> {
    Ok(Prepare {
        amount: 0,
        expires_at,
        execution_condition: CONDITION,
        destination: PEER_CONFIG.parse()?,
        data: Vec::new(),
    })
}

/// Whether a Prepare is an IL-DCP request.
pub fn is_request(p: &Prepare) -> bool {
    p.destination.as_str() == PEER_CONFIG && p.execution_condition == CONDITION
}

impl Config {
    /// The Fulfill answering a request.
    pub fn response(&self) -> Fulfill {
        let mut data = Vec::new();
        put_var_octets(&mut data, self.client_address.as_str().as_bytes());
        data.push(self.asset_scale);
        put_var_octets(&mut data, self.asset_code.as_bytes());
        Fulfill {
            fulfillment: [0; 32],
            data,
        }
    }

    /// Read a response.
    pub fn from_response(f: &Fulfill) -> Result<Config, DecodeError> {
        if f.fulfillment != [0; 32] {
            return Err(DecodeError::invalid(
                "fulfillment",
                "not the IL-DCP fulfillment (zeros)",
            ));
        }
        let mut r = Reader::new(&f.data);
        let config = Config {
            client_address: r.var_str("clientAddress")?.parse()?,
            asset_scale: r.u8("assetScale")?,
            asset_code: r.var_str("assetCode")?.to_owned(),
        };
        r.finish()?;
        Ok(config)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_condition_is_the_hash_of_zeros() {
        assert_eq!(<[u8; 32]>::from(Sha256::digest([0u8; 32])), CONDITION);
        let r = request(Timestamp::from_unix_ms(0)).unwrap();
        assert!(is_request(&r));
        assert!(Fulfill {
            fulfillment: [0; 32],
            data: vec![]
        }
        .fulfills(&r));
    }

    proptest! {
        #[test]
        fn responses_round_trip(addr in "test(\\.[a-zA-Z0-9_~-]{1,12}){1,5}", scale in any::<u8>(), code in "[A-Z]{0,6}") {
            let c = Config { client_address: addr.parse().unwrap(), asset_scale: scale, asset_code: code };
            prop_assert_eq!(Config::from_response(&c.response()), Ok(c));
        }

        #[test]
        fn garbage_is_a_typed_error(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = Config::from_response(&Fulfill { fulfillment: [0; 32], data });
        }
    }
}
