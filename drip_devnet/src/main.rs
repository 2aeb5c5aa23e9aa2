//! `drip-devnet`: a stand-alone XRP Ledger speaking rippled's APIs.

use clap::Parser;

/// A stand-alone XRP Ledger for development and tests (rippled's JSON-RPC and
/// WebSocket APIs; the genesis account rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh,
/// seed snoPBrXtMeMyMHUVTgbuqAfg1SUTb, holds all XRP).
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    devnet: drip_devnet::cli::Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    drip_devnet::cli::run(Cli::parse().devnet).await
}
