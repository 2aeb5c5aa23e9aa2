//! One signing account's submissions: autofill (Sequence, Fee,
//! LastLedgerSequence), sign, submit, and wait until the transaction is
//! validated or provably never will be (the validated ledger passed its
//! LastLedgerSequence without it).
//!
//! Transactions are serialized by xrpl-rust's binary codec, not by the
//! codec the devnet and the extension share: every submission crosses from
//! one implementation to another, as it does between a wallet and rippled.
//!
//! The account's sequence is kept here and handed out under a lock, so
//! transactions prepared by one `Submitter` never collide; any answer that
//! says the local sequence is wrong drops it, and the next transaction reads
//! it from the ledger again.

use std::time::Duration;

use drip_core::{codec, tx, Drops, Hash256, KeyPair};
use serde_json::{Map, Value as Json};
use tokio::sync::Mutex;
use xrpl::core::binarycodec;

use crate::client::{Client, Error, TxLookup};
use crate::result::ResultClass;
use crate::stream::Stream;

/// Looks past a transaction's window without proof that it never applied
/// before `wait` gives up (the caller follows it again later).
const UNPROVEN_LOOKS: u32 = 4;

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
    /// Refused at submission, and provably never applies (a `tem` code,
    /// `tefMAX_LEDGER`, or `tefPAST_SEQ` with the transaction nowhere;
    /// other refusals are followed, and end as `Validated` or `Expired`):
    /// a `tem` intent is malformed, any other may be signed again, with a
    /// fresh sequence.
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

    /// The signing account.
    pub fn account_id(&self) -> drip_core::AccountId {
        self.key.account_id()
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
        let (blob, hash) = sign(m, &self.key).map_err(|what| Error::Malformed {
            method: "prepare".into(),
            what,
        })?;
        *next = sequence.checked_add(1);
        Ok(Prepared {
            blob,
            hash,
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
                return self.follow(prepared).await;
            }
        };
        // Only a malformed transaction (tem), a passed LastLedgerSequence or
        // a sequence another transaction took can never apply. rippled
        // holds every other refusal (tel, tef, ter) and tries it again in
        // later ledgers: it is followed to its LastLedgerSequence, never
        // signed over with a fresh sequence (that could pay one intent
        // twice).
        let never = ResultClass::of(&engine_result) == ResultClass::NeverApplies
            || engine_result == "tefMAX_LEDGER"
            || (engine_result == "tefPAST_SEQ"
                && matches!(self.client.tx(&prepared.hash).await?, TxLookup::NotFound));
        if !never {
            return self.follow(prepared).await;
        }
        // It did not take its sequence: the next one must be read again.
        self.forget_sequence().await;
        Ok(Outcome::Rejected { engine_result })
    }

    async fn follow(&self, prepared: &Prepared) -> Result<Outcome, Error> {
        self.wait_for(
            &prepared.hash,
            prepared.last_ledger_sequence,
            Some(prepared.sequence),
        )
        .await
    }

    /// Send a blob signed before (a worker's, which died before or after
    /// submitting it) again, then wait for it: the same blob applies at most
    /// once, and rippled may never have seen it.
    pub async fn resubmit_and_wait(
        &self,
        blob: &[u8],
        hash: &Hash256,
        last_ledger_sequence: u32,
    ) -> Result<Outcome, Error> {
        if self.client.validated_index().await? <= last_ledger_sequence {
            if let Err(e) = self.client.submit(blob).await {
                tracing::warn!(%hash, error = %e, "resubmitting failed; following the transaction");
            }
        }
        let sequence = codec::decode(blob).ok().and_then(|t| t.u32("Sequence"));
        self.wait_for(hash, last_ledger_sequence, sequence).await
    }

    /// Read the account's sequence from the ledger for the next
    /// transaction: one prepared was never submitted (or not recorded).
    pub async fn forget_sequence(&self) {
        *self.next_sequence.lock().await = None;
    }

    /// Wait for `hash` to validate, or for the validated ledger to pass
    /// `last_ledger_sequence` without it (after a crash, too).
    pub async fn wait(&self, hash: &Hash256, last_ledger_sequence: u32) -> Result<Outcome, Error> {
        self.wait_for(hash, last_ledger_sequence, None).await
    }

    /// `wait`, knowing the transaction's Sequence: once its window has
    /// passed, the account's validated Sequence not beyond it proves it
    /// never applied, whatever history the server keeps.
    async fn wait_for(
        &self,
        hash: &Hash256,
        last_ledger_sequence: u32,
        sequence: Option<u32>,
    ) -> Result<Outcome, Error> {
        let mut announcements = self.stream.as_ref().map(Stream::subscribe);
        let mut unproven = 0;
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
                // Absent from a ledger index is not proof: only its sequence
                // still unused in its last ledger (validated), or a server
                // holding every ledger it could be in, says so. Both name
                // the ledgers they ask about, so a server lagging behind
                // the one that answered the index cannot mislead.
                let unused = match sequence {
                    Some(seq) => {
                        self.client
                            .sequence_at(&self.key.account_id(), last_ledger_sequence)
                            .await?
                            <= seq
                    }
                    None => false,
                };
                let first = last_ledger_sequence.saturating_sub(self.config.ledger_window);
                if unused
                    || self
                        .client
                        .absent_from(hash, first, last_ledger_sequence)
                        .await?
                {
                    self.forget_sequence().await;
                    return Ok(Outcome::Expired);
                }
                unproven += 1;
                if unproven >= UNPROVEN_LOOKS {
                    return Err(Error::Unproven(*hash));
                }
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

/// Sign `fields` (all but the signature filled in): xrpl-rust writes the
/// signing data and the blob; the signature is `key`'s, because xrpl-rust's
/// own signer refuses secp256k1 secrets whose hex starts with a zero digit
/// (one key in sixteen; see `drip_core/tests/xrpl_rust.rs`). xrpl-rust drops
/// fields it does not know without a word, so drip_core's codec reads the
/// blob back: it must hold exactly the fields asked for.
fn sign(fields: &mut Map<String, Json>, key: &KeyPair) -> Result<(Vec<u8>, Hash256), String> {
    let hex_of = |encoded: Result<String, _>| -> Result<Vec<u8>, String> {
        encoded
            .map_err(|e: xrpl::core::exceptions::XRPLCoreException| e.to_string())
            .and_then(|h| hex::decode(h).map_err(|e| e.to_string()))
    };
    fields.remove("TxnSignature");
    fields.insert("SigningPubKey".into(), key.public_key().to_hex().into());
    let data = hex_of(binarycodec::encode_for_signing(fields))?;
    let signature = hex::encode_upper(key.sign(&data));
    fields.insert("TxnSignature".into(), signature.into());
    let blob = hex_of(binarycodec::encode(fields))?;
    let asked = codec::from_json(&Json::Object(fields.clone())).map_err(|e| e.to_string())?;
    if codec::decode(&blob).map_err(|e| e.to_string())? != asked {
        return Err("xrpl-rust's blob does not hold the fields asked for".into());
    }
    let hash = tx::transaction_id(&blob);
    Ok((blob, hash))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use drip_core::{KeyType, Seed};
    use serde_json::json;

    /// xrpl-rust's serialization and drip_core's (checked against xrpl.js)
    /// give one blob, and the signature checks as rippled checks it.
    #[test]
    fn xrpl_rust_serializes_what_drip_core_signs() {
        let channel = "5DB01B7FFED6B67E6B0414DED11E051D2EE2B7619CE0EAA6286D67A3A4D5BDB3";
        let transactions = [
            json!({"TransactionType": "PaymentChannelClaim", "Channel": channel,
                   "Balance": "1000001", "Flags": 2147614720u32}),
            json!({"TransactionType": "PaymentChannelCreate", "Amount": "30000000",
                   "Destination": "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", "DestinationTag": 7,
                   "SettleDelay": 86400, "PublicKey": "ED".repeat(33),
                   "Memos": [{"Memo": {"MemoData": "0123ABCD"}}]}),
            json!({"TransactionType": "PaymentChannelFund", "Channel": channel,
                   "Amount": "18446744073709551", "Expiration": 800000000}),
            json!({"TransactionType": "Payment", "Amount": "1",
                   "Destination": "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"}),
        ];
        for (byte, key_type) in [(0x30, KeyType::Ed25519), (0x31, KeyType::Secp256k1)] {
            let key = Seed::from_entropy([byte; 16], key_type).key_pair().unwrap();
            for t in &transactions {
                let mut fields = t.as_object().unwrap().clone();
                fields.insert("Account".into(), key.account_id().to_address().into());
                fields.insert("Sequence".into(), 5.into());
                fields.insert("Fee".into(), "12".into());
                fields.insert("LastLedgerSequence".into(), 4_000_000_000u32.into());
                let mut ours = codec::from_json(&Json::Object(fields.clone())).unwrap();
                let expected = tx::sign(&mut ours, &key).unwrap();

                let (blob, hash) = sign(&mut fields, &key).unwrap();
                assert_eq!(
                    hex::encode_upper(&blob),
                    hex::encode_upper(&expected.blob),
                    "{t}"
                );
                assert_eq!(hash, expected.hash);
                let decoded = codec::decode(&blob).unwrap();
                assert_eq!(tx::verify_signature(&decoded).unwrap(), *key.public_key());
            }
        }
    }

    #[test]
    fn a_field_xrpl_rust_would_drop_is_refused() {
        let key = Seed::from_entropy([1; 16], KeyType::Ed25519)
            .key_pair()
            .unwrap();
        let mut fields = json!({"TransactionType": "Payment", "NoSuchField": 1})
            .as_object()
            .unwrap()
            .clone();
        assert!(sign(&mut fields, &key).is_err());
    }
}
