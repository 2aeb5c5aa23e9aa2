//! One signing account's submissions: autofill (Sequence, Fee,
//! LastLedgerSequence), sign, submit, and wait until the transaction is
//! validated or provably never will be (the validated ledger passed its
//! LastLedgerSequence without it).
//!
//! The account's sequence is kept here and handed out under a lock, so
//! transactions prepared by one `Submitter` never collide; any answer that
//! says the local sequence is wrong drops it, and the next transaction reads
//! it from the ledger again.

use std::time::Duration;

use drip_core::{codec, tx, Drops, Hash256, KeyPair};
use serde_json::Value as Json;
use tokio::sync::Mutex;

use crate::client::{Client, Error, TxLookup};
use crate::stream::Stream;

/// How a [`Submitter`] fills in and follows transactions.
#[derive(Debug, Clone)]
pub struct SubmitterConfig {
    /// Never offer more than this fee, however busy the ledger.
    pub max_fee: Drops,
    /// LastLedgerSequence = the validated ledger's index + this.
    pub ledger_window: u32,
    /// How often to look for the transaction while waiting.
    pub poll: Duration,
}

impl Default for SubmitterConfig {
    fn default() -> Self {
        SubmitterConfig {
            max_fee: Drops::new(10_000),
            ledger_window: 20,
            poll: Duration::from_millis(250),
        }
    }
}

/// A signed transaction ready to submit: record its hash and
/// LastLedgerSequence before submitting, so a crash can be reconciled.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The signed blob.
    pub blob: Vec<u8>,
    /// Its transaction id.
    pub hash: Hash256,
    /// The account sequence it uses.
    pub sequence: u32,
    /// After this ledger validates without it, it never will.
    pub last_ledger_sequence: u32,
}

/// How a submission ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// In a validated ledger with this result (`tesSUCCESS` or a `tec` code;
    /// a `tec` result paid the fee and did nothing else).
    Validated {
        /// `TransactionResult`.
        result: String,
        /// The ledger it validated in.
        ledger_index: u32,
        /// rippled's `tx` answer.
        tx: Json,
    },
    /// The validated ledger passed LastLedgerSequence without it: it can
    /// never apply, so the intent may be signed again.
    Expired,
    /// Refused at submission without entering the ledger (`tem`, `tef`,
    /// `tel`, `ter` codes other than `terQUEUED`): the intent may be signed
    /// again, with a fresh sequence (and a higher fee after `telINSUF_FEE_P`).
    Rejected {
        /// rippled's engine result.
        engine_result: String,
    },
}

/// Submits one account's transactions.
#[derive(Debug)]
pub struct Submitter {
    client: Client,
    key: KeyPair,
    config: SubmitterConfig,
    next_sequence: Mutex<Option<u32>>,
    stream: Option<Stream>,
}

impl Submitter {
    /// A submitter signing with `key` through `client`.
    pub fn new(client: Client, key: KeyPair, config: SubmitterConfig) -> Submitter {
        Submitter {
            client,
            key,
            config,
            next_sequence: Mutex::new(None),
            stream: None,
        }
    }

    /// Wake waits on the ledger stream's announcements (polling, less
    /// often, stays as the fallback).
    pub fn with_stream(mut self, stream: Stream) -> Submitter {
        self.stream = Some(stream);
        self
    }

    /// The client it submits through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The signing account's address.
    pub fn address(&self) -> String {
        self.key.account_id().to_address()
    }

