//! Moves the hot wallet's excess to the cold address: whatever is above the
//! threshold goes out in one Payment, leaving exactly the threshold, but
//! never what the wallet needs: its account reserve (one increment per
//! channel it owns or is about to create), a fee for every transaction the
//! outbox still has to send (claims above all), and the XRP its queued
//! channel creates and funds put in. One sidecar at a time (a transaction-level advisory lock),
//! and the payment is followed to validation before the lock is let go, so
//! two runs never send the same excess.

use std::time::Duration;

use deadpool_postgres::Pool;
use drip_core::Drops;
use drip_ledger::{Outcome, ResultClass, Submitter};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::watch;

use crate::engine::outbox as engine;
use crate::metrics::Metrics;
use crate::JobError;

/// The advisory lock key of the offload singleton.
const LOCK: i64 = 0x6472_6970_6f66_666c; // "dripoffl"

/// Where the excess goes and what stays.
#[derive(Debug, Clone)]
pub struct Offload {
    /// The cold address.
    pub address: String,
    /// The hot wallet keeps this much.
    pub threshold: Drops,
    /// The most one of drip's transactions may pay in fees.
    pub max_fee: Drops,
}

/// Offload every `every` until `stop` turns true.
pub async fn run(
    pool: Pool,
    submitter: Arc<Submitter>,
    offload: Offload,
    every: Duration,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
) {
    super::periodic("offload", every, metrics, stop, || {
        once(&pool, &submitter, &offload)
    })
    .await;
}

async fn once(pool: &Pool, submitter: &Submitter, offload: &Offload) -> Result<(), JobError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    if !engine::try_advisory_xact_lock(&tx, LOCK).await? {
        return Ok(());
    }
    let ledger = submitter.client();
    let hot = submitter
        .address()
        .parse()
        .map_err(|_| drip_ledger::Error::Malformed {
            method: "offload".into(),
            what: "wallet address".into(),
        })?;
    let (_, balance) = ledger.account_info(&hot).await?;
    let fee = ledger.open_ledger_fee().await?;
    let engine::OutboxNeeds {
        transactions,
        spends,
        new_objects,
    } = engine::outbox_needs(&tx).await?;
    let creates = u32::try_from(new_objects).unwrap_or(u32::MAX);
    let reserve = ledger.account_reserve(&hot, creates).await?;
    let needed = u64::try_from(transactions)
        .ok()
        .and_then(|n| offload.max_fee.checked_mul(n))
        .and_then(|fees| fees.checked_add(Drops::new(u64::try_from(spends).ok()?)))
        .and_then(|n| n.checked_add(reserve))
        .unwrap_or(Drops::MAX);
    let keep = offload.threshold.max(needed);
    let Some(amount) = balance
        .checked_sub(keep)
        .and_then(|excess| excess.checked_sub(fee))
        .filter(|a| *a > Drops::ZERO)
    else {
        return Ok(());
    };
    let prepared = submitter
        .prepare(
            json!({"TransactionType": "Payment", "Destination": offload.address, "Amount": amount.to_string()}),
            0,
        )
        .await?;
    tracing::info!(drops = %amount, to = %offload.address, hash = %prepared.hash, "offloading the hot wallet's excess");
    match submitter.submit_and_wait(&prepared).await? {
        Outcome::Validated { result, .. } if ResultClass::of(&result) == ResultClass::Applied => {
            tracing::info!(drops = %amount, "offload validated");
        }
        other => tracing::warn!(outcome = ?other, "offload did not go through"),
    }
    tx.commit().await?;
    Ok(())
}
