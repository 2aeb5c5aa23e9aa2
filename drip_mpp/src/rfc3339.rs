//! RFC 3339 date-times, as the challenge's `expires` and the receipt's
//! `timestamp` carry them. We write `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole
//! seconds) and read any RFC 3339 `date-time`: `Z` or a `±HH:MM` offset, and
//! optional fractional seconds, which are truncated.

use drip_core::calendar::{civil_from_days, days_from_civil};

/// The longest text [`parse`] looks at; a date-time with nine fractional
/// digits and an offset is 35 bytes.
pub const MAX_LEN: usize = 64;

/// 0000-01-01T00:00:00Z, the first instant [`format`] can write.
pub const MIN_UNIX: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z, the last instant [`format`] can write.
pub const MAX_UNIX: i64 = 253_402_300_799;

const SECONDS_PER_DAY: i64 = 86_400;

/// Why a date-time was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rfc3339Error {
    /// Longer than [`MAX_LEN`] bytes.
    #[error("date-time is too long")]
    TooLong,
    /// Not the shape `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    #[error("not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.fraction] with Z or ±HH:MM)")]
    Syntax,
    /// A field outside its range (month 13, February 30, hour 24, …).
    #[error("RFC 3339 {0} is out of range")]
    OutOfRange(&'static str),
}

/// Write unix seconds as `YYYY-MM-DDTHH:MM:SSZ`. Seconds outside the years
/// 0000–9999 are clamped to [`MIN_UNIX`] / [`MAX_UNIX`].
pub fn format(unix: i64) -> String {
    let t = unix.clamp(MIN_UNIX, MAX_UNIX);
    let days = t.div_euclid(SECONDS_PER_DAY);
    let secs = t.rem_euclid(SECONDS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (hh, rest) = (secs.div_euclid(3600), secs.rem_euclid(3600));
    let (mm, ss) = (rest.div_euclid(60), rest.rem_euclid(60));
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// A cursor over the ASCII bytes of the date-time.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at = self.at.saturating_add(1);
        Some(b)
    }

    fn expect(&mut self, what: impl Fn(u8) -> bool) -> Result<u8, Rfc3339Error> {
        match self.bump() {
            Some(b) if what(b) => Ok(b),
            _ => Err(Rfc3339Error::Syntax),
        }
    }

    /// Exactly `n` (at most 4) decimal digits.
    fn digits(&mut self, n: usize) -> Result<i64, Rfc3339Error> {
        let mut v: i64 = 0;
        for _ in 0..n {
            let b = self.expect(|b| b.is_ascii_digit())?;
            // At most 4 digits: v stays below 10_000.
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(b.wrapping_sub(b'0'))))
                .ok_or(Rfc3339Error::Syntax)?;
        }
        Ok(v)
    }
}

