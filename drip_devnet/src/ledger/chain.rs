//! The chain: one open ledger taking transactions, and the closed ledgers
//! behind it. In stand-alone mode every closed ledger is validated.

use std::collections::{BTreeMap, HashMap, VecDeque};

use drip_core::codec::{self, StObject, Value};
use drip_core::hash::sha512_half;
use drip_core::{tx, AccountId, Drops, Hash256, Seed};
use serde::{Deserialize, Serialize};

use super::apply::{self, Context, Fees};
use super::entry::AccountRoot;
use super::state::State;
use crate::ter::Ter;

/// The stand-alone genesis account's seed (`rippled --standalone`).
pub const GENESIS_SEED: &str = "snoPBrXtMeMyMHUVTgbuqAfg1SUTb";

/// How many past ledger states are kept for `ledger_index` queries.
const KEPT_STATES: usize = 256;

/// Ledger parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Fees and reserves.
    #[serde(with = "fees_serde")]
    pub fees: Fees,
    /// All XRP, held by genesis at the start.
    pub total_drops: Drops,
}

mod fees_serde {
    use super::{Drops, Fees};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct F {
        base_fee: Drops,
        reserve_base: Drops,
        reserve_inc: Drops,
    }

    pub(super) fn serialize<S: Serializer>(f: &Fees, s: S) -> Result<S::Ok, S::Error> {
        F {
            base_fee: f.base_fee,
            reserve_base: f.reserve_base,
            reserve_inc: f.reserve_inc,
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fees, D::Error> {
        let f = F::deserialize(d)?;
        Ok(Fees {
            base_fee: f.base_fee,
            reserve_base: f.reserve_base,
            reserve_inc: f.reserve_inc,
        })
    }
}

impl Default for Config {
    /// Mainnet's fees and reserves: 10 drops, 1 XRP + 0.2 XRP per object.
    fn default() -> Self {
        Config {
            fees: Fees {
                base_fee: Drops::new(10),
                reserve_base: Drops::new(1_000_000),
                reserve_inc: Drops::new(200_000),
            },
            total_drops: Drops::MAX_NATIVE,
        }
    }
}

/// A transaction in a ledger (open or closed).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TxRecord {
    /// Transaction id.
    pub hash: Hash256,
    /// The signed blob.
    #[serde(with = "hex_bytes")]
    pub blob: Vec<u8>,
    /// Serialized metadata.
    #[serde(with = "hex_bytes")]
    pub meta: Vec<u8>,
    /// The ledger it is in.
    pub ledger_index: u32,
    /// Its position in that ledger.
    pub index: u32,
    /// Its result token.
    pub result: String,
    /// XRP a Payment delivered.
    pub delivered: Option<Drops>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(b))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A closed (and, stand-alone, validated) ledger's header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClosedLedger {
    /// Sequence.
    pub seq: u32,
    /// Ledger hash.
    pub hash: Hash256,
    /// Previous ledger's hash.
    pub parent_hash: Hash256,
    /// Close time (Ripple epoch seconds).
    pub close_time: u32,
    /// The previous ledger's close time.
    pub parent_close_time: u32,
    /// Hash over its transactions.
    pub transaction_hash: Hash256,
    /// Hash over its state.
    pub account_hash: Hash256,
    /// XRP in existence.
    pub total_drops: Drops,
    /// Its transactions, in order.
    pub transactions: Vec<Hash256>,
}

/// What happened, for subscribers.
#[derive(Clone, Debug)]
pub enum Event {
    /// A ledger closed; its transactions follow as `Transaction` events first.
    LedgerClosed(ClosedLedger),
    /// A transaction was validated in a closed ledger.
    Transaction(TxRecord),
}

/// The outcome of a submitted blob that was well-formed and well-signed.
#[derive(Clone, Debug)]
pub struct Submitted {
    /// The preliminary result.
    pub ter: Ter,
    /// The decoded transaction.
    pub tx: StObject,
    /// Its id.
    pub hash: Hash256,
    /// Whether it went into the open ledger.
    pub applied: bool,
    /// The sender's next sequence after this transaction.
    pub account_sequence_next: Option<u32>,
}

/// A blob that decoded and carries a valid signature, ready to apply. Making
/// one needs no ledger state, so servers do it before taking the ledger lock.
#[derive(Clone, Debug)]
pub struct Prepared {
    blob: Vec<u8>,
    tx: StObject,
    hash: Hash256,
    signer: AccountId,
}

impl Prepared {
    /// The signed blob.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The answer for this transaction refused with `ter` before reaching
    /// the ledger.
    pub fn refused(self, ter: Ter) -> Submitted {
        Submitted {
            ter,
            tx: self.tx,
            hash: self.hash,
            applied: false,
            account_sequence_next: None,
        }
    }

