//! The session engine's Rust helpers: each wraps one `drip_core` rule for the
//! SQL functions in `sql/engine/`, which own the transactions and locks.

use drip_core::debt::{self, ClaimDenial};
use drip_core::proposal::{Proposal, ProposalKind};
use drip_core::terms::{PaymentType, Terms};
use drip_core::{AccountId, Drops, Hash256, KeyPair};
use pgrx::prelude::*;

use crate::error;

pub(crate) fn drops(v: i64, argument: &str) -> Drops {
    Drops::from_i64(v).unwrap_or_else(|e| {
        error::invalid_parameter(
            &e.to_string(),
            argument,
            "Amounts are whole drops, zero or more.",
        )
    })
}

fn payment_type(s: &str) -> PaymentType {
    s.parse()
        .unwrap_or_else(|e: drip_core::terms::PaymentTypeError| {
            error::invalid_parameter(&e.to_string(), "payment_type", "Use time, unit or both.")
        })
}

fn secs(v: i32, argument: &str) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| {
        error::invalid_parameter(
            &format!("{argument} is {v}"),
            argument,
            "Durations are seconds, zero or more.",
        )
    })
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::getrandom(&mut b).is_err() {
        error::internal("the operating system's random source failed");
    }
    b
}

/// A new drip token: 160 random bits, hex.
#[pg_extern(volatile, parallel_safe, name = "_new_token")]
fn new_token() -> String {
    hex::encode(random::<20>())
}

/// A new proposal id: 128 random bits, hex.
#[pg_extern(volatile, parallel_safe, name = "_new_proposal_id")]
fn new_proposal_id() -> String {
    hex::encode(random::<16>())
}

/// A new Ed25519 server key: its 32-byte secret and 33-byte public key.
#[pg_extern(volatile, parallel_safe, name = "_generate_server_key")]
fn generate_server_key(
) -> TableIterator<'static, (name!(secret, Vec<u8>), name!(public_key, Vec<u8>))> {
    let secret = random::<32>();
    let pair = KeyPair::ed25519_from_secret(&secret)
        .unwrap_or_else(|e| error::internal(&format!("key generation: {e}")));
    TableIterator::once((secret.to_vec(), pair.public_key().as_bytes().to_vec()))
}

/// The rate per polling interval under these terms; 22023 if undefined.
#[pg_extern(immutable, strict, parallel_safe)]
fn terms_rate(
    payment_type: &str,
    polling_interval_secs: i32,
    channel_funding: i64,
    session_length_secs: i32,
) -> i64 {
    let terms = Terms {
        payment_type: self::payment_type(payment_type),
        polling_interval_secs: secs(polling_interval_secs, "polling_interval_secs"),
        channel_funding: drops(channel_funding, "channel_funding"),
        session_length_secs: secs(session_length_secs, "session_length_secs"),
        min_settle_delay_secs: 0,
    };
    let rate = terms.rate_per_interval().unwrap_or_else(|e| {
        error::invalid_parameter(
            &e.to_string(),
            "terms",
            "The session must hold at least one polling interval.",
        )
    });
    rate.to_i64().unwrap_or(i64::MAX)
}

/// Sign a proposal with the server key; returns the signed envelope.
#[allow(clippy::too_many_arguments)]
#[pg_extern(immutable, parallel_safe, name = "_sign_proposal")]
fn sign_proposal(
    secret: &[u8],
    proposal_id: &str,
    channel_id: Option<&[u8]>,
    payment_type: &str,
    rate: i64,
    polling_interval_secs: i32,
    channel_funding: i64,
    settle_delay_secs: i32,
    destination: &str,
    destination_tag: Option<i64>,
    expires_at: TimestampWithTimeZone,
) -> TableIterator<
    'static,
    (
        name!(payload, String),
        name!(signature, String),
        name!(public_key, String),
    ),
> {
    let secret: [u8; 32] = secret
        .try_into()
        .unwrap_or_else(|_| error::internal("the server key is not 32 bytes"));
    let key = KeyPair::ed25519_from_secret(&secret)
        .unwrap_or_else(|e| error::internal(&format!("server key: {e}")));
    let kind = match channel_id {
        None => ProposalKind::Initial,
        Some(c) => ProposalKind::Refresh {
            channel_id: Hash256::from_slice(c).unwrap_or_else(|e| {
                error::invalid_parameter(&e.to_string(), "channel_id", "A channel id is 32 bytes.")
            }),
        },
    };
    let destination: AccountId =
        destination
            .parse()
            .unwrap_or_else(|e: drip_core::account::AddressError| {
                error::invalid_parameter(
                    &e.to_string(),
                    "destination",
                    "Set drip.terms.destination to the server wallet's classic address.",
                )
            });
    let proposal = Proposal {
        proposal_id: proposal_id.to_owned(),
        kind,
        payment_type: self::payment_type(payment_type),
        rate: drops(rate, "rate"),
        polling_interval_secs: secs(polling_interval_secs, "polling_interval_secs"),
        channel_funding: drops(channel_funding, "channel_funding"),
        settle_delay_secs: secs(settle_delay_secs, "settle_delay_secs"),
        destination,
        destination_tag: destination_tag.map(|t| u32::try_from(t).unwrap_or(0)),
        expires_at: unix_seconds(expires_at),
    };
    let signed = proposal
        .sign(&key)
        .unwrap_or_else(|e| error::internal(&format!("signing: {e}")));
    TableIterator::once((signed.payload, signed.signature, signed.public_key))
}

