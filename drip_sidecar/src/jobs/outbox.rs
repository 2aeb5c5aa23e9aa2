//! The ledger worker: takes outbox jobs (`drip.take_outbox`, SKIP LOCKED, so
//! several sidecars can share the outbox), checks agreements and refreshes
//! against the validated ledger, and redeems claims.
//!
//! A claim is signed, its hash, LastLedgerSequence and blob are committed to
//! the job (`drip.outbox_submitted`), and only then submitted. A worker that
//! dies mid-wait leaves the job `submitted`; after its lease another worker
//! follows the same hash until it validates or its LastLedgerSequence
//! passes, and only then signs the intent again. So an intent is never paid
//! twice, and an accepted claim is never left unredeemed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Pool, Transaction};
use drip_core::Hash256;
use drip_ledger::{created_channel, Outcome, Submitter, TxLookup};
use serde_json::{json, Value as Json};
use tokio::sync::watch;
use tokio_postgres::Row;

use crate::metrics::Metrics;
use crate::JobError;

/// Seconds between the Unix epoch and the Ripple epoch (2000-01-01).
const RIPPLE_EPOCH: u64 = 946_684_800;
/// A wallet's agreement transaction that has not validated after this long
/// is refused (the session may agree again).
const AGREEMENT_PATIENCE: Duration = Duration::from_secs(600);
/// PaymentChannelClaim's tfClose flag.
const TF_CLOSE: u32 = 0x0002_0000;

/// The worker's parts.
#[derive(Debug, Clone)]
pub struct Worker {
    /// The extension's pool.
    pub pool: Pool,
    /// Signs and submits as the server wallet.
    pub submitter: Arc<Submitter>,
    /// Polled this often besides NOTIFY.
    pub poll: Duration,
    /// A submitted claim untouched this long is followed by this worker.
    pub lease: Duration,
    /// Ledger results are counted here.
    pub metrics: Metrics,
}

/// One job as `drip.take_outbox` returns it.
#[derive(Debug)]
struct Job {
    id: i64,
    kind: String,
    state: String,
    attempts: i32,
    proposal_id: Option<String>,
    tx_hash: Option<Vec<u8>>,
    last_ledger_seq: Option<i64>,
    channel_id: Option<Vec<u8>>,
    best_claim: Option<i64>,
    best_signature: Option<Vec<u8>>,
    public_key: Option<Vec<u8>>,
    created_at: SystemTime,
}

impl Job {
    fn from_row(r: &Row) -> Job {
        Job {
            id: r.get("id"),
            kind: r.get("kind"),
            state: r.get("state"),
            attempts: r.get("attempts"),
            proposal_id: r.get("proposal_id"),
            tx_hash: r.get("tx_hash"),
            last_ledger_seq: r.get("last_ledger_seq"),
            channel_id: r.get("channel_id"),
            best_claim: r.get("best_claim"),
            best_signature: r.get("best_signature"),
            public_key: r.get("public_key"),
            created_at: r.get("created_at"),
        }
    }
}

