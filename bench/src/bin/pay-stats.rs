//! The pay benchmarks' statistics (see `drip_bench::stats`): rounds of TPS
//! on stdin, one round a line; the report on stdout.
//!
//! pay-stats rounds SYNCHRONOUS_COMMIT SECONDS CLAIMS_ACCEPTED
//! pay-stats versus REV [FUNCTION]   (FUNCTION: pay unless named)

use std::io::Read;

use drip_bench::stats;

const USAGE: &str =
    "usage: pay-stats rounds SYNCHRONOUS_COMMIT SECONDS CLAIMS_ACCEPTED | pay-stats versus REV [FUNCTION]";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rounds = String::new();
    std::io::stdin().read_to_string(&mut rounds)?;
    let report = match args.as_slice() {
        [cmd, commit, secs, accepted] if cmd == "rounds" => {
            stats::pay_rounds(&rounds, commit, secs, accepted.parse()?)?
        }
        [cmd, rev] if cmd == "versus" => stats::versus(&rounds, rev, "pay")?,
        [cmd, rev, what] if cmd == "versus" => stats::versus(&rounds, rev, what)?,
        _ => anyhow::bail!(USAGE),
    };
    print!("{report}");
    Ok(())
}
