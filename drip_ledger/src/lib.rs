//! A client for rippled's API as drip uses it: the queries drip needs
//! (accounts, fees, transactions, channel entries), and a [`Submitter`] that
//! autofills, signs, submits and waits for a transaction to validate or to
//! provably never validate; and [`ResultClass`], what a transaction result
//! code says about it, for everything that decides on one.
//!
//! Signing uses `drip_core`'s codec and keys (checked byte for byte against
//! xrpl.js), so the secret never leaves this process.

mod client;
mod result;
mod stream;
mod submitter;

pub use client::{
    balance_change, channel_after, created_channel, deleted_channel, ChannelEntry, ChannelLine,
    Client, Error, TxLookup,
};
pub use result::ResultClass;
pub use stream::{Stream, Validated};
pub use submitter::{Outcome, Prepared, Submitter, SubmitterConfig};
