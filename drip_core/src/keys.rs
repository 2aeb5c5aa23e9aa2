//! XRPL key pairs and public keys for both key types, and strict signature
//! verification as rippled does it.
//!
//! Ed25519 keys are 33 bytes (`0xED` ‖ 32) and sign the message itself;
//! secp256k1 keys are 33-byte compressed points and sign SHA-512Half of the
//! message with a DER signature that must be strictly encoded and low-S.

use std::fmt;

use ed25519_dalek::Signer as _;
use k256::ecdsa::signature::hazmat::PrehashSigner as _;
use k256::elliptic_curve::scalar::IsHigh as _;
use k256::elliptic_curve::sec1::ToSec1Point as _;

use crate::account::AccountId;
use crate::base58::{self, Base58Error};
use crate::hash::sha512_half;
use crate::secp256k1::KeyTables;

/// Which signature scheme a key uses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum KeyType {
    /// ECDSA over secp256k1 (rippled's default for `s…` seeds).
    Secp256k1,
    /// Ed25519 (`sEd…` seeds, `ED…` keys).
    Ed25519,
}

impl KeyType {
    /// The name rippled and the client libraries use (`secp256k1`, `ed25519`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Secp256k1 => "secp256k1",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyType {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s {
            "secp256k1" => Ok(KeyType::Secp256k1),
            "ed25519" => Ok(KeyType::Ed25519),
            _ => Err(KeyError::UnknownKeyType),
        }
    }
}

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Public keys are 33 bytes for both key types.
    #[error("public key must be 33 bytes, got {0}")]
    Length(usize),
    /// The first byte is none of `0xED`, `0x02`, `0x03`.
    #[error("public key must start with 0xED (ed25519) or 0x02/0x03 (secp256k1)")]
    Prefix,
    /// The bytes are not a point on the curve.
    #[error("public key is not a valid {0} point")]
    NotOnCurve(KeyType),
    /// A key type name other than `secp256k1` or `ed25519`.
    #[error("key type must be secp256k1 or ed25519")]
    UnknownKeyType,
    /// A base58 public key (`a…`) that did not decode.
    #[error("base58 public key: {0}")]
    Base58(#[from] Base58Error),
    /// No valid secret key came out of the seed (odds around 2^-128 per try).
    #[error("seed does not derive a valid secp256k1 key")]
    Derivation,
    /// A hex string that is not 33 bytes of hex.
    #[error("not a hex-encoded 33-byte key")]
    Hex,
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A length no signature of this key type can have (Ed25519: 64 bytes;
    /// secp256k1 DER: 8 to 72 bytes).
    #[error("{key_type} signature cannot be {got} bytes long")]
    Length {
        /// The key type the signature was checked for.
        key_type: KeyType,
        /// Its length in bytes.
        got: usize,
    },
    /// Not strict DER, or r or s out of range.
    #[error("secp256k1 signature is not canonically DER-encoded")]
    NotCanonical,
    /// A high-S secp256k1 signature: the malleable twin of a valid one.
    #[error("secp256k1 signature has a high S value")]
    HighS,
    /// Well-formed, but not made by this key over this message.
    #[error("signature does not match the key and message")]
    Mismatch,
}

impl SignatureError {
    /// Whether the signature's length alone shows it is malformed (as opposed
    /// to a well-shaped signature that does not verify).
    pub fn is_length(&self) -> bool {
        matches!(self, SignatureError::Length { .. })
    }
}

#[derive(Clone, PartialEq, Eq)]
enum Verifier {
    Ed25519(ed25519_dalek::VerifyingKey),
    Secp256k1(k256::ecdsa::VerifyingKey),
}

/// A validated XRPL public key: 33 bytes, a point on its curve.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; 33],
    verifier: Verifier,
}

/// Version prefix of base58 account public keys (`a…`).
const PUBLIC_KEY_VERSION: [u8; 1] = [0x23];

