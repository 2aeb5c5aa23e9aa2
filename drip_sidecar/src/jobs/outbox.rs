//! The ledger worker: takes outbox jobs (`drip.take_outbox`, SKIP LOCKED, so
//! several sidecars can share the outbox), checks agreements and refreshes
//! against the validated ledger, and redeems claims.
//!
//! A claim is signed, its hash, LastLedgerSequence and blob are committed to
//! the job (`drip.outbox_submitted`), and only then submitted. A worker that
//! dies mid-wait leaves the job `submitted`; after its lease another worker
//! follows the same hash until it validates or its LastLedgerSequence
//! passes (and the ledger proves it is in none of its window's ledgers),
//! and only then signs the intent again. Job results are compare-and-set
//! on the transaction followed, so a worker whose lease passed cannot undo
//! a newer signing. So an intent is never paid twice.
//!
//! Every attempt ends the job, requeues it, or is recorded as failed apart
//! from its rolled-back transaction, with a backoff: no job can hold up
//! another. A claim is never given up while its channel is on the ledger;
//! what the ledger paid is read from the metadata, never assumed.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};
use drip_core::time::ripple_to_system;
use drip_core::Hash256;
use drip_ledger::{created_channel, Outcome, ResultClass, Submitter, TxLookup};
use serde_json::{json, Value as Json};
use tokio::sync::watch;

