//! Redeems ILP clients' claims on the ledger when they are worth it: every
//! `btp.claim_interval`, a claim job is queued for each open incoming
//! channel whose unredeemed claims reach 100 times the current fee (the
//! original plugin's rule); the outbox worker submits them.

use std::time::Duration;

use deadpool_postgres::Pool;
use drip_ledger::Client;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::JobError;

/// Income below this many fees is left for later.
const FEES: u64 = 100;

/// Queue worthwhile claims every `every` until `stop` turns true.
pub async fn run(
    pool: Pool,
    ledger: Client,
    every: Duration,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
) {
    super::periodic("ilp_claims", every, metrics, stop, || queue(&pool, &ledger)).await;
}

async fn queue(pool: &Pool, ledger: &Client) -> Result<(), JobError> {
    let fee = ledger.open_ledger_fee().await?;
    let min_income = i64::try_from(fee.get().saturating_mul(FEES)).unwrap_or(i64::MAX);
    let queued = crate::engine::ilp::ilp_queue_claims(&pool.get().await?, min_income).await?;
    if queued > 0 {
        tracing::info!(queued, min_income, "ILP claims queued for the ledger");
    }
    Ok(())
}
