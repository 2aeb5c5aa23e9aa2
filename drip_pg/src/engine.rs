//! The session engine's Rust helpers: each wraps one `drip_core` rule for the
//! SQL functions in `sql/engine.sql`, which own the transactions and locks.

use drip_core::debt::{self, ClaimDenial};
use drip_core::proposal::{Proposal, ProposalKind};
use drip_core::terms::{PaymentType, Terms};
use drip_core::{AccountId, Drops, Hash256, KeyPair};
use pgrx::prelude::*;

use crate::error;

fn drops(v: i64, argument: &str) -> Drops {
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

/// Time debt of a session at `now`: one rate per polling interval started
/// since `active_at` (none before it is active), capped at the channel's
/// amount. Not strict, for `active_at`; the other arguments are required.
#[pg_extern(immutable, parallel_safe, name = "_time_due")]
fn time_due(
    payment_type: Option<&str>,
    rate: Option<i64>,
    polling_interval_secs: Option<i32>,
    active_at: Option<TimestampWithTimeZone>,
    now: Option<TimestampWithTimeZone>,
    channel_amount: Option<i64>,
) -> i64 {
    let (Some(payment_type), Some(rate), Some(interval), Some(now), Some(channel_amount)) = (
        payment_type,
        rate,
        polling_interval_secs,
        now,
        channel_amount,
    ) else {
        error::invalid_parameter(
            "missing time terms",
            "payment_type, rate, polling_interval_secs, now, channel_amount",
            "Only active_at may be NULL (a session not yet active owes no time).",
        )
    };
    let Some(active_at) = active_at else {
        return 0;
    };
    let charged = debt::intervals_charged(
        micros(active_at),
        micros(now),
        secs(interval, "polling_interval_secs"),
    );
    capped_time_debt(payment_type, rate, charged, channel_amount)
}

/// Time debt after `charged` intervals for this payment type, capped at the
/// channel's amount.
fn capped_time_debt(payment_type: &str, rate: i64, charged: u64, channel_amount: i64) -> i64 {
    if !self::payment_type(payment_type).charges_time() {
        return 0;
    }
    debt::time_debt(
        drops(rate, "rate"),
        charged,
        drops(channel_amount, "channel_amount"),
    )
    .to_i64()
    .unwrap_or(i64::MAX)
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

/// Time debt after `charged` intervals, capped at the channel's amount.
#[pg_extern(immutable, strict, parallel_safe, name = "_time_due_after")]
fn time_due_after(payment_type: &str, rate: i64, charged: i64, channel_amount: i64) -> i64 {
    capped_time_debt(
        payment_type,
        rate,
        u64::try_from(charged).unwrap_or(0),
        channel_amount,
    )
}

/// Why a unit debt of `amount` cannot be added (`not_unit_based`,
/// `exceeds_channel`), or NULL.
#[pg_extern(immutable, strict, parallel_safe, name = "_unit_debt_denial")]
fn unit_debt_denial(
    payment_type: &str,
    time_due: i64,
    units: i64,
    rate: i64,
    amount: i64,
    channel_amount: i64,
) -> Option<&'static str> {
    let (time, units) = (drops(time_due, "time_due"), drops(units, "units"));
    let channel = drops(channel_amount, "channel_amount");
    let due = debt::Due {
        time,
        units,
        total: time.checked_add(units).unwrap_or(Drops::MAX).min(channel),
    };
    let pt = self::payment_type(payment_type);
    match debt::admit_unit_debt(
        pt,
        due,
        drops(rate, "rate"),
        drops(amount, "amount"),
        channel,
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
        Drops::ZERO,
        drops(channel_amount, "channel_amount"),
    );
    match r {
        Ok(_) => None,
        Err(ClaimDenial::NotAboveBest) => Some("not_above_best"),
        Err(ClaimDenial::ExceedsChannel) => Some("exceeds_channel"),
    }
}
