//! The ledger itself, with no I/O: state, transaction rules, and the chain
//! of closed ledgers with their transactions. The server wraps it.

pub mod apply;
pub mod chain;
pub mod entry;
pub mod state;

pub use apply::Fees;
pub use chain::{Chain, ClosedLedger, Config, Event, Prepared, SubmitError, Submitted, TxRecord};
pub use entry::{AccountRoot, PayChannel};
pub use state::State;

/// Seconds from the Unix epoch to the Ripple epoch (2000-01-01T00:00:00Z).
pub const RIPPLE_EPOCH_OFFSET: u64 = 946_684_800;
