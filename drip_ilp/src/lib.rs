//! Interledger for drip: BTP 2.0, ILPv4 and IL-DCP codecs, and the asymmetric
//! XRP payment-channel plugins (one server, many lightweight clients) that
//! settle through drip's claim checks.
//!
//! Filled by the ILP issue; today it only fixes the crate's place in the
//! workspace (it depends on `drip_core` and nothing above it).
