//! `drip channel list|close`: the wallet's channels, and their rescue.

use clap::Subcommand;
use drip_client::channels::{self, xrp, Closed};
use drip_core::Hash256;
use serde_json::json;

use super::{print_json, Cli};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The channels the wallet's account pays into.
    List,
    /// Close a channel of the wallet's: the first call starts the settle
    /// delay, a call after it returns the rest to the wallet.
    Close {
        /// The channel id (hex).
        channel: String,
    },
}

pub async fn run(cli: &Cli, c: &Command) -> anyhow::Result<()> {
    let w = cli.open_wallet()?;
    let ledger = cli.submitter(&w)?;
    match c {
        Command::List => {
            let lines = channels::list(ledger.client(), &w.account()?.account_id()).await?;
            for l in lines {
                if cli.json {
                    print_json(&json!({
                        "channel_id": l.channel_id, "destination": l.destination.to_address(),
                        "amount": l.amount, "balance": l.balance, "settle_delay": l.settle_delay,
                        "expiration": l.expiration, "cancel_after": l.cancel_after,
                    }));
                } else {
                    let closing = l
                        .expiration
                        .map_or(String::new(), |e| format!(" · closable after {}", when(e)));
                    println!(
                        "{} → {} · {} of {} XRP paid · settle delay {}s{closing}",
                        l.channel_id,
                        l.destination.to_address(),
                        xrp(l.balance),
                        xrp(l.amount),
                        l.settle_delay
                    );
                }
            }
        }
        Command::Close { channel } => {
            let id: Hash256 = channel
                .parse()
                .map_err(|e| anyhow::anyhow!("{channel}: {e}"))?;
            match channels::close(&ledger, &id).await? {
                Closed::Closed {
                    refund,
                    fee,
                    tx_hash,
                } if cli.json => print_json(
                    &json!({"closed": true, "refund": refund, "fee": fee, "tx_hash": tx_hash}),
                ),
                Closed::Closed {
                    refund,
                    fee,
                    tx_hash,
                } => {
                    println!("closed by {tx_hash}: the wallet got {refund} drops back (after the {fee}-drop fee)");
                }
                Closed::Closing { expiration } if cli.json => {
                    print_json(&json!({"closed": false, "expiration": expiration}))
                }
                Closed::Closing { expiration } => {
                    println!(
                        "closing: run `drip channel close {id}` again after {}",
                        when(expiration)
                    );
                }
            }
        }
    }
    Ok(())
}

/// A Ripple-epoch time as Unix seconds, for people.
fn when(ripple: u32) -> String {
    format!("unix time {}", drip_core::time::ripple_to_unix(ripple))
}
