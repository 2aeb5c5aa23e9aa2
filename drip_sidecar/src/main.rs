//! `drip-sidecar`: drip's network side beside PostgreSQL. Thin: settings,
//! logging, start, and stop on SIGINT/SIGTERM.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use drip_sidecar::config::{Args, Config, LogFormat};
use drip_sidecar::{secret, Sidecar};

#[derive(Debug, Parser)]
#[command(
    name = "drip-sidecar",
    version,
    about = "drip's network side beside PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Secrets for the config file.
    Secret {
        #[command(subcommand)]
        action: SecretAction,
    },
}

#[derive(Debug, Subcommand)]
enum SecretAction {
    /// Read a secret on standard input and print it sealed under DRIP_SECRET
    /// (for keys ending in `_encrypted`).
    Encrypt,
}

fn init_tracing(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Secret {
        action: SecretAction::Encrypt,
    }) = cli.command
    {
        let passphrase = std::env::var("DRIP_SECRET").context("DRIP_SECRET must be set")?;
        let mut plain = String::new();
        std::io::stdin().read_line(&mut plain)?;
        println!(
            "{}",
            secret::seal(plain.trim_end_matches(['\r', '\n']), &passphrase)?
        );
        return Ok(());
    }
    let config = match Config::load(cli.args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("drip-sidecar: {e}");
            std::process::exit(2);
        }
    };
    init_tracing(&config.log_level, config.log_format);
    let tls = !matches!(config.tls, drip_sidecar::config::Tls::Disabled);
    let sidecar = Sidecar::start(config).await?;
    // One line for scripts, like drip-devnet's.
    println!(
        "grpc {}://{}",
        if tls { "https" } else { "http" },
        sidecar.grpc_addr
    );
    if let Some(addr) = sidecar.btp_addr {
        println!("btp {}://{addr}", if tls { "wss" } else { "ws" });
    }
    if let Some(addr) = sidecar.http_addr {
        println!("http {}://{addr}", if tls { "https" } else { "http" });
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    sidecar.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
