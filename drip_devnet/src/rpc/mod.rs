//! rippled's API methods over the [`Node`], transport-free: a method name and
//! its parameters in, a `result` object or an [`RpcError`] out. The HTTP and
//! WebSocket servers wrap these in their envelopes.
//!
//! One module per family of methods; this one dispatches.

mod account;
mod devnet;
mod error;
mod keys;
mod ledger;
mod server;
mod stream;
mod tx;

use serde_json::{json, Map, Value as Json};

use self::account::{account_channels, account_info, account_objects, account_tx};
use self::devnet::{devnet_clock, devnet_fail};
use self::keys::{channel_authorize, channel_verify, wallet_propose};
use self::ledger::{ledger, ledger_entry};
use self::server::{fee, server_info, server_state};
use self::tx::tx;
use crate::node::Node;

pub use self::error::RpcError;
pub use self::stream::{affected_accounts, ledger_message, transaction_message};
pub use self::tx::{meta_json, prepare_submit, submit_prepared, tx_json};

type Result<T> = std::result::Result<T, RpcError>;

/// The `api_version` a request asks for (1 when absent, as rippled).
pub fn api_version(params: &Json) -> Result<u32> {
    match params.get("api_version") {
        None => Ok(1),
        Some(v) => match v.as_u64() {
            Some(n @ 1..=2) => Ok(u32::try_from(n).unwrap_or(1)),
            _ => Err(RpcError {
                token: "invalid_API_version",
                code: None,
                message: None,
                extra: Map::new(),
            }),
        },
    }
}

/// Run `method` with `params`. Subscriptions are the WebSocket server's.
pub fn handle(node: &mut Node, method: &str, params: &Json) -> Result<Json> {
    let v = api_version(params)?;
    match method {
        "ping" => Ok(json!({})),
        "server_info" => Ok(server_info(node)),
        "server_state" => Ok(server_state(node)),
        "fee" => Ok(fee(node)),
        "ledger_current" => Ok(json!({"ledger_current_index": node.chain.open_seq()})),
        "ledger_closed" => {
            let l = node.chain.last_closed();
            Ok(json!({"ledger_hash": l.hash.to_string(), "ledger_index": l.seq}))
        }
        "ledger_accept" => {
            node.close();
            Ok(json!({"ledger_current_index": node.chain.open_seq()}))
        }
        "ledger" => ledger(node, params, v),
        "account_info" => account_info(node, params),
        "account_channels" => account_channels(node, params),
        "account_objects" => account_objects(node, params),
        "account_tx" => account_tx(node, params, v),
        "ledger_entry" => ledger_entry(node, params),
        "submit" => Ok(submit_prepared(node, prepare_submit(params)?)),
        "tx" => tx(node, params, v),
        "channel_authorize" => channel_authorize(params),
        "channel_verify" => channel_verify(params),
        "wallet_propose" => wallet_propose(params),
        "devnet_clock" => devnet_clock(node, params),
        "devnet_fail" => devnet_fail(node, params),
        _ => Err(RpcError::unknown_command()),
    }
}
