//! A request the server refuses, as the BTP Error it answers with; and the
//! refusal every request that moves or reveals money gets from a socket not
//! bound to its account. Its own module, so that the request handlers
//! (`protocols`, `packets`, `outgoing`) that refuse with it need not
//! import one another.

use drip_ilp::btp::{Body, BtpError, Packet};

use super::Login;

/// A request the server refuses: a BTP Error.
#[derive(Debug)]
pub(super) struct Failure {
    code: &'static str,
    name: &'static str,
    message: String,
}

impl Failure {
    pub(super) fn not_accepted(message: impl Into<String>) -> Failure {
        Failure {
            code: "F00",
            name: "NotAcceptedError",
            message: message.into(),
        }
    }

    pub(super) fn invalid_fields(message: impl Into<String>) -> Failure {
        Failure {
            code: "F01",
            name: "InvalidFieldsError",
            message: message.into(),
        }
    }

    pub(super) fn internal(e: impl std::fmt::Display) -> Failure {
        tracing::warn!(error = %e, "BTP request failed");
        Failure {
            code: "T00",
            name: "UnreachableError",
            message: "the server could not complete the request".into(),
        }
    }

    pub(super) fn into_packet(self, request_id: u32) -> Packet {
        Packet {
            request_id,
            body: Body::Error(BtpError {
                code: self.code.into(),
                name: self.name.into(),
                triggered_at: btp_time(),
                data: self.message.into_bytes(),
                protocol_data: vec![],
            }),
        }
    }
}

/// Now as BTP writes times: `YYYYMMDDHHmmss.fffZ`.
fn btp_time() -> String {
    let digits = drip_ilp::ilp::Timestamp::now()
        .to_digits()
        .unwrap_or_else(|_| "00000000000000000".into());
    format!("{}.{}Z", &digits[..14], &digits[14..])
}

/// Ok if `login` may act as its account; what a socket that is not bound
/// to it gets for anything that moves or reveals money.
pub(super) fn bound(login: &Login) -> Result<(), Failure> {
    if login.bound() {
        return Ok(());
    }
    Err(Failure::not_accepted(
        "the account is not bound to this token: register its channel first",
    ))
}
