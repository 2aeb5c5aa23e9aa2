//! The wire codec of the Machine Payments Protocol's HTTP `Payment`
//! authentication scheme (HTTP 402, `draft-httpauth-payment-00`) with the
//! XRPL `session` method (`draft-xrpl-session-00`): a payer pays for each
//! request with a cumulative payment-channel claim.
//!
//! - [`SessionRequest`]: the method's request object, as the JCS (RFC 8785)
//!   bytes the challenge carries in base64url.
//! - [`Challenge`]: the `WWW-Authenticate: Payment …` challenge, its
//!   HMAC-SHA256 id, and the check of a challenge echoed back in a
//!   credential.
//! - [`Credential`]: the `Authorization: Payment <base64url JSON>` header and
//!   its `open` / `voucher` / `close` [`Payload`]; [`PayerDid`] for its
//!   `did:pkh:xrpl:…` source.
//! - [`Receipt`]: the `Payment-Receipt` header of a paid response.
//! - [`Problem`]: RFC 9457 problem details for the 402 body.
//! - [`rfc3339`] and [`base64url`]: the two encodings everything above uses.
//!
//! What it is not: no I/O, no HTTP types, no clock, no ledger. It does not
//! check claim signatures, channel state or the high-water mark (see
//! `drip_core::claim` and the engine), nor record that a challenge was used:
//! it only turns headers into typed values and back, and never panics on
//! input. Every parser returns a typed error whose message is safe to show the
//! client.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
#![cfg_attr(test, allow(clippy::arithmetic_side_effects))]

pub mod amount;
pub mod base64url;
pub mod challenge;
pub mod credential;
pub mod did;
pub mod problem;
pub mod receipt;
pub mod request;
pub mod rfc3339;

pub use challenge::{Challenge, ChallengeError};
pub use credential::{Credential, CredentialError, Payload, MAX_CREDENTIAL_BYTES};
pub use did::PayerDid;
pub use problem::{Problem, ProblemKind};
pub use receipt::{Receipt, ReceiptAction, ReceiptError};
pub use request::{Network, RequestError, SessionRequest};

/// The authentication scheme name, as servers write it (clients match it
/// case-insensitively).
pub const SCHEME: &str = "Payment";
/// The payment method this crate speaks.
pub const METHOD: &str = "xrpl";
/// The intent this crate speaks.
pub const INTENT: &str = "session";
/// The currency of every request: XRP, counted in drops.
pub const CURRENCY: &str = "XRP";
/// The `WWW-Authenticate` header that carries a [`Challenge`].
pub const CHALLENGE_HEADER: &str = "WWW-Authenticate";
/// The `Authorization` header that carries a [`Credential`].
pub const CREDENTIAL_HEADER: &str = "Authorization";
/// The header that carries a [`Receipt`] on a paid 2xx.
pub const RECEIPT_HEADER: &str = "Payment-Receipt";
