//! The ILP (BTP) server's accounts, claims, packets and the server's own
//! channels to its clients.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::Type;
use tokio_postgres::Error;

use super::{calls, row, Call, OutgoingState, Reason};

row! {
    /// `drip.ilp_account`: an account, all NULL when there is none (or
    /// when `drip.ilp_connect` refused the token).
    pub struct IlpAccount {
        account: Option<String>,
        blocked: Option<bool>,
        block_reason: Option<String>,
        channel_id: Option<Vec<u8>>,
        channel_amount: Option<i64>,
        best_claim: Option<i64>,
        best_signature: Option<Vec<u8>>,
        ledger_balance: Option<i64>,
    }
}

row! {
    /// `drip.ilp_outgoing`: the server's channel to an ILP client.
    pub struct IlpOutgoing {
        account: Option<String>,
        destination: Option<String>,
        public_key: Option<Vec<u8>>,
        state: Option<OutgoingState>,
        channel_id: Option<Vec<u8>>,
        amount: Option<i64>,
        funding: Option<i64>,
        /// Base units paid to the client by claims.
        signed: Option<i64>,
        last_error: Option<String>,
    }
}

row! {
    /// `drip.ilp_funding`: why a client's channel was not queued, if so.
    pub struct IlpFunding {
        reason: Option<Reason>,
    }
}

row! {
    /// `drip.ilp_verdict`: an ILP error code and message, or the hold.
    pub struct IlpVerdict {
        code: Option<String>,
        message: Option<String>,
        hold: Option<i64>,
    }
}

row! {
    /// `drip.ilp_payout`: the claim a fulfilled packet adds up to, or why
    /// it pays nothing.
    pub struct IlpPayout {
        channel_id: Option<Vec<u8>>,
        signed: Option<i64>,
        drops: Option<i64>,
        reason: Option<Reason>,
    }
}

row! {
    /// `drip.ilp_claims`: one claim's verdict, in the batch's order.
    pub struct IlpClaimVerdict {
        accepted: bool,
        reason: Option<Reason>,
    }
}

row! {
    /// `drip.ilp_outgoing_open`: an open channel of the server's.
    pub struct OpenOutgoing {
        account: String,
        channel_id: Vec<u8>,
    }
}

row! {
    /// `drip.ilp_open_channel`: why the channel was refused, if so.
    pub struct IlpOpenChannel {
        ilp_open_channel: Option<Reason>,
    }
}

row! {
    /// `drip.ilp_queue_claims`: claim jobs queued.
    pub struct IlpQueueClaims {
        ilp_queue_claims: i32,
    }
}

row! {
    /// `drip.ilp_release_expired`: holds released.
    pub struct IlpReleaseExpired {
        ilp_release_expired: i32,
    }
}

/// A client's incoming channel as the validated ledger has it, for
/// `drip.ilp_open_channel`.
#[derive(Debug, Clone)]
pub struct IncomingChannel<'a> {
    /// The channel's id.
    pub channel_id: &'a [u8],
    /// Its source account.
    pub source: &'a str,
    /// Its key.
    pub public_key: &'a [u8],
    /// Drops in it.
    pub amount: i64,
    /// SettleDelay, seconds.
    pub settle_delay: i32,
    /// Its destination.
    pub destination: &'a str,
    /// Expiration, if set.
    pub expiration: Option<SystemTime>,
    /// CancelAfter, if set.
    pub cancel_after: Option<SystemTime>,
    /// Drops the ledger paid from it.
    pub ledger_balance: i64,
}

/// The server's bounds, as `drip.ilp_configure` writes them.
#[derive(Debug, Clone, Copy)]
pub struct IlpSettings {
    /// The asset scale of base units.
    pub asset_scale: i32,
    /// Base units a client may owe beyond its claims.
    pub bandwidth: i64,
    /// The longest a packet may be held, seconds.
    pub max_hold_secs: i32,
    /// Drops of the server's channel to a client.
    pub outgoing_channel_amount: i64,
    /// The least drops of a client's channel to the server.
    pub min_incoming_channel_amount: i64,
}