impl PublicKey {
    /// Parse 33 bytes, checking the prefix and that the point is on the curve.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: [u8; 33] = bytes
            .try_into()
            .map_err(|_| KeyError::Length(bytes.len()))?;
        let verifier = match bytes {
            [0xED, ref rest @ ..] => ed25519_dalek::VerifyingKey::from_bytes(rest)
                .map(Verifier::Ed25519)
                .map_err(|_| KeyError::NotOnCurve(KeyType::Ed25519))?,
            [0x02 | 0x03, ..] => k256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes)
                .map(Verifier::Secp256k1)
                .map_err(|_| KeyError::NotOnCurve(KeyType::Secp256k1))?,
            _ => return Err(KeyError::Prefix),
        };
        Ok(PublicKey { bytes, verifier })
    }

    /// Parse 66 hex digits, either case.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 33];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| KeyError::Hex)?;
        Self::from_slice(&bytes)
    }

    /// Parse rippled's base58 form (`a…`, as in `account_channels`).
    pub fn from_base58(s: &str) -> Result<Self, KeyError> {
        Self::from_slice(&base58::decode_check::<33>(s, &PUBLIC_KEY_VERSION)?)
    }

    /// The 33 key bytes.
    pub fn as_bytes(&self) -> &[u8; 33] {
        &self.bytes
    }

    /// Upper-case hex, as rippled shows `PublicKey` and `SigningPubKey`.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.bytes)
    }

    /// rippled's base58 form (`a…`).
    pub fn to_base58(&self) -> String {
        base58::encode_check(&PUBLIC_KEY_VERSION, &self.bytes)
    }

    /// Which scheme this key uses.
    pub fn key_type(&self) -> KeyType {
        match self.verifier {
            Verifier::Ed25519(_) => KeyType::Ed25519,
            Verifier::Secp256k1(_) => KeyType::Secp256k1,
        }
    }

    /// The account this key controls as its master key.
    pub fn account_id(&self) -> AccountId {
        AccountId::from_public_key(&self.bytes)
    }

    /// Verify `signature` over `message` as rippled does with full
    /// canonicality: Ed25519 strictly (canonical S, no small-order keys);
    /// secp256k1 over SHA-512Half(message), strict DER, low S only.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        match &self.verifier {
            Verifier::Ed25519(key) => {
                let sig: [u8; 64] = signature.try_into().map_err(|_| SignatureError::Length {
                    key_type: KeyType::Ed25519,
                    got: signature.len(),
                })?;
                key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
                    .map_err(|_| SignatureError::Mismatch)
            }
            Verifier::Secp256k1(key) => {
                let sig = parse_strict_der(signature)?;
                let tables = KeyTables::new(key.as_affine()).ok_or(SignatureError::Mismatch)?;
                verify_secp256k1(&tables, message, &sig)
            }
        }
    }

    /// What [`PreparedKey::from_bytes`] reads back: for a secp256k1 key, its
    /// multiplication tables (1,025 bytes), with which a verification does
    /// about half the work; `None` for an Ed25519 key, which has none.
    pub fn prepare(&self) -> Option<Vec<u8>> {
        match &self.verifier {
            Verifier::Ed25519(_) => None,
            Verifier::Secp256k1(key) => KeyTables::new(key.as_affine()).map(|t| t.to_bytes()),
        }
    }
}

/// A secp256k1 public key read from [`PublicKey::prepare`]'s bytes: it
/// verifies without decompressing the key and with half the doublings.
#[derive(Clone, Debug)]
pub struct PreparedKey {
    tables: KeyTables,
}

impl PreparedKey {
    /// Read `prepared` for the 33-byte `public_key` it was made from; `None`
    /// if it is not such bytes for this key (the caller then verifies with
    /// the key itself).
    pub fn from_bytes(public_key: &[u8], prepared: &[u8]) -> Option<Self> {
        let key: &[u8; 33] = public_key.try_into().ok()?;
        KeyTables::from_bytes(prepared, key).map(|tables| PreparedKey { tables })
    }

    /// [`PublicKey::verify`] for this secp256k1 key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        verify_secp256k1(&self.tables, message, &parse_strict_der(signature)?)
    }
}

