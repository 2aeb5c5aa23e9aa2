//! drip's pure rules, with no I/O: everything that decides about money or
//! identity on the XRP Ledger and must give the same answer everywhere.
//!
//! - [`Drops`]: exact XRP amounts in drops, checked arithmetic and rippled's
//!   decimal strings.
//! - [`Seed`], [`KeyPair`], [`PublicKey`], [`AccountId`]: XRPL keys for both key
//!   types and classic addresses.
//! - [`claim`]: the payment-channel claim message, signing and strict
//!   verification; [`ChannelId`] and its derivation.
//! - [`terms`]: payment types and the rate per polling interval; [`debt`]:
//!   what a session owes, unit-debt admission and claim acceptance;
//!   [`proposal`]: the server-signed proposal a wallet checks.
//! - [`codec`]: the XRPL binary format for transactions, and [`tx`]: signing
//!   hashes, transaction ids and signing.
//! - [`time`]: the Ripple epoch the ledger's times count from.
//!
//! The crate is used inside PostgreSQL by `drip_pg`, so it stays small, has no
//! async runtime, and never panics on input: every parser returns a typed error.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod account;
pub mod base58;
pub mod calendar;
pub mod channel;
pub mod claim;
pub mod codec;
pub mod debt;
pub mod drops;
pub mod hash;
pub mod keys;
pub mod proposal;
mod secp256k1;
pub mod seed;
pub mod terms;
pub mod time;
pub mod tx;

pub use account::AccountId;
pub use channel::ChannelId;
pub use drops::Drops;
pub use hash::Hash256;
pub use keys::{KeyPair, KeyType, PublicKey};
pub use seed::Seed;