calls! {
    /// `drip.ilp_account(account)`.
    ILP_ACCOUNT: Call<IlpAccount> = Call::function("ilp_account", &[Type::TEXT]);
    /// `drip.ilp_connect(account, token_hash)`.
    ILP_CONNECT: Call<IlpAccount> = Call::function("ilp_connect", &[Type::TEXT, Type::BYTEA]);
    /// `drip.ilp_configure(...)`.
    ILP_CONFIGURE: Call<()> = Call::function(
        "ilp_configure",
        &[Type::INT4, Type::INT8, Type::INT4, Type::INT8, Type::INT8],
    );
    /// `drip.ilp_open_channel(account, channel...)`.
    ILP_OPEN_CHANNEL: Call<IlpOpenChannel> = Call::function(
        "ilp_open_channel",
        &[
            Type::TEXT, Type::BYTEA, Type::TEXT, Type::BYTEA, Type::INT8, Type::INT4, Type::TEXT,
            Type::TIMESTAMPTZ, Type::TIMESTAMPTZ, Type::INT8, Type::INT4,
        ],
    );
    /// `drip.ilp_claims(accounts, amounts, signatures)`.
    ILP_CLAIMS: Call<IlpClaimVerdict> = Call::set_function(
        "ilp_claims",
        &[Type::TEXT_ARRAY, Type::INT8_ARRAY, Type::BYTEA_ARRAY],
    );
    /// `drip.ilp_route(from, to, amount, expires_at)`.
    ILP_ROUTE: Call<IlpVerdict> = Call::function(
        "ilp_route",
        &[Type::TEXT, Type::TEXT, Type::INT8, Type::TIMESTAMPTZ],
    );
    /// `drip.ilp_rollback(hold)`.
    ILP_ROLLBACK: Call<()> = Call::function("ilp_rollback", &[Type::INT8]);
    /// `drip.ilp_route_fulfilled(hold)`.
    ILP_ROUTE_FULFILLED: Call<IlpPayout> = Call::function("ilp_route_fulfilled", &[Type::INT8]);
    /// `drip.ilp_release_expired()`, at the database's now() (the
    /// argument's default).
    ILP_RELEASE_EXPIRED: Call<IlpReleaseExpired> = Call::function("ilp_release_expired", &[]);
    /// `drip.ilp_queue_claims(min_income)`.
    ILP_QUEUE_CLAIMS: Call<IlpQueueClaims> = Call::function("ilp_queue_claims", &[Type::INT8]);
    /// `drip.ilp_outgoing_channel(account)`.
    ILP_OUTGOING_CHANNEL: Call<IlpOutgoing> =
        Call::function("ilp_outgoing_channel", &[Type::TEXT]);
    /// `drip.ilp_fund_channel(account, destination, public_key)`.
    ILP_FUND_CHANNEL: Call<IlpFunding> =
        Call::function("ilp_fund_channel", &[Type::TEXT, Type::TEXT, Type::BYTEA]);
    /// `drip.ilp_outgoing_result(account, channel_id, amount, error)`.
    ILP_OUTGOING_RESULT: Call<()> = Call::function(
        "ilp_outgoing_result",
        &[Type::TEXT, Type::BYTEA, Type::INT8, Type::TEXT],
    );
    /// `drip.ilp_outgoing_closed(account, channel_id)`.
    ILP_OUTGOING_CLOSED: Call<()> =
        Call::function("ilp_outgoing_closed", &[Type::TEXT, Type::BYTEA]);
    /// `drip.ilp_outgoing_open()`.
    ILP_OUTGOING_OPEN: Call<OpenOutgoing> = Call::set_function("ilp_outgoing_open", &[]);
}

/// The account (all NULL: none).
pub async fn ilp_account(c: &impl GenericClient, account: &str) -> Result<IlpAccount, Error> {
    ILP_ACCOUNT.one(c, &[&account]).await
}

/// Authenticate `account` by its token's hash, binding it on first use
/// (all NULL: the token is not the account's).
pub async fn ilp_connect(
    c: &impl GenericClient,
    account: &str,
    token_hash: &[u8],
) -> Result<IlpAccount, Error> {
    ILP_CONNECT.one(c, &[&account, &token_hash]).await
}

/// Write the server's bounds to `drip.ilp_settings`.
pub async fn ilp_configure(c: &impl GenericClient, s: &IlpSettings) -> Result<(), Error> {
    ILP_CONFIGURE
        .run(
            c,
            &[
                &s.asset_scale,
                &s.bandwidth,
                &s.max_hold_secs,
                &s.outgoing_channel_amount,
                &s.min_incoming_channel_amount,
            ],
        )
        .await
}

