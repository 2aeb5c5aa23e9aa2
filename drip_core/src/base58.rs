//! Base58Check in the XRP Ledger's alphabet: the encoding of addresses, seeds
//! and public keys (a version prefix, the payload, and a 4-byte double-SHA-256
//! checksum).

use sha2::{Digest, Sha256};

/// Why a Base58Check string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base58Error {
    /// A character outside the XRPL alphabet (which has no `0`, `O`, `I`, `l`
    /// and orders letters differently from Bitcoin's).
    #[error("not base58 in the XRPL alphabet")]
    Alphabet,
    /// Longer than any XRPL value, refused before decoding.
    #[error("too long to be an XRPL base58 value")]
    TooLong,
    /// Wrong number of bytes for this kind of value.
    #[error("wrong length: expected {expected} bytes, got {got}")]
    Length {
        /// Bytes expected, prefix and checksum included.
        expected: usize,
        /// Bytes decoded.
        got: usize,
    },
    /// The version prefix says this is another kind of value.
    #[error("wrong version prefix for this kind of value")]
    Version,
    /// The checksum does not match: a typo, most likely.
    #[error("checksum mismatch")]
    Checksum,
}

/// The longest string we decode; XRPL values are at most ~60 characters.
const MAX_LEN: usize = 128;

fn checksum(data: &[u8]) -> [u8; 4] {
    let twice = Sha256::digest(Sha256::digest(data));
    let mut out = [0u8; 4];
    out.copy_from_slice(twice.get(..4).unwrap_or(&[0; 4]));
    out
}

/// Encode `version ‖ payload ‖ checksum`.
pub fn encode_check(version: &[u8], payload: &[u8]) -> String {
    let mut data = Vec::with_capacity(
        version
            .len()
            .saturating_add(payload.len())
            .saturating_add(4),
    );
    data.extend_from_slice(version);
    data.extend_from_slice(payload);
    let sum = checksum(&data);
    data.extend_from_slice(&sum);
    bs58::encode(data)
        .with_alphabet(bs58::Alphabet::RIPPLE)
        .into_string()
}

/// Decode a Base58Check string that must carry `version` and `N` payload bytes.
pub fn decode_check<const N: usize>(s: &str, version: &[u8]) -> Result<[u8; N], Base58Error> {
    if s.len() > MAX_LEN {
        return Err(Base58Error::TooLong);
    }
    let data = bs58::decode(s)
        .with_alphabet(bs58::Alphabet::RIPPLE)
        .into_vec()
        .map_err(|_| Base58Error::Alphabet)?;
    let expected = version.len().saturating_add(N).saturating_add(4);
    if data.len() != expected {
        return Err(Base58Error::Length {
            expected,
            got: data.len(),
        });
    }
    let (body, sum) = data.split_at(expected.saturating_sub(4));
    if checksum(body) != sum {
        return Err(Base58Error::Checksum);
    }
    let (got_version, payload) = body.split_at(version.len());
    if got_version != version {
        return Err(Base58Error::Version);
    }
    let mut out = [0u8; N];
    out.copy_from_slice(payload);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn account_zero_is_rrrr() {
        // ACCOUNT_ZERO in rippled's documentation.
        assert_eq!(encode_check(&[0], &[0; 20]), "rrrrrrrrrrrrrrrrrrrrrhoLvTp");
        assert_eq!(
            decode_check::<20>("rrrrrrrrrrrrrrrrrrrrrhoLvTp", &[0]),
            Ok([0; 20])
        );
    }

    #[test]
    fn refuses_bad_strings() {
        assert_eq!(decode_check::<20>("0OIl", &[0]), Err(Base58Error::Alphabet));
        assert_eq!(
            decode_check::<20>("rrrrrrrrrrrrrrrrrrrrrhoLvTq", &[0]),
            Err(Base58Error::Checksum)
        );
        assert_eq!(
            decode_check::<16>("rrrrrrrrrrrrrrrrrrrrrhoLvTp", &[0]),
            Err(Base58Error::Length {
                expected: 21,
                got: 25
            })
        );
        let s = "r".repeat(MAX_LEN + 1);
        assert_eq!(decode_check::<20>(&s, &[0]), Err(Base58Error::TooLong));
    }

    proptest! {
        #[test]
        fn round_trips(payload in any::<[u8; 20]>(), v in any::<u8>()) {
            let s = encode_check(&[v], &payload);
            prop_assert_eq!(decode_check::<20>(&s, &[v]), Ok(payload));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,80}") {
            let _ = decode_check::<20>(&s, &[0]);
            let _ = decode_check::<16>(&s, &[1, 0xE1, 0x4B]);
        }
    }
}
