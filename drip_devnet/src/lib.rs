//! A stand-alone XRP Ledger for development and tests: rippled's JSON-RPC and
//! WebSocket shapes, accounts, fees, reserves and payment-channel rules, with a
//! close time tests can move.
//!
//! Filled by the devnet issue; today it only fixes the crate's place in the
//! workspace.