impl Worker {
    /// Work until `stop` turns true, waking on `drip_ledger` notices
    /// (`ledger` changes) and every `poll`.
    pub async fn run(self, mut ledger: watch::Receiver<u64>, mut stop: watch::Receiver<bool>) {
        loop {
            loop {
                if *stop.borrow() {
                    return;
                }
                match self.step().await {
                    Ok(true) => {}
                    Ok(false) => {
                        self.metrics.job_ran("outbox");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox job failed; trying again later");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = ledger.changed() => {}
                _ = tokio::time::sleep(self.poll) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Take and work one job; false when there was none.
    async fn step(&self) -> Result<bool, JobError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT id, kind::text, state::text, attempts, proposal_id, tx_hash, last_ledger_seq,
                        channel_id, best_claim, best_signature, public_key, created_at
                 FROM drip.take_outbox(1, 1, $1)",
                &[&i32::try_from(self.lease.as_secs()).unwrap_or(i32::MAX)],
            )
            .await?
        else {
            return Ok(false);
        };
        let job = Job::from_row(&row);
        tracing::debug!(id = job.id, kind = %job.kind, state = %job.state, "outbox job");
        match job.kind.as_str() {
            "verify_channel" => self.verify_channel(&tx, &job).await?,
            "verify_fund" => self.verify_fund(&tx, &job).await?,
            "claim" | "claim_and_close" => return self.claim(tx, &job).await.map(|()| true),
            other => {
                tracing::warn!(id = job.id, kind = other, "no worker for this job kind yet");
                record(
                    &tx,
                    job.id,
                    "failed",
                    &format!("{other} is not handled by this sidecar"),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The wallet's PaymentChannelCreate, checked on the validated ledger.
    async fn verify_channel(&self, tx: &Transaction<'_>, job: &Job) -> Result<(), JobError> {
        let (Some(pid), Some(hash)) = (&job.proposal_id, hash_of(&job.tx_hash)) else {
            return record(tx, job.id, "failed", "verify job without proposal or hash").await;
        };
        let Some(found) = self.validated(tx, job, pid, &hash).await? else {
            return Ok(());
        };
        let server = self.submitter.address();
        let created = created_channel(&found);
        let reason = if found["TransactionType"] != "PaymentChannelCreate" {
            Some("not_a_channel_create")
        } else if found["Destination"] != server.as_str() {
            Some("wrong_destination")
        } else if created.is_none() {
            Some("no_channel_created")
        } else {
            None
        };
        let Some(channel_id) = created.filter(|_| reason.is_none()) else {
            return reject(tx, pid, &hash, reason.unwrap_or("no_channel_created")).await;
        };
        let Some(entry) = self.submitter.client().channel(&channel_id).await? else {
            return reject(tx, pid, &hash, "channel_not_on_ledger").await;
        };
        let memo = first_memo(&found);
        let amount = entry.amount.to_i64().unwrap_or(i64::MAX);
        let settle = i32::try_from(entry.settle_delay).unwrap_or(i32::MAX);
        let tag = entry.destination_tag.map(i64::from);
        let r = tx
            .query_one(
                "SELECT accepted, reason FROM drip.confirm_channel($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    pid,
                    &hash.0.to_vec(),
                    &channel_id.0.to_vec(),
                    &entry.account.to_address(),
                    &entry.public_key,
                    &amount,
                    &settle,
                    &entry.destination.to_address(),
                    &tag,
                    &entry.expiration.map(ripple_time),
                    &entry.cancel_after.map(ripple_time),
                    &memo,
                ],
            )
            .await?;
        let reason: Option<String> = r.get(1);
        tracing::info!(proposal = %pid, channel = %channel_id, accepted = r.get::<_, bool>(0), reason, "agreement checked");
        Ok(())
    }

    /// The wallet's PaymentChannelFund for a refresh.
    async fn verify_fund(&self, tx: &Transaction<'_>, job: &Job) -> Result<(), JobError> {
        let (Some(pid), Some(hash), Some(channel)) = (
            &job.proposal_id,
            hash_of(&job.tx_hash),
            hash_of(&job.channel_id),
        ) else {
            return record(
                tx,
                job.id,
                "failed",
                "verify job without proposal, hash or channel",
            )
            .await;
        };
        let Some(found) = self.validated(tx, job, pid, &hash).await? else {
            return Ok(());
        };
        if found["TransactionType"] != "PaymentChannelFund"
            || found["Channel"] != channel.to_string().as_str()
        {
            return reject(tx, pid, &hash, "not_a_fund_of_this_channel").await;
        }
        let Some(entry) = self.submitter.client().channel(&channel).await? else {
            return reject(tx, pid, &hash, "channel_not_on_ledger").await;
        };
        let amount = entry.amount.to_i64().unwrap_or(i64::MAX);
        let r = tx
            .query_one(
                "SELECT accepted, reason FROM drip.confirm_fund($1, $2, $3, $4, $5)",
                &[
                    pid,
                    &hash.0.to_vec(),
                    &channel.0.to_vec(),
                    &amount,
                    &entry.expiration.map(ripple_time),
                ],
            )
            .await?;
        let reason: Option<String> = r.get(1);
        tracing::info!(proposal = %pid, accepted = r.get::<_, bool>(0), reason, "refresh checked");
        Ok(())
    }

    /// The validated, successful transaction `hash`; `None` when the job was
    /// put back to wait, or refused.
    async fn validated(
        &self,
        tx: &Transaction<'_>,
        job: &Job,
        pid: &str,
        hash: &Hash256,
    ) -> Result<Option<Json>, JobError> {
        match self.submitter.client().tx(hash).await? {
            TxLookup::Validated {
                result, tx: found, ..
            } if result == "tesSUCCESS" => Ok(Some(found)),
            TxLookup::Validated { result, .. } => {
                reject(tx, pid, hash, &format!("tx_failed_{result}")).await?;
                Ok(None)
            }
            TxLookup::NotFound | TxLookup::Pending => {
                let waited = job.created_at.elapsed().unwrap_or_default();
                if waited > AGREEMENT_PATIENCE {
                    reject(tx, pid, hash, "tx_not_validated").await?;
                } else {
                    tx.execute(
                        "SELECT drip.outbox_requeue($1, $2)",
                        &[&job.id, &"waiting for validation"],
                    )
                    .await?;
                }
                Ok(None)
            }
        }
    }

    /// Redeem the channel's best claim (and close it, for claim_and_close).
    async fn claim(&self, tx: Transaction<'_>, job: &Job) -> Result<(), JobError> {
        let Some(channel) = hash_of(&job.channel_id) else {
            record(&tx, job.id, "failed", "claim job without a channel").await?;
            tx.commit().await?;
            return Ok(());
        };
        let close = job.kind == "claim_and_close";
        let best = job.best_claim.unwrap_or(0);
        let outcome = if let (Some(hash), Some(lls)) = (
            hash_of(&job.tx_hash).filter(|_| job.state == "submitted"),
            job.last_ledger_seq.and_then(|l| u32::try_from(l).ok()),
        ) {
            // Ours from before (a worker that died): follow it.
            tx.commit().await?;
            tracing::info!(id = job.id, %hash, "following a submitted claim");
            (self.submitter.wait(&hash, lls).await?, hash)
        } else {
            let mut fields = json!({
                "TransactionType": "PaymentChannelClaim",
                "Channel": channel.to_string(),
                "Flags": if close { TF_CLOSE } else { 0 },
            });
            if best > 0 {
                let (Some(sig), Some(key)) = (&job.best_signature, &job.public_key) else {
                    record(&tx, job.id, "failed", "best claim without signature or key").await?;
                    tx.commit().await?;
                    return Ok(());
                };
                fields["Balance"] = json!(best.to_string());
                fields["Amount"] = json!(best.to_string());
                fields["Signature"] = json!(hex::encode_upper(sig));
                fields["PublicKey"] = json!(hex::encode_upper(key));
            } else if !close {
                record(&tx, job.id, "done", "nothing to claim").await?;
                tx.commit().await?;
                return Ok(());
            }
            let bumps = u32::try_from(job.attempts).unwrap_or(0).min(4);
            let prepared = self.submitter.prepare(fields, bumps).await?;
            tx.execute(
                "SELECT drip.outbox_submitted($1, $2, $3, $4)",
                &[
                    &job.id,
                    &prepared.hash.0.to_vec(),
                    &i64::from(prepared.last_ledger_sequence),
                    &prepared.blob,
                ],
            )
            .await?;
            // Committed before it leaves: a crash from here on is reconciled by hash.
            tx.commit().await?;
            tracing::info!(id = job.id, hash = %prepared.hash, %channel, drops = best, close, "submitting claim");
            (
                self.submitter.submit_and_wait(&prepared).await?,
                prepared.hash,
            )
        };
        self.settle(job, &channel, best, close, outcome).await
    }

    /// Record how a claim ended.
    async fn settle(
        &self,
        job: &Job,
        channel: &Hash256,
        best: i64,
        close: bool,
        (outcome, hash): (Outcome, Hash256),
    ) -> Result<(), JobError> {
        let client = self.pool.get().await?;
        self.metrics.ledger_result(match &outcome {
            Outcome::Validated { result, .. } => result,
            Outcome::Expired => "expired",
            Outcome::Rejected { engine_result } => engine_result,
        });
        match outcome {
            Outcome::Validated {
                result,
                ledger_index,
                ..
            } if result == "tesSUCCESS" => {
                tracing::info!(id = job.id, %hash, ledger_index, drops = best, close, "claim validated");
                // The ledger now holds the claim: closed, or paid that far.
                let fact = if close {
                    "SELECT drip.record_channel_closed($1, $2)"
                } else {
                    "SELECT drip.record_channel_balance($1, $2)"
                };
                client.execute(fact, &[&channel.0.to_vec(), &best]).await?;
                client
                    .execute(
                        "SELECT drip.record_outbox($1, 'done', NULL, NULL, NULL)",
                        &[&job.id],
                    )
                    .await?;
            }
            Outcome::Validated { result, .. } => {
                // tec codes: the fee is spent, nothing else happened. Never
                // retried blindly; tecNO_TARGET means the channel is gone
                // with whatever it held, which is a loss, not a success.
                let why = match result.as_str() {
                    "tecNO_TARGET" => {
                        "tecNO_TARGET: channel not on the ledger; claim lost".to_owned()
                    }
                    "tecUNFUNDED_PAYMENT" => {
                        "tecUNFUNDED_PAYMENT: the ledger already holds this balance".to_owned()
                    }
                    other => other.to_owned(),
                };
                tracing::error!(id = job.id, %hash, result, "claim failed on the ledger");
                client
                    .execute(
                        "SELECT drip.record_outbox($1, 'failed', NULL, NULL, $2)",
                        &[&job.id, &why],
                    )
                    .await?;
            }
            Outcome::Expired => {
                tracing::warn!(id = job.id, %hash, "claim expired unvalidated; signing again");
                client
                    .execute(
                        "SELECT drip.outbox_requeue($1, 'expired unvalidated')",
                        &[&job.id],
                    )
                    .await?;
            }
            Outcome::Rejected { engine_result } if engine_result.starts_with("tem") => {
                tracing::error!(id = job.id, engine_result, "claim malformed; not retried");
                client
                    .execute(
                        "SELECT drip.record_outbox($1, 'failed', NULL, NULL, $2)",
                        &[&job.id, &engine_result],
                    )
                    .await?;
            }
            Outcome::Rejected { engine_result } => {
                // telINSUF_FEE_P (the next attempt bids more), tefPAST_SEQ and
                // terPRE_SEQ (the sequence is read again), and the like.
                tracing::warn!(id = job.id, engine_result, "claim not taken; retrying");
                client
                    .execute(
                        "SELECT drip.outbox_requeue($1, $2)",
                        &[&job.id, &engine_result],
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

async fn record(tx: &Transaction<'_>, id: i64, state: &str, error: &str) -> Result<(), JobError> {
    tx.execute(
        "SELECT drip.record_outbox($1, $2::text::drip.outbox_state, NULL, NULL, $3)",
        &[&id, &state, &error],
    )
    .await?;
    Ok(())
}

async fn reject(
    tx: &Transaction<'_>,
    pid: &str,
    hash: &Hash256,
    reason: &str,
) -> Result<(), JobError> {
    tracing::info!(proposal = %pid, %hash, reason, "agreement refused");
    tx.execute(
        "SELECT drip.reject_agreement($1, $2, $3)",
        &[&pid, &hash.0.to_vec(), &reason],
    )
    .await?;
    Ok(())
}

fn hash_of(bytes: &Option<Vec<u8>>) -> Option<Hash256> {
    let b: [u8; 32] = bytes.as_deref()?.try_into().ok()?;
    Some(Hash256(b))
}

/// The first memo's data as text (drip's proposal id), if any.
fn first_memo(tx: &Json) -> Option<String> {
    let data = tx["Memos"].get(0)?["Memo"]["MemoData"].as_str()?;
    String::from_utf8(hex::decode(data).ok()?).ok()
}

/// Ripple-epoch seconds as a time.
pub(crate) fn ripple_time(secs: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(secs) + RIPPLE_EPOCH)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_memo_is_read_from_rippled_shapes() {
        let tx = json!({
            "Memos": [{"Memo": {"MemoData": hex::encode("prop-1")}}],
            "meta": {"AffectedNodes": [
                {"ModifiedNode": {"LedgerEntryType": "AccountRoot", "LedgerIndex": "AA".repeat(32)}},
                {"CreatedNode": {"LedgerEntryType": "PayChannel", "LedgerIndex": "5D".repeat(32)}}
            ]}
        });
        assert_eq!(first_memo(&tx).as_deref(), Some("prop-1"));
        assert_eq!(
            first_memo(&json!({"Memos": [{"Memo": {"MemoData": "ZZ"}}]})),
            None
        );
    }

    #[test]
    fn ripple_epoch_is_2000() {
        let t = ripple_time(0).duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(t, 946_684_800);
    }
}
