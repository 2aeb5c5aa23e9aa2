//! What a drip session owes, in exact integers.
//!
//! Time is in microseconds (PostgreSQL's `timestamptz` resolution). A session
//! active since `active_at` is charged one rate at the start of each polling
//! interval, due by its end; time debt never exceeds the channel's amount.

use crate::drops::Drops;
use crate::terms::PaymentType;

/// Microseconds per second.
pub const MICROS_PER_SEC: i64 = 1_000_000;

fn interval_micros(interval_secs: u32) -> i64 {
    i64::from(interval_secs)
        .saturating_mul(MICROS_PER_SEC)
        .max(1)
}

/// Intervals charged by `now` for a session active since `active_at`: the
/// first at `active_at`, the next one interval later, and so on. None before
/// `active_at`.
pub fn intervals_charged(active_at: i64, now: i64, interval_secs: u32) -> u64 {
    match now.checked_sub(active_at) {
        Some(elapsed) if elapsed >= 0 => {
            let whole = elapsed
                .checked_div(interval_micros(interval_secs))
                .unwrap_or(0);
            u64::try_from(whole).unwrap_or(0).saturating_add(1)
        }
        _ => 0,
    }
}

/// Intervals that have ended by `now` (an interval ends when the next one
/// starts).
pub fn intervals_ended(active_at: i64, now: i64, interval_secs: u32) -> u64 {
    intervals_charged(active_at, now, interval_secs).saturating_sub(1)
}

/// When interval `k` (0-based) of a session active since `active_at` ends.
pub fn interval_end(active_at: i64, k: u64, interval_secs: u32) -> i64 {
    let n = i64::try_from(k.saturating_add(1)).unwrap_or(i64::MAX);
    active_at.saturating_add(n.saturating_mul(interval_micros(interval_secs)))
}

/// Time debt after `charged` intervals at `rate`, capped at `cap` (the
/// channel's amount).
pub fn time_debt(rate: Drops, charged: u64, cap: Drops) -> Drops {
    rate.checked_mul(charged).map_or(cap, |d| d.min(cap))
}

/// A session's debt.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Due {
    /// Time debt so far.
    pub time: Drops,
    /// Unit debts so far.
    pub units: Drops,
    /// What the wallet must have signed for: time + units, never more than
    /// the channel holds.
    pub total: Drops,
}

impl Due {
    /// A debt of `time` and `units`, of which the wallet owes what the
    /// channel holds at most.
    pub fn new(time: Drops, units: Drops, channel_amount: Drops) -> Self {
        let total = time
            .checked_add(units)
            .map_or(channel_amount, |t| t.min(channel_amount));
        Due { time, units, total }
    }
}

/// Total debt of a session.
pub fn amount_due(
    payment_type: PaymentType,
    rate: Drops,
    charged: u64,
    units: Drops,
    channel_amount: Drops,
) -> Due {
    let time = if payment_type.charges_time() {
        time_debt(rate, charged, channel_amount)
    } else {
        Drops::ZERO
    };
    Due::new(time, units, channel_amount)
}

/// Why a unit debt was refused (the seed's reasons, plus `NotPositive`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UnitDebtDenial {
    /// The amount is zero (negative amounts never reach here).
    NotPositive,
    /// The session is not billed by unit.
    NotUnitBased,
    /// The debt would take the session beyond what the channel holds.
    ExceedsChannel,
}

/// Whether a unit debt of `amount` fits: the debt after it — plus the next
/// interval's charge for time-billed sessions, so time debt can still be paid
/// — must not exceed the channel's amount.
pub fn admit_unit_debt(
    payment_type: PaymentType,
    due: Due,
    rate: Drops,
    amount: Drops,
    channel_amount: Drops,
) -> Result<(), UnitDebtDenial> {
    if amount == Drops::ZERO {
        return Err(UnitDebtDenial::NotPositive);
    }
    if !payment_type.takes_units() {
        return Err(UnitDebtDenial::NotUnitBased);
    }
    let headroom = if payment_type.charges_time() {
        rate
    } else {
        Drops::ZERO
    };
    let after = due
        .time
        .checked_add(due.units)
        .and_then(|d| d.checked_add(amount))
        .and_then(|d| d.checked_add(headroom));
    match after {
        Some(total) if total <= channel_amount => Ok(()),
        _ => Err(UnitDebtDenial::ExceedsChannel),
    }
}

