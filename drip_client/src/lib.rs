//! The payer's side of drip: a wallet that takes a session's deep link,
//! checks the server's signed proposal, opens a matching payment channel
//! with a fresh key, and pays with ever-higher claims within the limits its
//! user set; and the `drip` command line around it.
//!
//! - [`uri`]: the deep link `drip://DOMAIN/TOKEN`.
//! - [`mandate`]: the user's limits per interval, hour, session (and its
//!   purchases) and site, and on a channel's funding, settle delay and life.
//! - [`store`]: the wallet file, written atomically before every act.
//! - [`api`]: drip's gRPC API with timeouts and bounded retries.
//! - [`payer`]: one session from proposal to the channel's close.
//! - [`channels`]: the wallet's channels on the ledger, and their rescue.
//! - [`fetch`]: HTTP 402: a URL paid over an MPP session channel.
//! - [`btp`]: a BTP connection, as an ILP client holds it.
//! - [`ilp`]: the asymmetric XRP plugin's client: channel, proof, claims.

pub mod api;
pub mod btp;
pub mod channels;
pub mod fetch;
pub mod ilp;
pub mod mandate;
pub mod payer;
pub mod store;
pub mod uri;

pub use api::{Api, ApiError, Endpoint};
pub use mandate::{Mandate, Refusal};
pub use payer::{Closing, Payer, PayerConfig, Progress};
pub use store::{StoreError, Wallet};
pub use uri::{Target, UriError};

use drip_core::proposal::ProposalError;

/// What stopped the wallet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// drip's API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The ledger could not be read or written.
    #[error("ledger: {0}")]
    Ledger(#[from] drip_ledger::Error),
    /// The wallet file.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server's proposal is not to be trusted.
    #[error("proposal refused: {0}")]
    Proposal(#[from] ProposalError),
    /// The proposal is not what the wallet expects (its kind, channel, or
    /// the site's pinned key).
    #[error("proposal refused: {0}")]
    Mismatch(String),
    /// The user's limits forbid it.
    #[error("the mandate forbids it: {0}")]
    Mandate(#[from] Refusal),
    /// The server refused (its Action and Message words).
    #[error("{action}: {message} ({reason})")]
    Refused {
        /// The seed's Action word.
        action: String,
        /// The seed's Message words.
        message: String,
        /// drip's reason.
        reason: String,
    },
    /// A ledger transaction failed for good.
    #[error("{what} failed on the ledger: {result}")]
    Tx {
        /// Which transaction.
        what: &'static str,
        /// rippled's result code.
        result: String,
    },
    /// The wallet's clock (Unix seconds) is outside the ledger's time range.
    #[error("the clock reads {0}, outside the ledger's time range")]
    Clock(i64),
    /// Waited too long for something the wallet needs.
    #[error("{0}")]
    Timeout(String),
}
