//! `drip pay <uri>`: the pay loop with a live status line.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use drip_client::channels::xrp;
use drip_client::{Api, Endpoint, Payer, PayerConfig, Progress, Target};
use drip_core::{Drops, KeyType, PublicKey};
use serde_json::json;

use super::wallet::key_type;
use super::{print_json, Cli, Connection};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The session's deep link (drip://DOMAIN/TOKEN) or its drip token.
    target: String,
    // No bearer token is taken: the session's drip token is the bearer.
    #[command(flatten)]
    server: Connection,
    /// The server's proposal key (hex); without it, the key a site first
    /// used is pinned and required afterwards.
    #[arg(long, env = "DRIP_SERVER_KEY")]
    server_key: Option<String>,
    /// The site a bare token belongs to (default: the server's host).
    #[arg(long)]
    site: Option<String>,
    /// The type of the session's fresh channel key.
    #[arg(long, default_value = "ed25519", value_parser = key_type)]
    key_type: KeyType,
    /// Sign claims with the account's own key instead of a fresh one.
    #[arg(long, conflicts_with = "key_type")]
    account_key: bool,
    /// Stop after this many seconds, leaving the session open (default: pay
    /// until it ends).
    #[arg(long = "for")]
    for_secs: Option<u64>,
    /// Ask what is due this often, in milliseconds (default: half the
    /// polling interval).
    #[arg(long)]
    poll_ms: Option<u64>,
    /// Never fund the channel further.
    #[arg(long)]
    no_refresh: bool,
}

/// `active · paid … · due … · channel left … · ends in …`.
fn status_line(p: &Progress) -> String {
    let left = Drops::new(p.channel_amount.saturating_sub(p.paid));
    let ends = p.ends_at.map_or(String::new(), |t| {
        let secs = (t - drip_client::payer::unix_now()).max(0);
        format!(" · ends in {}m{:02}s", secs / 60, secs % 60)
    });
    let mut line = format!(
        "{} · paid {} XRP · due {} XRP · channel left {} XRP{ends}",
        p.state,
        xrp(Drops::new(p.paid)),
        xrp(Drops::new(p.due)),
        xrp(left)
    );
    if let Some(r) = &p.refused {
        line.push_str(&format!(" · NOT PAYING: {r}"));
    }
    line
}

impl Args {
    /// The API for `target`'s session, its drip token the bearer: a
    /// merchant's or app's token must never reach the server being paid,
    /// which may not be the merchant's.
    fn endpoint(&self, target: &Target) -> anyhow::Result<Endpoint> {
        self.server.endpoint(Some(target.token.clone()))
    }
}

pub async fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let target: Target = a.target.parse()?;
    let server_key = a
        .server_key
        .as_deref()
        .map(PublicKey::from_hex)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--server-key: {e}"))?;
    let site = a.site.clone().unwrap_or_else(|| {
        a.server
            .server
            .split("://")
            .nth(1)
            .unwrap_or(&a.server.server)
            .trim_end_matches('/')
            .to_owned()
    });
    let api = Api::new(&a.endpoint(&target)?)?;
    let mut wallet = cli.open_wallet()?;
    let ledger = cli.submitter(&wallet)?;
    let config = PayerConfig {
        server_key,
        key_type: a.key_type,
        fresh_key: !a.account_key,
        poll: a.poll_ms.map(Duration::from_millis),
        refresh: !a.no_refresh,
        ..PayerConfig::default()
    };
    let mut payer = Payer::new(api, ledger, &mut wallet, &target, &site, config);
    let until = a
        .for_secs
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let tty = std::io::stdout().is_terminal() && !cli.json;
    let mut last: Option<Progress> = None;
    let channel = payer.open().await?;
    if !cli.json {
        println!("paying on channel {channel}");
    }
    let closing = payer
        .run(until, |p| {
            if cli.json {
                print_json(&json!({"progress": p}));
                return;
            }
            if let Some(e) = &p.event {
                println!("{}{e}", if tty { "\r\x1b[2K" } else { "" });
            }
            let line = status_line(p);
            if tty {
                print!("\r\x1b[2K{line}");
                let _ = std::io::stdout().flush();
            } else {
                // A log, not a terminal: a line when more than the clock moved.
                let now = Progress {
                    ends_at: None,
                    ..p.clone()
                };
                if last.as_ref() != Some(&now) {
                    println!("{line}");
                }
                last = Some(now);
            }
        })
        .await?;
    if tty {
        println!();
    }
    match closing {
        None if cli.json => print_json(&json!({"stopped": true})),
        None => println!("stopped; the session stays open (run again to continue)"),
        Some(c) if cli.json => print_json(&json!({"closing": c})),
        Some(c) => {
            println!(
                "session ended; channel {} closed on the ledger",
                c.channel_id
            );
            println!(
                "  {} {} validated in ledger {}",
                c.tx_type, c.tx_hash, c.ledger_index
            );
            println!(
                "  merchant's gain: {} XRP (the claim less its fee)",
                signed_xrp(c.merchant_gain)
            );
            println!("  payer's refund:  {} XRP", signed_xrp(c.refund));
        }
    }
    Ok(())
}

fn signed_xrp(drops: i128) -> String {
    let sign = if drops < 0 { "-" } else { "" };
    let abs = u64::try_from(drops.unsigned_abs()).unwrap_or(u64::MAX);
    format!("{sign}{}", xrp(Drops::new(abs)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use clap::Parser;

    use super::super::Command;
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

    fn parse(extra: &[&str]) -> Result<Cli, clap::Error> {
        let uri = format!("drip://shop.example/{TOKEN}");
        let mut argv = vec!["drip", "pay", &uri, "--server", "http://127.0.0.1:1"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv)
    }

    /// The server being paid gets the session's own drip token, never a
    /// merchant's or app's: `pay` takes no other token.
    #[test]
    fn pay_bears_the_sessions_own_token_and_takes_no_other() {
        let cli = parse(&[]).unwrap();
        let Command::Pay(a) = &cli.command else {
            panic!("not pay: {cli:?}");
        };
        let target: Target = a.target.parse().unwrap();
        assert_eq!(a.endpoint(&target).unwrap().token.as_deref(), Some(TOKEN));
        for flag in ["--token", "--token-file"] {
            let e = parse(&[flag, "merchant-secret"]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument, "{flag}");
        }
    }
}
