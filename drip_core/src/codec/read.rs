//! Deserialization: strict, bounded, never panics.

use super::write::{ARRAY_END, OBJECT_END};
use super::{field, Amount, CodecError, Field, StObject, TypeCode, Value};
use crate::account::AccountId;
use crate::drops::Drops;

/// Deepest nesting of objects and arrays accepted (transactions with memos
/// and metadata need 4).
const MAX_DEPTH: usize = 8;

/// Decode a whole serialized object (a transaction blob, a ledger entry).
pub fn decode(bytes: &[u8]) -> Result<StObject, CodecError> {
    let mut r = Reader { rest: bytes };
    r.object(0, false)
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.rest.len() {
            return Err(CodecError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    /// A field id (type code, field number); end markers are ids too.
    fn field_id(&mut self) -> Result<(u8, u8), CodecError> {
        let first = self.byte()?;
        let mut type_code = first >> 4;
        let mut nth = first & 0x0F;
        if type_code == 0 {
            type_code = self.byte()?;
            if type_code < 16 {
                return Err(CodecError::NonCanonicalFieldId);
            }
        }
        if nth == 0 {
            nth = self.byte()?;
            if nth < 16 {
                return Err(CodecError::NonCanonicalFieldId);
            }
        }
        Ok((type_code, nth))
    }

    fn vl_length(&mut self) -> Result<usize, CodecError> {
        let b0 = usize::from(self.byte()?);
        let len = match b0 {
            0..=192 => b0,
            193..=240 => {
                let b1 = usize::from(self.byte()?);
                193usize
                    .saturating_add((b0.saturating_sub(193)) << 8)
                    .saturating_add(b1)
            }
            241..=254 => {
                let [b1, b2] = self.array::<2>()?;
                12_481usize
                    .saturating_add(b0.saturating_sub(241) << 16)
                    .saturating_add(usize::from(b1) << 8)
                    .saturating_add(usize::from(b2))
            }
            _ => return Err(CodecError::BadLength),
        };
        if len > self.rest.len() {
            return Err(CodecError::Truncated);
        }
        Ok(len)
    }

    /// Read fields until the object end marker (`nested`) or the end of input
    /// (the top level).
    fn object(&mut self, depth: usize, nested: bool) -> Result<StObject, CodecError> {
        if depth > MAX_DEPTH {
            return Err(CodecError::TooDeep);
        }
        let mut obj = StObject::new();
        let mut last: Option<(u8, u8)> = None;
        loop {
            if self.rest.is_empty() {
                return if nested {
                    Err(CodecError::Truncated)
                } else {
                    Ok(obj)
                };
            }
            let (type_code, nth) = self.field_id()?;
            match (type_code, nth) {
                (14, 1) if nested => return Ok(obj),
                (14, 1) => return Err(CodecError::Unexpected("object end marker")),
                (15, 1) => return Err(CodecError::Unexpected("array end marker")),
                _ => {}
            }
            let field =
                field::by_id(type_code, nth).ok_or(CodecError::UnknownField { type_code, nth })?;
            if last.is_some_and(|prev| prev >= field.sort_key()) {
                return Err(CodecError::FieldOrder(field.name));
            }
            last = Some(field.sort_key());
            let value = self.value(field, depth)?;
            obj.set(field, value)?;
        }
    }

    fn value(&mut self, field: &'static Field, depth: usize) -> Result<Value, CodecError> {
        Ok(match field.type_code {
            TypeCode::UInt8 => Value::UInt8(self.byte()?),
            TypeCode::UInt16 => Value::UInt16(u16::from_be_bytes(self.array()?)),
            TypeCode::UInt32 => Value::UInt32(u32::from_be_bytes(self.array()?)),
            TypeCode::UInt64 => Value::UInt64(u64::from_be_bytes(self.array()?)),
            TypeCode::Hash128 => Value::Hash128(self.array()?),
            TypeCode::Hash160 => Value::Hash160(self.array()?),
            TypeCode::Hash256 => Value::Hash256(self.array()?),
            TypeCode::Amount => Value::Amount(self.amount()?),
            TypeCode::Blob => {
                let len = self.vl_length()?;
                Value::Blob(self.take(len)?.to_vec())
            }
            TypeCode::AccountId => {
                let len = self.vl_length()?;
                if len != 20 {
                    return Err(CodecError::AccountIdLength(len));
                }
                Value::AccountId(AccountId(self.array()?))
            }
            TypeCode::Object => Value::Object(self.object(depth.saturating_add(1), true)?),
            TypeCode::Array => Value::Array(self.array_items(depth.saturating_add(1))?),
        })
    }

    fn amount(&mut self) -> Result<Amount, CodecError> {
        let head = self.array::<8>()?;
        let raw = u64::from_be_bytes(head);
        if raw & 0x8000_0000_0000_0000 != 0 {
            let mut issued = Box::new([0u8; 48]);
            let (h, t) = issued.split_at_mut(8);
            h.copy_from_slice(&head);
            t.copy_from_slice(self.take(40)?);
            return Ok(Amount::Issued(issued));
        }
        if raw & 0x4000_0000_0000_0000 == 0 {
            return Err(CodecError::NegativeXrp);
        }
        let drops = Drops::new(raw & 0x3FFF_FFFF_FFFF_FFFF);
        if !drops.is_native_amount() {
            return Err(CodecError::XrpOverflow);
        }
        Ok(Amount::Xrp(drops))
    }

    fn array_items(&mut self, depth: usize) -> Result<Vec<(&'static Field, StObject)>, CodecError> {
        if depth > MAX_DEPTH {
            return Err(CodecError::TooDeep);
        }
        let mut items = Vec::new();
        loop {
            let (type_code, nth) = self.field_id()?;
            if (type_code, nth) == (15, 1) {
                return Ok(items);
            }
            let field =
                field::by_id(type_code, nth).ok_or(CodecError::UnknownField { type_code, nth })?;
            if field.type_code != TypeCode::Object {
                return Err(CodecError::ArrayElement(field.name));
            }
            items.push((field, self.object(depth.saturating_add(1), true)?));
        }
    }
}

// The markers are single bytes; keep the constants and the match above in step.
const _: () = assert!(OBJECT_END == 0xE1 && ARRAY_END == 0xF1);
