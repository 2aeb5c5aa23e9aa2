//! The ledger state (accounts and channels), and a sandbox that stages one
//! transaction's changes so they can be committed with metadata or dropped.

use std::collections::BTreeMap;

use drip_core::codec::{StObject, Value};
use drip_core::{AccountId, Hash256};
use serde::{Deserialize, Serialize};

use super::entry::{account_index, AccountRoot, Entry, PayChannel};

/// Every account and channel of one ledger version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Accounts by id.
    pub accounts: BTreeMap<AccountId, AccountRoot>,
    /// Channels by id.
    pub channels: BTreeMap<Hash256, PayChannel>,
}

/// Where an entry lives: its ledger index and kind.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Key {
    Account(AccountId),
    Channel(Hash256),
}

impl Key {
    fn index(&self) -> Hash256 {
        match self {
            Key::Account(a) => account_index(a),
            Key::Channel(c) => *c,
        }
    }
}

/// One transaction's staged changes over a [`State`].
#[derive(Debug)]
pub struct Sandbox<'a> {
    base: &'a State,
    changes: BTreeMap<Key, Option<Entry>>,
    /// Deleted entries as they were when deleted.
    erased: BTreeMap<Key, Entry>,
}

impl<'a> Sandbox<'a> {
    /// An empty sandbox over `base`.
    pub fn new(base: &'a State) -> Self {
        Sandbox {
            base,
            changes: BTreeMap::new(),
            erased: BTreeMap::new(),
        }
    }

    /// The account as the transaction sees it.
    pub fn account(&self, id: &AccountId) -> Option<AccountRoot> {
        match self.changes.get(&Key::Account(*id)) {
            Some(Some(Entry::Account(a))) => Some(a.clone()),
            Some(_) => None,
            None => self.base.accounts.get(id).cloned(),
        }
    }

    /// The channel as the transaction sees it.
    pub fn channel(&self, id: &Hash256) -> Option<PayChannel> {
        match self.changes.get(&Key::Channel(*id)) {
            Some(Some(Entry::Channel(c))) => Some(c.clone()),
            Some(_) => None,
            None => self.base.channels.get(id).cloned(),
        }
    }

    /// Stage an account's new state (created or modified).
    pub fn put_account(&mut self, a: AccountRoot) {
        self.changes
            .insert(Key::Account(a.account), Some(Entry::Account(a)));
    }

    /// Stage a channel's new state (created or modified).
    pub fn put_channel(&mut self, id: Hash256, c: PayChannel) {
        self.changes
            .insert(Key::Channel(id), Some(Entry::Channel(c)));
    }

    /// Stage a channel's deletion; `last` is the channel as the transaction
    /// left it (rippled's DeletedNode shows those FinalFields, so a closing
    /// claim's new Balance is in the metadata).
    pub fn erase_channel(&mut self, id: Hash256, last: PayChannel) {
        self.changes.insert(Key::Channel(id), None);
        self.erased.insert(Key::Channel(id), Entry::Channel(last));
    }

    /// Drop everything staged.
    pub fn discard(&mut self) {
        self.changes.clear();
        self.erased.clear();
    }

    /// The staged changes as they will be written, threaded to `tx` in ledger
    /// `seq`, with their `AffectedNodes` metadata (sorted by ledger index, as
    /// rippled sorts them).
    pub fn finish(self, tx: Hash256, seq: u32) -> Changes {
        let mut affected: Vec<(Hash256, StObject)> = Vec::new();
        let mut writes = Vec::new();
        for (key, after) in self.changes {
            let before = match key {
                Key::Account(id) => self.base.accounts.get(&id).cloned().map(Entry::Account),
                Key::Channel(id) => self.base.channels.get(&id).cloned().map(Entry::Channel),
            };
            let after = after.map(|mut e| {
                e.thread(tx, seq);
                e
            });
            let last = after
                .as_ref()
                .or_else(|| self.erased.get(&key))
                .or(before.as_ref());
            if let Some(node) = affected_node(key.index(), before.as_ref(), after.as_ref(), last) {
                affected.push((key.index(), node));
            }
            writes.push((key, after));
        }
        affected.sort_by_key(|(index, _)| *index);
        Changes {
            writes,
            affected: affected.into_iter().map(|(_, n)| n).collect(),
        }
    }
}

