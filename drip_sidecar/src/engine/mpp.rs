//! HTTP 402 (MPP sessions): a channel's accepted total, vouchers, and the
//! channel's facts from the ledger.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::Type;
use tokio_postgres::Error;

use super::ilp::IncomingChannel;
use super::{calls, row, Call, Reason};

row! {
    /// `drip.mpp_channel`: all NULL for a channel drip does not hold for
    /// HTTP.
    pub struct MppChannel {
        /// The total its vouchers paid.
        best: Option<i64>,
        /// Its amount on the ledger.
        deposit: Option<i64>,
        /// drip takes no more vouchers on it.
        finalized: Option<bool>,
    }
}

row! {
    /// `drip.mpp_payment`: a voucher's verdict.
    pub struct MppPayment {
        accepted: bool,
        reason: Option<Reason>,
        /// The accepted total after the call.
        best: Option<i64>,
        deposit: Option<i64>,
    }
}

row! {
    /// `drip.mpp_open_channel`: why the channel was refused, if so.
    pub struct MppOpenChannel {
        mpp_open_channel: Option<Reason>,
    }
}

calls! {
    /// `drip.mpp_channel(channel_id)`.
    MPP_CHANNEL: Call<MppChannel> = Call::function("mpp_channel", &[Type::BYTEA]);
    /// `drip.mpp_pay(channel_id, amount, signature, price, source, challenge, expires, close)`.
    MPP_PAY: Call<MppPayment> = Call::function(
        "mpp_pay",
        &[
            Type::BYTEA, Type::INT8, Type::BYTEA, Type::INT8, Type::TEXT, Type::TEXT,
            Type::TIMESTAMPTZ, Type::BOOL,
        ],
    );
    /// `drip.mpp_open_channel(channel...)`.
    MPP_OPEN_CHANNEL: Call<MppOpenChannel> = Call::function(
        "mpp_open_channel",
        &[
            Type::BYTEA, Type::TEXT, Type::BYTEA, Type::INT8, Type::INT4, Type::TEXT,
            Type::TIMESTAMPTZ, Type::TIMESTAMPTZ, Type::INT8, Type::INT4,
        ],
    );
}

/// The channel's accepted total and standing, if drip holds it for HTTP.
pub async fn mpp_channel(c: &impl GenericClient, channel_id: &[u8]) -> Result<MppChannel, Error> {
    MPP_CHANNEL.one(c, &[&channel_id]).await
}

/// A voucher paying one request, as `drip.mpp_pay` takes it.
#[derive(Debug, Clone, Copy)]
pub struct Voucher<'a> {
    /// The channel.
    pub channel_id: &'a [u8],
    /// The cumulative total signed for.
    pub amount: i64,
    /// The claim's signature.
    pub signature: &'a [u8],
    /// What the request costs.
    pub price: i64,
    /// The payer's address (the credential's `source`).
    pub source: &'a str,
    /// The challenge it answers, and when that expires.
    pub challenge_id: &'a str,
    /// When the challenge expires.
    pub challenge_expires: std::time::SystemTime,
    /// The payer closes the session with it.
    pub close: bool,
}

/// Take a voucher (one transaction under the channel's lock).
pub async fn mpp_pay(c: &impl GenericClient, v: &Voucher<'_>) -> Result<MppPayment, Error> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &v.channel_id,
        &v.amount,
        &v.signature,
        &v.price,
        &v.source,
        &v.challenge_id,
        &v.challenge_expires,
        &v.close,
    ];
    MPP_PAY.one(c, &params).await
}

/// Record a payer's channel for HTTP as the validated ledger has it; why
/// not, if refused.
pub async fn mpp_open_channel(
    c: &impl GenericClient,
    ch: &IncomingChannel<'_>,
    min_settle_delay: i32,
) -> Result<Option<Reason>, Error> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
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
    Ok(MPP_OPEN_CHANNEL.one(c, &params).await?.mpp_open_channel)
}
