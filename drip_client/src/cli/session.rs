//! `drip session create|show|destroy|add-debt`: the merchant's side, over
//! drip's gRPC API (with the merchant token).

use clap::Subcommand;
use drip_client::channels::xrp;
use drip_core::Drops;
use serde_json::json;

use super::{print_json, Cli, ServerArgs};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// A session for a web session id: prints its deep link.
    Create {
        /// The web server's session id.
        session_id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// A session's state, debt and payments.
    Show {
        /// The web server's session id.
        session_id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// End a session: drip redeems its best claim and closes the channel.
    Destroy {
        /// The web server's session id.
        session_id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Record a purchase on a session (drops).
    AddDebt {
        /// The session's drip token.
        drip_token: String,
        /// Drops.
        drops: u64,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub async fn run(cli: &Cli, c: &Command) -> anyhow::Result<()> {
    match c {
        Command::Create { session_id, server } => {
            let r = server.api()?.create_session(session_id).await?;
            if cli.json {
                print_json(
                    &json!({"session_id": r.session_id, "drip_token": r.drip_token, "uri": r.uri}),
                );
            } else {
                println!("{}", r.uri);
            }
        }
        Command::Show { session_id, server } => {
            let s = server.api()?.get_session(session_id).await?;
            let state = s
                .state()
                .as_str_name()
                .trim_start_matches("SESSION_STATE_")
                .to_ascii_lowercase();
            if cli.json {
                print_json(&json!({
                    "session_id": s.session_id, "state": state, "client_address": s.client_address,
                    "channel_id": s.channel_id, "channel_amount": s.channel_amount,
                    "due": s.due, "paid": s.paid, "past_due_strikes": s.past_due_strikes,
                    "end_reason": s.end_reason, "ends_at": s.ends_at.map(|t| t.seconds),
                }));
            } else {
                println!("session  {} ({state})", s.session_id);
                if !s.channel_id.is_empty() {
                    println!("payer    {}", s.client_address);
                    println!(
                        "channel  {} ({} XRP)",
                        s.channel_id,
                        xrp(Drops::new(s.channel_amount))
                    );
                }
                println!("due      {} XRP", xrp(Drops::new(s.due)));
                println!("paid     {} XRP", xrp(Drops::new(s.paid)));
                if s.past_due_strikes > 0 {
                    println!("strikes  {}", s.past_due_strikes);
                }
                if !s.end_reason.is_empty() {
                    println!("ended    {}", s.end_reason);
                }
            }
        }
        Command::Destroy { session_id, server } => {
            let r = server.api()?.destroy_session(session_id).await?;
            if cli.json {
                print_json(
                    &json!({"accepted": r.accepted, "action": r.action, "message": r.message}),
                );
            } else if r.accepted {
                println!(
                    "{}: the best claim will be redeemed and the channel closed",
                    r.action
                );
            } else {
                anyhow::bail!("{}: {}", r.action, r.message);
            }
        }
        Command::AddDebt {
            drip_token,
            drops,
            server,
        } => {
            let r = server.api()?.add_unit_debt(drip_token, *drops).await?;
            if cli.json {
                print_json(
                    &json!({"accepted": r.accepted, "due": r.due, "action": r.action, "message": r.message}),
                );
            } else if r.accepted {
                println!("{}: {} XRP due in all", r.action, xrp(Drops::new(r.due)));
            } else {
                anyhow::bail!("{}: {}", r.action, r.message);
            }
        }
    }
    Ok(())
}
