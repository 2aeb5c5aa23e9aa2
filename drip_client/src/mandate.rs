//! The limits a wallet's user sets on what it may sign and on the channels
//! it opens: per polling interval, per hour of time, per session, for a
//! session's purchases and per site; a channel's funding, settle delay and
//! life. All but the per-site limit are finite by default. The wallet
//! checks a proposal against them before it opens a channel, and every
//! claim against them and against the rate of the proposal it accepted
//! before signing; it says which limit stopped it.

use drip_core::proposal::Proposal;
use drip_core::{time, Drops};
use serde::{Deserialize, Serialize};

/// Seconds a channel's CancelAfter leaves beyond what its session needs.
/// drip counts a session from its check of the channel on the validated
/// ledger, after the create validated and the agreement arrived (seconds,
/// normally), and its clock may differ from the wallet's; ten minutes
/// covers both. It costs the payer nothing: drip claims and closes before
/// the session's end, not at the CancelAfter.
pub const LIFE_MARGIN_SECS: u64 = 600;

/// The user's limits. A field missing from a wallet file takes its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mandate {
    /// The most one polling interval may cost (so also the highest rate).
    pub per_interval: Drops,
    /// The most an hour of a session's time may cost: the proposal's rate
    /// per hour of wall time, whatever its polling interval.
    pub per_hour: Drops,
    /// The most one session may cost.
    pub per_session: Drops,
    /// The most one session's unit debts (purchases, the merchant's word)
    /// may cost.
    pub unit_per_session: Drops,
    /// The most all sessions of one site may cost together; `None` is no
    /// limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_site: Option<Drops>,
    /// The most one channel may hold: its create, and its amount after a
    /// refresh's fund.
    pub max_funding: Drops,
    /// The longest settle delay a channel may have.
    pub max_settle_delay_secs: u32,
    /// The longest a channel may live: its CancelAfter is at most this far
    /// ahead.
    pub max_channel_life_secs: u32,
}

impl Default for Mandate {
    /// Sized for micropayments. drip's default terms charge 1 XRP per
    /// 30-minute session (33,334 drops a minute, 2 XRP an hour): 1 XRP per
    /// interval leaves room for purchases; 5 XRP an hour takes terms up to
    /// 2.5 times dearer, and makes 10 XRP per session (ten fundings) last
    /// at least two hours however short the server's interval; purchases
    /// may take 1 XRP of it. A channel never holds more than a session may
    /// spend. A day is the longest the payer waits for a channel's XRP,
    /// whether after closing it (the settle delay) or for it to expire (the
    /// CancelAfter). No per-site limit: it counts every session ever, so
    /// any value would one day stop a site for good.
    fn default() -> Self {
        Mandate {
            per_interval: Drops::new(Drops::PER_XRP),
            per_hour: Drops::new(5 * Drops::PER_XRP),
            per_session: Drops::new(10 * Drops::PER_XRP),
            unit_per_session: Drops::new(Drops::PER_XRP),
            per_site: None,
            max_funding: Drops::new(10 * Drops::PER_XRP),
            max_settle_delay_secs: 86_400,
            max_channel_life_secs: 86_400,
        }
    }
}