fn is_leap(y: i64) -> bool {
    y.rem_euclid(4) == 0 && (y.rem_euclid(100) != 0 || y.rem_euclid(400) == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn in_range(v: i64, lo: i64, hi: i64, name: &'static str) -> Result<i64, Rfc3339Error> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(Rfc3339Error::OutOfRange(name))
    }
}

/// Read an RFC 3339 `date-time` as unix seconds (fractional seconds
/// truncated toward the past). `T`/`Z` may be lower case; a leap second
/// (`:60`) is refused.
pub fn parse(s: &str) -> Result<i64, Rfc3339Error> {
    if s.len() > MAX_LEN {
        return Err(Rfc3339Error::TooLong);
    }
    let mut c = Cursor {
        bytes: s.as_bytes(),
        at: 0,
    };
    let year = c.digits(4)?;
    c.expect(|b| b == b'-')?;
    let month = in_range(c.digits(2)?, 1, 12, "month")?;
    c.expect(|b| b == b'-')?;
    let day = in_range(c.digits(2)?, 1, days_in_month(year, month), "day")?;
    c.expect(|b| b == b'T' || b == b't')?;
    let hour = in_range(c.digits(2)?, 0, 23, "hour")?;
    c.expect(|b| b == b':')?;
    let minute = in_range(c.digits(2)?, 0, 59, "minute")?;
    c.expect(|b| b == b':')?;
    let second = in_range(c.digits(2)?, 0, 59, "second")?;
    if c.peek() == Some(b'.') {
        c.bump();
        c.expect(|b| b.is_ascii_digit())?;
        while c.peek().is_some_and(|b| b.is_ascii_digit()) {
            c.bump();
        }
    }
    let offset = match c.bump() {
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let h = in_range(c.digits(2)?, 0, 23, "offset hour")?;
            c.expect(|b| b == b':')?;
            let m = in_range(c.digits(2)?, 0, 59, "offset minute")?;
            let magnitude = h.saturating_mul(3600).saturating_add(m.saturating_mul(60));
            if sign == b'-' {
                magnitude.saturating_neg()
            } else {
                magnitude
            }
        }
        _ => return Err(Rfc3339Error::Syntax),
    };
    if c.peek().is_some() {
        return Err(Rfc3339Error::Syntax);
    }
    // Years 0–9999 and an offset under a day: every step is far from
    // overflowing, but stay checked anyway.
    days_from_civil(year, month, day)
        .checked_mul(SECONDS_PER_DAY)
        .and_then(|t| t.checked_add(hour.checked_mul(3600)?))
        .and_then(|t| t.checked_add(minute.checked_mul(60)?))
        .and_then(|t| t.checked_add(second))
        .and_then(|t| t.checked_sub(offset))
        .ok_or(Rfc3339Error::OutOfRange("date-time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds_are_the_years_0000_to_9999() {
        assert_eq!(MIN_UNIX, days_from_civil(0, 1, 1) * SECONDS_PER_DAY);
        assert_eq!(
            MAX_UNIX,
            days_from_civil(9999, 12, 31) * SECONDS_PER_DAY + SECONDS_PER_DAY - 1
        );
        assert_eq!(format(MIN_UNIX), "0000-01-01T00:00:00Z");
        assert_eq!(format(MAX_UNIX), "9999-12-31T23:59:59Z");
        assert_eq!(format(i64::MIN), "0000-01-01T00:00:00Z");
        assert_eq!(format(i64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn known_instants() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_736_942_400), "2025-01-15T12:00:00Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(parse("2025-01-15T12:00:00Z"), Ok(1_736_942_400));
        assert_eq!(parse("2025-01-15t12:00:00z"), Ok(1_736_942_400));
        assert_eq!(parse("2025-01-15T14:00:00+02:00"), Ok(1_736_942_400));
        assert_eq!(parse("2025-01-15T11:30:00-00:30"), Ok(1_736_942_400));
        assert_eq!(parse("2025-01-15T12:00:00.999999999Z"), Ok(1_736_942_400));
        assert_eq!(parse("1969-12-31T23:59:59.5Z"), Ok(-1));
        assert_eq!(parse("2000-02-29T00:00:00Z"), Ok(951_782_400));
    }

    #[test]
    fn refuses_malformed_and_out_of_range() {
        use Rfc3339Error::*;
        for (s, e) in [
            ("", Syntax),
            ("2025-01-15", Syntax),
            ("2025-01-15T12:00:00", Syntax),
            ("2025-01-15 12:00:00Z", Syntax),
            ("2025-01-15T12:00Z", Syntax),
            ("2025-1-15T12:00:00Z", Syntax),
            ("2025-01-15T12:00:00.Z", Syntax),
            ("2025-01-15T12:00:00+0200", Syntax),
            ("2025-01-15T12:00:00+02", Syntax),
            ("2025-01-15T12:00:00ZZ", Syntax),
            ("+2025-01-15T12:00:00Z", Syntax),
            ("2025-01-15T12:00:00Z ", Syntax),
            ("２025-01-15T12:00:00Z", Syntax),
            ("2025-13-01T00:00:00Z", OutOfRange("month")),
            ("2025-00-01T00:00:00Z", OutOfRange("month")),
            ("2025-02-29T00:00:00Z", OutOfRange("day")),
            ("1900-02-29T00:00:00Z", OutOfRange("day")),
            ("2025-04-31T00:00:00Z", OutOfRange("day")),
            ("2025-01-15T24:00:00Z", OutOfRange("hour")),
            ("2025-01-15T12:60:00Z", OutOfRange("minute")),
            ("2025-01-15T12:00:60Z", OutOfRange("second")),
            ("2025-01-15T12:00:00+24:00", OutOfRange("offset hour")),
            ("2025-01-15T12:00:00+02:60", OutOfRange("offset minute")),
        ] {
            assert_eq!(parse(s), Err(e), "{s:?}");
        }
        let long = format!("2025-01-15T12:00:00.{}Z", "1".repeat(60));
        assert_eq!(parse(&long), Err(TooLong));
    }

    proptest! {
        #[test]
        fn round_trips(t in MIN_UNIX..=MAX_UNIX) {
            let s = format(t);
            prop_assert_eq!(s.len(), 20);
            prop_assert_eq!(parse(&s), Ok(t));
        }

        #[test]
        fn offsets_shift_the_instant(t in 0i64..4_000_000_000, off in -1439i64..=1439) {
            let local = t + off * 60;
            let z = format(local);
            let sign = if off < 0 { '-' } else { '+' };
            let (h, m) = (off.abs() / 60, off.abs() % 60);
            let with_offset = format!("{}{sign}{h:02}:{m:02}", z.trim_end_matches('Z'));
            prop_assert_eq!(parse(&with_offset), Ok(t));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,70}") {
            let _ = parse(&s);
        }

        #[test]
        fn near_misses_never_panic(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?") {
            if let Ok(t) = parse(&s) {
                prop_assert!((MIN_UNIX - SECONDS_PER_DAY..=MAX_UNIX + SECONDS_PER_DAY).contains(&t));
            }
        }
    }
}
