//! The ledger side: the outbox's jobs, the ledger facts the sidecar
//! records, the channel watch, the sweep, the offload and the metrics.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::Type;
use tokio_postgres::Error;

use super::sessions::Agreement;
use super::{calls, row, Call, OutboxKind, OutboxState, Reason};

row! {
    /// `drip.outbox_job`: a ledger job as a worker takes it.
    pub struct Job {
        id: i64,
        kind: OutboxKind,
        state: OutboxState,
        attempts: i32,
        proposal_id: Option<String>,
        /// The transaction the job follows, once it signed one.
        tx_hash: Option<Vec<u8>>,
        last_ledger_seq: Option<i64>,
        tx_blob: Option<Vec<u8>>,
        channel_id: Option<Vec<u8>>,
        best_claim: Option<i64>,
        best_signature: Option<Vec<u8>>,
        public_key: Option<Vec<u8>>,
        created_at: SystemTime,
        ilp_account: Option<String>,
    }
}

row! {
    /// `drip.outbox_failed`: where the failed job went.
    pub struct OutboxFailed {
        outbox_failed: Option<OutboxState>,
    }
}

row! {
    /// `drip.outbox_requeue`: whether the job was still the one followed.
    pub struct OutboxRequeue {
        outbox_requeue: bool,
    }
}

row! {
    /// `drip.outbox_done`: whether the job was still the one followed.
    pub struct OutboxDone {
        outbox_done: bool,
    }
}

row! {
    /// `drip.watched_channels`: a channel drip holds claims on.
    pub struct WatchedChannel {
        channel_id: Vec<u8>,
        expiration: Option<SystemTime>,
        ledger_balance: i64,
        best_claim: i64,
        claiming: bool,
        closing: bool,
    }
}

row! {
    /// `drip.outbox_needs`: what the hot wallet must keep for the outbox.
    pub struct OutboxNeeds {
        transactions: i64,
        spends: i64,
        new_objects: i64,
    }
}

row! {
    /// `drip.sweep_result`: what a sweep did.
    pub struct Swept {
        checked: i32,
        struck: i32,
        ended: i32,
        proposals_expired: i32,
    }
}

row! {
    /// `drip.outbox_backlog`: jobs by kind and state.
    pub struct Backlog {
        kind: OutboxKind,
        state: OutboxState,
        jobs: i64,
        oldest: Option<SystemTime>,
    }
}

row! {
    /// `drip.losses_by_reason`: drops the ledger never paid, by reason.
    pub struct Losses {
        reason: String,
        drops: i64,
    }
}

row! {
    /// `drip.version()`.
    pub struct Version {
        version: String,
    }
}

/// A channel's Ledger fields as `drip.confirm_channel` checks them.
#[derive(Debug, Clone)]
pub struct ChannelFacts<'a> {
    /// The proposal agreed to, and the wallet's PaymentChannelCreate.
    pub proposal_id: &'a str,
    /// The create's hash.
    pub tx_hash: &'a [u8],
    /// The channel it created.
    pub channel_id: &'a [u8],
    /// The channel's source account.
    pub source: &'a str,
    /// The channel's key.
    pub public_key: &'a [u8],
    /// Drops in the channel.
    pub amount: i64,
    /// SettleDelay, seconds.
    pub settle_delay: i32,
    /// The channel's destination.
    pub destination: &'a str,
    /// Its destination tag.
    pub destination_tag: Option<i64>,
    /// Expiration, if set.
    pub expiration: Option<SystemTime>,
    /// CancelAfter, if set.
    pub cancel_after: Option<SystemTime>,
    /// The create's first memo (the proposal id, as the wallet wrote it).
    pub memo: Option<&'a str>,
}

