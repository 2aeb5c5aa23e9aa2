//! Transactions: `submit`, `tx`, and the shapes rippled shows a
//! transaction in.

use drip_core::codec;
use drip_core::Hash256;
use serde_json::{json, Map, Value as Json};

use super::{Result, RpcError};
use crate::ledger::chain::TxRecord;
use crate::ledger::{Prepared, SubmitError};
use crate::node::{iso_time, Node};
use crate::ter::Ter;

/// The part of `submit` that needs no ledger: read `tx_blob`, decode it and
/// check its signature (servers run this outside the ledger lock).
pub fn prepare_submit(params: &Json) -> Result<Prepared> {
    let blob = params
        .get("tx_blob")
        .ok_or_else(|| RpcError::invalid_params("Missing field 'tx_blob'."))?
        .as_str()
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| RpcError::invalid_params("Invalid field 'tx_blob'."))?;
    Prepared::new(&blob).map_err(|e| match e {
        SubmitError::Signature => {
            RpcError::invalid_transaction("fails local checks: Invalid signature.".into())
        }
        SubmitError::Decode(d) => RpcError::invalid_transaction(d),
    })
}

/// Apply a prepared `submit` and answer as rippled does (or as an injected
/// fault says: see `devnet_fail`).
pub fn submit_prepared(node: &mut Node, prepared: Prepared) -> Json {
    let blob = prepared.blob().to_vec();
    let fault = node.faults.pop_front();
    let mut s = match fault {
        Some(t) if t.class() == "tec" => node.chain.submit_forced(prepared, Some(t)),
        // Queued, then applied with the next ledger: here it goes straight in.
        Some(Ter::terQUEUED) | None => node.chain.submit_prepared(prepared),
        // Refused without touching the ledger.
        Some(t) => prepared.refused(t),
    };
    if fault == Some(Ter::terQUEUED) && s.ter == Ter::tesSUCCESS {
        s.ter = Ter::terQUEUED;
    }
    // rippled holds a refused transaction (tel, tef but a past sequence,
    // ter) and applies it in a later ledger if it can: a client must
    // follow it to its LastLedgerSequence, not sign the intent again.
    let kept = fault.is_some_and(|t| {
        matches!(t.class(), "tel" | "tef" | "ter")
            && !matches!(t, Ter::tefPAST_SEQ | Ter::tefMAX_LEDGER | Ter::terQUEUED)
    });
    if kept {
        node.held.push((blob.clone(), node.held_for));
    }
    let mut tx_json = codec::to_json(&s.tx);
    if let Some(m) = tx_json.as_object_mut() {
        m.insert("hash".into(), Json::from(s.hash.to_string()));
    }
    let next = s.account_sequence_next.unwrap_or(0);
    json!({
        "accepted": s.applied,
        "account_sequence_available": next,
        "account_sequence_next": next,
        "applied": s.applied,
        "broadcast": s.applied,
        "engine_result": s.ter.token(),
        "engine_result_code": s.ter.code(),
        "engine_result_message": s.ter.message(),
        "kept": kept,
        "open_ledger_cost": node.chain.config().fees.base_fee.to_string(),
        "queued": false,
        "tx_blob": hex::encode_upper(&blob),
        "tx_json": tx_json,
        "validated_ledger_index": node.chain.last_closed().seq,
    })
}

/// A transaction's metadata as rippled shows it (result token, and
/// `delivered_amount` for payments).
pub fn meta_json(r: &TxRecord) -> Json {
    let mut meta = codec::decode(&r.meta).map_or(Json::Null, |m| codec::to_json(&m));
    if let Some(m) = meta.as_object_mut() {
        m.insert("TransactionResult".into(), Json::from(r.result.clone()));
        if let Some(d) = r.delivered {
            m.insert("delivered_amount".into(), Json::from(d.to_string()));
        }
    }
    meta
}

