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
