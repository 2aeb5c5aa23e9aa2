//! Runs `drip.sweep(now)` on a timer: past-due strikes, sessions ended at
//! the limit or inside the claim window (their claim-and-close lands in the
//! outbox), stale proposals expired. The function is safe to run from
//! several sidecars at once (SKIP LOCKED), so no lock is taken here. Then
//! `drip.ilp_release_expired`: what ILP packets nobody answered still hold
//! (a sidecar crashed, or its release failed) is given back once they
//! expired; it locks in a fixed order, so sidecars may run it together.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::JobError;

/// Sweep every `every` until `stop` turns true.
pub async fn run(pool: Pool, every: Duration, metrics: Metrics, stop: watch::Receiver<bool>) {
    super::periodic("sweep", every, metrics, stop, || async {
        let (checked, struck, ended, expired) = sweep(&pool).await?;
        if checked + ended + expired > 0 {
            tracing::info!(checked, struck, ended, proposals_expired = expired, "sweep");
        }
        let released = release_expired(&pool).await?;
        if released > 0 {
            tracing::info!(released, "ILP holds of expired packets released");
        }
        Ok(())
    })
    .await;
}

async fn sweep(pool: &Pool) -> Result<(i32, i32, i32, i32), JobError> {
    let client = pool.get().await?;
    let r = client
        .query_one(
            "SELECT checked, struck, ended, proposals_expired FROM drip.sweep(now())",
            &[],
        )
        .await?;
    Ok((r.get(0), r.get(1), r.get(2), r.get(3)))
}

async fn release_expired(pool: &Pool) -> Result<i32, JobError> {
    let client = pool.get().await?;
    let r = client
        .query_one("SELECT drip.ilp_release_expired(now())", &[])
        .await?;
    Ok(r.get(0))
}
