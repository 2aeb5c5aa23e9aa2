//! Serialization.

use super::{Amount, CodecError, Field, StObject, TypeCode, Value};

/// Object and array end markers (`ObjectEndMarker`, `ArrayEndMarker`).
pub(super) const OBJECT_END: u8 = 0xE1;
pub(super) const ARRAY_END: u8 = 0xF1;

/// The largest length a VL prefix can express.
pub(super) const MAX_VL: usize = 918_744;

/// Serialize every field of `obj`.
pub fn encode(obj: &StObject) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    write_object(obj, false, &mut out)?;
    Ok(out)
}

/// Serialize only the fields a signature covers (no `TxnSignature`,
/// `Signature` or `Signers`).
pub fn encode_for_signing(obj: &StObject) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    write_object(obj, true, &mut out)?;
    Ok(out)
}

fn write_object(obj: &StObject, signing: bool, out: &mut Vec<u8>) -> Result<(), CodecError> {
    for (field, value) in obj.iter() {
        if signing && !field.signing {
            continue;
        }
        write_field_id(field, out);
        write_value(value, signing, out)?;
    }
    Ok(())
}

fn write_field_id(field: &Field, out: &mut Vec<u8>) {
    let t = field.type_code as u8;
    let n = field.nth;
    match (t < 16, n < 16) {
        (true, true) => out.push((t << 4) | n),
        (true, false) => out.extend_from_slice(&[t << 4, n]),
        (false, true) => out.extend_from_slice(&[n, t]),
        (false, false) => out.extend_from_slice(&[0, t, n]),
    }
}

// The match arms bound each expression, so the casts and arithmetic are exact.
#[allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)]
pub(super) fn write_vl_length(len: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let bytes: &[u8] = match len {
        0..=192 => &[len as u8],
        193..=12_480 => {
            let l = len - 193;
            &[193 + (l >> 8) as u8, (l & 0xFF) as u8]
        }
        12_481..=MAX_VL => {
            let l = len - 12_481;
            &[
                241 + (l >> 16) as u8,
                ((l >> 8) & 0xFF) as u8,
                (l & 0xFF) as u8,
            ]
        }
        _ => return Err(CodecError::TooLong),
    };
    out.extend_from_slice(bytes);
    Ok(())
}

fn write_value(value: &Value, signing: bool, out: &mut Vec<u8>) -> Result<(), CodecError> {
    match value {
        Value::UInt8(v) => out.push(*v),
        Value::UInt16(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::UInt32(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::UInt64(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::Hash128(h) => out.extend_from_slice(h),
        Value::Hash160(h) => out.extend_from_slice(h),
        Value::Hash256(h) => out.extend_from_slice(h),
        Value::Amount(Amount::Xrp(d)) => {
            if !d.is_native_amount() {
                return Err(CodecError::XrpOverflow);
            }
            out.extend_from_slice(&(d.get() | 0x4000_0000_0000_0000).to_be_bytes());
        }
        Value::Amount(Amount::Issued(raw)) => out.extend_from_slice(&raw[..]),
        Value::Blob(b) => {
            write_vl_length(b.len(), out)?;
            out.extend_from_slice(b);
        }
        Value::AccountId(a) => {
            write_vl_length(20, out)?;
            out.extend_from_slice(a.as_bytes());
        }
        Value::Object(obj) => {
            write_object(obj, signing, out)?;
            out.push(OBJECT_END);
        }
        Value::Array(items) => {
            for (field, obj) in items {
                if field.type_code != TypeCode::Object {
                    return Err(CodecError::ArrayElement(field.name));
                }
                write_field_id(field, out);
                write_object(obj, signing, out)?;
                out.push(OBJECT_END);
            }
            out.push(ARRAY_END);
        }
    }
    Ok(())
}