/// Verify a parsed secp256k1 signature over SHA-512Half(`message`).
fn verify_secp256k1(
    tables: &KeyTables,
    message: &[u8],
    sig: &k256::ecdsa::Signature,
) -> Result<(), SignatureError> {
    if tables.verify(&sha512_half(&[message]), &sig.r(), &sig.s()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Read a secp256k1 signature under rippled's `ecdsaCanonicality` rules:
/// strict DER (`30 len 02 rlen R 02 slen S`, minimal positive integers, no
/// trailing bytes), 0 < r, s < n, and s ≤ n/2.
fn parse_strict_der(sig: &[u8]) -> Result<k256::ecdsa::Signature, SignatureError> {
    if !(8..=72).contains(&sig.len()) {
        return Err(SignatureError::Length {
            key_type: KeyType::Secp256k1,
            got: sig.len(),
        });
    }
    let body = match sig {
        [0x30, len, body @ ..] if usize::from(*len) == body.len() => body,
        _ => return Err(SignatureError::NotCanonical),
    };
    let (r, rest) = der_integer(body)?;
    let (s, rest) = der_integer(rest)?;
    if !rest.is_empty() {
        return Err(SignatureError::NotCanonical);
    }
    let sig =
        k256::ecdsa::Signature::from_scalars(r, s).map_err(|_| SignatureError::NotCanonical)?;
    if bool::from(sig.s().is_high()) {
        return Err(SignatureError::HighS);
    }
    Ok(sig)
}

/// One DER INTEGER of at most 32 value bytes, left-padded to 32.
fn der_integer(input: &[u8]) -> Result<([u8; 32], &[u8]), SignatureError> {
    let (len, rest) = match input {
        [0x02, len, rest @ ..] => (usize::from(*len), rest),
        _ => return Err(SignatureError::NotCanonical),
    };
    if len == 0 || len > 33 || rest.len() < len {
        return Err(SignatureError::NotCanonical);
    }
    let (value, rest) = rest.split_at(len);
    match value {
        // Negative numbers are not valid r or s.
        [first, ..] if first & 0x80 != 0 => return Err(SignatureError::NotCanonical),
        // A leading zero is allowed only to clear the sign bit of the next byte.
        [0, next, ..] if next & 0x80 == 0 => return Err(SignatureError::NotCanonical),
        [0] => return Err(SignatureError::NotCanonical),
        _ => {}
    }
    let value = match value {
        [0, tail @ ..] if value.len() == 33 => tail,
        _ if value.len() <= 32 => value,
        _ => return Err(SignatureError::NotCanonical),
    };
    let mut out = [0u8; 32];
    let start = 32usize.saturating_sub(value.len());
    out.get_mut(start..)
        .ok_or(SignatureError::NotCanonical)?
        .copy_from_slice(value);
    Ok((out, rest))
}

#[derive(Clone)]
enum Secret {
    Ed25519(ed25519_dalek::SigningKey),
    Secp256k1(k256::ecdsa::SigningKey),
}

/// A key pair that signs XRPL messages: claims and transactions.
///
/// Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct KeyPair {
    secret: Secret,
    public: PublicKey,
}

impl KeyPair {
    /// An Ed25519 key pair from its 32-byte secret.
    pub fn ed25519_from_secret(secret: &[u8; 32]) -> Result<Self, KeyError> {
        let key = ed25519_dalek::SigningKey::from_bytes(secret);
        let mut public = [0xEDu8; 33];
        public
            .get_mut(1..)
            .ok_or(KeyError::Length(0))?
            .copy_from_slice(key.verifying_key().as_bytes());
        Ok(KeyPair {
            public: PublicKey::from_slice(&public)?,
            secret: Secret::Ed25519(key),
        })
    }

    /// A secp256k1 key pair from its 32-byte secret scalar (0 < k < n).
    pub fn secp256k1_from_secret(secret: &[u8; 32]) -> Result<Self, KeyError> {
        let key = k256::ecdsa::SigningKey::from_slice(secret).map_err(|_| KeyError::Derivation)?;
        let point = key.verifying_key().as_affine().to_sec1_point(true);
        Ok(KeyPair {
            public: PublicKey::from_slice(point.as_bytes())?,
            secret: Secret::Secp256k1(key),
        })
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Which scheme this key uses.
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    /// The account this key pair controls as its master key.
    pub fn account_id(&self) -> AccountId {
        self.public.account_id()
    }

    /// Sign `message` as rippled expects: Ed25519 over the message itself;
    /// secp256k1 over its SHA-512Half, deterministic (RFC 6979), low-S DER.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.secret {
            Secret::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            Secret::Secp256k1(key) => {
                let digest = sha512_half(&[message]);
                // Signing a 32-byte prehash with a valid key cannot fail.
                let sig: k256::ecdsa::Signature = match key.sign_prehash(&digest) {
                    Ok(sig) => sig,
                    Err(_) => unreachable!("a 32-byte prehash is always signable"),
                };
                sig.normalize_s().to_der().as_bytes().to_vec()
            }
        }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}
