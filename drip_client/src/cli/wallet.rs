//! `drip wallet new|show|limits|send`.

use anyhow::Context;
use clap::Subcommand;
use drip_client::channels::xrp;
use drip_client::{Mandate, Wallet};
use drip_core::{AccountId, Drops, KeyType, Seed};
use drip_ledger::{Outcome, ResultClass};
use serde_json::json;

use super::{print_json, Cli};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make a wallet file with a fresh account (or the account of --seed).
    New {
        /// The account's key type.
        #[arg(long, default_value = "ed25519", value_parser = key_type)]
        key_type: KeyType,
        /// Use this seed instead of a fresh one (read from the environment).
        #[arg(long, env = "DRIP_SEED", hide_env_values = true)]
        seed: Option<String>,
    },
    /// The account, its balance on the ledger, the limits and the sessions.
    Show,
    /// Set the limits on what the wallet signs and the channels it opens;
    /// the others stay as they are.
    Limits(LimitArgs),
    /// Send XRP from the wallet's account (a Payment).
    Send {
        /// The receiving address.
        to: String,
        /// Drops.
        drops: u64,
    },
}

/// A clap parser for key types.
pub fn key_type(s: &str) -> Result<KeyType, String> {
    match s {
        "ed25519" => Ok(KeyType::Ed25519),
        "secp256k1" => Ok(KeyType::Secp256k1),
        _ => Err("expected ed25519 or secp256k1".into()),
    }
}

/// `drip wallet limits`: each limit given replaces the wallet's.
#[derive(clap::Args, Debug, Default)]
pub struct LimitArgs {
    /// Start from the defaults (then apply the others given).
    #[arg(long)]
    defaults: bool,
    /// The most one polling interval may cost, in drops (so also the
    /// highest rate).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    per_interval: Option<u64>,
    /// The most an hour of a session's time may cost, in drops: a
    /// proposal's rate per hour, whatever its polling interval.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    per_hour: Option<u64>,
    /// The most one session may cost, in drops.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    per_session: Option<u64>,
    /// The most one session's purchases (unit debts) may cost, in drops (0:
    /// none).
    #[arg(long)]
    unit_per_session: Option<u64>,
    /// The most all sessions at one site may cost together, in drops (0:
    /// no limit, the default).
    #[arg(long)]
    per_site: Option<u64>,
    /// The most one channel may hold, in drops.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_funding: Option<u64>,
    /// The longest settle delay a channel may have, in seconds.
    #[arg(long)]
    max_settle_delay: Option<u32>,
    /// The longest a channel may live (its CancelAfter), in seconds.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_channel_life: Option<u32>,
}

impl LimitArgs {
    /// `m` with the limits given.
    fn apply(&self, m: Mandate) -> Mandate {
        let m = if self.defaults { Mandate::default() } else { m };
        Mandate {
            per_interval: self.per_interval.map_or(m.per_interval, Drops::new),
            per_hour: self.per_hour.map_or(m.per_hour, Drops::new),
            per_session: self.per_session.map_or(m.per_session, Drops::new),
            unit_per_session: self.unit_per_session.map_or(m.unit_per_session, Drops::new),
            per_site: match self.per_site {
                None => m.per_site,
                Some(0) => None,
                Some(n) => Some(Drops::new(n)),
            },
            max_funding: self.max_funding.map_or(m.max_funding, Drops::new),
            max_settle_delay_secs: self.max_settle_delay.unwrap_or(m.max_settle_delay_secs),
            max_channel_life_secs: self.max_channel_life.unwrap_or(m.max_channel_life_secs),
        }
    }
}