    /// Fill in Account, Sequence, Fee and LastLedgerSequence, and sign.
    /// `fee_bumps` doubles the fee that many times (within `max_fee`).
    pub async fn prepare(&self, mut fields: Json, fee_bumps: u32) -> Result<Prepared, Error> {
        let fee = self.client.open_ledger_fee().await?;
        let fee = (0..fee_bumps)
            .try_fold(fee, |f, _| f.checked_add(f))
            .unwrap_or(self.config.max_fee)
            .min(self.config.max_fee);
        let validated = self.client.validated_index().await?;
        let last_ledger_sequence = validated.saturating_add(self.config.ledger_window);
        let mut next = self.next_sequence.lock().await;
        let sequence = match *next {
            Some(s) => s,
            None => self.client.account_info(&self.key.account_id()).await?.0,
        };
        let m = fields.as_object_mut().ok_or_else(|| Error::Malformed {
            method: "prepare".into(),
            what: "transaction fields are not an object".into(),
        })?;
        m.insert("Account".into(), self.address().into());
        m.insert("Sequence".into(), sequence.into());
        m.insert("Fee".into(), fee.to_string().into());
        m.insert("LastLedgerSequence".into(), last_ledger_sequence.into());
        let signed = codec::from_json(&fields)
            .map_err(|e| e.to_string())
            .and_then(|mut obj| tx::sign(&mut obj, &self.key).map_err(|e| e.to_string()))
            .map_err(|what| Error::Malformed {
                method: "prepare".into(),
                what,
            })?;
        *next = sequence.checked_add(1);
        Ok(Prepared {
            blob: signed.blob,
            hash: signed.hash,
            sequence,
            last_ledger_sequence,
        })
    }

    /// Submit and wait for the outcome.
    pub async fn submit_and_wait(&self, prepared: &Prepared) -> Result<Outcome, Error> {
        let engine_result = match self.client.submit(&prepared.blob).await {
            Ok(r) => r,
            Err(e) => {
                // Unknown whether it arrived: follow it by hash.
                tracing::warn!(hash = %prepared.hash, error = %e, "submit failed; following the transaction");
                return self
                    .wait(&prepared.hash, prepared.last_ledger_sequence)
                    .await;
            }
        };
        let entered = engine_result == "tesSUCCESS"
            || engine_result == "terQUEUED"
            || engine_result.starts_with("tec")
            // Already applied (a resubmission of the same blob).
            || engine_result == "tefALREADY";
        if entered {
            return self
                .wait(&prepared.hash, prepared.last_ledger_sequence)
                .await;
        }
        // A past sequence may be this very transaction, already in.
        if engine_result == "tefPAST_SEQ" {
            if let TxLookup::Validated { .. } | TxLookup::Pending =
                self.client.tx(&prepared.hash).await?
            {
                return self
                    .wait(&prepared.hash, prepared.last_ledger_sequence)
                    .await;
            }
        }
        // It did not take its sequence: the next one must be read again.
        *self.next_sequence.lock().await = None;
        Ok(Outcome::Rejected { engine_result })
    }

    /// Wait for `hash` to validate, or for the validated ledger to pass
    /// `last_ledger_sequence` without it (after a crash, too).
    pub async fn wait(&self, hash: &Hash256, last_ledger_sequence: u32) -> Result<Outcome, Error> {
        let mut announcements = self.stream.as_ref().map(Stream::subscribe);
        loop {
            // Read the validated index first: if the transaction is absent
            // afterwards and that index is past its window, it never applies.
            let validated = self.client.validated_index().await?;
            if let TxLookup::Validated {
                result,
                ledger_index,
                tx,
            } = self.client.tx(hash).await?
            {
                return Ok(Outcome::Validated {
                    result,
                    ledger_index,
                    tx,
                });
            }
            if validated > last_ledger_sequence {
                *self.next_sequence.lock().await = None;
                return Ok(Outcome::Expired);
            }
            match &mut announcements {
                None => tokio::time::sleep(self.config.poll).await,
                Some(rx) => {
                    tokio::select! {
                        _ = announced(rx, hash) => {}
                        _ = tokio::time::sleep(self.config.poll * 4) => {}
                    }
                }
            }
        }
    }
}

/// Until the stream announces `hash` (or falls behind, or ends: look then).
async fn announced(
    rx: &mut tokio::sync::broadcast::Receiver<crate::stream::Validated>,
    hash: &Hash256,
) {
    loop {
        match rx.recv().await {
            Ok(v) if v.hash == *hash => return,
            Ok(_) => {}
            Err(_) => return,
        }
    }
}