    /// Decode `blob` and check its signature.
    pub fn new(blob: &[u8]) -> Result<Prepared, SubmitError> {
        let tx = codec::decode(blob).map_err(|e| SubmitError::Decode(e.to_string()))?;
        let key = tx::verify_signature(&tx).map_err(|_| SubmitError::Signature)?;
        Ok(Prepared {
            blob: blob.to_vec(),
            hash: tx::transaction_id(blob),
            signer: key.account_id(),
            tx,
        })
    }
}

/// A blob refused before it reached the transaction engine (rippled's
/// `invalidTransaction` RPC error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Did not deserialize.
    #[error("invalidTransaction: {0}")]
    Decode(String),
    /// Signature missing or wrong.
    #[error("fails local checks: Invalid signature.")]
    Signature,
}

/// The devnet's ledger chain.
#[derive(Debug, Serialize, Deserialize)]
pub struct Chain {
    config: Config,
    /// The open ledger's state.
    open: State,
    open_txs: Vec<Hash256>,
    closed: Vec<ClosedLedger>,
    /// States of recent closed ledgers, by sequence.
    #[serde(skip)]
    states: BTreeMap<u32, State>,
    txs: HashMap<Hash256, TxRecord>,
    /// Transactions by affected account, newest last.
    account_txs: HashMap<AccountId, Vec<Hash256>>,
    /// Events not yet taken by the server.
    #[serde(skip)]
    events: VecDeque<Event>,
}

impl Chain {
    /// A new chain: ledger 1 holds the genesis account with all XRP, closed
    /// at `now`; ledger 2 is open.
    pub fn new(config: Config, now: u32) -> Self {
        let genesis = genesis_account();
        let mut open = State::default();
        open.accounts
            .insert(genesis, AccountRoot::new(genesis, config.total_drops, 1));
        let mut chain = Chain {
            config,
            open,
            open_txs: Vec::new(),
            closed: Vec::new(),
            states: BTreeMap::new(),
            txs: HashMap::new(),
            account_txs: HashMap::new(),
            events: VecDeque::new(),
        };
        chain.seal(1, now, Hash256::default(), 0);
        chain.events.clear();
        chain
    }

    /// Rebuild what is not persisted after loading a saved chain.
    pub fn restored(mut self) -> Self {
        if let Some(last) = self.closed.last() {
            self.states.insert(last.seq, self.open.clone());
        }
        self
    }

    /// Ledger parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The open ledger's sequence.
    pub fn open_seq(&self) -> u32 {
        self.last_closed().seq.saturating_add(1)
    }

    /// The newest closed (= validated) ledger.
    pub fn last_closed(&self) -> &ClosedLedger {
        // `new` always seals ledger 1.
        match self.closed.last() {
            Some(l) => l,
            None => unreachable!("a chain always has a closed ledger"),
        }
    }

