//! Secrets at rest in the config file: XChaCha20-Poly1305 under a key
//! derived from the `DRIP_SECRET` passphrase with Argon2id (a fresh salt and
//! nonce per value). The sealed form is `drip-secret-v1:` + base64 of
//! salt ‖ nonce ‖ ciphertext ‖ tag; the prefix is authenticated too.
//! `drip-sidecar secret encrypt` writes one.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

const PREFIX: &str = "drip-secret-v1:";
const SALT: usize = 16;
const NONCE: usize = 24;

/// Why a sealed secret could not be opened or made. Never carries the secret.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not `drip-secret-v1:` followed by base64 of the right length.
    #[error("not a sealed drip secret (drip-secret-v1:…)")]
    Format,
    /// Wrong passphrase, or the value was altered.
    #[error("cannot be opened with DRIP_SECRET (wrong passphrase or altered value)")]
    Open,
    /// The plaintext is not UTF-8.
    #[error("opened, but is not text")]
    NotText,
    /// The system's random source failed.
    #[error("no randomness: {0}")]
    Random(String),
}

fn cipher(passphrase: &str, salt: &[u8]) -> Result<XChaCha20Poly1305, SecretError> {
    // OWASP's Argon2id minimum: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, Some(32)).map_err(|_| SecretError::Format)?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|_| SecretError::Format)?;
    XChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| SecretError::Format)
}

fn nonce_of(bytes: &[u8]) -> Result<XNonce, SecretError> {
    let n: [u8; NONCE] = bytes.try_into().map_err(|_| SecretError::Format)?;
    Ok(XNonce::from(n))
}

/// Seal `plain` under `passphrase`.
pub fn seal(plain: &str, passphrase: &str) -> Result<String, SecretError> {
    let mut salt_nonce = [0u8; SALT + NONCE];
    getrandom::getrandom(&mut salt_nonce).map_err(|e| SecretError::Random(e.to_string()))?;
    let (salt, nonce) = salt_nonce.split_at(SALT);
    let sealed = cipher(passphrase, salt)?
        .encrypt(
            &nonce_of(nonce)?,
            Payload {
                msg: plain.as_bytes(),
                aad: PREFIX.as_bytes(),
            },
        )
        .map_err(|_| SecretError::Format)?;
    let mut out = salt_nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
}

/// Open a value made by [`seal`].
pub fn open(sealed: &str, passphrase: &str) -> Result<String, SecretError> {
    let body = sealed
        .trim()
        .strip_prefix(PREFIX)
        .ok_or(SecretError::Format)?;
    let bytes = STANDARD.decode(body).map_err(|_| SecretError::Format)?;
    // 16 bytes of Poly1305 tag at least.
    if bytes.len() < SALT + NONCE + 16 {
        return Err(SecretError::Format);
    }
    let (salt, rest) = bytes.split_at(SALT);
    let (nonce, ciphertext) = rest.split_at(NONCE);
    let plain = Zeroizing::new(
        cipher(passphrase, salt)?
            .decrypt(
                &nonce_of(nonce)?,
                Payload {
                    msg: ciphertext,
                    aad: PREFIX.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?,
    );
    String::from_utf8(plain.to_vec()).map_err(|_| SecretError::NotText)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_and_each_seal_differs() {
        let a = seal("s3cr3t seed", "pass").unwrap();
        let b = seal("s3cr3t seed", "pass").unwrap();
        assert_ne!(a, b, "fresh salt and nonce");
        assert!(!a.contains("s3cr3t"));
        assert_eq!(open(&a, "pass").unwrap(), "s3cr3t seed");
    }

    #[test]
    fn wrong_passphrase_or_any_flipped_bit_fails() {
        let sealed = seal("value", "pass").unwrap();
        assert_eq!(open(&sealed, "Pass"), Err(SecretError::Open));
        let body = STANDARD
            .decode(sealed.strip_prefix(PREFIX).unwrap())
            .unwrap();
        for i in [0, SALT, SALT + NONCE, body.len() - 1] {
            let mut b = body.clone();
            b[i] ^= 1;
            let altered = format!("{PREFIX}{}", STANDARD.encode(&b));
            assert!(open(&altered, "pass").is_err(), "bit flipped at {i}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn garbage_is_an_error_not_a_panic(s in ".{0,120}") {
            prop_assert!(open(&s, "pass").is_err());
            let prefixed = format!("{PREFIX}{s}");
            prop_assert!(open(&prefixed, "pass").is_err());
        }
    }
}
