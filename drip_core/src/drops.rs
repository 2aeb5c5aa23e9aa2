//! Exact XRP amounts in drops (1 XRP = 1,000,000 drops).
//!
//! One type for every amount drip handles: a `u64` that only changes through
//! checked arithmetic, and reads and writes rippled's decimal drop strings.

use std::fmt;
use std::str::FromStr;

/// An amount of XRP in drops. Never negative; arithmetic is checked.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Drops(u64);

/// Why a drop amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropsError {
    /// The empty string.
    #[error("empty drop amount")]
    Empty,
    /// A leading `-`.
    #[error("drop amount must not be negative")]
    Negative,
    /// A leading `+`: rippled writes none, so none is read.
    #[error("drop amount must not have a sign")]
    Sign,
    /// A `.`: drops are whole; XRP amounts are not drop amounts.
    #[error("drop amount must be a whole number of drops, not a decimal")]
    Decimal,
    /// A leading zero on a number other than zero itself.
    #[error("drop amount must not have leading zeros")]
    LeadingZero,
    /// Anything other than the digits `0-9`.
    #[error("drop amount must be decimal digits only")]
    NotDigits,
    /// More than `u64::MAX` drops.
    #[error("drop amount exceeds the largest 64-bit amount")]
    Overflow,
    /// A signed integer below zero, e.g. from SQL `bigint`.
    #[error("drop amount {0} is negative")]
    NegativeInteger(i64),
}

impl Drops {
    /// Zero drops.
    pub const ZERO: Drops = Drops(0);
    /// The largest `u64` amount (claims may sign it; the ledger holds less).
    pub const MAX: Drops = Drops(u64::MAX);
    /// Drops in one XRP.
    pub const PER_XRP: u64 = 1_000_000;
    /// All XRP that exists: the most any ledger amount can hold (10^17 drops).
    pub const MAX_NATIVE: Drops = Drops(100_000_000_000_000_000);

    /// An amount of drops.
    pub const fn new(drops: u64) -> Self {
        Drops(drops)
    }

    /// The amount as a `u64`.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Whole XRP in drops, or `None` on overflow.
    pub fn from_xrp(xrp: u64) -> Option<Self> {
        xrp.checked_mul(Self::PER_XRP).map(Drops)
    }

    /// From a signed integer (SQL `bigint`), refusing negatives.
    pub fn from_i64(v: i64) -> Result<Self, DropsError> {
        u64::try_from(v)
            .map(Drops)
            .map_err(|_| DropsError::NegativeInteger(v))
    }

    /// As a signed integer (SQL `bigint`), or `None` above `i64::MAX`.
    pub fn to_i64(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }

    /// `self + rhs`, or `None` on overflow.
    #[must_use]
    pub fn checked_add(self, rhs: Drops) -> Option<Drops> {
        self.0.checked_add(rhs.0).map(Drops)
    }

    /// `self - rhs`, or `None` if it would go below zero.
    #[must_use]
    pub fn checked_sub(self, rhs: Drops) -> Option<Drops> {
        self.0.checked_sub(rhs.0).map(Drops)
    }

    /// `self × n`, or `None` on overflow.
    #[must_use]
    pub fn checked_mul(self, n: u64) -> Option<Drops> {
        self.0.checked_mul(n).map(Drops)
    }

    /// `self − rhs`, or zero if `rhs` is larger.
    #[must_use]
    pub fn saturating_sub(self, rhs: Drops) -> Drops {
        Drops(self.0.saturating_sub(rhs.0))
    }

    /// Whether this amount fits in a ledger amount field (≤ 10^17 drops).
    pub fn is_native_amount(self) -> bool {
        self <= Self::MAX_NATIVE
    }
}

impl FromStr for Drops {
    type Err = DropsError;

