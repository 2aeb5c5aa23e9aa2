//! The server's own state: `server_info`, `server_state`, `fee`.

use drip_core::Drops;
use serde_json::{json, Value as Json};

use crate::node::{iso_time, Node};

fn xrp_number(d: Drops) -> Json {
    // Display only: rippled prints these as JSON numbers of XRP.
    #[allow(clippy::cast_precision_loss)]
    let xrp = d.get() as f64 / 1_000_000.0;
    Json::from(xrp)
}

pub(super) fn complete_ledgers(node: &Node) -> String {
    let (a, b) = node.chain.complete_ledgers();
    format!("{a}-{b}")
}

pub(super) fn server_info(node: &Node) -> Json {
    let l = node.chain.last_closed();
    let fees = node.chain.config().fees;
    json!({"info": {
        "build_version": concat!("drip-devnet-", env!("CARGO_PKG_VERSION")),
        "complete_ledgers": complete_ledgers(node),
        "hostid": "drip-devnet",
        "load_factor": 1,
        "peers": 0,
        "server_state": "full",
        "time": iso_time(node.now()),
        "validated_ledger": {
            "age": node.now().saturating_sub(l.close_time),
            "base_fee_xrp": xrp_number(fees.base_fee),
            "hash": l.hash.to_string(),
            "reserve_base_xrp": xrp_number(fees.reserve_base),
            "reserve_inc_xrp": xrp_number(fees.reserve_inc),
            "seq": l.seq,
        },
    }})
}

pub(super) fn server_state(node: &Node) -> Json {
    let l = node.chain.last_closed();
    let fees = node.chain.config().fees;
    json!({"state": {
        "build_version": concat!("drip-devnet-", env!("CARGO_PKG_VERSION")),
        "complete_ledgers": complete_ledgers(node),
        "load_base": 256,
        "load_factor": 256,
        "peers": 0,
        "server_state": "full",
        "validated_ledger": {
            "base_fee": fees.base_fee.get(),
            "close_time": l.close_time,
            "hash": l.hash.to_string(),
            "reserve_base": fees.reserve_base.get(),
            "reserve_inc": fees.reserve_inc.get(),
            "seq": l.seq,
        },
    }})
}

pub(super) fn fee(node: &Node) -> Json {
    let base = node.chain.config().fees.base_fee.to_string();
    json!({
        "current_ledger_size": "0",
        "current_queue_size": "0",
        "drops": {
            "base_fee": base,
            "median_fee": base,
            "minimum_fee": base,
            "open_ledger_fee": base,
        },
        "expected_ledger_size": "1000",
        "ledger_current_index": node.chain.open_seq(),
        "levels": {
            "median_level": "256",
            "minimum_level": "256",
            "open_ledger_level": "256",
            "reference_level": "256",
        },
        "max_queue_size": "2000",
    })
}
