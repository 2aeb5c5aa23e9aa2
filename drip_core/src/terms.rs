//! A drip operator's terms and the rate they imply.
//!
//! The rate per polling interval is the seed server's:
//! `ceil(funding / floor(session_length / polling_interval))`, at least one
//! drop, in exact integers. Terms that leave it undefined are refused.

use std::fmt;
use std::str::FromStr;

use crate::drops::Drops;

/// How a session is billed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PaymentType {
    /// A rate per polling interval.
    Time,
    /// Purchases the web server records.
    Unit,
    /// Both, in one claim stream.
    Both,
}

impl PaymentType {
    /// `time`, `unit` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentType::Time => "time",
            PaymentType::Unit => "unit",
            PaymentType::Both => "both",
        }
    }

    /// Whether time debt accrues.
    pub fn charges_time(self) -> bool {
        matches!(self, PaymentType::Time | PaymentType::Both)
    }

    /// Whether unit debts may be added.
    pub fn takes_units(self) -> bool {
        matches!(self, PaymentType::Unit | PaymentType::Both)
    }
}

impl fmt::Display for PaymentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payment type name that is none of `time`, `unit`, `both`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment type must be time, unit or both")]
pub struct PaymentTypeError;

impl FromStr for PaymentType {
    type Err = PaymentTypeError;
    fn from_str(s: &str) -> Result<Self, PaymentTypeError> {
        match s {
            "time" => Ok(PaymentType::Time),
            "unit" => Ok(PaymentType::Unit),
            "both" => Ok(PaymentType::Both),
            _ => Err(PaymentTypeError),
        }
    }
}

/// The parts of the terms the rate and the channel depend on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Terms {
    /// How sessions are billed.
    pub payment_type: PaymentType,
    /// Seconds between charges (and between the wallet's polls).
    pub polling_interval_secs: u32,
    /// What the wallet funds the channel with.
    pub channel_funding: Drops,
    /// How long a session runs on one funding (the seed's channel expiration).
    pub session_length_secs: u32,
    /// The shortest SettleDelay a channel may have.
    pub min_settle_delay_secs: u32,
}

/// Why terms were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermsError {
    /// A polling interval of zero seconds.
    #[error("polling interval must be at least one second")]
    ZeroPollingInterval,
    /// No whole polling interval fits in the session, so no rate exists.
    #[error("session length ({session}s) must be at least one polling interval ({interval}s)")]
    SessionShorterThanInterval {
        /// Session length, seconds.
        session: u32,
        /// Polling interval, seconds.
        interval: u32,
    },
    /// Zero funding: a channel needs XRP.
    #[error("channel funding must be at least one drop")]
    ZeroFunding,
    /// More XRP than exists.
    #[error("channel funding exceeds all XRP (10^17 drops)")]
    FundingTooLarge,
}

impl Terms {
    /// Check the terms.
    pub fn validate(&self) -> Result<(), TermsError> {
        self.rate_per_interval().map(|_| ())
    }

    /// Whole polling intervals in one session.
    pub fn intervals_per_session(&self) -> Result<u32, TermsError> {
        if self.polling_interval_secs == 0 {
            return Err(TermsError::ZeroPollingInterval);
        }
        match self
            .session_length_secs
            .checked_div(self.polling_interval_secs)
        {
            Some(n) if n > 0 => Ok(n),
            _ => Err(TermsError::SessionShorterThanInterval {
                session: self.session_length_secs,
                interval: self.polling_interval_secs,
            }),
        }
    }

    /// Drops charged per polling interval: `ceil(funding / intervals)`, at
    /// least 1 (time-based terms); zero for unit-only terms.
    pub fn rate_per_interval(&self) -> Result<Drops, TermsError> {
        let intervals = u64::from(self.intervals_per_session()?);
        if self.channel_funding == Drops::ZERO {
            return Err(TermsError::ZeroFunding);
        }
        if !self.channel_funding.is_native_amount() {
            return Err(TermsError::FundingTooLarge);
        }
        if !self.payment_type.charges_time() {
            return Ok(Drops::ZERO);
        }
        let funding = self.channel_funding.get();
        // intervals ≥ 1, so div_ceil cannot divide by zero.
        let rate = funding.div_ceil(intervals.max(1));
        Ok(Drops::new(rate.max(1)))
    }
}

#[cfg(test)]
// Test arithmetic is in u128 on u64 inputs: it cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn terms(funding: u64, length: u32, interval: u32) -> Terms {
        Terms {
            payment_type: PaymentType::Both,
            polling_interval_secs: interval,
            channel_funding: Drops::new(funding),
            session_length_secs: length,
            min_settle_delay_secs: length,
        }
    }

    #[test]
    fn the_seed_defaults_give_33334_drops_per_minute() {
        // 1 XRP over 1800 s at 60 s intervals: ceil(1,000,000 / 30).
        assert_eq!(
            terms(1_000_000, 1800, 60).rate_per_interval(),
            Ok(Drops::new(33_334))
        );
    }

    #[test]
    fn undefined_rates_are_refused() {
        assert_eq!(
            terms(1, 60, 0).rate_per_interval(),
            Err(TermsError::ZeroPollingInterval)
        );
        assert_eq!(
            terms(1, 59, 60).rate_per_interval(),
            Err(TermsError::SessionShorterThanInterval {
                session: 59,
                interval: 60
            })
        );
        assert_eq!(
            terms(0, 60, 60).rate_per_interval(),
            Err(TermsError::ZeroFunding)
        );
        assert_eq!(
            terms(Drops::MAX_NATIVE.get() + 1, 60, 60).rate_per_interval(),
            Err(TermsError::FundingTooLarge)
        );
    }

    #[test]
    fn tiny_funding_still_charges_one_drop_and_unit_terms_charge_none() {
        assert_eq!(terms(1, 3600, 1).rate_per_interval(), Ok(Drops::new(1)));
        let mut t = terms(1_000_000, 1800, 60);
        t.payment_type = PaymentType::Unit;
        assert_eq!(t.rate_per_interval(), Ok(Drops::ZERO));
    }

    proptest! {
        #[test]
        fn a_full_session_covers_the_funding_and_overshoots_by_less_than_one_interval(
            funding in 1u64..=Drops::MAX_NATIVE.get(), interval in 1u32..10_000, n in 1u32..10_000
        ) {
            let length = interval.saturating_mul(n);
            let t = terms(funding, length, interval);
            let rate = t.rate_per_interval().unwrap().get();
            let intervals = u64::from(t.intervals_per_session().unwrap());
            let full = u128::from(rate) * u128::from(intervals);
            prop_assert!(full >= u128::from(funding));
            prop_assert!(full < u128::from(funding) + u128::from(intervals) || rate == 1);
            prop_assert!(rate >= 1);
        }

        #[test]
        fn names_round_trip(i in 0usize..3) {
            let pt = [PaymentType::Time, PaymentType::Unit, PaymentType::Both][i];
            prop_assert_eq!(pt.as_str().parse::<PaymentType>(), Ok(pt));
        }
    }
}
