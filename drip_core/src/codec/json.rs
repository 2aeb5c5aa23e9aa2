//! Objects in rippled's JSON shapes (`tx_json`, ledger entries): numbers for
//! small integers, names for `TransactionType` and `LedgerEntryType`, drop
//! strings for XRP, upper-case hex for hashes, blobs and `UInt64`s, classic
//! addresses for accounts, `[{"Memo": {…}}]` for arrays.

use serde_json::{Map, Value as Json};

use super::field::{self, Field, TypeCode, LEDGER_ENTRY_TYPES, TRANSACTION_TYPES};
use super::{Amount, StObject, Value};
use crate::account::AccountId;
use crate::drops::Drops;

/// Why JSON did not convert to an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not a JSON object where one was needed.
    #[error("{0}: expected an object")]
    NotObject(String),
    /// A field name drip does not know.
    #[error("unknown field {0}")]
    UnknownField(String),
    /// A value of the wrong shape for its field.
    #[error("{field}: {reason}")]
    BadValue {
        /// The field.
        field: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
}

fn bad(field: &'static Field, reason: &'static str) -> JsonError {
    JsonError::BadValue {
        field: field.name,
        reason,
    }
}

/// An object as rippled shows it.
pub fn to_json(obj: &StObject) -> Json {
    let mut map = Map::new();
    for (field, value) in obj.iter() {
        map.insert(field.name.to_owned(), value_to_json(field, value));
    }
    Json::Object(map)
}

fn value_to_json(field: &Field, value: &Value) -> Json {
    match value {
        Value::UInt8(v) => Json::from(*v),
        Value::UInt16(v) => named_code(field, *v).map_or_else(|| Json::from(*v), Json::from),
        Value::UInt32(v) => Json::from(*v),
        Value::UInt64(v) => Json::from(format!("{v:016X}")),
        Value::Hash128(h) => Json::from(hex::encode_upper(h)),
        Value::Hash160(h) => Json::from(hex::encode_upper(h)),
        Value::Hash256(h) => Json::from(hex::encode_upper(h)),
        Value::Amount(Amount::Xrp(d)) => Json::from(d.to_string()),
        Value::Amount(Amount::Issued(raw)) => issued_to_json(raw),
        Value::Blob(b) => Json::from(hex::encode_upper(b)),
        Value::AccountId(a) => Json::from(a.to_address()),
        Value::Object(o) => to_json(o),
        Value::Array(items) => Json::Array(
            items
                .iter()
                .map(|(f, o)| {
                    let mut wrap = Map::new();
                    wrap.insert(f.name.to_owned(), to_json(o));
                    Json::Object(wrap)
                })
                .collect(),
        ),
    }
}

fn code_table(field: &Field) -> Option<&'static [(&'static str, u16)]> {
    match field.name {
        "TransactionType" => Some(TRANSACTION_TYPES),
        "LedgerEntryType" => Some(LEDGER_ENTRY_TYPES),
        _ => None,
    }
}

fn named_code(field: &Field, code: u16) -> Option<&'static str> {
    code_table(field)?
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(n, _)| *n)
}

/// `{currency, issuer, value}` of a serialized issued-currency amount.
fn issued_to_json(raw: &[u8; 48]) -> Json {
    let (head, rest) = raw.split_at(8);
    let (currency, issuer) = rest.split_at(20);
    let mut head8 = [0u8; 8];
    head8.copy_from_slice(head);
    let bits = u64::from_be_bytes(head8);
    let mantissa = bits & 0x003F_FFFF_FFFF_FFFF;
    let value = if mantissa == 0 {
        "0".to_owned()
    } else {
        let negative = bits & 0x4000_0000_0000_0000 == 0;
        // 8 exponent bits biased by 97: the result lies in -96..=158.
        let exponent = i32::from(((bits >> 54) & 0xFF) as u8).saturating_sub(97);
        decimal(negative, mantissa, exponent)
    };
    let code = match currency {
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, a, b, c, 0, 0, 0, 0, 0]
            if [a, b, c].iter().all(|x| x.is_ascii_graphic()) =>
        {
            String::from_utf8_lossy(&[*a, *b, *c]).into_owned()
        }
        _ => hex::encode_upper(currency),
    };
    let mut issuer_id = [0u8; 20];
    issuer_id.copy_from_slice(issuer);
    serde_json::json!({
        "currency": code,
        "issuer": AccountId(issuer_id).to_address(),
        "value": value,
    })
}

/// `mantissa × 10^exponent` as a plain decimal without trailing zeros.
fn decimal(negative: bool, mantissa: u64, exponent: i32) -> String {
    let digits = mantissa.to_string();
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let point = len.saturating_add(exponent);
    let mut s = if exponent >= 0 {
        let zeros = usize::try_from(exponent).unwrap_or(0);
        format!("{digits}{}", "0".repeat(zeros))
    } else if point > 0 {
        let (int, frac) = digits.split_at(usize::try_from(point).unwrap_or(0));
        format!("{int}.{frac}")
    } else {
        let zeros = usize::try_from(point.saturating_neg()).unwrap_or(0);
        format!("0.{}{digits}", "0".repeat(zeros))
    };
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    if negative {
        s.insert(0, '-');
    }
    s
}

