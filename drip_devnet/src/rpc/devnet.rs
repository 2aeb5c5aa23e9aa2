//! The devnet's own methods, for tests: injected results and a movable
//! clock.

use serde_json::{json, Value as Json};

use super::{Result, RpcError};
use crate::node::Node;
use crate::ter::Ter;

/// Devnet extension: `{"engine_result": "telINSUF_FEE_P", "count": 1}` makes
/// the next `count` submissions answer that result: a `tec` is applied as
/// rippled applies one (fee and sequence taken, nothing else); `terQUEUED`
/// is applied normally but answered as queued; any other class is refused
/// without touching the ledger, and (but `tefPAST_SEQ`) held, as rippled
/// holds it, to be tried again when the next ledger closes, or after
/// `held_for` more closes (a fee spike that lasts).
pub(super) fn devnet_fail(node: &mut Node, params: &Json) -> Result<Json> {
    let ter = params
        .get("engine_result")
        .and_then(Json::as_str)
        .and_then(Ter::from_token)
        .filter(|t| *t != Ter::tesSUCCESS)
        .ok_or_else(|| RpcError::invalid_params("Invalid field 'engine_result'."))?;
    let count = match params.get("count") {
        None => 1,
        Some(c) => c
            .as_u64()
            .filter(|c| (1..=1000).contains(c))
            .ok_or_else(|| RpcError::invalid_params("Invalid field 'count'."))?,
    };
    node.held_for = match params.get("held_for") {
        None => 0,
        Some(h) => h
            .as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .filter(|h| *h <= 1000)
            .ok_or_else(|| RpcError::invalid_params("Invalid field 'held_for'."))?,
    };
    for _ in 0..count {
        node.faults.push_back(ter);
    }
    Ok(json!({"pending_faults": node.faults.len()}))
}

/// Devnet extension: `{"advance": seconds, "close": bool}` moves the clock
/// forward (and closes a ledger at the new time when `close` is true, so the
/// next transaction sees it as the parent close time).
pub(super) fn devnet_clock(node: &mut Node, params: &Json) -> Result<Json> {
    let advance = match params.get("advance") {
        None => 0,
        Some(a) => a
            .as_u64()
            .ok_or_else(|| RpcError::invalid_params("Invalid field 'advance'."))?,
    };
    node.advance(advance);
    if params.get("close").and_then(Json::as_bool) == Some(true) {
        node.close();
    }
    Ok(json!({
        "clock_offset": node.clock_offset,
        "now": node.now(),
        "parent_close_time": node.chain.last_closed().close_time,
        "ledger_current_index": node.chain.open_seq(),
    }))
}
