//! One paid request: the challenge for an unpaid one, and for a credential
//! the draft's checks in its order (size, challenge, signature, payer,
//! channel, high-water mark), the last three in `drip.mpp_pay`'s one
//! transaction. An `open` first puts the payer's PaymentChannelCreate on the
//! ledger and records the channel as the validated ledger has it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use drip_core::codec::{self, StObject};
use drip_core::{claim, tx, AccountId, Hash256, PublicKey};
use drip_ledger::{Outcome, ResultClass};
use drip_mpp::{
    Challenge, Credential, PayerDid, Payload, Problem, ProblemKind, Receipt, ReceiptAction,
    SessionRequest,
};
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

use super::{upstream, FrontDoor, Route};
use crate::engine::ilp::IncomingChannel;
use crate::engine::mpp::{self as sql, Voucher};
use crate::engine::Reason;

/// The hints `xrpl-mpp-client` sends with a request once it holds a
/// channel for the resource: which channel, and the total it paid.
const HINT_CHANNEL: &str = "x-mpp-paychannel-id";

/// Every path, routed or not, goes through [`serve`].
pub(super) fn router(front: Arc<FrontDoor>) -> Router {
    Router::new().fallback(serve).with_state(front)
}

/// A refusal: the problem to answer with, and the channel a fresh
/// challenge should name.
struct Refusal {
    kind: ProblemKind,
    detail: String,
    channel: Option<Hash256>,
    /// drip could not decide (its database or the ledger did not answer,
    /// or it is busy): 503, try again.
    unavailable: bool,
}

fn refuse(kind: ProblemKind, detail: impl Into<String>) -> Refusal {
    Refusal {
        kind,
        detail: detail.into(),
        channel: None,
        unavailable: false,
    }
}

/// drip could not decide now; the payer may send the same again.
fn unavailable(what: &str, e: &dyn std::fmt::Display) -> Refusal {
    tracing::warn!(error = %e, "{what}");
    Refusal {
        unavailable: true,
        ..refuse(
            ProblemKind::VerificationFailed,
            format!("{what}; try again"),
        )
    }
}

/// How long a request's body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A paid request, ready to be served.
struct Paid {
    receipt: Receipt,
}

async fn serve(State(front): State<Arc<FrontDoor>>, request: Request) -> Response {
    let Some(route) = front
        .config
        .routes
        .iter()
        .find(|r| r.path == request.uri().path())
    else {
        return (StatusCode::NOT_FOUND, "no such route").into_response();
    };
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, front.config.max_body_bytes);
    let body = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response()
        }
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request body too slow").into_response(),
    };
    if route.price.get() == 0 {
        return answer(&front, route, &parts, body, None).await;
    }
    let mut credentials = parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter(|v| is_payment(v.as_bytes()));
    let (Some(credential), None) = (credentials.next(), credentials.next()) else {
        // None, or more than one: answer with a challenge.
        let hinted = hint(&parts.headers);
        return challenge(
            &front,
            route,
            hinted,
            ProblemKind::PaymentRequired,
            "this route is paid per request",
        )
        .await;
    };
    match pay(&front, route, credential).await {
        Ok(paid) => answer(&front, route, &parts, body, Some(paid)).await,
        Err(r) if r.unavailable => {
            let mut response = problem(r.kind, &r.detail, None, StatusCode::SERVICE_UNAVAILABLE);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(r) => {
            tracing::debug!(problem = r.kind.slug(), detail = %r.detail, "payment refused");
            challenge(&front, route, r.channel, r.kind, &r.detail).await
        }
    }
}

/// Whether an `Authorization` value is of the `Payment` scheme (any case,
/// then a space).
fn is_payment(value: &[u8]) -> bool {
    let n = drip_mpp::SCHEME.len();
    value
        .get(..n)
        .is_some_and(|s| s.eq_ignore_ascii_case(drip_mpp::SCHEME.as_bytes()))
        && value.get(n) == Some(&b' ')
}

/// The channel a client names in its hint header, if it names one well.
fn hint(headers: &HeaderMap) -> Option<Hash256> {
    headers.get(HINT_CHANNEL)?.to_str().ok()?.parse().ok()
}

