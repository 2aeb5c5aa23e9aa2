//! Proleptic Gregorian dates from day counts and back (Howard Hinnant's
//! algorithms): the devnet prints rippled's close times, the ILP codec
//! writes and reads packet expiries.

/// Day counts are clamped to ±2^46 (beyond any count of an `i64` of
/// seconds), where every intermediate of both conversions fits an `i64`.
const LIMIT: i64 = 1 << 46;

/// (year, month 1–12, day 1–31) of the day `days` after 1970-01-01.
// Bounded inputs: no intermediate can overflow (see LIMIT).
#[allow(clippy::arithmetic_side_effects)]
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.clamp(-LIMIT, LIMIT) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days from 1970-01-01 to year `y`, month `m` (1–12), day `d`; the year is
/// clamped like the day counts of [`civil_from_days`].
// Bounded inputs: no intermediate can overflow (see LIMIT).
#[allow(clippy::arithmetic_side_effects)]
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let (m, d) = (m.clamp(1, 12), d.clamp(1, 31));
    let y = y.clamp(-LIMIT / 366, LIMIT / 366);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
    }

    #[test]
    fn round_trips_and_extremes_do_not_overflow() {
        for days in (-800_000..3_000_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        for days in [i64::MIN, i64::MAX, -LIMIT, LIMIT] {
            let (y, m, d) = civil_from_days(days);
            let _ = days_from_civil(y, m, d);
        }
        let _ = days_from_civil(i64::MAX, i64::MAX, i64::MIN);
    }
}
