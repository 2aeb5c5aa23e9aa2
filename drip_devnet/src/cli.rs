//! The devnet's command line, shared by `drip-devnet` and `drip devnet`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use drip_core::Drops;

use crate::ledger::{Config, Fees};
use crate::{Devnet, Options};

/// A stand-alone XRP Ledger for development and tests (rippled's JSON-RPC and
/// WebSocket APIs; the genesis account rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh,
/// seed snoPBrXtMeMyMHUVTgbuqAfg1SUTb, holds all XRP).
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Address to listen on (loopback unless you mean otherwise).
    #[arg(long, env = "DRIP_DEVNET_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// JSON-RPC port (0 picks a free one).
    #[arg(long, env = "DRIP_DEVNET_RPC_PORT", default_value_t = 5005)]
    pub rpc_port: u16,
    /// WebSocket port (0 picks a free one).
    #[arg(long, env = "DRIP_DEVNET_WS_PORT", default_value_t = 6006)]
    pub ws_port: u16,
    /// Close a ledger every this many milliseconds (0: only on ledger_accept).
    #[arg(long, env = "DRIP_DEVNET_LEDGER_INTERVAL", default_value_t = 1000)]
    pub ledger_interval: u64,
    /// Reference transaction cost, in drops.
    #[arg(long, env = "DRIP_DEVNET_BASE_FEE", default_value_t = 10)]
    pub base_fee: u64,
    /// Account reserve, in drops.
    #[arg(long, env = "DRIP_DEVNET_RESERVE_BASE", default_value_t = 1_000_000)]
    pub reserve_base: u64,
    /// Owner reserve per object, in drops.
    #[arg(long, env = "DRIP_DEVNET_RESERVE_INC", default_value_t = 200_000)]
    pub reserve_inc: u64,
    /// Keep the ledger in this file across restarts.
    #[arg(long, env = "DRIP_DEVNET_STATE")]
    pub state: Option<PathBuf>,
}

/// Run a devnet until Ctrl-C: print its URLs (`rpc URL`, `ws URL` lines,
/// which scripts read), then serve.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let devnet = Devnet::start(Options {
        rpc_addr: SocketAddr::new(args.bind, args.rpc_port),
        ws_addr: SocketAddr::new(args.bind, args.ws_port),
        ledger_interval: (args.ledger_interval > 0)
            .then(|| Duration::from_millis(args.ledger_interval)),
        config: Config {
            fees: Fees {
                base_fee: Drops::new(args.base_fee),
                reserve_base: Drops::new(args.reserve_base),
                reserve_inc: Drops::new(args.reserve_inc),
            },
            ..Config::default()
        },
        state_file: args.state,
    })
    .await?;
    println!("rpc {}\nws {}", devnet.rpc_url, devnet.ws_url);
    tokio::signal::ctrl_c().await?;
    devnet.shutdown().await;
    Ok(())
}
