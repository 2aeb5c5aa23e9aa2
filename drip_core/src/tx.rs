//! Transactions: the signing hash, the transaction id, single-signing, and the
//! signature check a server applies to a submitted blob.

use crate::codec::{self, field, CodecError, StObject, Value};
use crate::hash::{prefix, sha512_half, Hash256};
use crate::keys::{KeyError, KeyPair, PublicKey, SignatureError};

/// A signed transaction: its blob and its id.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedTx {
    /// The serialized, signed transaction (`tx_blob`).
    pub blob: Vec<u8>,
    /// Its transaction id (`hash`).
    pub hash: Hash256,
}

/// Why a transaction could not be signed or its signature checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The transaction did not encode.
    #[error("transaction encoding: {0}")]
    Codec(#[from] CodecError),
    /// No `SigningPubKey`, or an empty one (multi-signing is not supported).
    #[error("transaction has no SigningPubKey")]
    NoSigningKey,
    /// No `TxnSignature`.
    #[error("transaction has no TxnSignature")]
    NoSignature,
    /// `SigningPubKey` is not a valid key.
    #[error("SigningPubKey: {0}")]
    Key(#[from] KeyError),
    /// The signature does not verify.
    #[error("TxnSignature: {0}")]
    Signature(#[from] SignatureError),
}

/// The bytes a single signature covers: `"STX\0"` ‖ signing fields.
pub fn signing_data(tx: &StObject) -> Result<Vec<u8>, CodecError> {
    let fields = codec::encode_for_signing(tx)?;
    let mut data = Vec::with_capacity(fields.len().saturating_add(4));
    data.extend_from_slice(&prefix::TX_SIGN);
    data.extend_from_slice(&fields);
    Ok(data)
}

/// The single-signing hash: SHA-512Half of [`signing_data`].
pub fn signing_hash(tx: &StObject) -> Result<Hash256, CodecError> {
    Ok(Hash256(sha512_half(&[&signing_data(tx)?])))
}

/// The transaction id of a signed blob: SHA-512Half(`"TXN\0"` ‖ blob).
pub fn transaction_id(blob: &[u8]) -> Hash256 {
    Hash256(sha512_half(&[&prefix::TRANSACTION_ID, blob]))
}

/// Sign `tx` with `key`: sets `SigningPubKey` and `TxnSignature`, returns the
/// blob and id.
pub fn sign(tx: &mut StObject, key: &KeyPair) -> Result<SignedTx, TxError> {
    tx.remove("TxnSignature");
    tx.set(
        signing_pub_key_field(),
        Value::Blob(key.public_key().as_bytes().to_vec()),
    )?;
    let signature = key.sign(&signing_data(tx)?);
    tx.set(txn_signature_field(), Value::Blob(signature))?;
    let blob = codec::encode(tx)?;
    let hash = transaction_id(&blob);
    Ok(SignedTx { blob, hash })
}

/// Check a single-signed transaction's `TxnSignature` against its
/// `SigningPubKey`, returning that key (whose account the caller must check).
pub fn verify_signature(tx: &StObject) -> Result<PublicKey, TxError> {
    let key_bytes = tx
        .blob("SigningPubKey")
        .filter(|k| !k.is_empty())
        .ok_or(TxError::NoSigningKey)?;
    let key = PublicKey::from_slice(key_bytes)?;
    let signature = tx.blob("TxnSignature").ok_or(TxError::NoSignature)?;
    key.verify(&signing_data(tx)?, signature)?;
    Ok(key)
}

fn signing_pub_key_field() -> &'static codec::Field {
    static_field("SigningPubKey")
}

fn txn_signature_field() -> &'static codec::Field {
    static_field("TxnSignature")
}

/// A field the table is known to hold (checked by the table's own tests).
fn static_field(name: &str) -> &'static codec::Field {
    match field::by_name(name) {
        Some(f) => f,
        None => unreachable!("{name} is in the field table"),
    }
}