calls! {
    /// `drip.take_outbox(limit, lease_secs)`.
    TAKE_OUTBOX: Call<Job> = Call::set_function("take_outbox", &[Type::INT4, Type::INT4]);
    /// `drip.outbox_failed(id, tx_hash, error)`.
    OUTBOX_FAILED: Call<OutboxFailed> =
        Call::function("outbox_failed", &[Type::INT8, Type::BYTEA, Type::TEXT]);
    /// `drip.outbox_requeue(id, tx_hash, error)`.
    OUTBOX_REQUEUE: Call<OutboxRequeue> =
        Call::function("outbox_requeue", &[Type::INT8, Type::BYTEA, Type::TEXT]);
    /// `drip.outbox_done(id, tx_hash, error)`.
    OUTBOX_DONE: Call<OutboxDone> =
        Call::function("outbox_done", &[Type::INT8, Type::BYTEA, Type::TEXT]);
    /// `drip.outbox_submitted(id, tx_hash, last_ledger_seq, tx_blob)`.
    OUTBOX_SUBMITTED: Call<()> = Call::function(
        "outbox_submitted",
        &[Type::INT8, Type::BYTEA, Type::INT8, Type::BYTEA],
    );
    /// `drip.confirm_channel(...)`: the channel's ledger fields.
    CONFIRM_CHANNEL: Call<Agreement> = Call::function(
        "confirm_channel",
        &[
            Type::TEXT, Type::BYTEA, Type::BYTEA, Type::TEXT, Type::BYTEA, Type::INT8, Type::INT4,
            Type::TEXT, Type::INT8, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ, Type::TEXT,
        ],
    );
    /// `drip.confirm_fund(proposal_id, tx_hash, channel_id, ledger_amount, expiration)`.
    CONFIRM_FUND: Call<Agreement> = Call::function(
        "confirm_fund",
        &[Type::TEXT, Type::BYTEA, Type::BYTEA, Type::INT8, Type::TIMESTAMPTZ],
    );
    /// `drip.reject_agreement(proposal_id, tx_hash, reason)`.
    REJECT_AGREEMENT: Call<()> =
        Call::function("reject_agreement", &[Type::TEXT, Type::BYTEA, Type::TEXT]);
    /// `drip.record_channel_closed(channel_id, ledger_balance, reason)`.
    RECORD_CHANNEL_CLOSED: Call<()> =
        Call::function("record_channel_closed", &[Type::BYTEA, Type::INT8, Type::TEXT]);
    /// `drip.record_channel_balance(channel_id, ledger_balance)`.
    RECORD_CHANNEL_BALANCE: Call<()> =
        Call::function("record_channel_balance", &[Type::BYTEA, Type::INT8]);
    /// `drip.record_channel_closing(channel_id, expiration)`.
    RECORD_CHANNEL_CLOSING: Call<()> =
        Call::function("record_channel_closing", &[Type::BYTEA, Type::TIMESTAMPTZ]);
    /// `drip.requeue_claim(channel_id)`.
    REQUEUE_CLAIM: Call<()> = Call::function("requeue_claim", &[Type::BYTEA]);
    /// `drip.watched_channels()`.
    WATCHED_CHANNELS: Call<WatchedChannel> = Call::set_function("watched_channels", &[]);
    /// `drip.outbox_needs()`.
    OUTBOX_NEEDS: Call<OutboxNeeds> = Call::function("outbox_needs", &[]);
    /// `drip.sweep()`, at the database's now() (the argument's default).
    SWEEP: Call<Swept> = Call::function("sweep", &[]);
    /// The view `drip.outbox_backlog`.
    OUTBOX_BACKLOG: Call<Backlog> = Call::view("outbox_backlog");
    /// The view `drip.losses_by_reason`.
    LOSSES_BY_REASON: Call<Losses> = Call::view("losses_by_reason");
    /// `drip.version()`.
    VERSION: Call<Version> = Call::function("version", &[]);
}

/// Take the next job due, locked until the transaction ends and leased for
/// `lease_secs`.
pub async fn take_outbox(c: &impl GenericClient, lease_secs: i32) -> Result<Option<Job>, Error> {
    TAKE_OUTBOX.opt(c, &[&1i32, &lease_secs]).await
}

/// An attempt at job `id` failed: where the job went (backoff, or failed).
pub async fn outbox_failed(
    c: &impl GenericClient,
    id: i64,
    tx_hash: Option<&[u8]>,
    error: &str,
) -> Result<Option<OutboxState>, Error> {
    Ok(OUTBOX_FAILED
        .one(c, &[&id, &tx_hash, &error])
        .await?
        .outbox_failed)
}

/// Put job `id` back to sign again, if it still follows `tx_hash`.
pub async fn outbox_requeue(
    c: &impl GenericClient,
    id: i64,
    tx_hash: Option<&[u8]>,
    error: &str,
) -> Result<bool, Error> {
    Ok(OUTBOX_REQUEUE
        .one(c, &[&id, &tx_hash, &error])
        .await?
        .outbox_requeue)
}

/// Job `id` ended (`error`: failed), if it still follows `tx_hash`.
pub async fn outbox_done(
    c: &impl GenericClient,
    id: i64,
    tx_hash: Option<&[u8]>,
    error: Option<&str>,
) -> Result<bool, Error> {
    Ok(OUTBOX_DONE
        .one(c, &[&id, &tx_hash, &error])
        .await?
        .outbox_done)
}

