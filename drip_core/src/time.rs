//! The ledger's clock: XRPL times (close times, CancelAfter, Expiration)
//! are unsigned 32-bit seconds since the Ripple epoch, 2000-01-01T00:00:00Z,
//! so they run from 2000 to 2136.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from the Unix epoch to the Ripple epoch.
pub const RIPPLE_EPOCH: i64 = 946_684_800;

/// Ripple-epoch seconds as Unix seconds.
pub fn ripple_to_unix(ripple: u32) -> i64 {
    // At most 2^32 + RIPPLE_EPOCH: never saturates.
    i64::from(ripple).saturating_add(RIPPLE_EPOCH)
}

/// Unix seconds as Ripple-epoch seconds; `None` outside the ledger's range
/// (before 2000, or after 2136).
pub fn unix_to_ripple(unix: i64) -> Option<u32> {
    u32::try_from(unix.checked_sub(RIPPLE_EPOCH)?).ok()
}

/// Ripple-epoch seconds as a time.
// At most 2^32 + RIPPLE_EPOCH seconds after 1970: within every platform's
// SystemTime, so the addition cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
pub fn ripple_to_system(ripple: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(ripple) + RIPPLE_EPOCH.unsigned_abs())
}

/// Whole seconds from the Ripple epoch to `t`, 0 before it. Not bounded to
/// the ledger's range: the devnet adds its clock offset first.
pub fn system_to_ripple(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(RIPPLE_EPOCH.unsigned_abs())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn ripple_epoch_is_2000() {
        let t = ripple_to_system(0)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(t, 946_684_800);
        assert_eq!(
            crate::calendar::days_from_civil(2000, 1, 1) * 86_400,
            RIPPLE_EPOCH
        );
    }

    #[test]
    fn conversions_agree_and_stay_in_range() {
        for r in [0, 1, 536_027_313, u32::MAX] {
            let unix = ripple_to_unix(r);
            assert_eq!(unix_to_ripple(unix), Some(r));
            let t = ripple_to_system(r);
            assert_eq!(system_to_ripple(t), u64::from(r));
            assert_eq!(
                t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
                u64::try_from(unix).unwrap()
            );
        }
        assert_eq!(unix_to_ripple(RIPPLE_EPOCH - 1), None);
        assert_eq!(unix_to_ripple(ripple_to_unix(u32::MAX) + 1), None);
        assert_eq!(unix_to_ripple(i64::MIN), None);
        assert_eq!(unix_to_ripple(i64::MAX), None);
        assert_eq!(system_to_ripple(UNIX_EPOCH), 0);
        assert_eq!(
            system_to_ripple(ripple_to_system(0) - Duration::from_millis(1)),
            0
        );
        assert_eq!(
            system_to_ripple(ripple_to_system(7) + Duration::from_millis(999)),
            7
        );
    }
}
