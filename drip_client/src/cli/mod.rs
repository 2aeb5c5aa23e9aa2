//! The command line: global settings, and one module per command group.

mod channel;
mod fetch;
mod pay;
mod session;
mod wallet;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use drip_client::{Api, Endpoint, Wallet};
use drip_ledger::{Client, Submitter, SubmitterConfig};

/// drip: pay XRP Ledger payment-channel sessions, run them as a merchant,
/// and rescue channels.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Cli {
    /// The wallet file (account seed, limits, sessions); mode 0600.
    #[arg(long, global = true, env = "DRIP_WALLET", default_value_os_t = default_wallet())]
    wallet: PathBuf,
    /// rippled's JSON-RPC URL (or drip-devnet's).
    #[arg(
        long,
        global = true,
        env = "DRIP_LEDGER_RPC_URL",
        default_value = "http://127.0.0.1:5005/"
    )]
    rpc_url: String,
    /// Machine-readable output: JSON, one object per line.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The wallet: create it, show it, set its limits, send XRP.
    #[command(subcommand)]
    Wallet(wallet::Command),
    /// Pay a session: open its channel and pay what is due until it ends.
    ///
    /// The session's own drip token (from the deep link) is the bearer of
    /// every call: DRIP_TOKEN and DRIP_TOKEN_FILE are not read, so no
    /// merchant or app token goes to the server being paid.
    Pay(pay::Args),
    /// The merchant's side of sessions, over drip's gRPC API.
    #[command(subcommand)]
    Session(session::Command),
    /// The wallet's channels on the ledger; close one to get its XRP back.
    #[command(subcommand)]
    Channel(channel::Command),
    /// GET a URL, paying its HTTP 402 (an MPP session) from the wallet.
    Fetch(fetch::Args),
    /// Run drip-devnet, a stand-alone XRP Ledger, until Ctrl-C.
    #[cfg(feature = "devnet")]
    Devnet(drip_devnet::cli::Args),
}

fn default_wallet() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".drip")
        .join("wallet.json")
}

/// How to reach drip's gRPC API.
#[derive(clap::Args, Debug, Clone)]
pub struct Connection {
    /// The API's URL.
    #[arg(long, env = "DRIP_SERVER", default_value = "https://127.0.0.1:50051")]
    server: String,
    /// A PEM certificate to trust (the sidecar's self-signed one, or a CA).
    #[arg(long, env = "DRIP_CA")]
    ca: Option<PathBuf>,
    /// The name the server's certificate carries, if not the URL's host.
    #[arg(long, env = "DRIP_TLS_NAME")]
    tls_name: Option<String>,
    /// Seconds each call may take.
    #[arg(long, env = "DRIP_TIMEOUT", default_value_t = 10)]
    timeout: u64,
}

impl Connection {
    /// The endpoint, with `token` as the bearer.
    fn endpoint(&self, token: Option<String>) -> anyhow::Result<Endpoint> {
        let mut e = Endpoint::new(self.server.clone());
        e.timeout = Duration::from_secs(self.timeout.max(1));
        if let Some(ca) = &self.ca {
            e.ca_pem =
                Some(std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?);
            // The sidecar's self-signed certificate names localhost.
            e.tls_name = Some("localhost".into());
        }
        if let Some(name) = &self.tls_name {
            e.tls_name = Some(name.clone());
        }
        e.token = token;
        Ok(e)
    }
}

/// How to reach drip's gRPC API as a merchant or app: with its bearer
/// token.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    #[command(flatten)]
    connection: Connection,
    /// The bearer token (merchant or app); prefer the environment or a file
    /// to the command line, which other users can see.
    #[arg(long, env = "DRIP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the bearer token.
    #[arg(long, env = "DRIP_TOKEN_FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
}

impl ServerArgs {
    fn api(&self) -> anyhow::Result<Api> {
        let token = match &self.token_file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => self.token.clone(),
        };
        Ok(Api::new(&self.connection.endpoint(token)?)?)
    }
}

impl Cli {
    fn open_wallet(&self) -> anyhow::Result<Wallet> {
        Wallet::open(&self.wallet).with_context(|| "run `drip wallet new` to make one".to_string())
    }

    fn submitter(&self, wallet: &Wallet) -> anyhow::Result<Submitter> {
        Ok(Submitter::new(
            Client::new(self.rpc_url.clone()),
            wallet.account()?,
            SubmitterConfig::default(),
        ))
    }
}

/// Print a value as one JSON line.
fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string(v).unwrap_or_default());
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Wallet(c) => wallet::run(&cli, c).await,
        Command::Pay(a) => pay::run(&cli, a).await,
        Command::Session(c) => session::run(&cli, c).await,
        Command::Channel(c) => channel::run(&cli, c).await,
        Command::Fetch(a) => fetch::run(&cli, a).await,
        #[cfg(feature = "devnet")]
        Command::Devnet(a) => drip_devnet::cli::run(a.clone()).await,
    }
}
