//! Drip sessions: what the merchant's web server and the payer's wallet
//! call through the gRPC service.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::Type;
use tokio_postgres::Error;

use super::{calls, row, Call, Reason, SessionState};

row! {
    /// `drip.create_session`: the new session's credentials.
    pub struct Created {
        drip_token: String,
        uri: String,
    }
}

row! {
    /// `drip.session_info`: a session as its merchant sees it.
    pub struct SessionInfo {
        session_id: String,
        drip_token: String,
        uri: String,
        state: Option<SessionState>,
        client_address: Option<String>,
        created_at: Option<SystemTime>,
        active_at: Option<SystemTime>,
        ends_at: Option<SystemTime>,
        channel_id: Option<Vec<u8>>,
        channel_amount: Option<i64>,
        due: Option<i64>,
        paid: Option<i64>,
        past_due_strikes: Option<i32>,
        end_reason: Option<String>,
    }
}

row! {
    /// `drip.agreement`: an agreement's (or a destroy's) outcome; `accepted`
    /// is NULL while the ledger check is pending.
    pub struct Agreement {
        accepted: Option<bool>,
        reason: Option<Reason>,
        state: Option<SessionState>,
    }
}

row! {
    /// `drip.inquiry`: a signed proposal.
    pub struct Inquiry {
        proposal_id: String,
        payload: String,
        signature: String,
        public_key: String,
        expires_at: Option<SystemTime>,
    }
}

row! {
    /// `drip.amount_due`: what a session owes, and the id its notices carry.
    pub struct AmountDue {
        due: Option<i64>,
        paid: Option<i64>,
        channel_amount: Option<i64>,
        ends_at: Option<SystemTime>,
        state: Option<SessionState>,
        notice_id: Option<i64>,
    }
}

row! {
    /// `drip.payment`: a claim's verdict.
    pub struct Payment {
        accepted: bool,
        reason: Option<Reason>,
        due: Option<i64>,
        paid: Option<i64>,
    }
}

row! {
    /// `drip.unit_debt`: a purchase's verdict.
    pub struct UnitDebt {
        accepted: bool,
        reason: Option<Reason>,
        due: Option<i64>,
    }
}

calls! {
    /// `drip.create_session(session_id)`.
    CREATE_SESSION: Call<Created> = Call::function("create_session", &[Type::TEXT]);
    /// `drip.get_session(session_id)`.
    GET_SESSION: Call<SessionInfo> = Call::function("get_session", &[Type::TEXT]);
    /// `drip.destroy_session(session_id)`.
    DESTROY_SESSION: Call<Agreement> = Call::function("destroy_session", &[Type::TEXT]);
    /// `drip.inquire(drip_token)`.
    INQUIRE: Call<Inquiry> = Call::function("inquire", &[Type::TEXT]);
    /// `drip.refresh_inquire(drip_token)`.
    REFRESH_INQUIRE: Call<Inquiry> = Call::function("refresh_inquire", &[Type::TEXT]);
    /// `drip.submit_agreement(proposal_id, tx_hash, drip_token)`.
    SUBMIT_AGREEMENT: Call<Agreement> =
        Call::function("submit_agreement", &[Type::TEXT, Type::BYTEA, Type::TEXT]);
    /// `drip.submit_refresh(proposal_id, tx_hash, drip_token)`.
    SUBMIT_REFRESH: Call<Agreement> =
        Call::function("submit_refresh", &[Type::TEXT, Type::BYTEA, Type::TEXT]);
    /// `drip.agreement_state(proposal_id)`.
    AGREEMENT_STATE: Call<Agreement> = Call::function("agreement_state", &[Type::TEXT]);
    /// `drip.amount_due(drip_token)`.
    AMOUNT_DUE: Call<AmountDue> = Call::function("amount_due", &[Type::TEXT]);
    /// `drip.pay(drip_token, amount, signature)`.
    PAY: Call<Payment> = Call::function("pay", &[Type::TEXT, Type::INT8, Type::BYTEA]);
    /// `drip.add_unit_debt(drip_token, amount)`.
    ADD_UNIT_DEBT: Call<UnitDebt> = Call::function("add_unit_debt", &[Type::TEXT, Type::INT8]);
}

/// A new session for the merchant's `session_id`.
pub async fn create_session(c: &impl GenericClient, session_id: &str) -> Result<Created, Error> {
    CREATE_SESSION.one(c, &[&session_id]).await
}

/// The session `session_id`, drip token included.
pub async fn get_session(c: &impl GenericClient, session_id: &str) -> Result<SessionInfo, Error> {
    GET_SESSION.one(c, &[&session_id]).await
}

/// End the session `session_id`.
pub async fn destroy_session(c: &impl GenericClient, session_id: &str) -> Result<Agreement, Error> {
    DESTROY_SESSION.one(c, &[&session_id]).await
}

/// The session's proposal: its first (`refresh` false) or a refresh.
pub async fn inquire(
    c: &impl GenericClient,
    drip_token: &str,
    refresh: bool,
) -> Result<Inquiry, Error> {
    let call = if refresh { &REFRESH_INQUIRE } else { &INQUIRE };
    call.one(c, &[&drip_token]).await
}

/// The wallet's agreement to a proposal (`refresh`: to a refresh
/// proposal), checked against `drip_token`'s session when given.
pub async fn submit_agreement(
    c: &impl GenericClient,
    refresh: bool,
    proposal_id: &str,
    tx_hash: &[u8],
    drip_token: Option<&str>,
) -> Result<Agreement, Error> {
    let call = if refresh {
        &SUBMIT_REFRESH
    } else {
        &SUBMIT_AGREEMENT
    };
    call.one(c, &[&proposal_id, &tx_hash, &drip_token]).await
}

/// Where the agreement to `proposal_id` stands.
pub async fn agreement_state(
    c: &impl GenericClient,
    proposal_id: &str,
) -> Result<Agreement, Error> {
    AGREEMENT_STATE.one(c, &[&proposal_id]).await
}

/// What the session owes now.
pub async fn amount_due(c: &impl GenericClient, drip_token: &str) -> Result<AmountDue, Error> {
    AMOUNT_DUE.one(c, &[&drip_token]).await
}

/// A payer's claim for `amount` drops in all.
pub async fn pay(
    c: &impl GenericClient,
    drip_token: &str,
    amount: i64,
    signature: &[u8],
) -> Result<Payment, Error> {
    PAY.one(c, &[&drip_token, &amount, &signature]).await
}

/// A purchase of `amount` drops on the session.
pub async fn add_unit_debt(
    c: &impl GenericClient,
    drip_token: &str,
    amount: i64,
) -> Result<UnitDebt, Error> {
    ADD_UNIT_DEBT.one(c, &[&drip_token, &amount]).await
}