/// Which limit a claim or proposal would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Too much within one polling interval.
    #[error(
        "{amount} drops within one polling interval is above the limit of {limit} per interval"
    )]
    PerInterval {
        /// What the interval would cost.
        amount: Drops,
        /// The limit.
        limit: Drops,
    },
    /// A rate that costs too much per hour.
    #[error("a rate of {amount} drops an hour is above the limit of {limit} per hour")]
    PerHour {
        /// The proposal's rate, per hour.
        amount: Drops,
        /// The limit.
        limit: Drops,
    },
    /// Too much for the session.
    #[error("{amount} drops for this session is above the limit of {limit} per session")]
    PerSession {
        /// The session's total.
        amount: Drops,
        /// The limit.
        limit: Drops,
    },
    /// Too much for the site.
    #[error("{amount} drops at {site} is above the limit of {limit} per site")]
    PerSite {
        /// The site.
        site: String,
        /// The site's total.
        amount: Drops,
        /// The limit.
        limit: Drops,
    },
    /// A channel holding more than the user lets one channel hold.
    #[error("a channel of {amount} drops is above the limit of {limit} per channel")]
    Funding {
        /// What the channel would hold.
        amount: Drops,
        /// The limit.
        limit: Drops,
    },
    /// A settle delay longer than the user will wait for a channel's XRP.
    #[error("a settle delay of {secs}s is above the limit of {limit}s")]
    SettleDelay {
        /// The proposal's settle delay.
        secs: u32,
        /// The limit.
        limit: u32,
    },
    /// A session that needs its channel open longer than the user allows.
    #[error("the session needs its channel for at least {secs}s, above the limit of {limit}s")]
    ChannelLife {
        /// The shortest life the session's channel needs.
        secs: u64,
        /// The limit.
        limit: u32,
    },
    /// The server asks for more than the accepted proposal allows by now.
    #[error("{amount} drops due is above the {allowed} the proposal allows by now")]
    AboveProposal {
        /// What the server says is due.
        amount: Drops,
        /// The most the proposal's rate and the mandate allow.
        allowed: Drops,
    },
}

/// What signing a claim would spend, each against its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spend {
    /// Since the start of the current polling interval.
    pub interval: Drops,
    /// The session's claim, cumulative.
    pub session: Drops,
    /// Every claim at the site, this one included.
    pub site: Drops,
}

impl Mandate {
    /// Whether a claim spending `spend` at `site` is within every limit.
    pub fn check(&self, site: &str, spend: Spend) -> Result<(), Refusal> {
        if spend.interval > self.per_interval {
            return Err(Refusal::PerInterval {
                amount: spend.interval,
                limit: self.per_interval,
            });
        }
        if spend.session > self.per_session {
            return Err(Refusal::PerSession {
                amount: spend.session,
                limit: self.per_session,
            });
        }
        if let Some(limit) = self.per_site.filter(|l| spend.site > *l) {
            return Err(Refusal::PerSite {
                site: site.to_owned(),
                amount: spend.site,
                limit,
            });
        }
        Ok(())
    }

    /// Whether a proposal may be taken: its rate (per interval and per
    /// hour), funding and settle delay, and a session short enough for the
    /// longest channel life. Checked before a channel is opened for it.
    pub fn admits(&self, p: &Proposal) -> Result<(), Refusal> {
        if p.payment_type.charges_time() {
            if p.rate > self.per_interval {
                return Err(Refusal::PerInterval {
                    amount: p.rate,
                    limit: self.per_interval,
                });
            }
            let hourly = hourly_rate(p);
            if hourly > self.per_hour {
                return Err(Refusal::PerHour {
                    amount: hourly,
                    limit: self.per_hour,
                });
            }
        }
        self.admits_funding(p.channel_funding)?;
        if p.settle_delay_secs > self.max_settle_delay_secs {
            return Err(Refusal::SettleDelay {
                secs: p.settle_delay_secs,
                limit: self.max_settle_delay_secs,
            });
        }
        if let Some(session) = session_secs(p) {
            let secs = session.saturating_add(LIFE_MARGIN_SECS);
            if secs > u64::from(self.max_channel_life_secs) {
                return Err(Refusal::ChannelLife {
                    secs,
                    limit: self.max_channel_life_secs,
                });
            }
        }
        Ok(())
    }

    /// Whether a channel may hold `amount`: at its create, or after a fund.
    pub fn admits_funding(&self, amount: Drops) -> Result<(), Refusal> {
        if amount > self.max_funding {
            return Err(Refusal::Funding {
                amount,
                limit: self.max_funding,
            });
        }
        Ok(())
    }

