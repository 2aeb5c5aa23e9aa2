//! Watches the channels drip holds claims on, in the validated ledger: a
//! payer's close request (an Expiration appears) ends the session at once so
//! the best claim is redeemed before the channel can close; a channel gone
//! from the ledger is recorded closed (and a loss logged if drip had not
//! redeemed its claim); a ledger balance above drip's best claim is drift.
//! The ILP server's own channels to clients are recorded closed when gone.

use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use drip_core::Hash256;
use drip_ledger::{Client, Stream};
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::JobError;

/// Look every `every` until `stop` turns true.
pub async fn run(
    pool: Pool,
    ledger: Client,
    every: Duration,
    stream: Option<Stream>,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A channel transaction touching the wallet (a payer's close request,
    // a fund) makes the watch look at once.
    let mut announcements = stream.as_ref().map(Stream::subscribe);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = channel_news(&mut announcements) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match look(&pool, &ledger, &metrics).await {
            Ok(()) => metrics.job_ran("watch"),
            Err(e) => tracing::warn!(error = %e, "channel watch failed; trying again next tick"),
        }
    }
}

/// Until the stream announces a channel transaction (never, without one).
async fn channel_news(rx: &mut Option<tokio::sync::broadcast::Receiver<drip_ledger::Validated>>) {
    let Some(rx) = rx else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(v) if v.channel.is_some() => return,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                return std::future::pending().await
            }
        }
    }
}

async fn look(pool: &Pool, ledger: &Client, metrics: &Metrics) -> Result<(), JobError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT channel_id, expiration, ledger_balance, best_claim, claiming FROM drip.watched_channels()",
            &[],
        )
        .await?;
    for r in rows {
        let id: Vec<u8> = r.get(0);
        let Ok(bytes) = <[u8; 32]>::try_from(id.as_slice()) else {
            continue;
        };
        let channel = Hash256(bytes);
        let known_expiration: Option<SystemTime> = r.get(1);
        let (ledger_balance, best, claiming): (i64, i64, bool) = (r.get(2), r.get(3), r.get(4));
        match ledger.channel(&channel).await? {
            // Our own claim closed it; the ledger worker records that.
            None if claiming => {}
            None => {
                if best > ledger_balance {
                    tracing::error!(%channel, unredeemed = best - ledger_balance, "channel left the ledger before drip redeemed its claim");
                    metrics.drift("left_unredeemed");
                }
                client
                    .execute(
                        "SELECT drip.record_channel_closed($1, $2)",
                        &[&id, &ledger_balance],
                    )
                    .await?;
            }
            Some(entry) => {
                let balance = entry.balance.to_i64().unwrap_or(i64::MAX);
                if balance > best {
                    tracing::warn!(%channel, ledger_balance = balance, best_claim = best, "ledger balance above drip's best claim");
                    metrics.drift("above_best_claim");
                }
                if let Some(exp) = entry.expiration {
                    let exp = crate::jobs::outbox::ripple_time(exp);
                    if known_expiration != Some(exp) {
                        tracing::info!(%channel, "the channel is closing on the ledger; claiming now");
                        client
                            .execute("SELECT drip.record_channel_closing($1, $2)", &[&id, &exp])
                            .await?;
                    }
                }
            }
        }
    }
    // The server's channels to ILP clients: a client may close one at any
    // time (the destination closes at once); it may then ask for another.
    for r in client
        .query(
            "SELECT account, channel_id FROM drip.ilp_outgoing_open()",
            &[],
        )
        .await?
    {
        let (account, id): (String, Vec<u8>) = (r.get(0), r.get(1));
        let Ok(bytes) = <[u8; 32]>::try_from(id.as_slice()) else {
            continue;
        };
        if ledger.channel(&Hash256(bytes)).await?.is_none() {
            tracing::info!(%account, channel = %Hash256(bytes), "outgoing ILP channel left the ledger");
            client
                .execute("SELECT drip.ilp_outgoing_closed($1, $2)", &[&account, &id])
                .await?;
        }
    }
    Ok(())
}