/// Seconds since the Unix epoch.
fn unix_seconds(t: TimestampWithTimeZone) -> i64 {
    micros(t).div_euclid(debt::MICROS_PER_SEC)
}

/// timestamptz counts microseconds from 2000-01-01; drip_core from 1970.
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800 * debt::MICROS_PER_SEC;

/// Microseconds since the Unix epoch.
fn micros(t: TimestampWithTimeZone) -> i64 {
    let pg: i64 = t.into_inner();
    pg.saturating_add(PG_EPOCH_OFFSET_MICROS)
}

/// A timestamptz from microseconds since the Unix epoch.
fn timestamp(unix_micros: i64) -> TimestampWithTimeZone {
    let pg = unix_micros.saturating_sub(PG_EPOCH_OFFSET_MICROS);
    TimestampWithTimeZone::try_from(pg)
        .unwrap_or_else(|_| error::internal("timestamp out of range"))
}

/// Intervals charged by `at` for a session of these time terms, active since
/// `active_at` (none before it is active). The terms are required.
pub(crate) fn charged(
    polling_interval_secs: Option<i32>,
    active_at: Option<TimestampWithTimeZone>,
    at: Option<TimestampWithTimeZone>,
) -> u64 {
    let (Some(interval), Some(at)) = (polling_interval_secs, at) else {
        missing_terms()
    };
    active_at.map_or(0, |active_at| {
        debt::intervals_charged(
            micros(active_at),
            micros(at),
            secs(interval, "polling_interval_secs"),
        )
    })
}

pub(crate) fn missing_terms() -> ! {
    error::invalid_parameter(
        "missing time terms",
        "payment_type, rate, polling_interval_secs, at, unit_debt, channel_amount",
        "Only active_at may be NULL (a session not yet active owes no time).",
    )
}

/// A session's debt after `charged` intervals and `units` of unit debts.
pub(crate) fn due(
    payment_type: &str,
    rate: i64,
    charged: u64,
    units: i64,
    channel_amount: i64,
) -> debt::Due {
    debt::amount_due(
        self::payment_type(payment_type),
        drops(rate, "rate"),
        charged,
        drops(units, "unit_debt"),
        drops(channel_amount, "channel_amount"),
    )
}

pub(crate) fn to_sql(d: Drops) -> i64 {
    d.to_i64().unwrap_or(i64::MAX)
}

/// What a session owes at `at`: one rate per polling interval started since
/// `active_at` plus its unit debts, never more than the channel holds. Not
/// strict, for `active_at`; the other arguments are required.
#[pg_extern(immutable, parallel_safe, name = "_amount_due")]
fn amount_due(
    payment_type: Option<&str>,
    rate: Option<i64>,
    polling_interval_secs: Option<i32>,
    active_at: Option<TimestampWithTimeZone>,
    at: Option<TimestampWithTimeZone>,
    unit_debt: Option<i64>,
    channel_amount: Option<i64>,
) -> i64 {
    let charged = charged(polling_interval_secs, active_at, at);
    let (Some(payment_type), Some(rate), Some(units), Some(channel_amount)) =
        (payment_type, rate, unit_debt, channel_amount)
    else {
        missing_terms()
    };
    to_sql(due(payment_type, rate, charged, units, channel_amount).total)
}

/// What a session owes after `charged` intervals and `units` of unit debts.
#[pg_extern(immutable, strict, parallel_safe, name = "_due_after")]
fn due_after(payment_type: &str, rate: i64, charged: i64, units: i64, channel_amount: i64) -> i64 {
    let charged = u64::try_from(charged).unwrap_or(0);
    to_sql(due(payment_type, rate, charged, units, channel_amount).total)
}

