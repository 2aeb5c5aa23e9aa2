//! Background work, one file per job.

pub mod ilp_claims;
pub mod offload;
pub mod outbox;
pub mod sweep;
pub mod watch;

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch as signal;

use crate::metrics::Metrics;
use crate::JobError;

/// Run `once` every `every` until `stop` turns true: a success is counted
/// as job `name` in the metrics, a failure logged (the next tick retries).
pub(crate) async fn periodic<F, Fut>(
    name: &'static str,
    every: Duration,
    metrics: Metrics,
    mut stop: signal::Receiver<bool>,
    mut once: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), JobError>>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match once().await {
            Ok(()) => metrics.job_ran(name),
            Err(e) => tracing::warn!(job = name, error = %e, "job failed; trying again next tick"),
        }
    }
}

/// Drops a channel that left the ledger paid in all, from the metadata of
/// the transaction that deleted it (in the wallet's own history: it is the
/// channel's destination); `None` when that is not found, and drip keeps
/// what it saw last.
pub(crate) async fn closed_balance(
    ledger: &drip_ledger::Client,
    wallet: &drip_core::AccountId,
    channel: &drip_core::Hash256,
) -> Result<Option<i64>, JobError> {
    let paid = ledger.closed_balance(wallet, channel, 400).await?;
    Ok(paid.and_then(|p| i64::try_from(p.get()).ok()))
}