use crate::engine::outbox::{self as engine, ChannelFacts, Job};
use crate::engine::{ilp, OutboxKind, OutboxState, OutgoingState, Reason};
use crate::metrics::Metrics;
use crate::JobError;

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
                        tracing::warn!(error = %e, "outbox unreachable; trying again later");
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

    /// Take and work one job; false when there was none. A job whose
    /// attempt fails is recorded so (outside the attempt's rolled-back
    /// transaction) and waits out a backoff: it never holds up the next.
    pub async fn step(&self) -> Result<bool, JobError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let lease = i32::try_from(self.lease.as_secs()).unwrap_or(i32::MAX);
        let Some(mut job) = engine::take_outbox(&tx, lease).await? else {
            return Ok(false);
        };
        tracing::debug!(id = job.id, kind = %job.kind, state = %job.state, "outbox job");
        if let Err(e) = self.work(tx, &mut job).await {
            self.metrics.attempt_failed(job.kind.as_str());
            let state = engine::outbox_failed(
                &self.pool.get().await?,
                job.id,
                job.tx_hash.as_deref(),
                &e.to_string(),
            )
            .await?
            .map(OutboxState::as_str);
            tracing::warn!(id = job.id, kind = %job.kind, error = %e, state, "outbox job attempt failed");
        }
        Ok(true)
    }

    /// One attempt at `job`, in the transaction that took it. `job.tx_hash`
    /// follows the transaction the attempt signed, if it did.
    async fn work(&self, tx: Transaction<'_>, job: &mut Job) -> Result<(), JobError> {
        match job.kind {
            OutboxKind::VerifyChannel => self.verify_channel(&tx, job).await?,
            OutboxKind::VerifyFund => self.verify_fund(&tx, job).await?,
            OutboxKind::Claim | OutboxKind::ClaimAndClose => return self.claim(tx, job).await,
            OutboxKind::IlpChannel | OutboxKind::IlpFund => return self.outgoing(tx, job).await,
            other @ OutboxKind::Offload => {
                tracing::warn!(id = job.id, kind = %other, "no worker for this job kind yet");
                let why = format!("{other} is not handled by this sidecar");
                return finish(tx, job, Some(&why)).await;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The wallet's PaymentChannelCreate, checked on the validated ledger.
    async fn verify_channel(&self, tx: &Transaction<'_>, job: &Job) -> Result<(), JobError> {
        let (Some(pid), Some(hash)) = (&job.proposal_id, hash_of(&job.tx_hash)) else {
            return record(tx, job, Some("verify job without proposal or hash")).await;
        };
        let Some(found) = self.validated(tx, job, pid, &hash).await? else {
            return Ok(());
        };
        let server = self.submitter.address();
        let created = created_channel(&found);
        let reason = if found["TransactionType"] != "PaymentChannelCreate" {
            Some(Reason::NotAChannelCreate)
        } else if found["Destination"] != server.as_str() {
            Some(Reason::WrongDestination)
        } else if created.is_none() {
            Some(Reason::NoChannelCreated)
        } else {
            None
        };
        let Some(channel_id) = created.filter(|_| reason.is_none()) else {
            return reject(tx, pid, &hash, reason.unwrap_or(Reason::NoChannelCreated)).await;
        };
        let Some(entry) = self.submitter.client().channel(&channel_id).await? else {
            return reject(tx, pid, &hash, Reason::ChannelNotOnLedger).await;
        };
        let memo = first_memo(&found);
        let amount = entry.amount.to_i64().unwrap_or(i64::MAX);
        let settle = i32::try_from(entry.settle_delay).unwrap_or(i32::MAX);
        let tag = entry.destination_tag.map(i64::from);
        let r = engine::confirm_channel(
            tx,
            &ChannelFacts {
                proposal_id: pid,
                tx_hash: &hash.0,
                channel_id: &channel_id.0,
                source: &entry.account.to_address(),
                public_key: &entry.public_key,
                amount,
                settle_delay: settle,
                destination: &entry.destination.to_address(),
                destination_tag: tag,
                expiration: entry.expiration.map(ripple_to_system),
                cancel_after: entry.cancel_after.map(ripple_to_system),
                memo: memo.as_deref(),
            },
        )
        .await?;
        tracing::info!(proposal = %pid, channel = %channel_id, accepted = r.accepted, reason = r.reason.map(Reason::as_str), "agreement checked");
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
                job,
                Some("verify job without proposal, hash or channel"),
            )
            .await;
        };
        let Some(found) = self.validated(tx, job, pid, &hash).await? else {
            return Ok(());
        };
        if found["TransactionType"] != "PaymentChannelFund"
            || found["Channel"] != channel.to_string().as_str()
        {
            return reject(tx, pid, &hash, Reason::NotAFundOfThisChannel).await;
        }
        let Some(entry) = self.submitter.client().channel(&channel).await? else {
            return reject(tx, pid, &hash, Reason::ChannelNotOnLedger).await;
        };
        let amount = entry.amount.to_i64().unwrap_or(i64::MAX);
        let r = engine::confirm_fund(
            tx,
            pid,
            &hash.0,
            &channel.0,
            amount,
            entry.expiration.map(ripple_to_system),
        )
        .await?;
        tracing::info!(proposal = %pid, accepted = r.accepted, reason = r.reason.map(Reason::as_str), "refresh checked");
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
            } if ResultClass::of(&result) == ResultClass::Applied => Ok(Some(found)),
            TxLookup::Validated { result, .. } => {
                tracing::info!(proposal = pid, %hash, %result, "the agreement's transaction failed");
                reject(tx, pid, hash, Reason::TxFailed).await?;
                Ok(None)
            }
            TxLookup::NotFound | TxLookup::Pending => {
                let waited = job.created_at.elapsed().unwrap_or_default();
                if waited > AGREEMENT_PATIENCE {
                    reject(tx, pid, hash, Reason::TxNotValidated).await?;
                } else {
                    engine::outbox_requeue(
                        tx,
                        job.id,
                        job.tx_hash.as_deref(),
                        "waiting for validation",
                    )
                    .await?;
                }
                Ok(None)
            }
        }
    }

    /// Redeem the channel's best claim (and close it, for claim_and_close).
    async fn claim(&self, tx: Transaction<'_>, job: &mut Job) -> Result<(), JobError> {
        let Some(channel) = hash_of(&job.channel_id) else {
            return finish(tx, job, Some("claim job without a channel")).await;
        };
        let close = job.kind == OutboxKind::ClaimAndClose;
        let best = job.best_claim.unwrap_or(0);
        let fields = if following(job) {
            json!({})
        } else {
            let Some(entry) = self.submitter.client().channel(&channel).await? else {
                // Gone before this claim reached it (the payer closed it
                // after its settle delay, it expired and someone closed it,
                // or another job's claim did): what the ledger paid is in
                // the metadata of the transaction that deleted it.
                let paid = crate::jobs::closed_balance(
                    self.submitter.client(),
                    &self.submitter.account_id(),
                    &channel,
                )
                .await?;
                tracing::warn!(id = job.id, %channel, best, ?paid, "channel left the ledger before this claim");
                engine::record_channel_closed(
                    &tx,
                    &channel.0,
                    paid,
                    Some("channel_gone_before_claim"),
                )
                .await?;
                return finish(tx, job, None).await;
            };
            // A balance the ledger already holds is refused
            // (tecUNFUNDED_PAYMENT): an earlier claim may have redeemed it.
            let paid = i64::try_from(entry.balance.get()).unwrap_or(i64::MAX);
            let mut fields = json!({
                "TransactionType": "PaymentChannelClaim",
                "Channel": channel.to_string(),
                "Flags": if close { TF_CLOSE } else { 0 },
            });
            if best > paid {
                let (Some(sig), Some(key)) = (&job.best_signature, &job.public_key) else {
                    return finish(tx, job, Some("best claim without signature or key")).await;
                };
                fields["Balance"] = json!(best.to_string());
                fields["Amount"] = json!(best.to_string());
                fields["Signature"] = json!(hex::encode_upper(sig));
                fields["PublicKey"] = json!(hex::encode_upper(key));
            } else if !close {
                // Nothing above what the ledger paid: remember that much.
                engine::record_channel_balance(&tx, &channel.0, paid).await?;
                return finish(tx, job, None).await;
            }
            fields
        };
        let (outcome, hash) = self.submit(tx, job, fields).await?;
        let mut client = self.pool.get().await?;
        let found = match self.settle(job, &client, outcome, &hash).await? {
            Settled::Success(found) => found,
            // A tec code spent the fee and did nothing else: read the channel
            // again and sign afresh after a backoff (tecUNFUNDED_PAYMENT: the
            // ledger holds the balance already; tecNO_TARGET: the channel is
            // gone, and the next attempt records what it paid).
            Settled::Failed(result) if ResultClass::of(&result) == ResultClass::ClaimedFee => {
                tracing::warn!(id = job.id, %hash, result, "claim failed; retrying");
                return requeue(&client, job, &result).await;
            }
            Settled::Failed(result) => {
                tracing::error!(id = job.id, %hash, result, "claim malformed");
                return done(&mut client, job, Some(&result), None).await;
            }
            Settled::Retried => return Ok(()),
        };
        // What the ledger paid, from the metadata: a channel past its
        // Expiration or CancelAfter is closed with tesSUCCESS and pays no
        // claim, whatever the transaction's own Balance said.
        let Some((balance, deleted)) = drip_ledger::channel_after(&found, &channel) else {
            return done(
                &mut client,
                job,
                Some("validated without touching the channel"),
                None,
            )
            .await;
        };
        let balance = i64::try_from(balance.get()).unwrap_or(i64::MAX);
        tracing::info!(id = job.id, %hash, drops = balance, close, deleted, "claim validated");
        if deleted {
            let fact = Fact::ChannelClosed {
                channel: channel.0,
                balance,
                loss: (balance < best).then_some("expired_before_claim"),
            };
            return done(&mut client, job, None, Some(fact)).await;
        }
        // (Monotonic: recorded whoever follows the job now.)
        engine::record_channel_balance(&client, &channel.0, balance).await?;
        if close {
            // A close the ledger did not carry out: try again.
            return requeue(&client, job, "the channel is still open").await;
        }
        done(&mut client, job, None, None).await
    }

    /// Open or fund the server's channel to an ILP client.
    async fn outgoing(&self, tx: Transaction<'_>, job: &mut Job) -> Result<(), JobError> {
        let Some(account) = job.ilp_account.clone() else {
            return finish(tx, job, Some("ILP job without an account")).await;
        };
        let Some(ilp::IlpOutgoing {
            destination: Some(destination),
            public_key: Some(public_key),
            state: Some(state),
            channel_id,
            amount: Some(amount),
            funding,
            ..
        }) = ilp::ilp_outgoing_channel(&tx, &account).await?
        else {
            return finish(tx, job, Some("no outgoing channel for the account")).await;
        };
        let channel = hash_of(&channel_id);
        let create = job.kind == OutboxKind::IlpChannel;
        let fields = match (create, channel, funding) {
            _ if following(job) => json!({}),
            (true, _, _) if state == OutgoingState::Opening => json!({
                "TransactionType": "PaymentChannelCreate",
                "Amount": amount.to_string(),
                "Destination": destination,
                "SettleDelay": drip_ilp::asym::MIN_SETTLE_DELAY,
                "PublicKey": hex::encode_upper(&public_key),
            }),
            (false, Some(channel), Some(funding)) if state == OutgoingState::Open => json!({
                "TransactionType": "PaymentChannelFund",
                "Channel": channel.to_string(),
                "Amount": funding.to_string(),
            }),
            // Superseded: the channel was opened, failed or closed meanwhile.
            _ => return finish(tx, job, None).await,
        };
        let (outcome, hash) = self.submit(tx, job, fields).await?;
        let mut client = self.pool.get().await?;
        let error = match self.settle(job, &client, outcome, &hash).await? {
            Settled::Retried => return Ok(()),
            Settled::Failed(result) => result,
            Settled::Success(found) => {
                let id = if create {
                    created_channel(&found)
                } else {
                    channel
                };
                match id {
                    None => "no channel created".to_owned(),
                    Some(id) => match self.submitter.client().channel(&id).await? {
                        None => format!("channel {id} is not on the validated ledger"),
                        Some(entry) => {
                            let drops = i64::try_from(entry.amount.get()).unwrap_or(i64::MAX);
                            tracing::info!(%account, channel = %id, drops, create, "outgoing channel validated");
                            let fact = Fact::Outgoing {
                                account: &account,
                                result: Ok((id.0, drops)),
                            };
                            return done(&mut client, job, None, Some(fact)).await;
                        }
                    },
                }
            }
        };
        tracing::error!(%account, %hash, error, create, "outgoing channel transaction failed");
        let fact = Fact::Outgoing {
            account: &account,
            result: Err(&error),
        };
        done(&mut client, job, Some(&error), Some(fact)).await
    }

    /// Follow the job's own transaction from before (its worker died), or
    /// sign `fields`, commit the signed blob with the job, and submit it:
    /// a crash after the commit is reconciled by hash, never signed twice.
    /// From the commit on, `job.tx_hash` is the transaction followed.
    async fn submit(
        &self,
        tx: Transaction<'_>,
        job: &mut Job,
        fields: Json,
    ) -> Result<(Outcome, Hash256), JobError> {
        if let (true, Some(hash), Some(lls)) = (
            following(job),
            hash_of(&job.tx_hash),
            job.last_ledger_seq.and_then(|l| u32::try_from(l).ok()),
        ) {
            tx.commit().await?;
            tracing::info!(id = job.id, kind = %job.kind, %hash, "following a submitted transaction");
            let outcome = match &job.tx_blob {
                Some(blob) => self.submitter.resubmit_and_wait(blob, &hash, lls).await?,
                None => self.submitter.wait(&hash, lls).await?,
            };
            return Ok((outcome, hash));
        }
        let bumps = u32::try_from(job.attempts).unwrap_or(0).min(4);
        let prepared = self.submitter.prepare(fields, bumps).await?;
        let recorded = async {
            engine::outbox_submitted(
                &tx,
                job.id,
                &prepared.hash.0,
                i64::from(prepared.last_ledger_sequence),
                &prepared.blob,
            )
            .await?;
            tx.commit().await
        };
        if let Err(e) = recorded.await {
            // Never submitted: its sequence is free for the next one.
            self.submitter.forget_sequence().await;
            return Err(e.into());
        }
        job.tx_hash = Some(prepared.hash.0.to_vec());
        tracing::info!(id = job.id, kind = %job.kind, hash = %prepared.hash, "submitting");
        Ok((
            self.submitter.submit_and_wait(&prepared).await?,
            prepared.hash,
        ))
    }

    /// Count the outcome and put the job back when its transaction can
    /// never apply (to be signed again).
    async fn settle(
        &self,
        job: &Job,
        client: &deadpool_postgres::Client,
        outcome: Outcome,
        hash: &Hash256,
    ) -> Result<Settled, JobError> {
        self.metrics.ledger_result(match &outcome {
            Outcome::Validated { result, .. } => result,
            Outcome::Expired => "expired",
            Outcome::Rejected { engine_result } => engine_result,
        });
        let retry = match outcome {
            Outcome::Validated { result, tx, .. }
                if ResultClass::of(&result) == ResultClass::Applied =>
            {
                return Ok(Settled::Success(tx))
            }
            Outcome::Validated { result, .. } => return Ok(Settled::Failed(result)),
            Outcome::Rejected { engine_result }
                if ResultClass::of(&engine_result) == ResultClass::NeverApplies =>
            {
                return Ok(Settled::Failed(engine_result))
            }
            Outcome::Expired => {
                tracing::warn!(id = job.id, %hash, "expired unvalidated; signing again");
                "expired unvalidated".to_owned()
            }
            // telINSUF_FEE_P (the next attempt bids more), tefPAST_SEQ and
            // terPRE_SEQ (the sequence is read again), and the like.
            Outcome::Rejected { engine_result } => {
                tracing::warn!(id = job.id, engine_result, "not taken; retrying");
                engine_result
            }
        };
        requeue(client, job, &retry).await?;
        Ok(Settled::Retried)
    }
}