/// Polling intervals of a session active since `active_at` that have ended
/// by `now`.
#[pg_extern(immutable, strict, parallel_safe, name = "_intervals_ended")]
fn intervals_ended(
    active_at: TimestampWithTimeZone,
    now: TimestampWithTimeZone,
    polling_interval_secs: i32,
) -> i64 {
    let n = debt::intervals_ended(
        micros(active_at),
        micros(now),
        secs(polling_interval_secs, "polling_interval_secs"),
    );
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// When interval `k` (0-based) ends.
#[pg_extern(immutable, strict, parallel_safe, name = "_interval_end")]
fn interval_end(
    active_at: TimestampWithTimeZone,
    k: i64,
    polling_interval_secs: i32,
) -> TimestampWithTimeZone {
    let k = u64::try_from(k).unwrap_or(0);
    let end = debt::interval_end(
        micros(active_at),
        k,
        secs(polling_interval_secs, "polling_interval_secs"),
    );
    timestamp(end)
}

/// The past-due rule for a session with `strikes_before` strikes, checked
/// with `ended` intervals over (`checked` at its last check), whose best
/// claim is `best` and which owed `due` when the latest ended: its strikes
/// after, whether this check
/// struck, and whether it reached `past_due_limit` (0: none).
#[pg_extern(immutable, strict, parallel_safe, name = "_judge_intervals")]
fn judge_intervals(
    strikes_before: i32,
    checked: i64,
    ended: i64,
    best: i64,
    due: i64,
    past_due_limit: i32,
) -> TableIterator<
    'static,
    (
        name!(strikes, i32),
        name!(struck, bool),
        name!(past_due, bool),
    ),
> {
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let j = debt::judge_intervals(
        u32::try_from(strikes_before).unwrap_or(0),
        count(checked),
        count(ended),
        drops(best, "best"),
        drops(due, "due"),
        u32::try_from(past_due_limit).unwrap_or(0),
    );
    TableIterator::once((
        i32::try_from(j.strikes).unwrap_or(i32::MAX),
        j.struck,
        j.past_due,
    ))
}

/// Why a unit debt of `amount` cannot be added to a session of these terms
/// at `at` (`not_positive`, `not_unit_based`, `exceeds_channel`), or NULL.
#[pg_extern(immutable, strict, parallel_safe, name = "_unit_debt_denial")]
#[allow(clippy::too_many_arguments)]
fn admit_unit_debt(
    payment_type: &str,
    rate: i64,
    polling_interval_secs: i32,
    active_at: TimestampWithTimeZone,
    at: TimestampWithTimeZone,
    unit_debt: i64,
    amount: i64,
    channel_amount: i64,
) -> Option<&'static str> {
    let charged = charged(Some(polling_interval_secs), Some(active_at), Some(at));
    let due = due(payment_type, rate, charged, unit_debt, channel_amount);
    unit_debt_refusal(payment_type, due, rate, amount, channel_amount)
}

/// `debt::admit_unit_debt`'s refusal in SQL's words.
pub(crate) fn unit_debt_refusal(
    payment_type: &str,
    due: debt::Due,
    rate: i64,
    amount: i64,
    channel_amount: i64,
) -> Option<&'static str> {
    match debt::admit_unit_debt(
        self::payment_type(payment_type),
        due,
        drops(rate, "rate"),
        drops(amount, "amount"),
        drops(channel_amount, "channel_amount"),
    ) {
        Ok(()) => None,
        Err(debt::UnitDebtDenial::NotPositive) => Some("not_positive"),
        Err(debt::UnitDebtDenial::NotUnitBased) => Some("not_unit_based"),
        Err(debt::UnitDebtDenial::ExceedsChannel) => Some("exceeds_channel"),
    }
}

/// Why a claim of `amount` cannot be taken over `best` on a channel holding
/// `channel_amount` (`not_above_best`, `exceeds_channel`), or NULL.
#[pg_extern(immutable, strict, parallel_safe, name = "_claim_denial")]
fn claim_denial(amount: i64, best: i64, channel_amount: i64) -> Option<&'static str> {
    let r = debt::accept_claim(
        drops(amount, "amount"),
        drops(best, "best"),
        drops(channel_amount, "channel_amount"),
    );
    match r {
        Ok(()) => None,
        Err(ClaimDenial::NotAboveBest) => Some("not_above_best"),
        Err(ClaimDenial::ExceedsChannel) => Some("exceeds_channel"),
    }
}

/// Why an HTTP 402 voucher for `amount` cannot pay a request of `price` on
/// a channel holding `deposit` whose accepted total is `best`
/// (`exceeds_channel`, `replayed`, `below_best`, `underpaid`), or NULL.
#[pg_extern(immutable, strict, parallel_safe, name = "_voucher_denial")]
fn voucher_denial(amount: i64, best: i64, deposit: i64, price: i64) -> Option<&'static str> {
    let r = debt::accept_voucher(
        drops(amount, "amount"),
        drops(best, "best"),
        drops(deposit, "deposit"),
        drops(price, "price"),
    );
    match r {
        Ok(()) => None,
        Err(debt::VoucherDenial::ExceedsChannel) => Some("exceeds_channel"),
        Err(debt::VoucherDenial::Replayed) => Some("replayed"),
        Err(debt::VoucherDenial::BelowBest) => Some("below_best"),
        Err(debt::VoucherDenial::Underpaid) => Some("underpaid"),
    }
}