/// Register the account's incoming channel, at least `min_settle_delay`
/// seconds: why it was refused, if so.
pub async fn ilp_open_channel(
    c: &impl GenericClient,
    account: &str,
    ch: &IncomingChannel<'_>,
    min_settle_delay: i32,
) -> Result<Option<Reason>, Error> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] = [
        &account,
        &ch.channel_id,
        &ch.source,
        &ch.public_key,
        &ch.amount,
        &ch.settle_delay,
        &ch.destination,
        &ch.expiration,
        &ch.cancel_after,
        &ch.ledger_balance,
        &min_settle_delay,
    ];
    Ok(ILP_OPEN_CHANNEL.one(c, &params).await?.ilp_open_channel)
}

/// Keep a batch of claims: one verdict per claim, in order.
pub async fn ilp_claims(
    c: &impl GenericClient,
    accounts: &[&str],
    amounts: &[i64],
    signatures: &[&[u8]],
) -> Result<Vec<IlpClaimVerdict>, Error> {
    ILP_CLAIMS.all(c, &[&accounts, &amounts, &signatures]).await
}

/// Count a packet of `amount` from `from` to `to` (expiring at
/// `expires_at`) and hold it.
pub async fn ilp_route(
    c: &impl GenericClient,
    from: &str,
    to: &str,
    amount: i64,
    expires_at: SystemTime,
) -> Result<IlpVerdict, Error> {
    ILP_ROUTE.one(c, &[&from, &to, &amount, &expires_at]).await
}

/// Release an unfulfilled packet's hold.
pub async fn ilp_rollback(c: &impl GenericClient, hold: i64) -> Result<(), Error> {
    ILP_ROLLBACK.run(c, &[&hold]).await
}

/// A packet held as `hold` was fulfilled: pay its receiver.
pub async fn ilp_route_fulfilled(c: &impl GenericClient, hold: i64) -> Result<IlpPayout, Error> {
    ILP_ROUTE_FULFILLED.one(c, &[&hold]).await
}

/// Release what expired packets still hold: how many.
pub async fn ilp_release_expired(c: &impl GenericClient) -> Result<i32, Error> {
    Ok(ILP_RELEASE_EXPIRED.one(c, &[]).await?.ilp_release_expired)
}

/// Queue a claim job for each incoming channel whose unredeemed claims
/// reach `min_income` drops: how many.
pub async fn ilp_queue_claims(c: &impl GenericClient, min_income: i64) -> Result<i32, Error> {
    Ok(ILP_QUEUE_CLAIMS
        .one(c, &[&min_income])
        .await?
        .ilp_queue_claims)
}

/// The account's outgoing channel, if it ever asked for one.
pub async fn ilp_outgoing_channel(
    c: &impl GenericClient,
    account: &str,
) -> Result<Option<IlpOutgoing>, Error> {
    let o = ILP_OUTGOING_CHANNEL.one(c, &[&account]).await?;
    Ok(o.account.is_some().then_some(o))
}

/// A client asks for a channel to `destination`, under the key derived
/// for it: why it was refused, if so.
pub async fn ilp_fund_channel(
    c: &impl GenericClient,
    account: &str,
    destination: &str,
    public_key: &[u8],
) -> Result<Option<Reason>, Error> {
    Ok(ILP_FUND_CHANNEL
        .one(c, &[&account, &destination, &public_key])
        .await?
        .reason)
}

/// The outcome of an outgoing channel's create or fund: the channel and
/// its drops, or the error.
pub async fn ilp_outgoing_result(
    c: &impl GenericClient,
    account: &str,
    channel_id: Option<&[u8]>,
    amount: Option<i64>,
    error: Option<&str>,
) -> Result<(), Error> {
    ILP_OUTGOING_RESULT
        .run(c, &[&account, &channel_id, &amount, &error])
        .await
}

/// The account's outgoing channel left the ledger.
pub async fn ilp_outgoing_closed(
    c: &impl GenericClient,
    account: &str,
    channel_id: &[u8],
) -> Result<(), Error> {
    ILP_OUTGOING_CLOSED.run(c, &[&account, &channel_id]).await
}

/// The server's open channels to clients.
pub async fn ilp_outgoing_open(c: &impl GenericClient) -> Result<Vec<OpenOutgoing>, Error> {
    ILP_OUTGOING_OPEN.all(c, &[]).await
}