    /// Read rippled's drop string: decimal digits, no sign, no leading zeros.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        match bytes.first() {
            None => return Err(DropsError::Empty),
            Some(b'-') => return Err(DropsError::Negative),
            Some(b'+') => return Err(DropsError::Sign),
            Some(_) => {}
        }
        if bytes.contains(&b'.') {
            return Err(DropsError::Decimal);
        }
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(DropsError::NotDigits);
        }
        if bytes.len() > 1 && bytes.first() == Some(&b'0') {
            return Err(DropsError::LeadingZero);
        }
        s.parse::<u64>()
            .map(Drops)
            .map_err(|_| DropsError::Overflow)
    }
}

impl fmt::Display for Drops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u64> for Drops {
    fn from(v: u64) -> Self {
        Drops(v)
    }
}

/// As rippled writes it: a JSON string of decimal digits.
impl serde::Serialize for Drops {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Drops {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rippled_drop_strings() {
        assert_eq!("0".parse(), Ok(Drops(0)));
        assert_eq!("1000000".parse(), Ok(Drops(1_000_000)));
        assert_eq!("18446744073709551615".parse(), Ok(Drops::MAX));
    }

    #[test]
    fn refuses_what_is_not_a_drop_string() {
        assert_eq!("".parse::<Drops>(), Err(DropsError::Empty));
        assert_eq!("-1".parse::<Drops>(), Err(DropsError::Negative));
        assert_eq!("+1".parse::<Drops>(), Err(DropsError::Sign));
        assert_eq!("1.5".parse::<Drops>(), Err(DropsError::Decimal));
        assert_eq!("1.".parse::<Drops>(), Err(DropsError::Decimal));
        assert_eq!("01".parse::<Drops>(), Err(DropsError::LeadingZero));
        assert_eq!("1e6".parse::<Drops>(), Err(DropsError::NotDigits));
        assert_eq!(" 1".parse::<Drops>(), Err(DropsError::NotDigits));
        assert_eq!("１".parse::<Drops>(), Err(DropsError::NotDigits));
        assert_eq!(
            "18446744073709551616".parse::<Drops>(),
            Err(DropsError::Overflow)
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Drops::MAX.checked_add(Drops(1)), None);
        assert_eq!(Drops(1).checked_sub(Drops(2)), None);
        assert_eq!(Drops(3).checked_sub(Drops(2)), Some(Drops(1)));
        assert_eq!(Drops(u64::MAX / 2 + 1).checked_mul(2), None);
        assert_eq!(Drops::from_xrp(2), Some(Drops(2_000_000)));
        assert_eq!(Drops::from_xrp(u64::MAX), None);
        assert_eq!(Drops(1).saturating_sub(Drops(5)), Drops::ZERO);
    }

    #[test]
    fn signed_integers_convert_only_when_non_negative() {
        assert_eq!(Drops::from_i64(-1), Err(DropsError::NegativeInteger(-1)));
        assert_eq!(Drops::from_i64(i64::MAX), Ok(Drops(i64::MAX as u64)));
        assert_eq!(Drops(i64::MAX as u64 + 1).to_i64(), None);
    }

    #[test]
    fn serde_uses_strings() {
        let json = serde_json::to_string(&Drops(42)).unwrap();
        assert_eq!(json, "\"42\"");
        assert_eq!(serde_json::from_str::<Drops>("\"42\"").unwrap(), Drops(42));
        assert!(serde_json::from_str::<Drops>("42").is_err());
        assert!(serde_json::from_str::<Drops>("\"-42\"").is_err());
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(v in any::<u64>()) {
            prop_assert_eq!(Drops(v).to_string().parse::<Drops>(), Ok(Drops(v)));
        }

        #[test]
        fn parse_never_panics_and_agrees_with_u64(s in "\\PC{0,24}") {
            if let Ok(d) = s.parse::<Drops>() {
                prop_assert_eq!(d.to_string(), s);
            }
        }

        #[test]
        fn digit_strings_parse_iff_canonical_u64(s in "[0-9]{1,22}") {
            let expect = s.parse::<u64>().ok().filter(|_| s == "0" || !s.starts_with('0'));
            prop_assert_eq!(s.parse::<Drops>().ok().map(Drops::get), expect);
        }
    }
}
