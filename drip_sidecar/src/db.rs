//! The database side: a connection pool for calls into the `drip`
//! extension, and one listening connection that turns NOTIFY into in-process
//! signals (reconnecting and re-listening when it drops).

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::StreamExt as _;
use tokio::sync::{broadcast, watch};
use tokio_postgres::{AsyncMessage, NoTls};

/// The longest any call waits for a row lock (ms).
const LOCK_TIMEOUT_MS: u32 = 10_000;

/// A connection pool for the `drip` extension's functions.
pub fn pool(
    config: &tokio_postgres::Config,
    size: usize,
) -> Result<Pool, deadpool_postgres::BuildError> {
    // A caller's transaction left open holds its rows as long as it likes:
    // no call of the sidecar waits for a lock longer than this. It fails
    // instead and is tried again (the outbox's backoff, the watch's next
    // look, the client's retry), so one held row never stalls a worker.
    let mut config = config.clone();
    let options = format!(
        "{} -c lock_timeout={LOCK_TIMEOUT_MS}",
        config.get_options().unwrap_or_default()
    );
    config.options(options.trim_start());
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
}

/// What NOTIFY says, fanned out inside the process.
#[derive(Debug, Clone)]
pub struct Notifications {
    /// `drip_session` payloads: the id of a session that changed (never its
    /// drip token: any role may LISTEN).
    pub sessions: broadcast::Sender<String>,
    /// `drip_ilp` payloads: the ILP account whose outgoing channel changed.
    pub ilp: broadcast::Sender<String>,
    /// Bumped on each `drip_ledger` notice and after every (re)connect, when
    /// rows may have been written unheard.
    pub ledger: watch::Sender<u64>,
}

impl Notifications {
    /// Start listening; runs until `stop` turns true.
    pub fn start(config: tokio_postgres::Config, mut stop: watch::Receiver<bool>) -> Notifications {
        let n = Notifications {
            sessions: broadcast::channel(1024).0,
            ilp: broadcast::channel(1024).0,
            ledger: watch::channel(0).0,
        };
        let out = n.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                tokio::select! {
                    r = listen(&config, &out) => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "NOTIFY listener lost its connection; reconnecting");
                        }
                    }
                    _ = stop.wait_for(|s| *s) => return,
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        n
    }
}

async fn listen(
    config: &tokio_postgres::Config,
    out: &Notifications,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client
        .batch_execute("LISTEN drip_session; LISTEN drip_ledger; LISTEN drip_ilp")
        .await?;
    tracing::debug!("listening for drip_session, drip_ledger and drip_ilp");
    // Catch up on whatever was written while nobody listened.
    out.ledger.send_modify(|n| *n = n.wrapping_add(1));
    while let Some(n) = rx.recv().await {
        match n.channel() {
            "drip_session" => {
                let _ = out.sessions.send(n.payload().to_owned());
            }
            "drip_ilp" => {
                let _ = out.ilp.send(n.payload().to_owned());
            }
            _ => out.ledger.send_modify(|v| *v = v.wrapping_add(1)),
        }
    }
    drop(client);
    match driver.await {
        Ok(r) => r,
        Err(_) => Ok(()),
    }
}
