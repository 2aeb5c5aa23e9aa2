//! The `drip.v1.Drip` service: each call is one call into the extension,
//! whose SQL functions make every decision; this file only translates.

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use futures_util::Stream;
use tokio_postgres::error::SqlState;
use tonic::{Request, Response, Status};

use crate::auth::{agreement_of, merchant_only, payer_of};
use crate::db::Notifications;
use crate::engine::{self, sessions, Reason};
use crate::metrics::Metrics;
use crate::proto::drip_server::Drip;
use crate::proto::{
    AddUnitDebtRequest, AddUnitDebtResponse, AgreementRequest, AgreementResponse, AmountDueRequest,
    AmountDueResponse, CreateSessionRequest, CreateSessionResponse, Denial, DestroySessionRequest,
    DestroySessionResponse, GetSessionRequest, InquireRequest, PayRequest, PayResponse, Proposal,
    Session, SessionEvent, SessionState, WatchSessionRequest,
};

/// How long SubmitAgreement waits when asked to and given no limit.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);
const MAX_WAIT: Duration = Duration::from_secs(120);

/// The service, over the extension's connection pool.
#[derive(Debug, Clone)]
pub struct DripService {
    pool: Pool,
    notifications: Notifications,
    metrics: Metrics,
}

impl DripService {
    /// A service calling the extension through `pool`.
    pub fn new(pool: Pool, notifications: Notifications, metrics: Metrics) -> DripService {
        DripService {
            pool,
            notifications,
            metrics,
        }
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Client, Status> {
        self.pool.get().await.map_err(|e| {
            tracing::warn!(error = %e, "no database connection");
            Status::unavailable("database unavailable")
        })
    }
}

/// The extension's errors as gRPC statuses: its SQLSTATEs for bad input and
/// unknown objects carry a message, detail and hint meant for callers; any
/// other database error is logged and reported without internals.
fn db_status(e: tokio_postgres::Error) -> Status {
    let Some(db) = e.as_db_error() else {
        tracing::warn!(error = %e, "database connection failed");
        return Status::unavailable("database unavailable");
    };
    let text = || {
        let mut t = db.message().to_owned();
        for extra in [db.detail(), db.hint()].into_iter().flatten() {
            t.push_str(": ");
            t.push_str(extra);
        }
        t
    };
    let code = db.code();
    // Class 22 is bad data (a NUL byte in text, a value out of range), and
    // a check or not-null constraint refused the caller's value.
    let bad_input = code.code().starts_with("22")
        || matches!(
            *code,
            SqlState::CHECK_VIOLATION | SqlState::NOT_NULL_VIOLATION
        );
    match *code {
        _ if bad_input => Status::invalid_argument(text()),
        SqlState::NO_DATA_FOUND => Status::not_found(text()),
        // Another transaction held the row past the lock timeout: try again.
        SqlState::LOCK_NOT_AVAILABLE => Status::unavailable("the session is busy; try again"),
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE => Status::failed_precondition(text()),
        _ => {
            tracing::error!(
                code = db.code().code(),
                message = db.message(),
                "database error"
            );
            Status::internal("internal error")
        }
    }
}

fn state(s: Option<engine::SessionState>) -> SessionState {
    match s {
        Some(engine::SessionState::Created) => SessionState::Created,
        Some(engine::SessionState::Pending) => SessionState::Pending,
        Some(engine::SessionState::Active) => SessionState::Active,
        Some(engine::SessionState::Closing) => SessionState::Closing,
        Some(engine::SessionState::Closed) => SessionState::Closed,
        None => SessionState::Unspecified,
    }
}

/// drip's reasons as the API's enum. Exhaustive: a new `drip.reason`
/// label does not compile until it is mapped here.
pub fn denial(reason: Option<Reason>) -> Denial {
    let Some(reason) = reason else {
        return Denial::Unspecified;
    };
    match reason {
        Reason::NotFound => Denial::NotFound,
        Reason::NotActive => Denial::NotActive,
        Reason::BadSignature => Denial::BadSignature,
        Reason::NotAboveBest => Denial::NotAboveBest,
        Reason::ExceedsChannel => Denial::ExceedsChannel,
        Reason::SessionEnding => Denial::SessionEnding,
        Reason::AwaitingPayment => Denial::AwaitingPayment,
        Reason::NotUnitBased => Denial::NotUnitBased,
        Reason::AlreadyAgreed => Denial::AlreadyAgreed,
        Reason::AlreadyEnding => Denial::AlreadyEnding,
        Reason::ProposalExpired => Denial::ProposalExpired,
        Reason::NotPending => Denial::NotPending,
        Reason::NotAnInitialProposal | Reason::NotARefreshProposal => Denial::WrongProposalKind,
        // The channel or fund on the validated ledger is not the proposal's.
        Reason::MemoMismatch
        | Reason::WrongDestination
        | Reason::WrongDestinationTag
        | Reason::Underfunded
        | Reason::SettleDelayTooShort
        | Reason::BadPublicKey
        | Reason::CancelAfterTooSoon
        | Reason::ExpirationTooSoon
        | Reason::BadChannelId
        | Reason::ChannelInUse
        | Reason::WrongChannel
        | Reason::NotAChannelCreate
        | Reason::NoChannelCreated
        | Reason::ChannelNotOnLedger
        | Reason::NotAFundOfThisChannel
        | Reason::TxFailed
        | Reason::TxNotValidated => Denial::LedgerMismatch,
        // No session call answers these; the API has no word of its own
        // for them, so they read as before: a ledger mismatch.
        Reason::NotPositive
        | Reason::NotSubmitted
        | Reason::NotChecked
        | Reason::Malformed
        | Reason::NoChannel
        | Reason::Blocked
        | Reason::ChannelExpires
        | Reason::ChannelExists
        | Reason::NoIncomingChannel
        | Reason::IncomingChannelTooSmall
        | Reason::OtherDestination
        | Reason::NotHeld
        | Reason::Expired
        | Reason::Replayed
        | Reason::BelowBest
        | Reason::Underpaid
        | Reason::Finalized
        | Reason::WrongSource
        | Reason::ChallengeUsed => Denial::LedgerMismatch,
    }
}

fn drops(v: Option<i64>) -> u64 {
    v.and_then(|d| u64::try_from(d).ok()).unwrap_or(0)
}

fn to_bigint(v: u64, field: &str) -> Result<i64, Status> {
    i64::try_from(v).map_err(|_| Status::invalid_argument(format!("{field}: at most 2^63-1 drops")))
}

fn hex_arg(v: &str, field: &str) -> Result<Vec<u8>, Status> {
    hex::decode(v).map_err(|_| Status::invalid_argument(format!("{field}: not hex")))
}

fn time(t: Option<SystemTime>) -> Option<prost_types::Timestamp> {
    t.map(prost_types::Timestamp::from)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<SessionEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Drip for DripService {
    async fn create_session(
        &self,
        request: Request<CreateSessionRequest>,
    ) -> Result<Response<CreateSessionResponse>, Status> {
        merchant_only(&request)?;
        let session_id = request.into_inner().session_id;
        let r = sessions::create_session(&self.client().await?, &session_id)
            .await
            .map_err(db_status)?;
        Ok(Response::new(CreateSessionResponse {
            session_id,
            drip_token: r.drip_token,
            uri: r.uri,
            action: "SessionCreated".into(),
            message: "Session created".into(),
        }))
    }

    async fn get_session(
        &self,
        request: Request<GetSessionRequest>,
    ) -> Result<Response<Session>, Status> {
        // It returns the session's drip token: the merchant's alone.
        merchant_only(&request)?;
        let session_id = request.into_inner().session_id;
        let r = sessions::get_session(&self.client().await?, &session_id)
            .await
            .map_err(db_status)?;
        Ok(Response::new(Session {
            session_id: r.session_id,
            drip_token: r.drip_token,
            uri: r.uri,
            state: state(r.state).into(),
            client_address: r.client_address.unwrap_or_default(),
            created_at: time(r.created_at),
            active_at: time(r.active_at),
            ends_at: time(r.ends_at),
            channel_id: r.channel_id.map(hex::encode_upper).unwrap_or_default(),
            channel_amount: drops(r.channel_amount),
            due: drops(r.due),
            paid: drops(r.paid),
            past_due_strikes: r
                .past_due_strikes
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(0),
            end_reason: r.end_reason.unwrap_or_default(),
            action: "QuerySession".into(),
            message: "Session found".into(),
        }))
    }

    async fn destroy_session(
        &self,
        request: Request<DestroySessionRequest>,
    ) -> Result<Response<DestroySessionResponse>, Status> {
        merchant_only(&request)?;
        let session_id = request.into_inner().session_id;
        let r = sessions::destroy_session(&self.client().await?, &session_id)
            .await
            .map_err(db_status)?;
        let message = match r.reason {
            None => "Session destroyed",
            Some(Reason::NotFound) => "Session not found",
            Some(_) => "Session is set to be removed",
        };
        Ok(Response::new(DestroySessionResponse {
            accepted: r.accepted == Some(true),
            denial: denial(r.reason).into(),
            state: state(r.state).into(),
            action: "DestroySession".into(),
            message: message.into(),
        }))
    }

    async fn inquire(
        &self,
        request: Request<InquireRequest>,
    ) -> Result<Response<Proposal>, Status> {
        payer_of(&request, &request.get_ref().drip_token)?;
        self.proposal(
            false,
            request.into_inner().drip_token,
            ("Proposal", "Proposal created successfully"),
        )
        .await
    }

    async fn refresh_inquire(
        &self,
        request: Request<InquireRequest>,
    ) -> Result<Response<Proposal>, Status> {
        payer_of(&request, &request.get_ref().drip_token)?;
        self.proposal(
            true,
            request.into_inner().drip_token,
            ("RefreshProposal", "RefreshProposal created successfully"),
        )
        .await
    }

    async fn submit_agreement(
        &self,
        request: Request<AgreementRequest>,
    ) -> Result<Response<AgreementResponse>, Status> {
        self.agreement(request, Agreement::Initial).await
    }

    async fn submit_refresh(
        &self,
        request: Request<AgreementRequest>,
    ) -> Result<Response<AgreementResponse>, Status> {
        self.agreement(request, Agreement::Refresh).await
    }

    async fn amount_due(
        &self,
        request: Request<AmountDueRequest>,
    ) -> Result<Response<AmountDueResponse>, Status> {
        payer_of(&request, &request.get_ref().drip_token)?;
        let token = request.into_inner().drip_token;
        let r = sessions::amount_due(&self.client().await?, &token)
            .await
            .map_err(db_status)?;
        Ok(Response::new(AmountDueResponse {
            due: drops(r.due),
            paid: drops(r.paid),
            channel_amount: drops(r.channel_amount),
            ends_at: time(r.ends_at),
            state: state(r.state).into(),
            action: "AmountDue".into(),
            message: String::new(),
        }))
    }

    async fn pay(&self, request: Request<PayRequest>) -> Result<Response<PayResponse>, Status> {
        payer_of(&request, &request.get_ref().drip_token)?;
        let req = request.into_inner();
        let amount = to_bigint(req.amount, "amount")?;
        let signature = hex_arg(&req.signature, "signature")?;
        let r = sessions::pay(&self.client().await?, &req.drip_token, amount, &signature)
            .await
            .map_err(db_status)?;
        self.metrics
            .claim(r.reason.map_or("accepted", Reason::as_str));
        let (action, message) = match r.reason {
            None => ("PaymentAccepted", "Payment accepted"),
            Some(Reason::BadSignature) => ("PaymentDenied", "ERR: Invalid signature"),
            Some(Reason::NotActive) => ("PaymentDenied", "ERR: No valid ledger record found"),
            Some(_) => ("PaymentDenied", "ERR: Invalid amount for payment"),
        };
        Ok(Response::new(PayResponse {
            accepted: r.accepted,
            denial: denial(r.reason).into(),
            due: drops(r.due),
            paid: drops(r.paid),
            action: action.into(),
            message: message.into(),
        }))
    }

    async fn add_unit_debt(
        &self,
        request: Request<AddUnitDebtRequest>,
    ) -> Result<Response<AddUnitDebtResponse>, Status> {
        merchant_only(&request)?;
        let req = request.into_inner();
        let amount = to_bigint(req.amount, "amount")?;
        let r = sessions::add_unit_debt(&self.client().await?, &req.drip_token, amount)
            .await
            .map_err(db_status)?;
        let message = match r.reason {
            None => "Purchase debt added to ledger successfully",
            Some(Reason::NotFound) => "ERR: Session not found",
            Some(Reason::SessionEnding) => "ERR: Session is set to be removed",
            Some(Reason::NotUnitBased) => "ERR: Session is not configured for unit based debts",
            Some(Reason::ExceedsChannel) => "ERR: Debt exceeds channel balance",
            Some(_) => "ERR: Session awaiting payment, unable allow debt",
        };
        Ok(Response::new(AddUnitDebtResponse {
            accepted: r.accepted,
            denial: denial(r.reason).into(),
            due: drops(r.due),
            action: if r.reason.is_none() {
                "PurchaseApproved"
            } else {
                "PurchaseDenied"
            }
            .into(),
            message: message.into(),
        }))
    }

    type WatchSessionStream = EventStream;

    async fn watch_session(
        &self,
        request: Request<WatchSessionRequest>,
    ) -> Result<Response<Self::WatchSessionStream>, Status> {
        payer_of(&request, &request.get_ref().drip_token)?;
        let token = request.into_inner().drip_token;
        // Subscribe first, then read the current state: no change is missed.
        let mut changes = self.notifications.sessions.subscribe();
        let (first, notice_id) = self.event(&token).await?;
        // Notices name the session by id (its token is a credential).
        let notice_id = notice_id.to_string();
        let service = self.clone();
        let stream = async_stream(move |tx| async move {
            let _open = service.metrics.watch_stream();
            let mut last = first;
            if tx.send(Ok(last)).await.is_err() {
                return;
            }
            loop {
                if last.state == i32::from(SessionState::Closed) {
                    return;
                }
                let change = tokio::select! {
                    change = changes.recv() => change,
                    // The caller left: stop now, not at the next change
                    // (an idle session may never have one).
                    () = tx.closed() => return,
                };
                match change {
                    Ok(id) if id != notice_id => continue,
                    // Missed notices: look anyway.
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
                match service.event(&token).await {
                    Ok((e, _)) if same_event(&e, &last) => {}
                    Ok((e, _)) => {
                        last = e;
                        if tx.send(Ok(e)).await.is_err() {
                            return;
                        }
                    }
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(stream))
    }
}

fn same_event(a: &SessionEvent, b: &SessionEvent) -> bool {
    (a.state, a.due, a.paid, a.channel_amount) == (b.state, b.due, b.paid, b.channel_amount)
}

/// A stream fed by a task through a small channel.
fn async_stream<F, Fut>(f: F) -> EventStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<SessionEvent, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(f(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Agreement {
    Initial,
    Refresh,
}

impl DripService {
    /// An inquiry (`refresh`: a refresh inquiry) as the signed proposal,
    /// with the seed's Action/Message words.
    async fn proposal(
        &self,
        refresh: bool,
        token: String,
        (action, message): (&str, &str),
    ) -> Result<Response<Proposal>, Status> {
        let r = sessions::inquire(&self.client().await?, &token, refresh)
            .await
            .map_err(db_status)?;
        Ok(Response::new(Proposal {
            proposal_id: r.proposal_id,
            payload: r.payload,
            signature: r.signature,
            public_key: r.public_key,
            expires_at: time(r.expires_at),
            action: action.into(),
            message: message.into(),
        }))
    }

    /// The session as an event, and the id its notices carry.
    async fn event(&self, token: &str) -> Result<(SessionEvent, i64), Status> {
        let r = sessions::amount_due(&self.client().await?, token)
            .await
            .map_err(db_status)?;
        let event = SessionEvent {
            state: state(r.state).into(),
            due: drops(r.due),
            paid: drops(r.paid),
            channel_amount: drops(r.channel_amount),
            at: Some(SystemTime::now().into()),
        };
        Ok((event, r.notice_id.unwrap_or_default()))
    }

    /// An agreement or refresh agreement; the proposal must be the named
    /// drip token's session's.
    async fn agreement(
        &self,
        request: Request<AgreementRequest>,
        kind: Agreement,
    ) -> Result<Response<AgreementResponse>, Status> {
        agreement_of(&request, &request.get_ref().drip_token)?;
        let req = request.into_inner();
        let tx_hash = hex_arg(&req.tx_hash, "tx_hash")?;
        let token = Some(req.drip_token.as_str()).filter(|t| !t.is_empty());
        let mut changes = self.notifications.sessions.subscribe();
        let r = sessions::submit_agreement(
            &self.client().await?,
            kind == Agreement::Refresh,
            &req.proposal_id,
            &tx_hash,
            token,
        )
        .await
        .map_err(db_status)?;
        let (mut accepted, mut reason, mut st) =
            (Some(r.accepted == Some(true)), r.reason, r.state);
        if accepted == Some(true) {
            // Taken: the ledger check decides (None until then).
            accepted = None;
            if req.wait {
                let limit = match req.wait_seconds {
                    0 => DEFAULT_WAIT,
                    s => Duration::from_secs(u64::from(s)).min(MAX_WAIT),
                };
                let deadline = tokio::time::Instant::now() + limit;
                loop {
                    let r = sessions::agreement_state(&self.client().await?, &req.proposal_id)
                        .await
                        .map_err(db_status)?;
                    (accepted, reason, st) = (r.accepted, r.reason, r.state);
                    if accepted.is_some() {
                        break;
                    }
                    // Any session change, or a short tick, then look again.
                    let tick = tokio::time::sleep(Duration::from_millis(250));
                    tokio::select! {
                        _ = changes.recv() => {}
                        _ = tick => {}
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                }
            }
        }
        let (yes, no) = match kind {
            Agreement::Initial => ("AgreementAccepted", "AgreementDenied"),
            Agreement::Refresh => ("RefreshApproved", "RefreshDenied"),
        };
        let (action, message) = match accepted {
            Some(true) => (
                yes,
                match kind {
                    Agreement::Initial => "Agreement accepted",
                    Agreement::Refresh => "Refresh agreement accepted successfully",
                },
            ),
            Some(false) => (no, "ERR: Invalid payload"),
            None => (yes, "Agreement received; the ledger check is pending"),
        };
        Ok(Response::new(AgreementResponse {
            accepted: accepted != Some(false),
            denial: denial(reason.filter(|_| accepted == Some(false))).into(),
            reason: reason.map(Reason::as_str).unwrap_or_default().into(),
            state: state(st).into(),
            action: action.into(),
            message: message.into(),
        }))
    }
}