    /// The most a session may owe at `now` under the proposal `p` the
    /// wallet accepted, having asked to agree at `since`, with `funded` in
    /// its channel by agreement (the create and the refreshes the server
    /// took). Time debt: [`time_allowance`], and never above `funded`: a
    /// session lasts as long as its funding at the rate, so a server that
    /// stalled the agreement and bills for the wait gets no more. Unit
    /// debts are the merchant's word, so they have their own budget
    /// (`unit_per_session`), not all that the session may spend.
    pub fn allowed_debt(&self, p: &Proposal, since: Option<i64>, now: i64, funded: Drops) -> Drops {
        let time = time_allowance(p, since, now).min(funded);
        let units = if p.payment_type.takes_units() {
            self.unit_per_session
        } else {
            Drops::ZERO
        };
        time.checked_add(units).unwrap_or(Drops::MAX)
    }

    /// How many times a session of `p` may be funded, its create
    /// included: enough to spend `per_session`, `ceil(per_session /
    /// funding)`, and no more (none for a proposal funding nothing).
    pub fn fundings(&self, p: &Proposal) -> u64 {
        ceil_div(self.per_session.get(), p.channel_funding.get()).unwrap_or(0)
    }

    /// The CancelAfter (Ripple-epoch seconds) for a channel opened at `now`
    /// for `p`: the channel lives while the per-session budget lasts at the
    /// proposal's rate (so refreshes can extend the session), at least as
    /// long as the longest session the proposal can stand for, plus one
    /// interval (a session's length is not a whole number of intervals)
    /// and the margin; never longer than the longest life allowed, which is
    /// also the life of a session the proposal does not bound (units only,
    /// or one drop an interval). `None` for a clock outside the ledger's
    /// range.
    pub fn cancel_after(&self, p: &Proposal, now: i64) -> Option<u32> {
        let longest = u64::from(self.max_channel_life_secs);
        let life = match session_intervals(p) {
            Some(Intervals {
                fewest,
                most: Some(most),
            }) => ceil_div(self.per_session.get(), p.rate.get())
                .unwrap_or(0)
                .max(most)
                .max(fewest)
                .saturating_add(1)
                .saturating_mul(u64::from(p.polling_interval_secs))
                .saturating_add(LIFE_MARGIN_SECS)
                .min(longest),
            _ => longest,
        };
        time::unix_to_ripple(now.checked_add(i64::try_from(life).ok()?)?)
    }
}

/// The time debt a session of `p` may have at `now`, the wallet having
/// asked to agree at `since` (the session became active later): the rate
/// for each interval begun since, counted up (one interval of slack: the
/// wallet's clock reads whole seconds, up to one short of the server's
/// microseconds), plus one, as drip bills each interval when it begins.
/// Without `since` (a record from an older wallet) no time debt can be
/// shown to be owed.
pub fn time_allowance(p: &Proposal, since: Option<i64>, now: i64) -> Drops {
    match since {
        Some(since) if p.payment_type.charges_time() => {
            let elapsed = u64::try_from(now.saturating_sub(since)).unwrap_or(0);
            let begun = elapsed.div_ceil(u64::from(p.polling_interval_secs.max(1)));
            p.rate
                .checked_mul(begun.saturating_add(1))
                .unwrap_or(Drops::MAX)
        }
        _ => Drops::ZERO,
    }
}

/// Seconds in the shortest session a time-billed `p` stands for (`None`
/// when it bills no time).
pub fn session_secs(p: &Proposal) -> Option<u64> {
    session_intervals(p).map(|i| i.fewest.saturating_mul(u64::from(p.polling_interval_secs)))
}

/// What `p`'s rate costs an hour, rounded up: `rate × 3600 / interval` in
/// exact integers (u128: no rate overflows it; above u64 saturates, so is
/// refused) and an interval of 0 counted as 1 s, as the wallet counts
/// intervals everywhere.
fn hourly_rate(p: &Proposal) -> Drops {
    let hourly =
        (u128::from(p.rate.get()) * 3_600).div_ceil(u128::from(p.polling_interval_secs.max(1)));
    Drops::new(u64::try_from(hourly).unwrap_or(u64::MAX))
}