/// The route's answer: drip's own (the receipt, as JSON) or the
/// upstream's, with the receipt header on a 2xx. A close is answered by
/// drip alone: it pays for nothing more.
async fn answer(
    front: &FrontDoor,
    route: &Route,
    parts: &http::request::Parts,
    body: Bytes,
    paid: Option<Paid>,
) -> Response {
    let close = paid
        .as_ref()
        .is_some_and(|p| p.receipt.action == ReceiptAction::Close);
    let mut response = match (&route.upstream, close) {
        (Some(upstream), false) => {
            upstream::forward(
                &front.upstream,
                upstream,
                parts.method.clone(),
                &parts.uri,
                &parts.headers,
                body,
            )
            .await
        }
        _ => {
            let json = match &paid {
                Some(p) => p.receipt.to_json(),
                None => serde_json::json!({"route": route.path, "price": "0"})
                    .to_string()
                    .into_bytes(),
            };
            ([(header::CONTENT_TYPE, "application/json")], json).into_response()
        }
    };
    if let Some(p) = paid {
        if response.status().is_success() {
            if let Ok(v) = HeaderValue::from_str(&p.receipt.header_value()) {
                response.headers_mut().insert(drip_mpp::RECEIPT_HEADER, v);
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
        }
    }
    response
}

/// A 402 with a fresh challenge: for `channel` if drip still takes
/// vouchers on it (the accepted total as `cumulativeAmount`), for a new
/// channel otherwise.
async fn challenge(
    front: &FrontDoor,
    route: &Route,
    channel: Option<Hash256>,
    kind: ProblemKind,
    detail: &str,
) -> Response {
    let mut request = SessionRequest {
        amount: route.price.get(),
        channel_id: None,
        recipient: front.recipient,
        description: None,
        cumulative_amount: None,
        network: front.config.network,
    };
    if let Some(id) = channel {
        match accepted_total(front, &id).await {
            Ok(Some(total)) => {
                request.channel_id = Some(id);
                request.cumulative_amount = Some(total);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the channel's total could not be read");
                return problem(
                    ProblemKind::PaymentRequired,
                    "try again",
                    None,
                    StatusCode::SERVICE_UNAVAILABLE,
                );
            }
        }
    }
    let expires = unix_now().saturating_add(secs(front.config.challenge_ttl));
    let issued = Challenge::issue(
        &front.config.challenge_key.0,
        &front.config.realm,
        &request,
        expires,
        route.description.as_deref(),
    );
    match issued {
        Ok(c) => problem(kind, detail, Some(&c), status(kind)),
        Err(e) => {
            tracing::error!(error = %e, "a challenge could not be issued");
            (StatusCode::INTERNAL_SERVER_ERROR, "challenge").into_response()
        }
    }
}

/// The total a channel's vouchers paid, if drip takes vouchers on it; a
/// channel drip does not know yet is named with 0 (the payer opened it
/// itself: its first voucher brings it in).
async fn accepted_total(front: &FrontDoor, id: &Hash256) -> Result<Option<u64>, crate::JobError> {
    let client = front.pool.get().await?;
    let c = sql::mpp_channel(&client, &id.0).await?;
    Ok(match (c.best, c.finalized) {
        (_, Some(true)) => None,
        (Some(best), _) => u64::try_from(best).ok(),
        (None, _) => Some(0),
    })
}

fn status(kind: ProblemKind) -> StatusCode {
    StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::PAYMENT_REQUIRED)
}

fn problem(
    kind: ProblemKind,
    detail: &str,
    challenge: Option<&Challenge>,
    status: StatusCode,
) -> Response {
    let mut p = Problem::new(kind, detail);
    if let Some(c) = challenge {
        p = p.with_challenge_id(c.id.as_str());
    }
    let body = p.to_json();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = challenge {
        if let Ok(v) = HeaderValue::from_str(&c.header_value()) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
    }
    response
}

