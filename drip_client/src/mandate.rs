//! The limits a wallet's user sets on what it may sign: per polling interval,
//! per session and per site. The wallet checks every claim against them
//! before signing, and says which limit stopped it.

use drip_core::Drops;
use serde::{Deserialize, Serialize};

/// The user's limits; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mandate {
    /// The most one polling interval may cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_interval: Option<Drops>,
    /// The most one session may cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_session: Option<Drops>,
    /// The most all sessions of one site may cost together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_site: Option<Drops>,
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
        let over = |limit: Option<Drops>, amount: Drops| limit.filter(|l| amount > *l);
        if let Some(limit) = over(self.per_interval, spend.interval) {
            return Err(Refusal::PerInterval {
                amount: spend.interval,
                limit,
            });
        }
        if let Some(limit) = over(self.per_session, spend.session) {
            return Err(Refusal::PerSession {
                amount: spend.session,
                limit,
            });
        }
        if let Some(limit) = over(self.per_site, spend.site) {
            return Err(Refusal::PerSite {
                site: site.to_owned(),
                amount: spend.site,
                limit,
            });
        }
        Ok(())
    }

    /// Whether a session charging `rate` per interval can be paid at all:
    /// refused before a channel is opened for it.
    pub fn admits_rate(&self, rate: Drops) -> Result<(), Refusal> {
        match self.per_interval {
            Some(limit) if rate > limit => Err(Refusal::PerInterval {
                amount: rate,
                limit,
            }),
            _ => Ok(()),
        }
    }
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

    fn d(n: u64) -> Drops {
        Drops::new(n)
    }

    #[test]
    fn each_limit_is_named_when_broken() {
        let m = Mandate {
            per_interval: Some(d(100)),
            per_session: Some(d(1_000)),
            per_site: Some(d(1_500)),
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
        assert_eq!(
            Mandate::default().check(
                "shop",
                Spend {
                    interval: d(u64::MAX),
                    session: d(u64::MAX),
                    site: d(u64::MAX)
                }
            ),
            Ok(())
        );
        assert!(m.admits_rate(d(100)).is_ok());
        assert!(m.admits_rate(d(101)).is_err());
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
