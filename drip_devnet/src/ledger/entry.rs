//! Ledger entries the devnet keeps: `AccountRoot` and `PayChannel`, with their
//! indexes and serialized forms (rippled's field sets).

use drip_core::codec::{Amount, StObject, Value};
use drip_core::hash::sha512_half;
use drip_core::{AccountId, Drops, Hash256};
use serde::{Deserialize, Serialize};

/// `AccountRoot` flags the devnet supports.
pub mod flags {
    /// lsfRequireDestTag.
    pub const REQUIRE_DEST_TAG: u32 = 0x0002_0000;
    /// lsfDepositAuth.
    pub const DEPOSIT_AUTH: u32 = 0x0100_0000;
    /// lsfDisallowIncomingPayChan.
    pub const DISALLOW_INCOMING_PAYCHAN: u32 = 0x1000_0000;
}

/// An account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRoot {
    /// Its address.
    pub account: AccountId,
    /// XRP it holds.
    pub balance: Drops,
    /// The next sequence number it can use.
    pub sequence: u32,
    /// Ledger objects it owns (each costs an owner reserve).
    pub owner_count: u32,
    /// `lsf*` flags.
    pub flags: u32,
    /// The last transaction that changed it.
    pub previous_txn_id: Hash256,
    /// The ledger of that transaction.
    pub previous_txn_lgr_seq: u32,
}

/// A payment channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayChannel {
    /// The source (payer).
    pub account: AccountId,
    /// The destination (payee).
    pub destination: AccountId,
    /// XRP set aside, total.
    pub amount: Drops,
    /// XRP already paid out to the destination.
    pub balance: Drops,
    /// The key that signs claims.
    #[serde(with = "hex_key")]
    pub public_key: [u8; 33],
    /// Seconds the source must wait to close a channel with XRP left.
    pub settle_delay: u32,
    /// When the channel may be closed (set by a source close or Fund).
    pub expiration: Option<u32>,
    /// Immutable hard expiry.
    pub cancel_after: Option<u32>,
    /// Source's tag.
    pub source_tag: Option<u32>,
    /// Destination's tag.
    pub destination_tag: Option<u32>,
    /// The last transaction that changed it.
    pub previous_txn_id: Hash256,
    /// The ledger of that transaction.
    pub previous_txn_lgr_seq: u32,
}

mod hex_key {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(k: &[u8; 33], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(k))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 33], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 33];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

/// The ledger index of `account`'s `AccountRoot` (namespace `'a'`).
pub fn account_index(account: &AccountId) -> Hash256 {
    Hash256(sha512_half(&[&[0x00, b'a'], account.as_bytes()]))
}

fn set(obj: &mut StObject, name: &str, value: Value) {
    // Every name used here is in drip_core's field table with this type.
    let _ = obj.set_named(name, value);
}

impl AccountRoot {
    /// A new account holding `balance`, created in ledger `seq`.
    pub fn new(account: AccountId, balance: Drops, sequence: u32) -> Self {
        AccountRoot {
            account,
            balance,
            sequence,
            owner_count: 0,
            flags: 0,
            previous_txn_id: Hash256::default(),
            previous_txn_lgr_seq: 0,
        }
    }

    /// rippled's serialized form.
    pub fn to_sle(&self) -> StObject {
        let mut o = StObject::new();
        set(&mut o, "LedgerEntryType", Value::UInt16(0x0061));
        set(&mut o, "Flags", Value::UInt32(self.flags));
        set(&mut o, "Sequence", Value::UInt32(self.sequence));
        set(
            &mut o,
            "PreviousTxnLgrSeq",
            Value::UInt32(self.previous_txn_lgr_seq),
        );
        set(&mut o, "OwnerCount", Value::UInt32(self.owner_count));
        set(
            &mut o,
            "PreviousTxnID",
            Value::Hash256(self.previous_txn_id.0),
        );
        set(&mut o, "Balance", Value::Amount(Amount::Xrp(self.balance)));
        set(&mut o, "Account", Value::AccountId(self.account));
        o
    }
}

impl PayChannel {
    /// rippled's serialized form.
    pub fn to_sle(&self) -> StObject {
        let mut o = StObject::new();
        set(&mut o, "LedgerEntryType", Value::UInt16(0x0078));
        set(&mut o, "Flags", Value::UInt32(0));
        if let Some(t) = self.source_tag {
            set(&mut o, "SourceTag", Value::UInt32(t));
        }
        set(
            &mut o,
            "PreviousTxnLgrSeq",
            Value::UInt32(self.previous_txn_lgr_seq),
        );
        if let Some(e) = self.expiration {
            set(&mut o, "Expiration", Value::UInt32(e));
        }
        if let Some(t) = self.destination_tag {
            set(&mut o, "DestinationTag", Value::UInt32(t));
        }
        if let Some(c) = self.cancel_after {
            set(&mut o, "CancelAfter", Value::UInt32(c));
        }
        set(&mut o, "SettleDelay", Value::UInt32(self.settle_delay));
        set(&mut o, "OwnerNode", Value::UInt64(0));
        set(&mut o, "DestinationNode", Value::UInt64(0));
        set(
            &mut o,
            "PreviousTxnID",
            Value::Hash256(self.previous_txn_id.0),
        );
        set(&mut o, "Amount", Value::Amount(Amount::Xrp(self.amount)));
        set(&mut o, "Balance", Value::Amount(Amount::Xrp(self.balance)));
        set(&mut o, "PublicKey", Value::Blob(self.public_key.to_vec()));
        set(&mut o, "Account", Value::AccountId(self.account));
        set(&mut o, "Destination", Value::AccountId(self.destination));
        o
    }

    /// Whether the channel has expired at `parent_close_time`: CancelAfter or
    /// Expiration at or before it (rippled's `closeChannel` condition).
    pub fn is_expired(&self, parent_close_time: u32) -> bool {
        self.cancel_after.is_some_and(|c| parent_close_time >= c)
            || self.expiration.is_some_and(|e| parent_close_time >= e)
    }

    /// XRP still in the channel (Amount − Balance).
    pub fn remaining(&self) -> Drops {
        self.amount.saturating_sub(self.balance)
    }
}

/// A ledger entry of either kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// An account.
    Account(AccountRoot),
    /// A payment channel.
    Channel(PayChannel),
}

impl Entry {
    /// rippled's serialized form.
    pub fn to_sle(&self) -> StObject {
        match self {
            Entry::Account(a) => a.to_sle(),
            Entry::Channel(c) => c.to_sle(),
        }
    }

    /// `LedgerEntryType` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Entry::Account(_) => "AccountRoot",
            Entry::Channel(_) => "PayChannel",
        }
    }

    /// The transaction that last touched it, and its ledger.
    pub fn previous_txn(&self) -> (Hash256, u32) {
        match self {
            Entry::Account(a) => (a.previous_txn_id, a.previous_txn_lgr_seq),
            Entry::Channel(c) => (c.previous_txn_id, c.previous_txn_lgr_seq),
        }
    }

    /// Record `tx` in ledger `seq` as the entry's last change.
    pub fn thread(&mut self, tx: Hash256, seq: u32) {
        match self {
            Entry::Account(a) => {
                a.previous_txn_id = tx;
                a.previous_txn_lgr_seq = seq;
            }
            Entry::Channel(c) => {
                c.previous_txn_id = tx;
                c.previous_txn_lgr_seq = seq;
            }
        }
    }
}