pub async fn run(cli: &Cli, c: &Command) -> anyhow::Result<()> {
    match c {
        Command::New { key_type, seed } => {
            if let Some(dir) = cli.wallet.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let seed = seed
                .as_deref()
                .map(str::parse::<Seed>)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--seed: {e}"))?;
            let w = Wallet::create(&cli.wallet, *key_type, seed)?;
            let address = w.account()?.account_id().to_address();
            if cli.json {
                print_json(&json!({"wallet": cli.wallet, "address": address}));
            } else {
                println!("wallet {} made; account {address}", cli.wallet.display());
                println!("fund it with at least the reserve before paying");
            }
        }
        Command::Show => {
            let w = cli.open_wallet()?;
            let account = w.account()?.account_id();
            let ledger = cli.submitter(&w)?;
            let balance = ledger
                .client()
                .account_info(&account)
                .await
                .ok()
                .map(|(_, b)| b);
            let f = w.file();
            if cli.json {
                print_json(&json!({
                    "address": account.to_address(), "balance": balance,
                    "mandate": f.mandate,
                    "sessions": f.sessions.iter().map(|(t, r)| json!({
                        "token": t, "site": r.site, "channel_id": r.channel_id,
                        "best": r.best_amount(), "closed": r.closed,
                    })).collect::<Vec<_>>(),
                }));
                return Ok(());
            }
            println!("account  {}", account.to_address());
            match balance {
                Some(b) => println!("balance  {} XRP", xrp(b)),
                None => println!("balance  (not on the ledger at {})", cli.rpc_url),
            }
            show_mandate(&f.mandate);
            for (token, r) in &f.sessions {
                let channel = r
                    .channel_id
                    .map_or("(none yet)".to_owned(), |c| c.to_string());
                let state = if r.closed { "closed" } else { "open" };
                println!(
                    "session  {}…@{}  channel {channel}  signed {} XRP  {state}",
                    &token[..token.len().min(8)],
                    r.site,
                    xrp(r.best_amount())
                );
            }
        }
        Command::Limits(limits) => {
            let mut w = cli.open_wallet()?;
            let m = w.update(|f| {
                f.mandate = limits.apply(f.mandate);
                f.mandate
            })?;
            if cli.json {
                print_json(&m);
            } else {
                show_mandate(&m);
            }
        }
        Command::Send { to, drops } => {
            let to: AccountId = to.parse().map_err(|e| anyhow::anyhow!("{to}: {e}"))?;
            let w = cli.open_wallet()?;
            let ledger = cli.submitter(&w)?;
            let prepared = ledger
                .prepare(
                    json!({"TransactionType": "Payment", "Destination": to.to_address(), "Amount": drops.to_string()}),
                    0,
                )
                .await?;
            match ledger.submit_and_wait(&prepared).await? {
                Outcome::Validated {
                    result,
                    ledger_index,
                    ..
                } if ResultClass::of(&result) == ResultClass::Applied => {
                    if cli.json {
                        print_json(
                            &json!({"tx_hash": prepared.hash, "ledger_index": ledger_index}),
                        );
                    } else {
                        println!(
                            "sent {} XRP to {}: {} (ledger {ledger_index})",
                            xrp(Drops::new(*drops)),
                            to.to_address(),
                            prepared.hash
                        );
                    }
                }
                other => anyhow::bail!("the payment failed: {other:?}"),
            }
        }
    }
    Ok(())
}

fn show_mandate(m: &Mandate) {
    println!("{}", describe(m));
}

/// The limits, for people.
fn describe(m: &Mandate) -> String {
    let site = m
        .per_site
        .map_or("no limit".to_owned(), |d| format!("{} XRP", xrp(d)));
    format!(
        "limits   per interval {} XRP, per hour {} XRP, per session {} XRP \
         ({} XRP of purchases), per site {site}\n\
         channels at most {} XRP, settle delay at most {} s, CancelAfter at most {} s ahead",
        xrp(m.per_interval),
        xrp(m.per_hour),
        xrp(m.per_session),
        xrp(m.unit_per_session),
        xrp(m.max_funding),
        m.max_settle_delay_secs,
        m.max_channel_life_secs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_show_prints_the_finite_default_limits() {
        let shown = describe(&Mandate::default());
        for part in [
            "per interval 1.000000 XRP",
            "per hour 5.000000 XRP",
            "per session 10.000000 XRP (1.000000 XRP of purchases)",
            "per site no limit",
            "at most 10.000000 XRP",
            "settle delay at most 86400 s",
            "CancelAfter at most 86400 s ahead",
        ] {
            assert!(shown.contains(part), "{part:?} not in {shown:?}");
        }
    }

    #[test]
    fn limits_given_replace_the_wallets() {
        let mine = Mandate {
            per_interval: Drops::new(5),
            per_site: Some(Drops::new(9)),
            ..Mandate::default()
        };
        assert_eq!(LimitArgs::default().apply(mine), mine);
        let set = LimitArgs {
            per_hour: Some(90_000_000),
            per_session: Some(20_000_000),
            unit_per_session: Some(0),
            per_site: Some(0),
            max_funding: Some(20_000_000),
            max_settle_delay: Some(600),
            max_channel_life: Some(3_600),
            ..LimitArgs::default()
        };
        assert_eq!(
            set.apply(mine),
            Mandate {
                per_interval: Drops::new(5),
                per_hour: Drops::new(90_000_000),
                per_session: Drops::new(20_000_000),
                unit_per_session: Drops::ZERO,
                per_site: None,
                max_funding: Drops::new(20_000_000),
                max_settle_delay_secs: 600,
                max_channel_life_secs: 3_600,
            }
        );
        let reset = LimitArgs {
            defaults: true,
            per_interval: Some(7),
            ..LimitArgs::default()
        };
        assert_eq!(
            reset.apply(mine),
            Mandate {
                per_interval: Drops::new(7),
                ..Mandate::default()
            }
        );
    }
}