/// How a submitted job's transaction ended.
enum Settled {
    /// Validated with tesSUCCESS: rippled's `tx` answer.
    Success(Json),
    /// Validated with a tec code (the fee spent, nothing else), or malformed.
    Failed(String),
    /// Put back to sign again.
    Retried,
}

/// Whether the job has its own transaction to follow (its worker died, or
/// its lease passed, mid-wait).
fn following(job: &Job) -> bool {
    job.state == OutboxState::Submitted && job.tx_hash.is_some()
}

/// Put the job back to sign again: its transaction can never apply, or
/// applied with a tec code. Compare-and-set on the transaction followed.
async fn requeue(
    client: &deadpool_postgres::Client,
    job: &Job,
    error: &str,
) -> Result<(), JobError> {
    let applied = engine::outbox_requeue(client, job.id, job.tx_hash.as_deref(), error).await?;
    if !applied {
        tracing::warn!(id = job.id, "the job moved on meanwhile; leaving it");
    }
    Ok(())
}

/// A ledger fact to record with a job's end.
enum Fact<'a> {
    /// The claim's channel left the ledger having paid `balance`; `loss`
    /// names why drip's best claim was not paid, if it was not.
    ChannelClosed {
        channel: [u8; 32],
        balance: i64,
        loss: Option<&'a str>,
    },
    /// The server's channel to an ILP client was opened or funded (its id
    /// and drops), or failed.
    Outgoing {
        account: &'a str,
        result: Result<([u8; 32], i64), &'a str>,
    },
}

