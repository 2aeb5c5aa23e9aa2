//! A stand-alone XRP Ledger for development and tests: rippled's JSON-RPC and
//! WebSocket shapes, accounts, fees, reserves and payment-channel rules, with a
//! close time tests can move.
//!
//! [`ledger`] is the ledger itself, pure and synchronous; the server wraps it.

pub mod ledger;
pub mod ter;
