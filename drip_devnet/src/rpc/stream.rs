//! The WebSocket streams' messages: validated transactions, closed ledgers,
//! and the accounts a transaction touches.

use drip_core::codec::{self, StObject};
use drip_core::AccountId;
use serde_json::{json, Value as Json};

use super::server::complete_ledgers;
use super::tx::meta_json;
use crate::ledger::chain::{ClosedLedger, TxRecord};
use crate::node::{iso_time, Node};
use crate::ter::Ter;

/// The transaction stream message for a validated transaction.
pub fn transaction_message(node: &Node, r: &TxRecord, v: u32) -> Json {
    let ter = Ter::from_token(&r.result).unwrap_or(Ter::tesSUCCESS);
    let closed = node.chain.closed(r.ledger_index);
    let mut msg = json!({
        "type": "transaction",
        "status": "closed",
        "engine_result": ter.token(),
        "engine_result_code": ter.code(),
        "engine_result_message": ter.message(),
        "ledger_index": r.ledger_index,
        "ledger_hash": closed.map(|l| l.hash.to_string()),
        "meta": meta_json(r),
        "validated": true,
    });
    let mut t = codec::decode(&r.blob).map_or(Json::Null, |t| codec::to_json(&t));
    if let (Some(m), Some(l)) = (t.as_object_mut(), closed) {
        m.insert("date".into(), Json::from(l.close_time));
    }
    if v >= 2 {
        msg["tx_json"] = t;
        msg["hash"] = Json::from(r.hash.to_string());
        if let Some(l) = closed {
            msg["close_time_iso"] = Json::from(iso_time(l.close_time));
        }
    } else {
        if let Some(m) = t.as_object_mut() {
            m.insert("hash".into(), Json::from(r.hash.to_string()));
        }
        msg["transaction"] = t;
    }
    msg
}

/// The ledger stream message for a closed ledger.
pub fn ledger_message(node: &Node, l: &ClosedLedger) -> Json {
    let fees = node.chain.config().fees;
    json!({
        "type": "ledgerClosed",
        "fee_base": fees.base_fee.get(),
        "ledger_hash": l.hash.to_string(),
        "ledger_index": l.seq,
        "ledger_time": l.close_time,
        "reserve_base": fees.reserve_base.get(),
        "reserve_inc": fees.reserve_inc.get(),
        "txn_count": l.transactions.len(),
        "validated_ledgers": complete_ledgers(node),
    })
}

/// The accounts a transaction touches (its sender, destination, and every
/// account or channel party in its metadata), for `accounts` subscriptions.
pub fn affected_accounts(r: &TxRecord) -> Vec<AccountId> {
    let mut out = Vec::new();
    if let Ok(t) = codec::decode(&r.blob) {
        out.extend(t.account("Account"));
        out.extend(t.account("Destination"));
    }
    if let Ok(meta) = codec::decode(&r.meta) {
        collect_accounts(&meta, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn collect_accounts(o: &StObject, out: &mut Vec<AccountId>) {
    for (_, v) in o.iter() {
        match v {
            codec::Value::AccountId(a) => out.push(*a),
            codec::Value::Object(inner) => collect_accounts(inner, out),
            codec::Value::Array(items) => items.iter().for_each(|(_, i)| collect_accounts(i, out)),
            _ => {}
        }
    }
}
