//! Claims from BTP clients, kept in batches: the claims that arrive while
//! a batch commits go into the next one, each batch one `drip.ilp_claims`
//! transaction. A client's answer waits for its batch's commit, so every
//! acknowledged claim is durable, at one commit per batch rather than per
//! claim.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::engine::Reason;

/// The most claims in one transaction.
const BATCH: usize = 256;

/// A claim's fate: kept (or not above the best) or refused with a reason.
pub(super) type Verdict = Result<Option<Reason>, String>;

#[derive(Debug)]
struct Item {
    account: String,
    drops: i64,
    signature: Vec<u8>,
    reply: oneshot::Sender<Verdict>,
}

/// Hands claims to the batching workers.
#[derive(Debug, Clone)]
pub(crate) struct Claims {
    tx: mpsc::Sender<Item>,
}

impl Claims {
    /// Start `workers` batching workers (batches commit in parallel, one
    /// connection each).
    pub(crate) fn start(pool: deadpool_postgres::Pool, workers: usize) -> Claims {
        let (tx, rx) = mpsc::channel(4 * BATCH);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            tokio::spawn(work(pool.clone(), rx.clone()));
        }
        Claims { tx }
    }

    /// Keep a claim; returns once its batch committed. `Ok(None)`: kept;
    /// `Ok(Some(reason))`: refused by the rules; `Err`: not decided.
    pub(super) async fn keep(&self, account: &str, drops: i64, signature: Vec<u8>) -> Verdict {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Item {
                account: account.to_owned(),
                drops,
                signature,
                reply,
            })
            .await
            .map_err(|_| "the claim workers stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the claim was not decided".to_owned())?
    }
}

/// Take what is waiting (at least one claim), keep it in one transaction,
/// answer each claim; until every sender is gone.
async fn work(pool: deadpool_postgres::Pool, rx: Arc<Mutex<mpsc::Receiver<Item>>>) {
    // A worker keeps its connection (and with it the batch's prepared
    // statement and the backend's plan) until a batch fails.
    let mut connection = None;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(first) => batch.push(first),
                None => return,
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
        }
        match keep(&pool, &mut connection, &batch).await {
            Ok(verdicts) => {
                for (item, verdict) in batch.into_iter().zip(verdicts) {
                    let _ = item.reply.send(Ok(verdict));
                }
            }
            Err(e) => {
                connection = None;
                tracing::warn!(error = %e, claims = batch.len(), "claim batch failed");
                for item in batch {
                    let _ = item.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

async fn keep(
    pool: &deadpool_postgres::Pool,
    connection: &mut Option<deadpool_postgres::Object>,
    batch: &[Item],
) -> Result<Vec<Option<Reason>>, String> {
    let client = match connection {
        Some(c) => c,
        None => connection.insert(pool.get().await.map_err(|e| e.to_string())?),
    };
    let accounts: Vec<&str> = batch.iter().map(|i| i.account.as_str()).collect();
    let amounts: Vec<i64> = batch.iter().map(|i| i.drops).collect();
    let signatures: Vec<&[u8]> = batch.iter().map(|i| i.signature.as_slice()).collect();
    let rows = crate::engine::ilp::ilp_claims(&*client, &accounts, &amounts, &signatures)
        .await
        .map_err(|e| e.to_string())?;
    if rows.len() != batch.len() {
        return Err(format!(
            "{} verdicts for {} claims",
            rows.len(),
            batch.len()
        ));
    }
    Ok(rows
        .into_iter()
        .map(|r| if r.accepted { None } else { r.reason })
        .collect())
}