/// The draft's checks of a credential, in its order.
async fn pay(
    front: &FrontDoor,
    route: &Route,
    header_value: &HeaderValue,
) -> Result<Paid, Refusal> {
    let text = header_value.to_str().map_err(|_| {
        refuse(
            ProblemKind::MalformedCredential,
            "the credential is not ASCII",
        )
    })?;
    let credential = Credential::parse(text)
        .map_err(|e| refuse(ProblemKind::MalformedCredential, e.to_string()))?;
    credential
        .challenge
        .verify(&front.config.challenge_key.0, unix_now())
        .map_err(|e| refuse(e.problem_kind(), e.to_string()))?;
    // The challenge must be this route's: its price, drip's address.
    let request = credential
        .challenge
        .session_request()
        .map_err(|e| refuse(ProblemKind::InvalidChallenge, e.to_string()))?;
    if request.amount != route.price.get()
        || request.recipient != front.recipient
        || credential.challenge.realm != front.config.realm
    {
        return Err(refuse(
            ProblemKind::InvalidChallenge,
            "the challenge is for another route",
        ));
    }
    let source = credential.source.as_ref().ok_or_else(|| {
        refuse(
            ProblemKind::VerificationFailed,
            "the credential names no source",
        )
    })?;
    if let Some(network) = front.config.network {
        if source.network != network.as_str() {
            return Err(refuse(
                ProblemKind::VerificationFailed,
                "the source is on another network",
            ));
        }
    }
    let challenge = &credential.challenge;
    match &credential.payload {
        Payload::Open {
            transaction,
            amount,
            signature,
        } => {
            if request.channel_id.is_some() {
                return Err(refuse(
                    ProblemKind::InvalidChallenge,
                    "the challenge names a channel: pay on it",
                ));
            }
            open(
                front,
                route,
                challenge,
                source,
                transaction,
                *amount,
                signature,
            )
            .await
        }
        Payload::Voucher {
            channel_id,
            amount,
            signature,
        }
        | Payload::Close {
            channel_id,
            amount,
            signature,
        } => {
            if request.channel_id != Some(*channel_id) {
                return Err(refuse(
                    ProblemKind::InvalidChallenge,
                    "the challenge is for another channel",
                ));
            }
            let action = match credential.payload {
                Payload::Close { .. } => ReceiptAction::Close,
                _ => ReceiptAction::Voucher,
            };
            voucher(
                front, route, challenge, source, channel_id, *amount, signature, action,
            )
            .await
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Drops as the engine takes them: a voucher above i64 can pay nothing.
fn drops(amount: u64) -> Result<i64, Refusal> {
    i64::try_from(amount).map_err(|_| {
        refuse(
            ProblemKind::AmountExceedsDeposit,
            "more drops than any channel holds",
        )
    })
}

/// One voucher taken on `channel`, answering `challenge`, as `action`
/// (an open's first claim, a voucher, the closing one): a channel drip does
/// not hold yet is looked up on the validated ledger first (the payer
/// opened it itself), and brought in only if the voucher pays on it.
#[allow(clippy::too_many_arguments)]
async fn voucher(
    front: &FrontDoor,
    route: &Route,
    challenge: &Challenge,
    source: &PayerDid,
    channel: &Hash256,
    amount: u64,
    signature: &[u8],
    action: ReceiptAction,
) -> Result<Paid, Refusal> {
    let v = Voucher {
        channel_id: &channel.0,
        amount: drops(amount)?,
        signature,
        price: drops(route.price.get())?,
        source: &source.address.to_address(),
        challenge_id: &challenge.id,
        challenge_expires: expiry(challenge),
        close: action == ReceiptAction::Close,
    };
    let mut paid = take(front, &v).await?;
    if paid.reason == Some(Reason::NoChannel) {
        bring_in(front, route, source, channel, amount, signature).await?;
        paid = take(front, &v).await?;
    }
    if !paid.accepted {
        let mut r = refusal(paid.reason);
        r.channel = Some(*channel);
        return Err(r);
    }
    Ok(Paid {
        receipt: receipt(action, channel, amount, challenge),
    })
}

fn receipt(
    action: ReceiptAction,
    channel: &Hash256,
    amount: u64,
    challenge: &Challenge,
) -> Receipt {
    Receipt {
        timestamp: unix_now(),
        challenge_id: challenge.id.clone(),
        channel_id: *channel,
        cumulative: amount,
        action,
    }
}

fn expiry(challenge: &Challenge) -> SystemTime {
    let unix = challenge
        .expires
        .as_deref()
        .and_then(|e| drip_mpp::rfc3339::parse(e).ok())
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(unix)
}

async fn take(front: &FrontDoor, v: &Voucher<'_>) -> Result<sql::MppPayment, Refusal> {
    let what = "the payment could not be recorded";
    let client = front.pool.get().await.map_err(|e| unavailable(what, &e))?;
    sql::mpp_pay(&client, v)
        .await
        .map_err(|e| unavailable(what, &e))
}

/// The problem for a refusal of `drip.mpp_pay` or `drip.mpp_open_channel`.
fn refusal(reason: Option<Reason>) -> Refusal {
    use ProblemKind as P;
    let (kind, detail) = match reason {
        Some(Reason::NoChannel | Reason::ChannelNotOnLedger) => {
            (P::ChannelNotFound, "no such channel to this recipient")
        }
        Some(Reason::Finalized | Reason::ChannelExpires | Reason::CancelAfterTooSoon) => {
            (P::ChannelFinalized, "the channel is closed or closing")
        }
        Some(Reason::BadSignature) => {
            (P::InvalidSignature, "the claim's signature does not verify")
        }
        Some(Reason::ExceedsChannel) => (
            P::AmountExceedsDeposit,
            "the voucher exceeds the channel's deposit",
        ),
        Some(Reason::Replayed) => (
            P::VerificationFailed,
            "replay: the voucher repeats the accepted total",
        ),
        Some(Reason::BelowBest) => (
            P::VerificationFailed,
            "rollback: the voucher is below the accepted total",
        ),
        Some(Reason::Underpaid) => (
            P::PaymentInsufficient,
            "underpayment: the voucher adds less than the price",
        ),
        Some(Reason::WrongSource) => (
            P::VerificationFailed,
            "the source is not the channel's payer",
        ),
        Some(Reason::ChallengeUsed) => (P::InvalidChallenge, "the challenge was answered before"),
        Some(Reason::WrongDestination) => {
            (P::VerificationFailed, "the channel pays another recipient")
        }
        Some(Reason::SettleDelayTooShort) => (
            P::VerificationFailed,
            "the channel's settle delay is too short",
        ),
        Some(Reason::ChannelInUse) => (
            P::VerificationFailed,
            "the channel is not this payer's HTTP channel",
        ),
        _ => (P::VerificationFailed, "the payment was refused"),
    };
    refuse(kind, detail)
}

/// A channel the payer opened itself, named in its first voucher: the
/// voucher is checked against the channel the validated ledger names (its
/// key signed it, its Account is the source, it fits, it pays the price)
/// before the channel is recorded, so nobody has drip watch a channel
/// without paying on it. A few ledger lookups at a time.
async fn bring_in(
    front: &FrontDoor,
    route: &Route,
    source: &PayerDid,
    id: &Hash256,
    amount: u64,
    signature: &[u8],
) -> Result<(), Refusal> {
    let _permit = front
        .ledger_work
        .try_acquire()
        .map_err(|e| unavailable("drip is busy with the ledger", &e))?;
    let entry = front
        .submitter
        .client()
        .channel(id)
        .await
        .map_err(|e| unavailable("the ledger could not be asked", &e))?
        .ok_or_else(|| refusal(Some(Reason::NoChannel)))?;
    let key = PublicKey::from_slice(&entry.public_key)
        .map_err(|_| refusal(Some(Reason::BadSignature)))?;
    if key
        .verify(
            &claim::claim_message(id, drip_core::Drops::new(amount)),
            signature,
        )
        .is_err()
    {
        return Err(refusal(Some(Reason::BadSignature)));
    }
    if entry.account != source.address {
        return Err(refusal(Some(Reason::WrongSource)));
    }
    if amount > entry.amount.get() {
        return Err(refusal(Some(Reason::ExceedsChannel)));
    }
    if amount < entry.balance.get().saturating_add(route.price.get()) {
        return Err(refusal(Some(Reason::Underpaid)));
    }
    record(front, id, &entry).await
}

/// The channel, as the validated ledger has it, recorded for HTTP.
async fn record(
    front: &FrontDoor,
    id: &Hash256,
    entry: &drip_ledger::ChannelEntry,
) -> Result<(), Refusal> {
    let source = entry.account.to_address();
    let destination = entry.destination.to_address();
    let facts = IncomingChannel {
        channel_id: &id.0,
        source: &source,
        public_key: &entry.public_key,
        amount: entry.amount.to_i64().unwrap_or(i64::MAX),
        settle_delay: i32::try_from(entry.settle_delay).unwrap_or(i32::MAX),
        destination: &destination,
        expiration: entry.expiration.map(drip_core::time::ripple_to_system),
        cancel_after: entry.cancel_after.map(drip_core::time::ripple_to_system),
        ledger_balance: entry.balance.to_i64().unwrap_or(i64::MAX),
    };
    let floor = i32::try_from(front.config.min_settle_delay).unwrap_or(i32::MAX);
    let what = "the channel could not be recorded";
    let client = front.pool.get().await.map_err(|e| unavailable(what, &e))?;
    match sql::mpp_open_channel(&client, &facts, floor)
        .await
        .map_err(|e| unavailable(what, &e))?
    {
        None => Ok(()),
        reason => Err(refusal(reason)),
    }
}

/// What an `open`'s transaction must be, read from its blob before it goes
/// anywhere: a PaymentChannelCreate to drip, signed by its Account's
/// master key, with a key, a settle delay over the floor and a last ledger.
struct Create {
    account: AccountId,
    key: PublicKey,
    deposit: u64,
    channel: Hash256,
    hash: Hash256,
    last_ledger: u32,
}

/// PaymentChannelCreate's TransactionType code.
const PAYMENT_CHANNEL_CREATE: u16 = 13;

fn read_create(front: &FrontDoor, blob: &[u8]) -> Result<Create, Refusal> {
    let bad = |why: &str| {
        refuse(
            ProblemKind::VerificationFailed,
            format!("the transaction {why}"),
        )
    };
    let t: StObject = codec::decode(blob).map_err(|_| bad("is not an XRPL transaction"))?;
    if t.u16("TransactionType") != Some(PAYMENT_CHANNEL_CREATE) {
        return Err(bad("is not a PaymentChannelCreate"));
    }
    let account = t.account("Account").ok_or_else(|| bad("has no Account"))?;
    let signer = tx::verify_signature(&t).map_err(|_| bad("is not signed, or not validly"))?;
    if signer.account_id() != account {
        return Err(bad("is not signed by its Account's master key"));
    }
    if t.account("Destination") != Some(front.recipient) {
        return Err(refusal(Some(Reason::WrongDestination)));
    }
    let key = t
        .blob("PublicKey")
        .and_then(|k| PublicKey::from_slice(k).ok())
        .ok_or_else(|| bad("has no valid PublicKey"))?;
    if t.u32("SettleDelay").unwrap_or(0) < front.config.min_settle_delay {
        return Err(refusal(Some(Reason::SettleDelayTooShort)));
    }
    // A channel that ends within the settle delay's floor from now could
    // not be redeemed in time: refused before it locks the payer's XRP.
    if let Some(cancel) = t.u32("CancelAfter") {
        let floor = unix_now().saturating_add(i64::from(front.config.min_settle_delay));
        if drip_core::time::ripple_to_unix(cancel) < floor {
            return Err(refusal(Some(Reason::CancelAfterTooSoon)));
        }
    }
    let deposit = t
        .xrp("Amount")
        .ok_or_else(|| bad("puts no XRP in the channel"))?
        .get();
    let last_ledger = t
        .u32("LastLedgerSequence")
        .ok_or_else(|| bad("has no LastLedgerSequence"))?;
    let sequence = match t.u32("Sequence") {
        Some(0) | None => t
            .u32("TicketSequence")
            .ok_or_else(|| bad("has no Sequence"))?,
        Some(s) => s,
    };
    Ok(Create {
        account,
        key,
        deposit,
        channel: drip_core::channel::channel_id(&account, &front.recipient, sequence),
        hash: tx::transaction_id(blob),
        last_ledger,
    })
}

/// An open: the payer's PaymentChannelCreate checked, its first claim's
/// signature checked against the channel it creates, then submitted and
/// followed to validation, the channel recorded as the ledger has it, and
/// the first claim taken as the first voucher.
#[allow(clippy::too_many_arguments)]
async fn open(
    front: &FrontDoor,
    route: &Route,
    challenge: &Challenge,
    source: &PayerDid,
    blob: &[u8],
    amount: u64,
    signature: &[u8],
) -> Result<Paid, Refusal> {
    let create = read_create(front, blob)?;
    let message = claim::claim_message(&create.channel, drip_core::Drops::new(amount));
    if create.key.verify(&message, signature).is_err() {
        return Err(refusal(Some(Reason::BadSignature)));
    }
    if source.address != create.account {
        return Err(refusal(Some(Reason::WrongSource)));
    }
    if amount > create.deposit {
        return Err(refusal(Some(Reason::ExceedsChannel)));
    }
    if amount < route.price.get() {
        return Err(refusal(Some(Reason::Underpaid)));
    }
    {
        // A few ledger waits at a time: each holds a request for seconds.
        let _permit = front
            .ledger_work
            .try_acquire()
            .map_err(|e| unavailable("drip is busy with the ledger", &e))?;
        submit(front, blob, &create).await?;
        let entry = front
            .submitter
            .client()
            .channel(&create.channel)
            .await
            .map_err(|e| unavailable("the ledger could not be asked", &e))?
            .ok_or_else(|| refusal(Some(Reason::NoChannel)))?;
        record(front, &create.channel, &entry).await?;
    }
    let action = ReceiptAction::Open {
        tx_hash: create.hash,
    };
    voucher(
        front,
        route,
        challenge,
        source,
        &create.channel,
        amount,
        signature,
        action,
    )
    .await
}

/// The payer's blob on the ledger, followed until validated (a blob sent
/// before, by an earlier try, is only followed): the channel exists, or a
/// refusal.
async fn submit(front: &FrontDoor, blob: &[u8], create: &Create) -> Result<(), Refusal> {
    let what = "the ledger could not be reached";
    let preliminary = front
        .submitter
        .client()
        .submit(blob)
        .await
        .map_err(|e| unavailable(what, &e))?;
    // Followed to validation only when it is on its way (applied, queued)
    // or was sent before (its sequence is past): anything else would only
    // hold this request, and ledger lookups, until its last ledger.
    let followed = ResultClass::of(&preliminary) == ResultClass::Applied
        || matches!(
            preliminary.as_str(),
            "terQUEUED" | "tefPAST_SEQ" | "tefALREADY"
        );
    if !followed {
        tracing::info!(result = %preliminary, "the payer's channel create was refused");
        return Err(refuse(
            ProblemKind::VerificationFailed,
            "the ledger refused the channel's transaction",
        ));
    }
    let waited = tokio::time::timeout(
        front.config.open_timeout,
        front.submitter.wait(&create.hash, create.last_ledger),
    )
    .await;
    match waited {
        Ok(Ok(Outcome::Validated { result, .. }))
            if ResultClass::of(&result) == ResultClass::Applied =>
        {
            tracing::info!(channel = %create.channel, "a payer's HTTP channel validated");
            Ok(())
        }
        Ok(Ok(Outcome::Validated { result, .. })) => {
            tracing::info!(%result, "the payer's channel create failed on the ledger");
            Err(refuse(
                ProblemKind::VerificationFailed,
                "the ledger did not create the channel",
            ))
        }
        Ok(Ok(_)) => Err(refuse(
            ProblemKind::VerificationFailed,
            "the channel's transaction expired unapplied",
        )),
        Ok(Err(e)) => Err(unavailable(what, &e)),
        Err(_) => Err(Refusal {
            unavailable: true,
            ..refuse(
                ProblemKind::VerificationFailed,
                "the channel is not validated yet: send the same open again",
            )
        }),
    }
}
