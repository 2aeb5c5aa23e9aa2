//! C symbols that a released install script binds and the current SQL no
//! longer declares: `CREATE EXTENSION drip VERSION '0.1.0'` loads this
//! library, and a 0.1.0 database keeps calling them until `ALTER EXTENSION
//! drip UPDATE` drops them. `sql = false`: no current SQL is generated for
//! them. Each keeps its release's arguments and answers, on today's rules.

use drip_core::debt;
use pgrx::prelude::*;

use crate::engine::{charged, drops, due, to_sql, unit_debt_refusal};

/// 0.1.0's `drip._time_due`: time debt at `now`, capped at the channel.
#[pg_extern(immutable, parallel_safe, name = "_time_due", sql = false)]
fn time_due(
    payment_type: Option<&str>,
    rate: Option<i64>,
    polling_interval_secs: Option<i32>,
    active_at: Option<TimestampWithTimeZone>,
    now: Option<TimestampWithTimeZone>,
    channel_amount: Option<i64>,
) -> i64 {
    let charged = charged(polling_interval_secs, active_at, now);
    let (Some(payment_type), Some(rate), Some(channel_amount)) =
        (payment_type, rate, channel_amount)
    else {
        crate::engine::missing_terms()
    };
    to_sql(due(payment_type, rate, charged, 0, channel_amount).time)
}

/// 0.1.0's `drip._time_due_after`: time debt after `charged` intervals.
#[pg_extern(
    immutable,
    strict,
    parallel_safe,
    name = "_time_due_after",
    sql = false
)]
fn time_due_after(payment_type: &str, rate: i64, charged: i64, channel_amount: i64) -> i64 {
    let charged = u64::try_from(charged).unwrap_or(0);
    to_sql(due(payment_type, rate, charged, 0, channel_amount).time)
}

/// 0.1.0's `drip._unit_debt_denial`, given the time debt already charged.
#[pg_extern(
    immutable,
    strict,
    parallel_safe,
    name = "_unit_debt_denial",
    sql = false
)]
fn unit_debt_denial(
    payment_type: &str,
    time_due: i64,
    units: i64,
    rate: i64,
    amount: i64,
    channel_amount: i64,
) -> Option<&'static str> {
    let due = debt::Due::new(
        drops(time_due, "time_due"),
        drops(units, "units"),
        drops(channel_amount, "channel_amount"),
    );
    unit_debt_refusal(payment_type, due, rate, amount, channel_amount)
}
