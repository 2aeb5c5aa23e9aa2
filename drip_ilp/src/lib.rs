//! Interledger for drip: BTP 2.0, ILPv4 and IL-DCP codecs, and the asymmetric
//! XRP payment-channel plugins (one server, many lightweight clients) that
//! settle through drip's claim checks.
//!
//! The codecs are pure: bytes in, a packet or a typed [`DecodeError`] out,
//! never a panic, never an allocation larger than the input. [`calls`]
//! matches requests to answers on a live connection, for both plugins.

pub mod asym;
pub mod btp;
pub mod calls;
pub mod ildcp;
pub mod ilp;
pub mod oer;

pub use oer::DecodeError;