    /// A closed ledger by sequence.
    pub fn closed(&self, seq: u32) -> Option<&ClosedLedger> {
        let first = self.closed.first()?.seq;
        self.closed
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)
    }

    /// Oldest and newest closed sequences.
    pub fn complete_ledgers(&self) -> (u32, u32) {
        let first = self.closed.first().map_or(1, |l| l.seq);
        (first, self.last_closed().seq)
    }

    /// The open ledger's state.
    pub fn open_state(&self) -> &State {
        &self.open
    }

    /// A closed ledger's state, if still kept.
    pub fn state_at(&self, seq: u32) -> Option<&State> {
        self.states.get(&seq)
    }

    /// A transaction by id (open or closed ledgers).
    pub fn tx(&self, hash: &Hash256) -> Option<&TxRecord> {
        self.txs.get(hash)
    }

    /// Whether `seq` is closed (validated).
    pub fn is_validated(&self, seq: u32) -> bool {
        seq <= self.last_closed().seq
    }

    /// Transactions that affected `account`, oldest first.
    pub fn account_txs(&self, account: &AccountId) -> &[Hash256] {
        self.account_txs.get(account).map_or(&[], Vec::as_slice)
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Decode, check the signature, and apply a blob to the open ledger.
    pub fn submit(&mut self, blob: &[u8]) -> Result<Submitted, SubmitError> {
        Ok(self.submit_prepared(Prepared::new(blob)?))
    }

    /// Apply a prepared transaction to the open ledger.
    pub fn submit_prepared(&mut self, prepared: Prepared) -> Submitted {
        self.submit_forced(prepared, None)
    }

    /// [`Chain::submit_prepared`], giving `forced_tec` (a `tec` result)
    /// instead of the transaction's effect: the fee and sequence are taken,
    /// nothing else happens, as on rippled.
    pub fn submit_forced(&mut self, prepared: Prepared, forced_tec: Option<Ter>) -> Submitted {
        let Prepared {
            blob,
            tx: decoded,
            hash,
            signer,
        } = prepared;
        let blob = blob.as_slice();
        if self.txs.contains_key(&hash) {
            // rippled answers a duplicate from its cache; the sequence is used.
            return Submitted {
                ter: Ter::tefPAST_SEQ,
                tx: decoded,
                hash,
                applied: false,
                account_sequence_next: None,
            };
        }
        let ctx = Context {
            ledger_seq: self.open_seq(),
            parent_close_time: self.last_closed().close_time,
            fees: self.config.fees,
            forced_tec,
        };
        let applied = apply::apply(&mut self.open, &decoded, hash, signer, &ctx);
        let sender = decoded.account("Account");
        if let Some(changes) = applied.changes {
            let index = u32::try_from(self.open_txs.len()).unwrap_or(u32::MAX);
            let mut meta = StObject::new();
            let _ = meta.set_named("TransactionIndex", Value::UInt32(index));
            let _ = meta.set_named(
                "TransactionResult",
                Value::UInt8(u8::try_from(applied.ter.code()).unwrap_or(0)),
            );
            let affected: Vec<_> = changes
                .affected
                .iter()
                .flat_map(|n| n.iter().map(|(f, v)| (f, v.clone())))
                .filter_map(|(f, v)| match v {
                    Value::Object(o) => Some((f, o)),
                    _ => None,
                })
                .collect();
            let mut touched = Vec::new();
            for (_, node) in &affected {
                for name in ["FinalFields", "NewFields"] {
                    if let Some(Value::Object(fields)) = node.get(name) {
                        if let Some(a) = fields.account("Account") {
                            touched.push(a);
                        }
                        if let Some(d) = fields.account("Destination") {
                            touched.push(d);
                        }
                    }
                }
            }
            let _ = meta.set_named("AffectedNodes", Value::Array(affected));
            changes.commit(&mut self.open);
            let record = TxRecord {
                hash,
                blob: blob.to_vec(),
                meta: codec::encode(&meta).unwrap_or_default(),
                ledger_index: ctx.ledger_seq,
                index,
                result: applied.ter.token().to_owned(),
                delivered: applied.delivered,
            };
            touched.sort();
            touched.dedup();
            for a in touched {
                self.account_txs.entry(a).or_default().push(hash);
            }
            self.txs.insert(hash, record);
            self.open_txs.push(hash);
        }
        let account_sequence_next = sender
            .and_then(|a| self.open.accounts.get(&a))
            .map(|a| a.sequence);
        Submitted {
            ter: applied.ter,
            tx: decoded,
            hash,
            applied: applied.ter.is_applied(),
            account_sequence_next,
        }
    }

    /// Close the open ledger at `now` (Ripple epoch seconds; at least one
    /// second after the previous close) and open the next.
    pub fn close(&mut self, now: u32) -> &ClosedLedger {
        let parent = self.last_closed().clone();
        let close_time = now.max(parent.close_time.saturating_add(1));
        self.seal(
            parent.seq.saturating_add(1),
            close_time,
            parent.hash,
            parent.close_time,
        );
        self.last_closed()
    }

    fn seal(&mut self, seq: u32, close_time: u32, parent_hash: Hash256, parent_close_time: u32) {
        let transactions = std::mem::take(&mut self.open_txs);
        let tx_bytes: Vec<u8> = transactions.iter().flat_map(|h| h.0).collect();
        let transaction_hash = Hash256(sha512_half(&[b"TXS\0", &tx_bytes]));
        let state_json = serde_json::to_vec(&self.open).unwrap_or_default();
        let account_hash = Hash256(sha512_half(&[b"STA\0", &state_json]));
        let total_drops = self
            .open
            .accounts
            .values()
            .map(|a| a.balance)
            .chain(self.open.channels.values().map(|c| c.remaining()))
            .fold(Drops::ZERO, |sum, d| {
                sum.checked_add(d).unwrap_or(Drops::MAX)
            });
        // rippled's ledger hash covers the header fields under "LWR\0".
        let hash = Hash256(sha512_half(&[
            b"LWR\0",
            &seq.to_be_bytes(),
            &total_drops.get().to_be_bytes(),
            parent_hash.as_bytes(),
            transaction_hash.as_bytes(),
            account_hash.as_bytes(),
            &parent_close_time.to_be_bytes(),
            &close_time.to_be_bytes(),
        ]));
        let ledger = ClosedLedger {
            seq,
            hash,
            parent_hash,
            close_time,
            parent_close_time,
            transaction_hash,
            account_hash,
            total_drops,
            transactions,
        };
        for h in &ledger.transactions {
            if let Some(r) = self.txs.get(h) {
                self.events.push_back(Event::Transaction(r.clone()));
            }
        }
        self.events.push_back(Event::LedgerClosed(ledger.clone()));
        self.closed.push(ledger);
        self.states.insert(seq, self.open.clone());
        while self.states.len() > KEPT_STATES {
            self.states.pop_first();
        }
    }
}

/// The genesis account's id.
pub fn genesis_account() -> AccountId {
    match GENESIS_SEED.parse::<Seed>().map(|s| s.key_pair()) {
        Ok(Ok(pair)) => pair.account_id(),
        _ => unreachable!("the genesis seed is valid"),
    }
}
