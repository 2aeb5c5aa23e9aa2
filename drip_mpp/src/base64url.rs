//! base64url without padding (RFC 4648 §5), the encoding of every MPP header
//! value. Decoding is strict: no padding, no whitespace, no `+` or `/`, and
//! the unused bits of the last character must be zero, so each byte string
//! has exactly one accepted encoding.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// A value that is not canonical unpadded base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not canonical unpadded base64url")]
pub struct Base64UrlError;

/// Encode `bytes` as base64url without padding.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode canonical unpadded base64url.
pub fn decode(s: &str) -> Result<Vec<u8>, Base64UrlError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| Base64UrlError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg");
        assert_eq!(encode(b"fo"), "Zm8");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8"), Ok(vec![0xfb, 0xff]));
        assert_eq!(decode(""), Ok(vec![]));
    }

    #[test]
    fn refuses_padding_other_alphabets_and_loose_bits() {
        for bad in [
            "Zg==", "Zg=", "Zm8=", "+/8", "Zm 9v", "Zh", "Zm9", "Z", "Zm9v\n",
        ] {
            assert_eq!(decode(bad), Err(Base64UrlError), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(decode(&encode(&bytes)), Ok(bytes));
        }

        #[test]
        fn accepted_strings_are_canonical(s in "[A-Za-z0-9_=+/-]{0,20}") {
            if let Ok(bytes) = decode(&s) {
                prop_assert_eq!(encode(&bytes), s);
            }
        }
    }
}
