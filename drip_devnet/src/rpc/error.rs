//! rippled's errors as the methods answer them.

use serde_json::{Map, Value as Json};

/// A rippled error: its token, numeric code and message (rippled's
/// `ErrorCodes.cpp`), and any extra fields.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// `error`, e.g. `actNotFound`.
    pub token: &'static str,
    /// `error_code`, absent for rippled's bare-token errors.
    pub code: Option<i32>,
    /// `error_message`.
    pub message: Option<String>,
    /// Extra fields rippled adds (e.g. `error_exception`).
    pub extra: Map<String, Json>,
}

/// rippled's coded errors used here: constructor, token, `error_code`,
/// `error_message` (rippled's `ErrorCodes.cpp`).
macro_rules! rpc_errors {
    ($($(#[$doc:meta])* $fn:ident = $token:literal, $code:literal, $msg:literal;)*) => {
        impl RpcError {
            $(
                $(#[$doc])*
                pub fn $fn() -> Self {
                    Self::coded($token, $code, $msg)
                }
            )*
        }
    };
}

rpc_errors! {
    /// `badSyntax`: the request was not JSON, or not an object.
    bad_syntax = "badSyntax", 1, "Syntax error.";
    /// `actNotFound`.
    act_not_found = "actNotFound", 19, "Account not found.";
    /// `lgrNotFound`.
    lgr_not_found = "lgrNotFound", 21, "ledgerNotFound";
    /// `txnNotFound`.
    txn_not_found = "txnNotFound", 29, "Transaction not found.";
    /// `unknownCmd`.
    unknown_command = "unknownCmd", 32, "Unknown method.";
    /// `actMalformed`.
    act_malformed = "actMalformed", 35, "Account malformed.";
    /// `badSeed`.
    bad_seed = "badSeed", 44, "Disallowed seed.";
    /// `channelMalformed`.
    channel_malformed = "channelMalformed", 45, "Payment channel is malformed.";
    /// `channelAmtMalformed`.
    channel_amt_malformed = "channelAmtMalformed", 46, "Payment channel amount is malformed.";
    /// `missingCommand`.
    missing_command = "missingCommand", 47, "Missing command entry.";
    /// `publicMalformed`.
    public_malformed = "publicMalformed", 62, "Public key is malformed.";
    /// `malformedStream`.
    malformed_stream = "malformedStream", 71, "Stream malformed.";
    /// `internal`.
    internal = "internal", 73, "Internal error.";
    /// `badKeyType`.
    bad_key_type = "badKeyType", 76, "Bad key type.";
    /// `entryNotFound`.
    entry_not_found = "entryNotFound", 98, "Entry not found.";
    /// `excessiveLgrRange`: a `tx` range over 1000 ledgers.
    excessive_lgr_range = "excessiveLgrRange", 78, "Ledger range exceeds 1000.";
    /// `invalidLgrRange`: a `tx` range that is not two ascending indexes.
    invalid_lgr_range = "invalidLgrRange", 79, "Ledger range is invalid.";
}

impl RpcError {
    fn coded(token: &'static str, code: i32, message: &str) -> Self {
        RpcError {
            token,
            code: Some(code),
            message: Some(message.to_owned()),
            extra: Map::new(),
        }
    }

    /// `invalidParams` with a message naming what is wrong.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError {
            message: Some(message.into()),
            ..Self::coded("invalidParams", 31, "")
        }
    }

    pub(super) fn invalid_transaction(exception: String) -> Self {
        let mut extra = Map::new();
        extra.insert("error_exception".into(), Json::from(exception));
        RpcError {
            token: "invalidTransaction",
            code: None,
            message: None,
            extra,
        }
    }

    /// The error's fields, to merge into a response.
    pub fn fields(&self) -> Map<String, Json> {
        let mut m = Map::new();
        m.insert("error".into(), Json::from(self.token));
        if let Some(code) = self.code {
            m.insert("error_code".into(), Json::from(code));
        }
        if let Some(msg) = &self.message {
            m.insert("error_message".into(), Json::from(msg.clone()));
        }
        m.extend(self.extra.clone());
        m
    }
}
