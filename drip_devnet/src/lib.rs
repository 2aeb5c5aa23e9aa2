//! A stand-alone XRP Ledger for development and tests: rippled's JSON-RPC and
//! WebSocket shapes, accounts, fees, reserves and payment-channel rules, with a
//! close time tests can move.
//!
//! [`ledger`] is the ledger itself, pure and synchronous; [`rpc`] is rippled's
//! API over it, transport-free; [`server`] puts both on the network. Start one
//! in a test with [`Devnet::start`] on port 0 and use its URLs:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let devnet = drip_devnet::Devnet::start(Default::default()).await?;
//! println!("{} {}", devnet.rpc_url, devnet.ws_url);
//! devnet.advance_time(3600); // an hour later, in a new ledger
//! devnet.shutdown().await;
//! # Ok(()) }
//! ```

pub mod cli;
pub mod ledger;
pub mod node;
pub mod rpc;
pub mod server;
pub mod ter;

pub use server::{Devnet, Options};