/// Why a (correctly signed) claim was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClaimDenial {
    /// Not above the best claim already held: it adds nothing.
    NotAboveBest,
    /// More than the channel holds: the ledger would refuse to pay it.
    ExceedsChannel,
}

/// Check a claim's amount: above the best claim held and within the channel.
/// A claim short of the debt is still taken (it lowers the exposure); being
/// behind is the past-due rule's job ([`judge_intervals`]).
pub fn accept_claim(amount: Drops, best: Drops, channel_amount: Drops) -> Result<(), ClaimDenial> {
    if amount <= best {
        return Err(ClaimDenial::NotAboveBest);
    }
    if amount > channel_amount {
        return Err(ClaimDenial::ExceedsChannel);
    }
    Ok(())
}

/// Why a (correctly signed) HTTP 402 voucher was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VoucherDenial {
    /// More than the channel holds.
    ExceedsChannel,
    /// The accepted total again: a replay.
    Replayed,
    /// Below the accepted total: a rollback.
    BelowBest,
    /// Above the accepted total by less than the request's price.
    Underpaid,
}

/// Check an MPP session voucher (a claim for the cumulative total) that pays
/// one request of `price`: within the channel, and at least `price` above the
/// total accepted so far. Replay, rollback and underpayment are told apart
/// (draft-xrpl-session); a voucher above `best + price` is taken whole.
pub fn accept_voucher(
    amount: Drops,
    best: Drops,
    deposit: Drops,
    price: Drops,
) -> Result<(), VoucherDenial> {
    if amount > deposit {
        return Err(VoucherDenial::ExceedsChannel);
    }
    if amount == best {
        return Err(VoucherDenial::Replayed);
    }
    if amount < best {
        return Err(VoucherDenial::BelowBest);
    }
    if amount.saturating_sub(best) < price {
        return Err(VoucherDenial::Underpaid);
    }
    Ok(())
}

/// A session's standing after a check of its polling intervals.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Judgement {
    /// Past-due strikes in a row.
    pub strikes: u32,
    /// Whether this check added a strike.
    pub struck: bool,
    /// Whether the strikes reached the limit: the session must end.
    pub past_due: bool,
}

/// The past-due rule. A check that finds intervals ended since the last one
/// (`ended` > `checked`) judges the latest: a strike if the best claim is
/// short of what was `due` when it ended, otherwise the strikes reset. A
/// session with `limit` strikes (0: no limit) is past due.
pub fn judge_intervals(
    strikes: u32,
    checked: u64,
    ended: u64,
    best: Drops,
    due: Drops,
    limit: u32,
) -> Judgement {
    let struck = ended > checked && best < due;
    let strikes = if ended <= checked {
        strikes
    } else if struck {
        strikes.saturating_add(1)
    } else {
        0
    };
    Judgement {
        strikes,
        struck,
        past_due: limit > 0 && strikes >= limit,
    }
}

