//! The payer's side of drip: a wallet that takes a session's deep link, checks
//! the server's signed proposal, opens a matching payment channel and pays
//! with ever-higher claims within the limits its user set.
//!
//! Filled by the client issue; today it only fixes the crate's place in the
//! workspace.
