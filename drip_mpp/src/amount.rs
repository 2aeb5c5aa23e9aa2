//! Drop amounts on the wire: JSON strings of 1 to 20 ASCII digits, read as
//! exact integers and refused above `i64::MAX` (what PostgreSQL's `bigint`
//! and the engine hold).

/// The most digits an amount may have.
pub const MAX_DIGITS: usize = 20;

/// Why an amount string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not 1 to 20 ASCII digits (no sign, point, exponent or space).
    #[error("must be a string of 1 to 20 decimal digits")]
    Syntax,
    /// Above `i64::MAX` drops.
    #[error("is above the largest accepted amount (9223372036854775807 drops)")]
    TooLarge,
}

/// Read a drops string: `"0"`, `"1000"`, `"007"` (leading zeros are
/// accepted); never `"+1"`, `"-1"`, `"1.0"`, `"1e3"` or `""`.
pub fn parse_drops(s: &str) -> Result<u64, AmountError> {
    if s.is_empty() || s.len() > MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::Syntax);
    }
    let value: u64 = s.parse().map_err(|_| AmountError::TooLarge)?;
    if i64::try_from(value).is_err() {
        return Err(AmountError::TooLarge);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_digits_up_to_i64_max() {
        assert_eq!(parse_drops("0"), Ok(0));
        assert_eq!(parse_drops("1000"), Ok(1000));
        assert_eq!(parse_drops("007"), Ok(7));
        assert_eq!(parse_drops("9223372036854775807"), Ok(i64::MAX as u64));
        assert_eq!(parse_drops("00000000000000000001"), Ok(1));
    }

    #[test]
    fn refuses_the_rest() {
        for s in ["", "+1", "-1", "1.0", "1e3", " 1", "1 ", "0x10", "١"] {
            assert_eq!(parse_drops(s), Err(AmountError::Syntax), "{s:?}");
        }
        assert_eq!(
            parse_drops("123456789012345678901"),
            Err(AmountError::Syntax)
        );
        assert_eq!(
            parse_drops("9223372036854775808"),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            parse_drops("18446744073709551615"),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            parse_drops("99999999999999999999"),
            Err(AmountError::TooLarge)
        );
    }

    proptest! {
        #[test]
        fn round_trips(v in 0..=i64::MAX as u64) {
            prop_assert_eq!(parse_drops(&v.to_string()), Ok(v));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,30}") {
            let _ = parse_drops(&s);
        }
    }
}