/// An object from rippled's JSON shapes. Only XRP amounts are accepted.
pub fn from_json(json: &Json) -> Result<StObject, JsonError> {
    let map = json
        .as_object()
        .ok_or_else(|| JsonError::NotObject("top level".into()))?;
    object_from_map(map)
}

fn object_from_map(map: &Map<String, Json>) -> Result<StObject, JsonError> {
    let mut obj = StObject::new();
    for (name, json) in map {
        let field = field::by_name(name).ok_or_else(|| JsonError::UnknownField(name.clone()))?;
        let value = value_from_json(field, json)?;
        obj.set(field, value)
            .map_err(|_| bad(field, "value of the wrong type"))?;
    }
    Ok(obj)
}

fn hex_exact<const N: usize>(field: &'static Field, json: &Json) -> Result<[u8; N], JsonError> {
    let s = json
        .as_str()
        .ok_or_else(|| bad(field, "expected a hex string"))?;
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| bad(field, "wrong length or not hex"))?;
    Ok(out)
}

fn value_from_json(field: &'static Field, json: &Json) -> Result<Value, JsonError> {
    let uint = |max: u64| -> Result<u64, JsonError> {
        json.as_u64()
            .filter(|v| *v <= max)
            .ok_or_else(|| bad(field, "expected an unsigned integer in range"))
    };
    Ok(match field.type_code {
        TypeCode::UInt8 => Value::UInt8(u8::try_from(uint(u64::from(u8::MAX))?).unwrap_or(0)),
        TypeCode::UInt16 => {
            let code = match (code_table(field), json.as_str()) {
                (Some(table), Some(name)) => table
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, c)| *c)
                    .ok_or_else(|| bad(field, "unknown type name"))?,
                _ => u16::try_from(uint(u64::from(u16::MAX))?).unwrap_or(0),
            };
            Value::UInt16(code)
        }
        TypeCode::UInt32 => Value::UInt32(u32::try_from(uint(u64::from(u32::MAX))?).unwrap_or(0)),
        TypeCode::UInt64 => Value::UInt64(u64::from_be_bytes(hex_exact::<8>(field, json)?)),
        TypeCode::Hash128 => Value::Hash128(hex_exact(field, json)?),
        TypeCode::Hash160 => Value::Hash160(hex_exact(field, json)?),
        TypeCode::Hash256 => Value::Hash256(hex_exact(field, json)?),
        TypeCode::Amount => {
            let s = json
                .as_str()
                .ok_or_else(|| bad(field, "expected an XRP drop string"))?;
            let drops: Drops = s.parse().map_err(|_| bad(field, "not a drop amount"))?;
            if !drops.is_native_amount() {
                return Err(bad(field, "more XRP than exists"));
            }
            Value::Amount(Amount::Xrp(drops))
        }
        TypeCode::Blob => {
            let s = json
                .as_str()
                .ok_or_else(|| bad(field, "expected a hex string"))?;
            Value::Blob(hex::decode(s).map_err(|_| bad(field, "not hex"))?)
        }
        TypeCode::AccountId => {
            let s = json
                .as_str()
                .ok_or_else(|| bad(field, "expected an address"))?;
            Value::AccountId(s.parse().map_err(|_| bad(field, "not a classic address"))?)
        }
        TypeCode::Object => Value::Object(object_from_map(
            json.as_object()
                .ok_or_else(|| JsonError::NotObject(field.name.into()))?,
        )?),
        TypeCode::Array => {
            let items = json
                .as_array()
                .ok_or_else(|| bad(field, "expected an array"))?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let wrap = item
                    .as_object()
                    .filter(|m| m.len() == 1)
                    .ok_or_else(|| bad(field, "elements must be {\"Name\": {…}}"))?;
                for (name, inner) in wrap {
                    let inner_field = field::by_name(name)
                        .filter(|f| f.type_code == TypeCode::Object)
                        .ok_or_else(|| JsonError::UnknownField(name.clone()))?;
                    let inner = inner
                        .as_object()
                        .ok_or_else(|| JsonError::NotObject(name.clone()))?;
                    out.push((inner_field, object_from_map(inner)?));
                }
            }
            Value::Array(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(decimal(false, 1_000_000_000_000_000, -15), "1");
        assert_eq!(decimal(true, 1_234_500_000_000_000, -16), "-0.12345");
        assert_eq!(
            decimal(false, 1_000_000_000_000_000, 2),
            "100000000000000000"
        );
        assert_eq!(decimal(false, 5, -3), "0.005");
    }
}
