//! The `drip.v1.Drip` service: each call is one call into the extension,
//! whose SQL functions make every decision; this file only translates.

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use futures_util::Stream;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use tonic::{Request, Response, Status};

use crate::auth::{agreement_of, merchant_only, payer_of};
use crate::db::Notifications;
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

    /// One statement on a pooled connection, prepared once per connection.
    async fn one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Status> {
        let client = self.pool.get().await.map_err(|e| {
            tracing::warn!(error = %e, "no database connection");
            Status::unavailable("database unavailable")
        })?;
        let statement = client.prepare_cached(sql).await.map_err(db_status)?;
        client
            .query_one(&statement, params)
            .await
            .map_err(db_status)
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

fn state(s: Option<&str>) -> SessionState {
    match s {
        Some("created") => SessionState::Created,
        Some("pending") => SessionState::Pending,
        Some("active") => SessionState::Active,
        Some("closing") => SessionState::Closing,
        Some("closed") => SessionState::Closed,
        _ => SessionState::Unspecified,
    }
}

/// drip's reason words as the API's enum.
pub fn denial(reason: Option<&str>) -> Denial {
    match reason {
        None => Denial::Unspecified,
        Some("not_found") => Denial::NotFound,
        Some("not_active") => Denial::NotActive,
        Some("bad_signature") => Denial::BadSignature,
        Some("not_above_best") => Denial::NotAboveBest,
        Some("exceeds_channel") => Denial::ExceedsChannel,
        Some("session_ending") => Denial::SessionEnding,
        Some("awaiting_payment") => Denial::AwaitingPayment,
        Some("not_unit_based") => Denial::NotUnitBased,
        Some("already_agreed") => Denial::AlreadyAgreed,
        Some("already_ending") => Denial::AlreadyEnding,
        Some("proposal_expired") => Denial::ProposalExpired,
        Some("not_pending") => Denial::NotPending,
        Some("not_an_initial_proposal" | "not_a_refresh_proposal") => Denial::WrongProposalKind,
        Some(_) => Denial::LedgerMismatch,
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
        let r = self
            .one(
                "SELECT drip_token, uri FROM drip.create_session($1)",
                &[&session_id],
            )
            .await?;
        Ok(Response::new(CreateSessionResponse {
            session_id,
            drip_token: r.get(0),
            uri: r.get(1),
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
        let r = self
            .one(
                "SELECT session_id, drip_token, uri, state::text, client_address, created_at, active_at,
                        ends_at, channel_id, channel_amount, due, paid, past_due_strikes, end_reason
                 FROM drip.get_session($1)",
                &[&session_id],
            )
            .await?;
        Ok(Response::new(Session {
            session_id: r.get(0),
            drip_token: r.get(1),
            uri: r.get(2),
            state: state(r.get(3)).into(),
            client_address: r.get::<_, Option<String>>(4).unwrap_or_default(),
            created_at: time(r.get(5)),
            active_at: time(r.get(6)),
            ends_at: time(r.get(7)),
            channel_id: r
                .get::<_, Option<Vec<u8>>>(8)
                .map(hex::encode_upper)
                .unwrap_or_default(),
            channel_amount: drops(r.get(9)),
            due: drops(r.get(10)),
            paid: drops(r.get(11)),
            past_due_strikes: r
                .get::<_, Option<i32>>(12)
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(0),
            end_reason: r.get::<_, Option<String>>(13).unwrap_or_default(),
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
        let r = self
            .one(
                "SELECT accepted, reason::text AS reason, state::text FROM drip.destroy_session($1)",
                &[&session_id],
            )
            .await?;
        let reason: Option<String> = r.get(1);
        let message = match reason.as_deref() {
            None => "Session destroyed",
            Some("not_found") => "Session not found",
            Some(_) => "Session is set to be removed",
        };
        Ok(Response::new(DestroySessionResponse {
            accepted: r.get(0),
            denial: denial(reason.as_deref()).into(),
            state: state(r.get(2)).into(),
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
            "SELECT proposal_id, payload, signature, public_key, expires_at FROM drip.inquire($1)",
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
            "SELECT proposal_id, payload, signature, public_key, expires_at FROM drip.refresh_inquire($1)",
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
        let r = self
            .one(
                "SELECT due, paid, channel_amount, ends_at, state::text FROM drip.amount_due($1)",
                &[&token],
            )
            .await?;
        Ok(Response::new(AmountDueResponse {
            due: drops(r.get(0)),
            paid: drops(r.get(1)),
            channel_amount: drops(r.get(2)),
            ends_at: time(r.get(3)),
            state: state(r.get(4)).into(),
            action: "AmountDue".into(),
            message: String::new(),
        }))
    }

    async fn pay(&self, request: Request<PayRequest>) -> Result<Response<PayResponse>, Status> {
        payer_of(&request, &request.get_ref().drip_token)?;
        let req = request.into_inner();
        let amount = to_bigint(req.amount, "amount")?;
        let signature = hex_arg(&req.signature, "signature")?;
        let r = self
            .one(
                "SELECT accepted, reason::text AS reason, due, paid FROM drip.pay($1, $2, $3)",
                &[&req.drip_token, &amount, &signature],
            )
            .await?;
        let accepted: bool = r.get(0);
        let reason: Option<String> = r.get(1);
        self.metrics.claim(reason.as_deref().unwrap_or("accepted"));
        let (action, message) = match reason.as_deref() {
            None => ("PaymentAccepted", "Payment accepted"),
            Some("bad_signature") => ("PaymentDenied", "ERR: Invalid signature"),
            Some("not_active") => ("PaymentDenied", "ERR: No valid ledger record found"),
            Some(_) => ("PaymentDenied", "ERR: Invalid amount for payment"),
        };
        Ok(Response::new(PayResponse {
            accepted,
            denial: denial(reason.as_deref()).into(),
            due: drops(r.get(2)),
            paid: drops(r.get(3)),
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
        let r = self
            .one(
                "SELECT accepted, reason::text AS reason, due FROM drip.add_unit_debt($1, $2)",
                &[&req.drip_token, &amount],
            )
            .await?;
        let reason: Option<String> = r.get(1);
        let message = match reason.as_deref() {
            None => "Purchase debt added to ledger successfully",
            Some("not_found") => "ERR: Session not found",
            Some("session_ending") => "ERR: Session is set to be removed",
            Some("not_unit_based") => "ERR: Session is not configured for unit based debts",
            Some("exceeds_channel") => "ERR: Debt exceeds channel balance",
            Some(_) => "ERR: Session awaiting payment, unable allow debt",
        };
        Ok(Response::new(AddUnitDebtResponse {
            accepted: r.get(0),
            denial: denial(reason.as_deref()).into(),
            due: drops(r.get(2)),
            action: if reason.is_none() {
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
    /// An inquiry (`sql` names the function) as the signed proposal, with
    /// the seed's Action/Message words.
    async fn proposal(
        &self,
        sql: &str,
        token: String,
        (action, message): (&str, &str),
    ) -> Result<Response<Proposal>, Status> {
        let r = self.one(sql, &[&token]).await?;
        Ok(Response::new(Proposal {
            proposal_id: r.get(0),
            payload: r.get(1),
            signature: r.get(2),
            public_key: r.get(3),
            expires_at: time(r.get(4)),
            action: action.into(),
            message: message.into(),
        }))
    }

    /// The session as an event, and the id its notices carry.
    async fn event(&self, token: &str) -> Result<(SessionEvent, i64), Status> {
        let r = self
            .one(
                "SELECT state::text, due, paid, channel_amount, notice_id FROM drip.amount_due($1)",
                &[&token],
            )
            .await?;
        let event = SessionEvent {
            state: state(r.get(0)).into(),
            due: drops(r.get(1)),
            paid: drops(r.get(2)),
            channel_amount: drops(r.get(3)),
            at: Some(SystemTime::now().into()),
        };
        Ok((event, r.get(4)))
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
        let sql = match kind {
            Agreement::Initial => {
                "SELECT accepted, reason::text AS reason, state::text FROM drip.submit_agreement($1, $2, $3)"
            }
            Agreement::Refresh => {
                "SELECT accepted, reason::text AS reason, state::text FROM drip.submit_refresh($1, $2, $3)"
            }
        };
        let mut changes = self.notifications.sessions.subscribe();
        let r = self.one(sql, &[&req.proposal_id, &tx_hash, &token]).await?;
        let (mut accepted, mut reason, mut st): (Option<bool>, Option<String>, Option<String>) = (
            r.get::<_, bool>(0).then_some(true).or(Some(false)),
            r.get(1),
            r.get(2),
        );
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
                    let r = self
                        .one(
                            "SELECT accepted, reason::text AS reason, state::text FROM drip.agreement_state($1)",
                            &[&req.proposal_id],
                        )
                        .await?;
                    (accepted, reason, st) = (r.get(0), r.get(1), r.get(2));
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
            denial: denial(if accepted == Some(false) {
                reason.as_deref()
            } else {
                None
            })
            .into(),
            reason: reason.unwrap_or_default(),
            state: state(st.as_deref()).into(),
            action: action.into(),
            message: message.into(),
        }))
    }
}