/// Job `id` signed the transaction `tx_hash` (valid up to
/// `last_ledger_seq`; `tx_blob` to submit again).
pub async fn outbox_submitted(
    c: &impl GenericClient,
    id: i64,
    tx_hash: &[u8],
    last_ledger_seq: i64,
    tx_blob: &[u8],
) -> Result<(), Error> {
    OUTBOX_SUBMITTED
        .run(c, &[&id, &tx_hash, &last_ledger_seq, &tx_blob])
        .await
}

/// The agreement's channel as the validated ledger has it.
pub async fn confirm_channel(
    c: &impl GenericClient,
    f: &ChannelFacts<'_>,
) -> Result<Agreement, Error> {
    CONFIRM_CHANNEL
        .one(
            c,
            &[
                &f.proposal_id,
                &f.tx_hash,
                &f.channel_id,
                &f.source,
                &f.public_key,
                &f.amount,
                &f.settle_delay,
                &f.destination,
                &f.destination_tag,
                &f.expiration,
                &f.cancel_after,
                &f.memo,
            ],
        )
        .await
}

/// A refresh's fund, with the channel's amount and Expiration on the
/// validated ledger.
pub async fn confirm_fund(
    c: &impl GenericClient,
    proposal_id: &str,
    tx_hash: &[u8],
    channel_id: &[u8],
    ledger_amount: i64,
    expiration: Option<SystemTime>,
) -> Result<Agreement, Error> {
    CONFIRM_FUND
        .one(
            c,
            &[
                &proposal_id,
                &tx_hash,
                &channel_id,
                &ledger_amount,
                &expiration,
            ],
        )
        .await
}

/// Refuse the agreement `proposal_id` made with `tx_hash`.
pub async fn reject_agreement(
    c: &impl GenericClient,
    proposal_id: &str,
    tx_hash: &[u8],
    reason: Reason,
) -> Result<(), Error> {
    // The function takes the label as text (and casts it).
    REJECT_AGREEMENT
        .run(c, &[&proposal_id, &tx_hash, &reason.as_str()])
        .await
}

/// The channel left the ledger having paid `ledger_balance` (unknown:
/// None); `reason` names a loss, if drip's best claim was not paid.
pub async fn record_channel_closed(
    c: &impl GenericClient,
    channel_id: &[u8],
    ledger_balance: Option<i64>,
    reason: Option<&str>,
) -> Result<(), Error> {
    RECORD_CHANNEL_CLOSED
        .run(c, &[&channel_id, &ledger_balance, &reason])
        .await
}

/// What the ledger paid from the channel so far.
pub async fn record_channel_balance(
    c: &impl GenericClient,
    channel_id: &[u8],
    ledger_balance: i64,
) -> Result<(), Error> {
    RECORD_CHANNEL_BALANCE
        .run(c, &[&channel_id, &ledger_balance])
        .await
}

/// The payer asked to close the channel: it expires at `expiration`.
pub async fn record_channel_closing(
    c: &impl GenericClient,
    channel_id: &[u8],
    expiration: SystemTime,
) -> Result<(), Error> {
    RECORD_CHANNEL_CLOSING
        .run(c, &[&channel_id, &expiration])
        .await
}

/// Queue the closing channel's claim again.
pub async fn requeue_claim(c: &impl GenericClient, channel_id: &[u8]) -> Result<(), Error> {
    REQUEUE_CLAIM.run(c, &[&channel_id]).await
}

/// Every channel drip holds claims on.
pub async fn watched_channels(c: &impl GenericClient) -> Result<Vec<WatchedChannel>, Error> {
    WATCHED_CHANNELS.all(c, &[]).await
}

/// What the hot wallet must keep for the outbox's work.
pub async fn outbox_needs(c: &impl GenericClient) -> Result<OutboxNeeds, Error> {
    OUTBOX_NEEDS.one(c, &[]).await
}

/// Past-due strikes, ended sessions, expired proposals.
pub async fn sweep(c: &impl GenericClient) -> Result<Swept, Error> {
    SWEEP.one(c, &[]).await
}

/// The outbox by kind and state.
pub async fn outbox_backlog(c: &impl GenericClient) -> Result<Vec<Backlog>, Error> {
    OUTBOX_BACKLOG.all(c, &[]).await
}

/// Losses by reason.
pub async fn losses_by_reason(c: &impl GenericClient) -> Result<Vec<Losses>, Error> {
    LOSSES_BY_REASON.all(c, &[]).await
}

/// The extension's version.
pub async fn version(c: &impl GenericClient) -> Result<String, Error> {
    Ok(VERSION.one(c, &[]).await?.version)
}

/// Take the transaction-level advisory lock `key`: false when another
/// session holds it. (PostgreSQL's own function, not the extension's.)
pub async fn try_advisory_xact_lock(c: &impl GenericClient, key: i64) -> Result<bool, Error> {
    c.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&key])
        .await?
        .try_get(0)
}