/// How many whole intervals a time-billed session can have, by the rate
/// drip's terms set: `rate = ceil(funding / n)`, so
/// `funding / rate <= n < funding / (rate - 1)`.
struct Intervals {
    fewest: u64,
    /// `None` for a rate of one drop, which any `n >= funding` gives.
    most: Option<u64>,
}

/// `None` when the proposal bills no time.
fn session_intervals(p: &Proposal) -> Option<Intervals> {
    if !p.payment_type.charges_time() {
        return None;
    }
    let (funding, rate) = (p.channel_funding.get(), p.rate.get());
    Some(Intervals {
        fewest: ceil_div(funding, rate)?,
        most: ceil_div(funding, rate.saturating_sub(1)).map(|n| n.saturating_sub(1)),
    })
}

/// `a / b` rounded up; `None` for `b = 0`.
fn ceil_div(a: u64, b: u64) -> Option<u64> {
    (b != 0).then(|| a.div_ceil(b))
}

/// The running polling interval: when it started and the session's claim
/// then, so a claim's cost within the interval is `claim − base`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Unix seconds.
    pub started_at: i64,
    /// The best claim at the start.
    pub base: Drops,
}

impl Window {
    /// The window at `now` for an interval of `interval_secs`, given the
    /// best claim so far: a new one once the old has run its length.
    pub fn at(self, now: i64, interval_secs: u32, best: Drops) -> Window {
        if now >= self.started_at.saturating_add(i64::from(interval_secs)) {
            Window {
                started_at: now,
                base: best,
            }
        } else {
            self
        }
    }

