//! `drip wallet new|show|limits|send`.

use anyhow::Context;
use clap::Subcommand;
use drip_client::channels::xrp;
use drip_client::{Mandate, Wallet};
use drip_core::{AccountId, Drops, KeyType, Seed};
use drip_ledger::Outcome;
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
    /// Set the limits on what the wallet signs (drops; 0 removes a limit).
    Limits {
        /// The most one polling interval may cost.
        #[arg(long)]
        per_interval: Option<u64>,
        /// The most one session may cost.
        #[arg(long)]
        per_session: Option<u64>,
        /// The most all sessions at one site may cost together.
        #[arg(long)]
        per_site: Option<u64>,
    },
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

fn limit(v: Option<u64>, old: Option<Drops>) -> Option<Drops> {
    match v {
        None => old,
        Some(0) => None,
        Some(n) => Some(Drops::new(n)),
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
        Command::Limits {
            per_interval,
            per_session,
            per_site,
        } => {
            let mut w = cli.open_wallet()?;
            let m = w.update(|f| {
                f.mandate = Mandate {
                    per_interval: limit(*per_interval, f.mandate.per_interval),
                    per_session: limit(*per_session, f.mandate.per_session),
                    per_site: limit(*per_site, f.mandate.per_site),
                };
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
                } if result == "tesSUCCESS" => {
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
    let show = |d: Option<Drops>| d.map_or("no limit".to_owned(), |d| format!("{} XRP", xrp(d)));
    println!(
        "limits   per interval {}, per session {}, per site {}",
        show(m.per_interval),
        show(m.per_session),
        show(m.per_site)
    );
}
