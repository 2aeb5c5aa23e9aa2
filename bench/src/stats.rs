//! The pay benchmarks' statistics (`./dev bench`, `./dev bench-pay`): the
//! TPS of each round's scripts in, ratios within each round and their
//! median out. This shared machine's speed drifts within minutes, and a
//! ratio of neighbours cancels most of that drift; the median drops the
//! odd round.

use std::fmt::Write;

/// Rounds that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// A round is not the numbers expected.
    #[error("round {round}: expected {want} numbers")]
    Row {
        /// The round (from 1).
        round: usize,
        /// How many numbers a round has.
        want: usize,
    },
    /// A divisor is 0: its run failed.
    #[error("round {round}: a TPS of 0 to divide by (a failed run)")]
    Zero {
        /// The round (from 1).
        round: usize,
    },
}

/// The median (the mean of the middle two for an even count; 0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match (v.get(n / 2), n.checked_sub(1).and_then(|m| v.get(m / 2))) {
        (Some(hi), Some(lo)) if n.is_multiple_of(2) => (lo + hi) / 2.0,
        (Some(mid), _) => *mid,
        _ => 0.0,
    }
}

/// `./dev bench`'s pay rounds: per round the TPS of an UPDATE baseline,
/// verify and pay with ed25519, verify and pay with secp256k1 (one round a
/// line); a table of the rounds, and the median of each ratio and TPS.
pub fn pay_rounds(
    rounds: &str,
    commit: &str,
    secs: &str,
    accepted: u64,
) -> Result<String, StatsError> {
    let rows = parse::<5>(rounds)?;
    let mut table = String::new();
    let (mut re, mut rs, mut pev, mut psv, mut peu, mut psu) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (i, &[u, ve, pe, vs, ps]) in rows.iter().enumerate() {
        if [u, ve, vs].contains(&0.0) {
            return Err(StatsError::Zero { round: i + 1 });
        }
        // Pay against the lower of the baselines measured beside it.
        let (e, s) = (pe / u.min(ve), ps / u.min(vs));
        re.push(e);
        rs.push(s);
        pev.push(pe / ve);
        psv.push(ps / vs);
        peu.push(pe / u);
        psu.push(ps / u);
        let _ = write!(
            table,
            "\n{:>5} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {e:>7.2} {s:>7.2}",
            i + 1,
            u.trunc(),
            ve.trunc(),
            pe.trunc(),
            vs.trunc(),
            ps.trunc(),
        );
    }
    let column = |c: usize| -> f64 {
        let values: Vec<f64> = rows.iter().filter_map(|r| r.get(c).copied()).collect();
        median(&values).trunc()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "synchronous_commit={commit}: pgbench -M prepared -c 2 -j 2 -T {secs}, {} rounds; ratios within each round, then their median",
        rows.len()
    );
    let _ = write!(
        out,
        "{:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}{table}\n\n",
        "round", "update", "ver ed", "pay ed", "ver secp", "pay secp", "ed/low", "secp/low"
    );
    let _ = writeln!(
        out,
        "{:<14} {:>12} {:>12} {:>22}",
        "median", "pay/update", "pay/verify", "pay/lower baseline"
    );
    for (name, by_update, by_verify, by_lower) in [
        ("pay ed25519", &peu, &pev, &re),
        ("pay secp256k1", &psu, &psv, &rs),
    ] {
        let _ = writeln!(
            out,
            "{name:<14} {:>12.2} {:>12.2} {:>22.2}",
            median(by_update),
            median(by_verify),
            median(by_lower)
        );
    }
    let _ = writeln!(
        out,
        "median tps: update {:.0}, verify ed {:.0}, pay ed {:.0}, verify secp {:.0}, pay secp {:.0}",
        column(0),
        column(1),
        column(2),
        column(3),
        column(4)
    );
    let _ = writeln!(out, "claims accepted by pay so far: {accepted}");
    Ok(out)
}

/// `./dev bench-pay`'s rounds: per round the TPS of pay now and of pay as
/// of `rev` (one round a line); each round's ratio, and their median.
pub fn versus(rounds: &str, rev: &str, what: &str) -> Result<String, StatsError> {
    let rows = parse::<2>(rounds)?;
    let mut out = String::new();
    let mut ratios = vec![];
    for (i, &[new, old]) in rows.iter().enumerate() {
        if old == 0.0 {
            return Err(StatsError::Zero { round: i + 1 });
        }
        let ratio = new / old;
        ratios.push(ratio);
        let _ = writeln!(
            out,
            "round {}: {what} {:.0} tps, {what} as of {rev} {:.0} tps, ratio {ratio:.3}",
            i + 1,
            new.trunc(),
            old.trunc()
        );
    }
    let _ = writeln!(
        out,
        "median ratio ({what} now / {what} as of {rev}): {:.3}",
        median(&ratios)
    );
    Ok(out)
}

/// One round a line, `N` numbers each.
fn parse<const N: usize>(rounds: &str) -> Result<Vec<[f64; N]>, StatsError> {
    rounds
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let bad = || StatsError::Row {
                round: i + 1,
                want: N,
            };
            let numbers = line
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<Vec<f64>, _>>()
                .map_err(|_| bad())?;
            <[f64; N]>::try_from(numbers).map_err(|_| bad())
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    /// The reports as the awk programs `./dev` used before printed them
    /// (mawk), for the same rounds: ties round to even, TPS medians are
    /// truncated.
    #[test]
    fn reports_print_as_before() {
        let rounds = pay_rounds("8 8 1 8 3\n16 16 1 16 5\n", "on", "1", 1).unwrap();
        assert_eq!(
            rounds,
            concat!(
                "synchronous_commit=on: pgbench -M prepared -c 2 -j 2 -T 1, 2 rounds; ratios within each round, then their median\n",
                "round   update   ver ed   pay ed ver secp pay secp  ed/low secp/low\n",
                "    1        8        8        1        8        3    0.12    0.38\n",
                "    2       16       16        1       16        5    0.06    0.31\n",
                "\n",
                "median           pay/update   pay/verify     pay/lower baseline\n",
                "pay ed25519            0.09         0.09                   0.09\n",
                "pay secp256k1          0.34         0.34                   0.34\n",
                "median tps: update 12, verify ed 12, pay ed 1, verify secp 12, pay secp 4\n",
                "claims accepted by pay so far: 1\n",
            )
        );
        let versus = versus("1 16\n3 16\n1 2000\n", "x", "pay").unwrap();
        assert_eq!(
            versus,
            concat!(
                "round 1: pay 1 tps, pay as of x 16 tps, ratio 0.062\n",
                "round 2: pay 3 tps, pay as of x 16 tps, ratio 0.188\n",
                "round 3: pay 1 tps, pay as of x 2000 tps, ratio 0.001\n",
                "median ratio (pay now / pay as of x): 0.062\n",
            )
        );
    }

    #[test]
    fn failed_runs_and_bad_rows_are_refused() {
        assert!(matches!(
            pay_rounds("1 0 1 1 1\n", "on", "1", 0),
            Err(StatsError::Zero { round: 1 })
        ));
        assert!(matches!(
            versus("1 2\n1\n", "x", "pay"),
            Err(StatsError::Row { round: 2, want: 2 })
        ));
    }
}
