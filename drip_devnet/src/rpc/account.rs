//! An account's root, channels and transactions: `account_info`,
//! `account_channels`, `account_objects` (and their paging), `account_tx`.

use drip_core::codec;
use drip_core::{AccountId, Hash256, PublicKey};
use serde_json::{json, Map, Value as Json};

use super::ledger::{select, with_index};
use super::tx::tx_json;
use super::{Result, RpcError};
use crate::ledger::chain::TxRecord;
use crate::ledger::entry::{account_index, flags, AccountRoot, PayChannel};
use crate::node::Node;

pub(super) fn account_param(params: &Json, name: &str) -> Result<AccountId> {
    let s = params
        .get(name)
        .ok_or_else(|| RpcError::invalid_params(format!("Missing field '{name}'.")))?
        .as_str()
        .ok_or_else(RpcError::act_malformed)?;
    s.parse().map_err(|_| RpcError::act_malformed())
}

fn account_json(a: &AccountRoot) -> Json {
    with_index(codec::to_json(&a.to_sle()), account_index(&a.account))
}

pub(super) fn account_info(node: &Node, params: &Json) -> Result<Json> {
    let id = account_param(params, "account")?;
    let sel = select(node, params)?;
    let a = sel
        .state
        .accounts
        .get(&id)
        .ok_or_else(RpcError::act_not_found)?;
    let mut out = Map::new();
    out.insert("account_data".into(), account_json(a));
    out.insert(
        "account_flags".into(),
        json!({
            "defaultRipple": false,
            "depositAuth": a.flags & flags::DEPOSIT_AUTH != 0,
            "disableMasterKey": false,
            "disallowIncomingCheck": false,
            "disallowIncomingNFTokenOffer": false,
            "disallowIncomingPayChan": a.flags & flags::DISALLOW_INCOMING_PAYCHAN != 0,
            "disallowIncomingTrustline": false,
            "disallowIncomingXRP": false,
            "globalFreeze": false,
            "noFreeze": false,
            "passwordSpent": false,
            "requireAuthorization": false,
            "requireDestinationTag": a.flags & flags::REQUIRE_DEST_TAG != 0,
        }),
    );
    sel.fields(&mut out);
    Ok(Json::Object(out))
}

/// One `account_channels` element.
fn channel_summary(id: &Hash256, c: &PayChannel) -> Json {
    let mut m = Map::new();
    m.insert("account".into(), Json::from(c.account.to_address()));
    m.insert("amount".into(), Json::from(c.amount.to_string()));
    m.insert("balance".into(), Json::from(c.balance.to_string()));
    m.insert("channel_id".into(), Json::from(id.to_string()));
    m.insert(
        "destination_account".into(),
        Json::from(c.destination.to_address()),
    );
    m.insert("settle_delay".into(), Json::from(c.settle_delay));
    if let Ok(k) = PublicKey::from_slice(&c.public_key) {
        m.insert("public_key".into(), Json::from(k.to_base58()));
        m.insert("public_key_hex".into(), Json::from(k.to_hex()));
    }
    if let Some(e) = c.expiration {
        m.insert("expiration".into(), Json::from(e));
    }
    if let Some(e) = c.cancel_after {
        m.insert("cancel_after".into(), Json::from(e));
    }
    if let Some(t) = c.source_tag {
        m.insert("source_tag".into(), Json::from(t));
    }
    if let Some(t) = c.destination_tag {
        m.insert("destination_tag".into(), Json::from(t));
    }
    Json::Object(m)
}

/// `limit` clamped to rippled's bounds for the method, and the `marker`.
fn paging(params: &Json, min: u64, default: u64, max: u64) -> Result<(usize, Option<Hash256>)> {
    let limit = match params.get("limit") {
        None => default,
        Some(l) => l
            .as_u64()
            .ok_or_else(|| {
                RpcError::invalid_params("Invalid field 'limit', not unsigned integer.")
            })?
            .clamp(min, max),
    };
    let marker = match params.get("marker") {
        None => None,
        Some(m) => Some(
            m.as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| RpcError::invalid_params("Invalid field 'marker'."))?,
        ),
    };
    Ok((usize::try_from(limit).unwrap_or(usize::MAX), marker))
}

pub(super) fn account_channels(node: &Node, params: &Json) -> Result<Json> {
    let id = account_param(params, "account")?;
    let dst = match params.get("destination_account") {
        Some(_) => Some(account_param(params, "destination_account")?),
        None => None,
    };
    let (limit, marker) = paging(params, 10, 200, 400)?;
    let sel = select(node, params)?;
    if !sel.state.accounts.contains_key(&id) {
        return Err(RpcError::act_not_found());
    }
    let matching = sel
        .state
        .channels
        .iter()
        .filter(|(_, c)| c.account == id && dst.is_none_or(|d| c.destination == d));
    let (page, next) = page_after(matching, marker, limit);
    let mut out = Map::new();
    out.insert("account".into(), Json::from(id.to_address()));
    out.insert(
        "channels".into(),
        Json::Array(page.iter().map(|(k, c)| channel_summary(k, c)).collect()),
    );
    paging_fields(&mut out, limit, next);
    sel.fields(&mut out);
    Ok(Json::Object(out))
}