#[cfg(test)]
// Test inputs are bounded so that their arithmetic cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = MICROS_PER_SEC;

    #[test]
    fn intervals_are_charged_at_their_start() {
        assert_eq!(intervals_charged(100 * S, 99 * S, 60), 0);
        assert_eq!(intervals_charged(100 * S, 100 * S, 60), 1);
        assert_eq!(intervals_charged(100 * S, 159 * S + 999_999, 60), 1);
        assert_eq!(intervals_charged(100 * S, 160 * S, 60), 2);
        assert_eq!(interval_end(100 * S, 0, 60), 160 * S);
        assert_eq!(interval_end(100 * S, 1, 60), 220 * S);
    }

    #[test]
    fn debt_is_capped_by_the_channel() {
        let d = amount_due(
            PaymentType::Both,
            Drops::new(40),
            3,
            Drops::new(50),
            Drops::new(150),
        );
        assert_eq!(
            (d.time, d.units, d.total),
            (Drops::new(120), Drops::new(50), Drops::new(150))
        );
        let d = amount_due(
            PaymentType::Unit,
            Drops::new(40),
            3,
            Drops::new(50),
            Drops::new(150),
        );
        assert_eq!(d.total, Drops::new(50));
        assert_eq!(time_debt(Drops::MAX, 2, Drops::new(7)), Drops::new(7));
    }

    #[test]
    fn unit_debts_leave_room_for_the_next_charge() {
        let due = amount_due(
            PaymentType::Both,
            Drops::new(10),
            1,
            Drops::ZERO,
            Drops::new(100),
        );
        assert_eq!(
            admit_unit_debt(
                PaymentType::Both,
                due,
                Drops::new(10),
                Drops::new(80),
                Drops::new(100)
            ),
            Ok(())
        );
        assert_eq!(
            admit_unit_debt(
                PaymentType::Both,
                due,
                Drops::new(10),
                Drops::new(81),
                Drops::new(100)
            ),
            Err(UnitDebtDenial::ExceedsChannel)
        );
        assert_eq!(
            admit_unit_debt(
                PaymentType::Time,
                due,
                Drops::new(10),
                Drops::new(1),
                Drops::new(100)
            ),
            Err(UnitDebtDenial::NotUnitBased)
        );
        assert_eq!(
            admit_unit_debt(
                PaymentType::Unit,
                due,
                Drops::ZERO,
                Drops::ZERO,
                Drops::new(100)
            ),
            Err(UnitDebtDenial::NotPositive)
        );
    }

    #[test]
    fn claims_must_add_something_and_fit_the_channel() {
        assert_eq!(
            accept_claim(Drops::new(5), Drops::new(5), Drops::new(9)),
            Err(ClaimDenial::NotAboveBest)
        );
        assert_eq!(
            accept_claim(Drops::new(10), Drops::new(5), Drops::new(9)),
            Err(ClaimDenial::ExceedsChannel)
        );
        assert_eq!(
            accept_claim(Drops::new(6), Drops::new(5), Drops::new(9)),
            Ok(())
        );
        assert_eq!(
            accept_claim(Drops::new(9), Drops::new(5), Drops::new(9)),
            Ok(())
        );
    }

    #[test]
    fn a_voucher_pays_at_least_the_price_above_the_total_and_fits_the_channel() {
        let v = |amount, best| {
            accept_voucher(
                Drops::new(amount),
                Drops::new(best),
                Drops::new(100),
                Drops::new(10),
            )
        };
        assert_eq!(v(30, 20), Ok(()));
        assert_eq!(v(35, 20), Ok(()), "more than the price is taken whole");
        assert_eq!(v(100, 90), Ok(()), "the whole channel");
        assert_eq!(v(20, 20), Err(VoucherDenial::Replayed));
        assert_eq!(v(19, 20), Err(VoucherDenial::BelowBest));
        assert_eq!(v(29, 20), Err(VoucherDenial::Underpaid));
        assert_eq!(v(101, 20), Err(VoucherDenial::ExceedsChannel));
        assert_eq!(v(u64::MAX, 0), Err(VoucherDenial::ExceedsChannel));
        let free = accept_voucher(Drops::new(21), Drops::new(20), Drops::new(100), Drops::ZERO);
        assert_eq!(free, Ok(()), "a free route still needs the total to rise");
    }

    #[test]
    fn each_unpaid_interval_strikes_and_a_paid_one_forgives() {
        let (paid, short, due) = (Drops::new(10), Drops::new(9), Drops::new(10));
        let j =
            |strikes, checked, ended, best| judge_intervals(strikes, checked, ended, best, due, 3);
        // Nothing ended since the last check: nothing changes.
        assert_eq!(
            j(2, 4, 4, short),
            Judgement {
                strikes: 2,
                struck: false,
                past_due: false
            }
        );
        assert_eq!(
            j(2, 4, 5, short),
            Judgement {
                strikes: 3,
                struck: true,
                past_due: true
            }
        );
        assert_eq!(
            j(2, 4, 5, paid),
            Judgement {
                strikes: 0,
                struck: false,
                past_due: false
            }
        );
        // Several intervals since the last check count as one strike.
        assert_eq!(j(0, 1, 9, short).strikes, 1);
        // At the limit already, a check with nothing new still says so.
        assert!(j(3, 4, 4, paid).past_due);
        // No limit: never past due.
        assert!(!judge_intervals(u32::MAX, 0, 1, short, due, 0).past_due);
        assert_eq!(
            judge_intervals(u32::MAX, 0, 1, short, due, 0).strikes,
            u32::MAX
        );
    }

    proptest! {
        #[test]
        fn charged_intervals_grow_by_one_per_interval(active in -1_000_000_000i64..1_000_000_000, k in 0u64..100_000, interval in 1u32..86_400) {
            let active = active * S;
            let start = interval_end(active, k, interval) - i64::from(interval) * S;
            prop_assert_eq!(intervals_charged(active, start, interval), k + 1);
            prop_assert_eq!(intervals_charged(active, interval_end(active, k, interval) - 1, interval), k + 1);
            prop_assert_eq!(intervals_charged(active, interval_end(active, k, interval), interval), k + 2);
        }

        #[test]
        fn an_interval_has_ended_once_the_next_is_charged(active in -1_000_000i64..1_000_000, now in -2_000_000i64..2_000_000, interval in 1u32..1000) {
            let (active, now) = (active * S, now * S);
            let ended = intervals_ended(active, now, interval);
            let charged = intervals_charged(active, now, interval);
            prop_assert_eq!(ended, charged.saturating_sub(1));
            if ended > 0 {
                prop_assert!(interval_end(active, ended - 1, interval) <= now);
            }
            prop_assert!(interval_end(active, ended, interval) > now);
        }

        #[test]
        fn due_never_exceeds_the_channel_and_never_falls(rate in 0u64..u64::MAX, n in 0u64..1000, units in 0u64..u64::MAX, cap in 0u64..u64::MAX) {
            let (rate, units, cap) = (Drops::new(rate), Drops::new(units), Drops::new(cap));
            let a = amount_due(PaymentType::Both, rate, n, units, cap);
            let b = amount_due(PaymentType::Both, rate, n + 1, units, cap);
            prop_assert!(a.total <= cap && b.total <= cap);
            prop_assert!(b.total >= a.total);
        }

        #[test]
        fn an_admitted_unit_debt_keeps_the_session_within_the_channel(
            rate in 0u64..1_000_000, n in 0u64..100, units in 0u64..10_000_000, amount in 1u64..10_000_000, cap in 0u64..100_000_000
        ) {
            let (rate, units, amount, cap) = (Drops::new(rate), Drops::new(units), Drops::new(amount), Drops::new(cap));
            let due = amount_due(PaymentType::Both, rate, n, units, cap);
            if admit_unit_debt(PaymentType::Both, due, rate, amount, cap).is_ok() {
                let after = amount_due(PaymentType::Both, rate, n, units.checked_add(amount).unwrap(), cap);
                prop_assert_eq!(after.total, due.time.checked_add(units).unwrap().checked_add(amount).unwrap());
                prop_assert!(after.total.checked_add(rate).unwrap() <= cap);
            }
        }
    }
}
