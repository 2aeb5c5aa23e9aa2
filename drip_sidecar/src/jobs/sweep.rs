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

use crate::engine::{ilp, outbox};
use crate::metrics::Metrics;

/// Sweep every `every` until `stop` turns true.
pub async fn run(pool: Pool, every: Duration, metrics: Metrics, stop: watch::Receiver<bool>) {
    super::periodic("sweep", every, metrics, stop, || async {
        let outbox::Swept {
            checked,
            struck,
            ended,
            proposals_expired,
        } = outbox::sweep(&pool.get().await?).await?;
        if checked + ended + proposals_expired > 0 {
            tracing::info!(checked, struck, ended, proposals_expired, "sweep");
        }
        let released = ilp::ilp_release_expired(&pool.get().await?).await?;
        if released > 0 {
            tracing::info!(released, "ILP holds of expired packets released");
        }
        Ok(())
    })
    .await;
}
