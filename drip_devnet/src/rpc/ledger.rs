//! Ledgers and their entries: which ledger a request names, `ledger` and
//! `ledger_entry`.

use drip_core::codec;
use drip_core::{AccountId, Hash256};
use serde_json::{Map, Value as Json};

use super::tx::tx_json;
use super::{Result, RpcError};
use crate::ledger::chain::ClosedLedger;
use crate::ledger::entry::account_index;
use crate::ledger::State;
use crate::node::{human_time, iso_time, Node};

/// The ledger a request names (`ledger_index` or `ledger_hash`; default
/// `current`).
pub(super) struct Selected<'a> {
    pub(super) state: &'a State,
    pub(super) seq: u32,
    pub(super) closed: Option<&'a ClosedLedger>,
}

impl Selected<'_> {
    /// rippled's ledger fields for a response.
    pub(super) fn fields(&self, out: &mut Map<String, Json>) {
        match self.closed {
            Some(l) => {
                out.insert("ledger_hash".into(), Json::from(l.hash.to_string()));
                out.insert("ledger_index".into(), Json::from(l.seq));
                out.insert("validated".into(), Json::from(true));
            }
            None => {
                out.insert("ledger_current_index".into(), Json::from(self.seq));
                out.insert("validated".into(), Json::from(false));
            }
        }
    }
}

pub(super) fn select<'a>(node: &'a Node, params: &Json) -> Result<Selected<'a>> {
    let chain = &node.chain;
    let by_seq = |seq: u32| -> Result<Selected<'a>> {
        if seq == chain.open_seq() {
            return Ok(Selected {
                state: chain.open_state(),
                seq,
                closed: None,
            });
        }
        match (chain.closed(seq), chain.state_at(seq)) {
            (Some(l), Some(state)) => Ok(Selected {
                state,
                seq,
                closed: Some(l),
            }),
            _ => Err(RpcError::lgr_not_found()),
        }
    };
    if let Some(hash) = params.get("ledger_hash") {
        let hash: Hash256 = hash
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| RpcError::invalid_params("ledgerHashMalformed"))?;
        let (first, last) = chain.complete_ledgers();
        let seq = (first..=last)
            .find(|s| chain.closed(*s).is_some_and(|l| l.hash == hash))
            .ok_or_else(RpcError::lgr_not_found)?;
        return by_seq(seq);
    }
    match params.get("ledger_index") {
        None => by_seq(chain.open_seq()),
        Some(Json::String(s)) => match s.as_str() {
            "current" => by_seq(chain.open_seq()),
            "validated" | "closed" => by_seq(chain.last_closed().seq),
            n => n
                .parse::<u32>()
                .map_err(|_| RpcError::invalid_params("ledgerIndexMalformed"))
                .and_then(by_seq),
        },
        Some(Json::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| RpcError::invalid_params("ledgerIndexMalformed"))
            .and_then(by_seq),
        Some(_) => Err(RpcError::invalid_params("ledgerIndexMalformed")),
    }
}

pub(super) fn with_index(mut sle: Json, index: Hash256) -> Json {
    if let Some(m) = sle.as_object_mut() {
        m.insert("index".into(), Json::from(index.to_string()));
    }
    sle
}

pub(super) fn ledger_entry(node: &Node, params: &Json) -> Result<Json> {
    let sel = select(node, params)?;
    let hex_index = |v: &Json| -> Result<Hash256> {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RpcError::invalid_params("malformedRequest"))
    };
    let (index, sle) = if let Some(v) = params.get("payment_channel") {
        let id = hex_index(v)?;
        let c = sel
            .state
            .channels
            .get(&id)
            .ok_or_else(RpcError::entry_not_found)?;
        (id, c.to_sle())
    } else if let Some(v) = params.get("account_root") {
        let id: AccountId = v
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(RpcError::act_malformed)?;
        let a = sel
            .state
            .accounts
            .get(&id)
            .ok_or_else(RpcError::entry_not_found)?;
        (account_index(&id), a.to_sle())
    } else if let Some(v) = params.get("index") {
        let id = hex_index(v)?;
        if let Some(c) = sel.state.channels.get(&id) {
            (id, c.to_sle())
        } else {
            let a = sel
                .state
                .accounts
                .values()
                .find(|a| account_index(&a.account) == id)
                .ok_or_else(RpcError::entry_not_found)?;
            (id, a.to_sle())
        }
    } else {
        return Err(RpcError::invalid_params("unknownOption"));
    };
    let mut out = Map::new();
    out.insert("index".into(), Json::from(index.to_string()));
    if params.get("binary").and_then(Json::as_bool) == Some(true) {
        let bytes = codec::encode(&sle).map_err(|_| RpcError::entry_not_found())?;
        out.insert("node_binary".into(), Json::from(hex::encode_upper(bytes)));
    } else {
        out.insert("node".into(), with_index(codec::to_json(&sle), index));
    }
    sel.fields(&mut out);
    Ok(Json::Object(out))
}

pub(super) fn ledger(node: &Node, params: &Json, v: u32) -> Result<Json> {
    let sel = select(node, params)?;
    let want_txs = params.get("transactions").and_then(Json::as_bool) == Some(true);
    let expand = params.get("expand").and_then(Json::as_bool) == Some(true);
    let index_json = |seq: u32| {
        if v >= 2 {
            Json::from(seq)
        } else {
            Json::from(seq.to_string())
        }
    };
    let mut l = Map::new();
    match sel.closed {
        Some(c) => {
            l.insert(
                "account_hash".into(),
                Json::from(c.account_hash.to_string()),
            );
            l.insert("close_flags".into(), Json::from(0));
            l.insert("close_time".into(), Json::from(c.close_time));
            l.insert(
                "close_time_human".into(),
                Json::from(human_time(c.close_time)),
            );
            l.insert("close_time_iso".into(), Json::from(iso_time(c.close_time)));
            l.insert("close_time_resolution".into(), Json::from(10));
            l.insert("closed".into(), Json::from(true));
            l.insert("ledger_hash".into(), Json::from(c.hash.to_string()));
            l.insert("ledger_index".into(), index_json(c.seq));
            l.insert("parent_close_time".into(), Json::from(c.parent_close_time));
            l.insert("parent_hash".into(), Json::from(c.parent_hash.to_string()));
            l.insert("total_coins".into(), Json::from(c.total_drops.to_string()));
            l.insert(
                "transaction_hash".into(),
                Json::from(c.transaction_hash.to_string()),
            );
            if want_txs {
                let txs = c
                    .transactions
                    .iter()
                    .map(|h| match (expand, node.chain.tx(h)) {
                        (true, Some(r)) => {
                            let mut t = tx_json(node, r, v);
                            if v < 2 {
                                // v1 calls it "metaData" inside `ledger`.
                                if let Some(m) = t.as_object_mut() {
                                    if let Some(meta) = m.remove("meta") {
                                        m.insert("metaData".into(), meta);
                                    }
                                }
                            }
                            t
                        }
                        _ => Json::from(h.to_string()),
                    })
                    .collect();
                l.insert("transactions".into(), Json::Array(txs));
            }
        }
        None => {
            let parent = node.chain.last_closed();
            l.insert("closed".into(), Json::from(false));
            l.insert("ledger_index".into(), index_json(sel.seq));
            l.insert("parent_close_time".into(), Json::from(parent.close_time));
            l.insert("parent_hash".into(), Json::from(parent.hash.to_string()));
        }
    }
    let mut out = Map::new();
    out.insert("ledger".into(), Json::Object(l));
    sel.fields(&mut out);
    Ok(Json::Object(out))
}