/// The channels after `marker`, at most `limit`, and the next page's marker.
fn page_after<'a>(
    channels: impl Iterator<Item = (&'a Hash256, &'a PayChannel)>,
    marker: Option<Hash256>,
    limit: usize,
) -> (Vec<(&'a Hash256, &'a PayChannel)>, Option<Hash256>) {
    let mut rest = channels.filter(|(k, _)| marker.is_none_or(|m| **k > m));
    let page: Vec<_> = rest.by_ref().take(limit).collect();
    let next = match rest.next() {
        Some(_) => page.last().map(|(k, _)| **k),
        None => None,
    };
    (page, next)
}

/// `limit`, and `marker` when there is another page.
fn paging_fields(out: &mut Map<String, Json>, limit: usize, next: Option<Hash256>) {
    out.insert("limit".into(), Json::from(limit));
    if let Some(m) = next {
        out.insert("marker".into(), Json::from(m.to_string()));
    }
}

pub(super) fn account_objects(node: &Node, params: &Json) -> Result<Json> {
    let id = account_param(params, "account")?;
    let (limit, marker) = paging(params, 10, 200, 400)?;
    let wants_channels = match params.get("type").and_then(Json::as_str) {
        None | Some("payment_channel") | Some("paychannel") => true,
        Some(_) => false,
    };
    let sel = select(node, params)?;
    if !sel.state.accounts.contains_key(&id) {
        return Err(RpcError::act_not_found());
    }
    // A channel is in both its source's and its destination's owner directory.
    let owned = sel
        .state
        .channels
        .iter()
        .filter(|_| wants_channels)
        .filter(|(_, c)| c.account == id || c.destination == id);
    let (page, next) = page_after(owned, marker, limit);
    let mut out = Map::new();
    out.insert("account".into(), Json::from(id.to_address()));
    out.insert(
        "account_objects".into(),
        Json::Array(
            page.iter()
                .map(|(k, c)| with_index(codec::to_json(&c.to_sle()), **k))
                .collect(),
        ),
    );
    paging_fields(&mut out, limit, next);
    sel.fields(&mut out);
    Ok(Json::Object(out))
}

pub(super) fn account_tx(node: &Node, params: &Json, v: u32) -> Result<Json> {
    let id = account_param(params, "account")?;
    let (first, last) = node.chain.complete_ledgers();
    let int = |name: &str, default: u32| -> u32 {
        params
            .get(name)
            .and_then(Json::as_i64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default)
    };
    let min = int("ledger_index_min", first).max(first);
    let max = int("ledger_index_max", last).min(last);
    let limit = params
        .get("limit")
        .and_then(Json::as_u64)
        .unwrap_or(200)
        .clamp(1, 400);
    let forward = params.get("forward").and_then(Json::as_bool) == Some(true);
    let marker = params
        .get("marker")
        .and_then(|m| m.get("seq"))
        .and_then(Json::as_u64);
    let mut records: Vec<&TxRecord> = node
        .chain
        .account_txs(&id)
        .iter()
        .filter_map(|h| node.chain.tx(h))
        .filter(|r| r.ledger_index >= min && r.ledger_index <= max)
        .collect();
    if !forward {
        records.reverse();
    }
    let skip = usize::try_from(marker.unwrap_or(0)).unwrap_or(0);
    let total = records.len();
    let page: Vec<Json> = records
        .into_iter()
        .skip(skip)
        .take(usize::try_from(limit).unwrap_or(400))
        .map(|r| {
            let full = tx_json(node, r, v);
            if v >= 2 {
                full
            } else {
                // v1 nests the transaction under "tx" beside "meta".
                let mut t = full;
                let meta = t.as_object_mut().and_then(|m| m.remove("meta"));
                let validated = t.as_object_mut().and_then(|m| m.remove("validated"));
                json!({"meta": meta, "tx": t, "validated": validated})
            }
        })
        .collect();
    let next = skip.saturating_add(page.len());
    let mut out = json!({
        "account": id.to_address(),
        "ledger_index_min": min,
        "ledger_index_max": max,
        "limit": limit,
        "transactions": page,
        "validated": true,
    });
    if next < total {
        out["marker"] = json!({"ledger": max, "seq": next});
    }
    Ok(out)
}
