//! The XRPL binary format (rippled `STObject` serialization) for the fields in
//! [`field::FIELDS`]: enough for every transaction and ledger entry drip signs,
//! submits, or reads back.
//!
//! Decoding is strict and total: any input gives a value or a [`CodecError`],
//! never a panic; lengths are checked against the bytes left before anything
//! is allocated, nesting is bounded, and fields must come in canonical order.

pub mod field;
mod json;
mod read;
mod write;

pub use field::{Field, TypeCode};
pub use json::{from_json, to_json, JsonError};
pub use read::decode;
pub use write::{encode, encode_for_signing};

use crate::account::AccountId;
use crate::drops::Drops;

/// An amount as the ledger serializes it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Amount {
    /// XRP, in drops (at most 10^17).
    Xrp(Drops),
    /// An issued-currency amount, kept as its 48 serialized bytes (drip moves
    /// only XRP, but reads any valid transaction).
    Issued(Box<[u8; 48]>),
}

/// A field value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    /// `UInt8`.
    UInt8(u8),
    /// `UInt16`.
    UInt16(u16),
    /// `UInt32`.
    UInt32(u32),
    /// `UInt64`.
    UInt64(u64),
    /// `Hash128`.
    Hash128([u8; 16]),
    /// `Hash160`.
    Hash160([u8; 20]),
    /// `Hash256`.
    Hash256([u8; 32]),
    /// `Amount`.
    Amount(Amount),
    /// `Blob`.
    Blob(Vec<u8>),
    /// `AccountID`.
    AccountId(AccountId),
    /// A nested object.
    Object(StObject),
    /// An array of wrapped objects: each element is one field (e.g. `Memo`)
    /// holding an object.
    Array(Vec<(&'static Field, StObject)>),
}

impl Value {
    /// The serialized type this value has.
    pub fn type_code(&self) -> TypeCode {
        match self {
            Value::UInt8(_) => TypeCode::UInt8,
            Value::UInt16(_) => TypeCode::UInt16,
            Value::UInt32(_) => TypeCode::UInt32,
            Value::UInt64(_) => TypeCode::UInt64,
            Value::Hash128(_) => TypeCode::Hash128,
            Value::Hash160(_) => TypeCode::Hash160,
            Value::Hash256(_) => TypeCode::Hash256,
            Value::Amount(_) => TypeCode::Amount,
            Value::Blob(_) => TypeCode::Blob,
            Value::AccountId(_) => TypeCode::AccountId,
            Value::Object(_) => TypeCode::Object,
            Value::Array(_) => TypeCode::Array,
        }
    }
}

/// Why bytes did not decode, or a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended inside a field.
    #[error("unexpected end of data")]
    Truncated,
    /// A field id drip does not know.
    #[error("unknown field (type {type_code}, field {nth})")]
    UnknownField {
        /// Type code read.
        type_code: u8,
        /// Field number read.
        nth: u8,
    },
    /// A field id written in more bytes than needed.
    #[error("field id is not minimally encoded")]
    NonCanonicalFieldId,
    /// Fields out of canonical order, or one field twice.
    #[error("field {0} is out of canonical order or repeated")]
    FieldOrder(&'static str),
    /// A length prefix that no valid length has (first byte 255).
    #[error("invalid length prefix")]
    BadLength,
    /// An account id whose length prefix is not 20.
    #[error("account id must be 20 bytes, got {0}")]
    AccountIdLength(usize),
    /// A negative XRP amount, or "negative zero".
    #[error("XRP amount must be positive")]
    NegativeXrp,
    /// More XRP than exists (over 10^17 drops).
    #[error("XRP amount exceeds 10^17 drops")]
    XrpOverflow,
    /// Objects nested deeper than drip allows.
    #[error("objects nested too deeply")]
    TooDeep,
    /// An array element that is not an object field.
    #[error("array element {0} is not an object")]
    ArrayElement(&'static str),
    /// An end marker with nothing to end, or a value of the wrong type.
    #[error("unexpected {0}")]
    Unexpected(&'static str),
    /// A blob longer than the format can express (918,744 bytes).
    #[error("blob too long to serialize")]
    TooLong,
    /// A value whose type does not match the field's type.
    #[error("field {0} holds a value of the wrong type")]
    WrongType(&'static str),
}

/// An object: fields kept in canonical order, each at most once.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct StObject {
    fields: Vec<(&'static Field, Value)>,
}

impl StObject {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `field` to `value`, replacing any earlier value.
    pub fn set(&mut self, field: &'static Field, value: Value) -> Result<(), CodecError> {
        if value.type_code() != field.type_code {
            return Err(CodecError::WrongType(field.name));
        }
        match self
            .fields
            .binary_search_by_key(&field.sort_key(), |(f, _)| f.sort_key())
        {
            Ok(i) => {
                if let Some(slot) = self.fields.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.fields.insert(i, (field, value)),
        }
        Ok(())
    }

    /// Set the field named `name`; `Err` if no such field or the type is wrong.
    pub fn set_named(&mut self, name: &str, value: Value) -> Result<(), CodecError> {
        let field = field::by_name(name).ok_or(CodecError::Unexpected("field name"))?;
        self.set(field, value)
    }

    /// The value of the field named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(f, _)| f.name == name)
            .map(|(_, v)| v)
    }

    /// Remove the field named `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.fields.iter().position(|(f, _)| f.name == name)?;
        Some(self.fields.remove(i).1)
    }

    /// Fields in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Field, &Value)> {
        self.fields.iter().map(|(f, v)| (*f, v))
    }

    /// `UInt32` field by name.
    pub fn u32(&self, name: &str) -> Option<u32> {
        match self.get(name)? {
            Value::UInt32(v) => Some(*v),
            _ => None,
        }
    }

    /// `UInt16` field by name.
    pub fn u16(&self, name: &str) -> Option<u16> {
        match self.get(name)? {
            Value::UInt16(v) => Some(*v),
            _ => None,
        }
    }

    /// XRP `Amount` field by name (`None` if absent or issued).
    pub fn xrp(&self, name: &str) -> Option<Drops> {
        match self.get(name)? {
            Value::Amount(Amount::Xrp(d)) => Some(*d),
            _ => None,
        }
    }

    /// `Blob` field by name.
    pub fn blob(&self, name: &str) -> Option<&[u8]> {
        match self.get(name)? {
            Value::Blob(b) => Some(b),
            _ => None,
        }
    }

    /// `AccountID` field by name.
    pub fn account(&self, name: &str) -> Option<AccountId> {
        match self.get(name)? {
            Value::AccountId(a) => Some(*a),
            _ => None,
        }
    }

    /// `Hash256` field by name.
    pub fn hash256(&self, name: &str) -> Option<[u8; 32]> {
        match self.get(name)? {
            Value::Hash256(h) => Some(*h),
            _ => None,
        }
    }
}
