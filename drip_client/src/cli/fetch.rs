//! `drip fetch URL`: GET a URL, paying its HTTP 402 from the wallet.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use drip_client::fetch::{FetchConfig, Fetcher};
use drip_core::Drops;
use serde_json::json;

use super::{print_json, Cli};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The URL.
    url: String,
    /// Pay with the closing voucher: the server redeems the channel and
    /// closes it.
    #[arg(long)]
    close: bool,
    /// Drops a new channel holds (at most the mandate's funding limit).
    #[arg(long, default_value_t = Drops::PER_XRP)]
    deposit: u64,
    /// A new channel's settle delay, seconds.
    #[arg(long, default_value_t = 3600)]
    settle_delay: u32,
    /// The XRPL network named as the payer's (mainnet, testnet, devnet).
    #[arg(long, env = "DRIP_NETWORK", default_value = "mainnet")]
    network: String,
    /// A PEM certificate to trust besides the public roots.
    #[arg(long, env = "DRIP_CA")]
    ca: Option<PathBuf>,
}

pub async fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let mut wallet = cli.open_wallet()?;
    let ledger = cli.submitter(&wallet)?;
    let ca = match &a.ca {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let config = FetchConfig {
        deposit: Drops::new(a.deposit),
        settle_delay: a.settle_delay,
        network: a.network.clone(),
    };
    let mut fetcher = Fetcher::new(&mut wallet, ledger, ca.as_deref(), config)?;
    let got = fetcher.get(&a.url, a.close).await?;
    if cli.json {
        print_json(&json!({
            "status": got.status,
            "body": String::from_utf8_lossy(&got.body),
            "paid": got.receipt.as_ref().map(|r| json!({
                "action": r.action.as_str(), "channel": r.channel_id.to_string(),
                "cumulative": r.cumulative.to_string(),
            })),
        }));
        return Ok(());
    }
    if let Some(r) = &got.receipt {
        eprintln!(
            "paid: {} on channel {}, {} drops in all",
            r.action.as_str(),
            r.channel_id,
            r.cumulative
        );
    }
    std::io::stdout().write_all(&got.body)?;
    Ok(())
}