/// A transaction as `tx`, `account_tx`, `ledger` and the transaction stream
/// show it, in API version `v`'s shape.
pub fn tx_json(node: &Node, r: &TxRecord, v: u32) -> Json {
    let fields = codec::decode(&r.blob).map_or(Json::Null, |t| codec::to_json(&t));
    let closed = node.chain.closed(r.ledger_index);
    let validated = closed.is_some();
    let mut out = Map::new();
    if v >= 2 {
        let mut tx = fields;
        if let (Some(m), Some(l)) = (tx.as_object_mut(), closed) {
            m.insert("date".into(), Json::from(l.close_time));
            m.insert("ledger_index".into(), Json::from(l.seq));
            m.insert("ctid".into(), Json::from(ctid(l.seq, r.index)));
        }
        out.insert("tx_json".into(), tx);
        out.insert("hash".into(), Json::from(r.hash.to_string()));
        if let Some(l) = closed {
            out.insert("ledger_hash".into(), Json::from(l.hash.to_string()));
            out.insert("ledger_index".into(), Json::from(l.seq));
            out.insert("close_time_iso".into(), Json::from(iso_time(l.close_time)));
        }
    } else {
        if let Json::Object(m) = fields {
            out.extend(m);
        }
        out.insert("hash".into(), Json::from(r.hash.to_string()));
        if let Some(l) = closed {
            out.insert("date".into(), Json::from(l.close_time));
            out.insert("inLedger".into(), Json::from(l.seq));
            out.insert("ledger_index".into(), Json::from(l.seq));
        }
    }
    if validated {
        out.insert("meta".into(), meta_json(r));
    }
    out.insert("validated".into(), Json::from(validated));
    Json::Object(out)
}

/// Concise transaction id (XLS-37): 0xC, ledger, index, network id 0.
fn ctid(ledger: u32, index: u32) -> String {
    let v = (0xC_u64 << 60)
        | (u64::from(ledger & 0x0FFF_FFFF) << 32)
        | (u64::from(index & 0xFFFF) << 16);
    format!("{v:016X}")
}

pub(super) fn tx(node: &Node, params: &Json, v: u32) -> Result<Json> {
    let hash: Hash256 = params
        .get("transaction")
        .and_then(Json::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| RpcError::invalid_params("Invalid field 'transaction'."))?;
    let range = tx_range(params)?;
    let Some(r) = node.chain.tx(&hash) else {
        let mut e = RpcError::txn_not_found();
        // rippled says, for a range only, whether it holds every ledger of
        // it: only then does "not found" prove the transaction is in none.
        if let Some((min, max)) = range {
            let (first, last) = node.chain.complete_ledgers();
            e.extra.insert(
                "searched_all".into(),
                Json::from(min >= first && max <= last),
            );
        }
        return Err(e);
    };
    if params.get("binary").and_then(Json::as_bool) == Some(true) {
        let mut out = json!({
            "hash": r.hash.to_string(),
            "ledger_index": r.ledger_index,
            "validated": node.chain.is_validated(r.ledger_index),
            "tx_blob": hex::encode_upper(&r.blob),
        });
        if node.chain.is_validated(r.ledger_index) {
            out["meta"] = Json::from(hex::encode_upper(&r.meta));
        }
        return Ok(out);
    }
    Ok(tx_json(node, r, v))
}

/// `tx`'s `min_ledger`/`max_ledger`, used only when both are given (as
/// rippled does): ascending, at most 1000 apart.
fn tx_range(params: &Json) -> Result<Option<(u32, u32)>> {
    let (Some(min), Some(max)) = (params.get("min_ledger"), params.get("max_ledger")) else {
        return Ok(None);
    };
    let index = |v: &Json| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let (Some(min), Some(max)) = (index(min), index(max)) else {
        return Err(RpcError::invalid_lgr_range());
    };
    if max < min {
        return Err(RpcError::invalid_lgr_range());
    }
    if max - min > 1000 {
        return Err(RpcError::excessive_lgr_range());
    }
    Ok(Some((min, max)))
}