/// A transaction's effects, ready to write.
#[derive(Debug)]
pub struct Changes {
    writes: Vec<(Key, Option<Entry>)>,
    /// `AffectedNodes` elements (`CreatedNode`, `ModifiedNode`, `DeletedNode`).
    pub affected: Vec<StObject>,
}

impl Changes {
    /// Write the changes into `state`.
    pub fn commit(self, state: &mut State) {
        for (key, entry) in self.writes {
            match (key, entry) {
                (Key::Account(id), Some(Entry::Account(a))) => {
                    state.accounts.insert(id, a);
                }
                (Key::Account(id), _) => {
                    state.accounts.remove(&id);
                }
                (Key::Channel(id), Some(Entry::Channel(c))) => {
                    state.channels.insert(id, c);
                }
                (Key::Channel(id), _) => {
                    state.channels.remove(&id);
                }
            }
        }
    }
}

/// Fields that are bookkeeping, never shown in Previous/Final/NewFields.
const THREADING: [&str; 3] = ["LedgerEntryType", "PreviousTxnID", "PreviousTxnLgrSeq"];

fn without_threading(o: &StObject) -> StObject {
    let mut o = o.clone();
    for f in THREADING {
        o.remove(f);
    }
    o
}

fn set(o: &mut StObject, name: &str, v: Value) {
    let _ = o.set_named(name, v);
}

/// FinalFields, and PreviousFields: the fields of `old` that differ.
fn set_final_and_previous(inner: &mut StObject, old: &Entry, final_fields: StObject) {
    let mut previous = StObject::new();
    for (field, value) in without_threading(&old.to_sle()).iter() {
        if final_fields.get(field.name) != Some(value) {
            let _ = previous.set(field, value.clone());
        }
    }
    set(inner, "FinalFields", Value::Object(final_fields));
    if previous.iter().next().is_some() {
        set(inner, "PreviousFields", Value::Object(previous));
    }
}

/// One `AffectedNodes` element, or `None` if nothing changed.
fn affected_node(
    index: Hash256,
    before: Option<&Entry>,
    after: Option<&Entry>,
    last: Option<&Entry>,
) -> Option<StObject> {
    let entry_type = |e: &Entry| match e {
        Entry::Account(_) => 0x0061u16,
        Entry::Channel(_) => 0x0078u16,
    };
    let mut inner = StObject::new();
    let wrapper = match (before, after) {
        (None, Some(new)) => {
            set(
                &mut inner,
                "LedgerEntryType",
                Value::UInt16(entry_type(new)),
            );
            set(&mut inner, "LedgerIndex", Value::Hash256(index.0));
            let mut fields = without_threading(&new.to_sle());
            // Zero/default fields are left out of NewFields, as rippled does.
            if let Some(Value::UInt32(0)) = fields.get("Flags") {
                fields.remove("Flags");
            }
            for name in ["OwnerNode", "DestinationNode"] {
                if let Some(Value::UInt64(0)) = fields.get(name) {
                    fields.remove(name);
                }
            }
            set(&mut inner, "NewFields", Value::Object(fields));
            "CreatedNode"
        }
        (Some(old), Some(new)) => {
            let new_sle = without_threading(&new.to_sle());
            set(
                &mut inner,
                "LedgerEntryType",
                Value::UInt16(entry_type(new)),
            );
            set(&mut inner, "LedgerIndex", Value::Hash256(index.0));
            set_final_and_previous(&mut inner, old, new_sle);
            let (prev_id, prev_seq) = old.previous_txn();
            set(&mut inner, "PreviousTxnID", Value::Hash256(prev_id.0));
            set(&mut inner, "PreviousTxnLgrSeq", Value::UInt32(prev_seq));
            "ModifiedNode"
        }
        (Some(old), None) => {
            set(
                &mut inner,
                "LedgerEntryType",
                Value::UInt16(entry_type(old)),
            );
            set(&mut inner, "LedgerIndex", Value::Hash256(index.0));
            // As the transaction left it, threading included (rippled keeps
            // PreviousTxnID/PreviousTxnLgrSeq inside a deleted node's
            // FinalFields), with what it changed first in PreviousFields.
            let mut last_sle = last.unwrap_or(old).to_sle();
            last_sle.remove("LedgerEntryType");
            set_final_and_previous(&mut inner, old, last_sle);
            "DeletedNode"
        }
        (None, None) => return None,
    };
    let mut node = StObject::new();
    set(&mut node, wrapper, Value::Object(inner));
    Some(node)
}
