//! The devnet node: the chain plus a clock tests can move forward.

use std::time::SystemTime;

use drip_core::time;

use crate::ledger::{Chain, Config};

/// A chain and its clock.
#[derive(Debug)]
pub struct Node {
    /// The ledger chain.
    pub chain: Chain,
    /// Seconds added to the wall clock (tests move time forward with it).
    pub clock_offset: u64,
    /// Results the next submissions get instead of their own, in order
    /// (`devnet_fail`; tests of how clients handle rippled's answers).
    pub faults: std::collections::VecDeque<crate::ter::Ter>,
    /// Blobs refused with a `tel`, `tef` or `ter` answer that rippled holds
    /// and tries again in new ledgers, until one applies or its
    /// LastLedgerSequence passes; each with the closes left before it is
    /// tried (a fee spike lasting that long, say).
    pub held: Vec<(Vec<u8>, u32)>,
    /// Closes the next held refusals wait before they are tried again
    /// (`devnet_fail`'s `held_for`).
    pub held_for: u32,
}

impl Node {
    /// A new node with a fresh chain.
    pub fn new(config: Config) -> Self {
        let now = ripple_now(0);
        Node {
            chain: Chain::new(config, now),
            clock_offset: 0,
            faults: std::collections::VecDeque::new(),
            held: Vec::new(),
            held_for: 0,
        }
    }

    /// The node's "now" in Ripple-epoch seconds.
    pub fn now(&self) -> u32 {
        ripple_now(self.clock_offset)
    }

    /// Move the clock forward by `seconds`.
    pub fn advance(&mut self, seconds: u64) {
        self.clock_offset = self.clock_offset.saturating_add(seconds);
    }

    /// Close the open ledger now, after trying the held transactions again
    /// (kept while they still answer a `ter` code).
    pub fn close(&mut self) -> u32 {
        for (blob, wait) in std::mem::take(&mut self.held) {
            if wait > 0 {
                self.held.push((blob, wait - 1));
            } else if let Ok(s) = self.chain.submit(&blob) {
                if s.ter.class() == "ter" {
                    self.held.push((blob, 0));
                }
            }
        }
        let now = self.now();
        self.chain.close(now).seq
    }
}

/// Wall-clock seconds since the Ripple epoch, plus `offset`.
pub fn ripple_now(offset: u64) -> u32 {
    let secs = time::system_to_ripple(SystemTime::now()).saturating_add(offset);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Ripple-epoch seconds as ISO 8601 (`2026-11-22T03:22:09Z`).
pub fn iso_time(ripple_secs: u32) -> String {
    let (y, mo, d, h, mi, s) = civil(ripple_secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Ripple-epoch seconds as rippled's `close_time_human`.
pub fn human_time(ripple_secs: u32) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = civil(ripple_secs);
    let month = MONTHS
        .get(usize::try_from(mo.saturating_sub(1)).unwrap_or(0))
        .unwrap_or(&"Jan");
    format!("{y:04}-{month}-{d:02} {h:02}:{mi:02}:{s:02}.000000000 UTC")
}

/// (year, month, day, hour, minute, second) in UTC.
fn civil(ripple_secs: u32) -> (i64, i64, i64, i64, i64, i64) {
    let unix = time::ripple_to_unix(ripple_secs);
    let days = unix.div_euclid(86_400);
    let rem = unix.rem_euclid(86_400);
    let (y, m, d) = drip_core::calendar::civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_like_rippled() {
        // 0 is 2000-01-01T00:00:00Z; 536027313 = 6204 days + 1713 s later.
        assert_eq!(iso_time(0), "2000-01-01T00:00:00Z");
        assert_eq!(iso_time(536_027_313), "2016-12-26T00:28:33Z");
        assert_eq!(human_time(0), "2000-Jan-01 00:00:00.000000000 UTC");
    }
}
