//! Background work, one file per job.

pub mod offload;
pub mod outbox;
pub mod sweep;
pub mod watch;