    /// What a claim for `amount` costs within this window.
    pub fn cost(&self, amount: Drops) -> Drops {
        Drops::new(amount.get().saturating_sub(self.base.get()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use drip_core::proposal::ProposalKind;
    use drip_core::terms::PaymentType;
    use drip_core::time::RIPPLE_EPOCH;

    fn d(n: u64) -> Drops {
        Drops::new(n)
    }

    /// A proposal: `rate` per `interval` seconds, `funding`, `settle` delay.
    fn proposal(
        payment_type: PaymentType,
        rate: u64,
        interval: u32,
        funding: u64,
        settle: u32,
    ) -> Proposal {
        Proposal {
            proposal_id: "p".into(),
            kind: ProposalKind::Initial,
            payment_type,
            rate: d(rate),
            polling_interval_secs: interval,
            channel_funding: d(funding),
            settle_delay_secs: settle,
            destination: "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".parse().unwrap(),
            destination_tag: None,
            expires_at: 2_000_000_000,
        }
    }

    /// drip's default terms: 1 XRP over 30 intervals of 60 s, 1,800 s
    /// settle delay.
    fn default_terms() -> Proposal {
        proposal(PaymentType::Both, 33_334, 60, 1_000_000, 1_800)
    }

    #[test]
    fn the_default_mandate_is_finite_and_older_files_read_as_it() {
        let m = Mandate::default();
        let spend = Spend {
            interval: Drops::ZERO,
            session: Drops::ZERO,
            site: Drops::MAX,
        };
        assert_eq!(
            m.check(
                "shop",
                Spend {
                    interval: d(1_000_001),
                    ..spend
                }
            ),
            Err(Refusal::PerInterval {
                amount: d(1_000_001),
                limit: d(1_000_000)
            })
        );
        assert_eq!(
            m.check(
                "shop",
                Spend {
                    session: d(10_000_001),
                    ..spend
                }
            ),
            Err(Refusal::PerSession {
                amount: d(10_000_001),
                limit: d(10_000_000)
            })
        );
        assert_eq!(m.check("shop", spend), Ok(()), "no per-site limit");
        // A wallet file from before these limits (none set) reads as the
        // defaults; one that set some keeps them.
        assert_eq!(serde_json::from_str::<Mandate>("{}").unwrap(), m);
        let set: Mandate = serde_json::from_str(r#"{"per_session": "5"}"#).unwrap();
        assert_eq!(
            set,
            Mandate {
                per_session: d(5),
                ..m
            }
        );
        let written = serde_json::to_string(&set).unwrap();
        assert_eq!(serde_json::from_str::<Mandate>(&written).unwrap(), set);
    }

    #[test]
    fn a_proposal_outside_the_bounds_is_refused() {
        let m = Mandate::default();
        let ok = default_terms();
        assert_eq!(m.admits(&ok), Ok(()));
        assert_eq!(
            m.admits(&Proposal {
                rate: d(1_000_001),
                ..ok.clone()
            }),
            Err(Refusal::PerInterval {
                amount: d(1_000_001),
                limit: d(1_000_000)
            })
        );
        // A unit-only session's rate is never charged.
        let unit = Proposal {
            payment_type: PaymentType::Unit,
            rate: Drops::MAX,
            ..ok.clone()
        };
        assert_eq!(m.admits(&unit), Ok(()));
        let funded = |funding| Proposal {
            channel_funding: d(funding),
            ..unit.clone()
        };
        assert_eq!(m.admits(&funded(10_000_000)), Ok(()));
        assert_eq!(
            m.admits(&funded(10_000_001)),
            Err(Refusal::Funding {
                amount: d(10_000_001),
                limit: d(10_000_000)
            })
        );
        let delayed = |secs| Proposal {
            settle_delay_secs: secs,
            ..ok.clone()
        };
        assert_eq!(m.admits(&delayed(86_400)), Ok(()));
        assert_eq!(
            m.admits(&delayed(86_401)),
            Err(Refusal::SettleDelay {
                secs: 86_401,
                limit: 86_400
            })
        );
        // One drop per second: 85,800 drops last at least 85,800 s, which
        // with the margin is a day; one drop more is past it.
        let long = |funding| proposal(PaymentType::Time, 1, 1, funding, 600);
        assert_eq!(m.admits(&long(85_800)), Ok(()));
        assert_eq!(
            m.admits(&long(85_801)),
            Err(Refusal::ChannelLife {
                secs: 86_401,
                limit: 86_400
            })
        );
    }

    /// A rate within the per-interval limit can still take the session's
    /// budget in seconds if the interval is short: the rate per hour of
    /// wall time is bounded too (in whole drops, rounded up).
    #[test]
    fn a_rate_is_bounded_per_hour_whatever_the_interval() {
        let m = Mandate::default();
        // 1 XRP every second: within 1 XRP per interval, 3,600 XRP an hour.
        let fast = proposal(PaymentType::Time, 1_000_000, 1, 10_000_000, 600);
        assert_eq!(
            m.admits(&fast),
            Err(Refusal::PerHour {
                amount: d(3_600_000_000),
                limit: d(5_000_000)
            })
        );
        let both = Proposal {
            payment_type: PaymentType::Both,
            ..fast.clone()
        };
        assert!(matches!(m.admits(&both), Err(Refusal::PerHour { .. })));
        // A unit-only session's rate is never charged.
        let unit = Proposal {
            payment_type: PaymentType::Unit,
            ..fast
        };
        assert_eq!(m.admits(&unit), Ok(()));
        // Just within 5 XRP an hour (4,999,980), and just above.
        let per_minute = |rate| proposal(PaymentType::Time, rate, 60, 1_000_000, 600);
        assert_eq!(m.admits(&per_minute(83_333)), Ok(()));
        assert_eq!(
            m.admits(&per_minute(83_334)),
            Err(Refusal::PerHour {
                amount: d(5_000_040),
                limit: d(5_000_000)
            })
        );
        // Rounded up: a drop every 7 s is 514 2/7 drops an hour.
        let slow = proposal(PaymentType::Time, 1, 7, 100, 600);
        let tight = Mandate {
            per_hour: d(514),
            ..m
        };
        assert_eq!(
            tight.admits(&slow),
            Err(Refusal::PerHour {
                amount: d(515),
                limit: d(514)
            })
        );
        assert_eq!(
            Mandate {
                per_hour: d(515),
                ..m
            }
            .admits(&slow),
            Ok(())
        );
        // Extremes neither overflow nor divide by zero.
        let huge = Mandate {
            per_interval: Drops::MAX,
            per_hour: Drops::MAX,
            ..m
        };
        let odd = proposal(PaymentType::Time, u64::MAX, 0, 100, 600);
        assert_eq!(
            m.admits(&Proposal {
                rate: d(1),
                ..odd.clone()
            }),
            Ok(())
        );
        assert_eq!(huge.admits(&odd), Ok(()));
    }

    #[test]
    fn the_cancel_after_outlives_the_session_and_its_budget() {
        let m = Mandate::default();
        let now = 1_700_000_000;
        let at = |secs: i64| u32::try_from(now - RIPPLE_EPOCH + secs).ok();
        // At most 30 intervals (ceil(1e6 / 33_333) - 1) a session; the 10 XRP
        // budget lasts 300 intervals: one more, and the margin.
        assert_eq!(m.cancel_after(&default_terms(), now), at(301 * 60 + 600));
        // A budget below the funding: the session's own length counts, at
        // most 60 intervals (ceil(1e6 / 16_666) - 1).
        let small = Mandate {
            per_session: d(50_001),
            ..m
        };
        let minute = proposal(PaymentType::Time, 16_667, 1, 1_000_000, 600);
        assert_eq!(small.cancel_after(&minute, now), at(61 + 600));
        // Never past the longest life.
        let rich = Mandate {
            per_session: d(1_000_000_000),
            ..m
        };
        assert_eq!(rich.cancel_after(&default_terms(), now), at(86_400));
        // Units only, or one drop a time (a session of any length): the
        // longest life.
        let unit = Proposal {
            payment_type: PaymentType::Unit,
            rate: Drops::ZERO,
            ..default_terms()
        };
        assert_eq!(m.cancel_after(&unit, now), at(86_400));
        let drip = proposal(PaymentType::Time, 1, 1, 600, 600);
        assert_eq!(m.cancel_after(&drip, now), at(86_400));
        // A clock outside the ledger's range gives none.
        assert_eq!(m.cancel_after(&unit, RIPPLE_EPOCH - 86_401), None);
    }

    #[test]
    fn each_limit_is_named_when_broken() {
        let m = Mandate {
            per_interval: d(100),
            per_session: d(1_000),
            per_site: Some(d(1_500)),
            ..Mandate::default()
        };
        let ok = Spend {
            interval: d(100),
            session: d(1_000),
            site: d(1_500),
        };
        assert_eq!(m.check("shop", ok), Ok(()));
        assert_eq!(
            m.check(
                "shop",
                Spend {
                    interval: d(101),
                    ..ok
                }
            ),
            Err(Refusal::PerInterval {
                amount: d(101),
                limit: d(100)
            })
        );
        assert_eq!(
            m.check(
                "shop",
                Spend {
                    session: d(1_001),
                    ..ok
                }
            ),
            Err(Refusal::PerSession {
                amount: d(1_001),
                limit: d(1_000)
            })
        );
        assert_eq!(
            m.check(
                "shop",
                Spend {
                    site: d(1_501),
                    ..ok
                }
            ),
            Err(Refusal::PerSite {
                site: "shop".into(),
                amount: d(1_501),
                limit: d(1_500)
            })
        );
    }

    #[test]
    fn a_window_lasts_one_interval() {
        let w = Window {
            started_at: 100,
            base: d(50),
        };
        assert_eq!(w.at(159, 60, d(80)), w);
        assert_eq!(
            w.at(160, 60, d(80)),
            Window {
                started_at: 160,
                base: d(80)
            }
        );
        assert_eq!(w.cost(d(80)), d(30));
        assert_eq!(w.cost(d(10)), d(0));
    }
}