impl Fact<'_> {
    async fn record(&self, tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
        match self {
            Fact::ChannelClosed {
                channel,
                balance,
                loss,
            } => engine::record_channel_closed(tx, channel, Some(*balance), *loss).await,
            Fact::Outgoing {
                account,
                result: Ok((channel, drops)),
            } => ilp::ilp_outgoing_result(tx, account, Some(channel), Some(*drops), None).await,
            Fact::Outgoing {
                account,
                result: Err(error),
            } => ilp::ilp_outgoing_result(tx, account, None, None, Some(error)).await,
        }
    }
}

/// Record the job's end (`done`, or `failed` with an error) outside the
/// transaction that took it, with the ledger `fact` it learned, in one
/// transaction and only while the job is still the one this worker
/// followed (compare-and-set): a worker whose lease passed, and whose job
/// moved on, records nothing.
async fn done(
    client: &mut deadpool_postgres::Client,
    job: &Job,
    error: Option<&str>,
    fact: Option<Fact<'_>>,
) -> Result<(), JobError> {
    let tx = client.transaction().await?;
    let ours = engine::outbox_done(&tx, job.id, job.tx_hash.as_deref(), error).await?;
    if !ours {
        tracing::warn!(id = job.id, "the job moved on meanwhile; leaving it");
        return Ok(());
    }
    if let Some(fact) = fact {
        fact.record(&tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Record the job's end in the transaction that took it, and commit.
async fn finish(tx: Transaction<'_>, job: &Job, error: Option<&str>) -> Result<(), JobError> {
    record(&tx, job, error).await?;
    tx.commit().await?;
    Ok(())
}

/// Record the job's end in the transaction that took it.
async fn record(tx: &Transaction<'_>, job: &Job, error: Option<&str>) -> Result<(), JobError> {
    engine::outbox_done(tx, job.id, job.tx_hash.as_deref(), error).await?;
    Ok(())
}

async fn reject(
    tx: &Transaction<'_>,
    pid: &str,
    hash: &Hash256,
    reason: Reason,
) -> Result<(), JobError> {
    tracing::info!(proposal = %pid, %hash, %reason, "agreement refused");
    engine::reject_agreement(tx, pid, &hash.0, reason).await?;
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
}
