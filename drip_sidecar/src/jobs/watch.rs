//! Watches the channels drip holds claims on, in the validated ledger: a
//! payer's close request (an Expiration appears) ends the session at once so
//! the best claim is redeemed before the channel can close; a channel gone
//! from the ledger is recorded closed (and a loss logged if drip had not
//! redeemed its claim); a ledger balance above drip's best claim is drift.
//! The ILP server's own channels to clients are recorded closed when gone.

use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use drip_core::{AccountId, Hash256};
use drip_ledger::{Client, Stream};
use tokio::sync::watch;

use crate::engine::{ilp, outbox};
use crate::metrics::Metrics;
use crate::JobError;

/// Look every `every` until `stop` turns true.
pub async fn run(
    pool: Pool,
    ledger: Client,
    wallet: AccountId,
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
        match look(&pool, &ledger, &wallet, &metrics).await {
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

/// One pass over every watched channel (the fault simulation calls it).
pub async fn look(
    pool: &Pool,
    ledger: &Client,
    wallet: &AccountId,
    metrics: &Metrics,
) -> Result<(), JobError> {
    let client = pool.get().await?;
    let rows = outbox::watched_channels(&client).await?;
    // One channel's failure (an RPC error, a refused call) is logged and
    // the others are still looked at; the pass fails after all of them.
    let mut failed = None;
    for r in rows {
        let Ok(bytes) = <[u8; 32]>::try_from(r.channel_id.as_slice()) else {
            continue;
        };
        let channel = Channel {
            id: Hash256(bytes),
            known_expiration: r.expiration,
            ledger_balance: r.ledger_balance,
            best: r.best_claim,
            claiming: r.claiming,
            closing: r.closing,
        };
        if let Err(e) = look_at(&client, ledger, wallet, metrics, &channel).await {
            tracing::warn!(channel = %channel.id, error = %e, "watching the channel failed");
            failed = Some(e);
        }
    }
    // The server's channels to ILP clients: a client may close one at any
    // time (the destination closes at once); it may then ask for another.
    for ilp::OpenOutgoing {
        account,
        channel_id: id,
    } in ilp::ilp_outgoing_open(&client).await?
    {
        let Ok(bytes) = <[u8; 32]>::try_from(id.as_slice()) else {
            continue;
        };
        let gone = match ledger.channel(&Hash256(bytes)).await {
            Ok(entry) => entry.is_none(),
            Err(e) => {
                tracing::warn!(%account, error = %e, "watching the outgoing channel failed");
                failed = Some(e.into());
                continue;
            }
        };
        if gone {
            tracing::info!(%account, channel = %Hash256(bytes), "outgoing ILP channel left the ledger");
            ilp::ilp_outgoing_closed(&client, &account, &id).await?;
        }
    }
    failed.map_or(Ok(()), Err)
}

/// A channel drip holds claims on, as `drip.watched_channels` has it.
struct Channel {
    id: Hash256,
    known_expiration: Option<SystemTime>,
    ledger_balance: i64,
    best: i64,
    claiming: bool,
    closing: bool,
}

async fn look_at(
    client: &deadpool_postgres::Client,
    ledger: &Client,
    wallet: &AccountId,
    metrics: &Metrics,
    c: &Channel,
) -> Result<(), JobError> {
    let Some(entry) = ledger.channel(&c.id).await? else {
        // Our own claim closed it, or will find it gone: its worker records
        // what the ledger paid.
        if c.claiming {
            return Ok(());
        }
        let paid = crate::jobs::closed_balance(ledger, wallet, &c.id).await?;
        if c.best > paid.unwrap_or(c.ledger_balance) {
            tracing::error!(channel = %c.id, best = c.best, ?paid, "channel left the ledger before drip redeemed its claim");
            metrics.drift("left_unredeemed");
        }
        outbox::record_channel_closed(client, &c.id.0, paid, Some("closed_before_redeemed"))
            .await?;
        return Ok(());
    };
    let balance = entry.balance.to_i64().unwrap_or(i64::MAX);
    if balance > c.best {
        tracing::warn!(channel = %c.id, ledger_balance = balance, best_claim = c.best, "ledger balance above drip's best claim");
        metrics.drift("above_best_claim");
    }
    if let Some(exp) = entry.expiration {
        let exp = drip_core::time::ripple_to_system(exp);
        if c.known_expiration != Some(exp) {
            tracing::info!(channel = %c.id, "the channel is closing on the ledger; claiming now");
            outbox::record_channel_closing(client, &c.id.0, exp).await?;
            return Ok(());
        }
    }
    if c.closing && !c.claiming {
        // Ending, and its claim failed or was never queued: the claim keeps
        // a live path to the ledger until the channel leaves it.
        tracing::warn!(channel = %c.id, "closing channel without a claim under way; queueing one");
        outbox::requeue_claim(client, &c.id.0).await?;
    }
    Ok(())
}
