//! rippled's API methods over the [`Node`], transport-free: a method name and
//! its parameters in, a `result` object or an [`RpcError`] out. The HTTP and
//! WebSocket servers wrap these in their envelopes.

use drip_core::claim::{claim_message, sign_claim};
use drip_core::codec::{self, StObject};
use drip_core::{AccountId, Drops, Hash256, KeyType, PublicKey, Seed};
use serde_json::{json, Map, Value as Json};

use crate::ledger::chain::{ClosedLedger, TxRecord};
use crate::ledger::entry::{account_index, flags, AccountRoot, PayChannel};
use crate::ledger::{Prepared, State, SubmitError};
use crate::node::{human_time, iso_time, Node};
use crate::ter::Ter;

/// A rippled error: its token, numeric code and message (rippled's
/// `ErrorCodes.cpp`), and any extra fields.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// `error`, e.g. `actNotFound`.
    pub token: &'static str,
    /// `error_code`, absent for rippled's bare-token errors.
    pub code: Option<i32>,
    /// `error_message`.
    pub message: Option<String>,
    /// Extra fields rippled adds (e.g. `error_exception`).
    pub extra: Map<String, Json>,
}

/// rippled's coded errors used here: constructor, token, `error_code`,
/// `error_message` (rippled's `ErrorCodes.cpp`).
macro_rules! rpc_errors {
    ($($(#[$doc:meta])* $fn:ident = $token:literal, $code:literal, $msg:literal;)*) => {
        impl RpcError {
            $(
                $(#[$doc])*
                pub fn $fn() -> Self {
                    Self::coded($token, $code, $msg)
                }
            )*
        }
    };
}

rpc_errors! {
    /// `badSyntax`: the request was not JSON, or not an object.
    bad_syntax = "badSyntax", 1, "Syntax error.";
    /// `actNotFound`.
    act_not_found = "actNotFound", 19, "Account not found.";
    /// `lgrNotFound`.
    lgr_not_found = "lgrNotFound", 21, "ledgerNotFound";
    /// `txnNotFound`.
    txn_not_found = "txnNotFound", 29, "Transaction not found.";
    /// `unknownCmd`.
    unknown_command = "unknownCmd", 32, "Unknown method.";
    /// `actMalformed`.
    act_malformed = "actMalformed", 35, "Account malformed.";
    /// `badSeed`.
    bad_seed = "badSeed", 44, "Disallowed seed.";
    /// `channelMalformed`.
    channel_malformed = "channelMalformed", 45, "Payment channel is malformed.";
    /// `channelAmtMalformed`.
    channel_amt_malformed = "channelAmtMalformed", 46, "Payment channel amount is malformed.";
    /// `missingCommand`.
    missing_command = "missingCommand", 47, "Missing command entry.";
    /// `publicMalformed`.
    public_malformed = "publicMalformed", 62, "Public key is malformed.";
    /// `malformedStream`.
    malformed_stream = "malformedStream", 71, "Stream malformed.";
    /// `internal`.
    internal = "internal", 73, "Internal error.";
    /// `badKeyType`.
    bad_key_type = "badKeyType", 76, "Bad key type.";
    /// `entryNotFound`.
    entry_not_found = "entryNotFound", 98, "Entry not found.";
    /// `excessiveLgrRange`: a `tx` range over 1000 ledgers.
    excessive_lgr_range = "excessiveLgrRange", 78, "Ledger range exceeds 1000.";
    /// `invalidLgrRange`: a `tx` range that is not two ascending indexes.
    invalid_lgr_range = "invalidLgrRange", 79, "Ledger range is invalid.";
}

impl RpcError {
    fn coded(token: &'static str, code: i32, message: &str) -> Self {
        RpcError {
            token,
            code: Some(code),
            message: Some(message.to_owned()),
            extra: Map::new(),
        }
    }

    /// `invalidParams` with a message naming what is wrong.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError {
            message: Some(message.into()),
            ..Self::coded("invalidParams", 31, "")
        }
    }

    fn invalid_transaction(exception: String) -> Self {
        let mut extra = Map::new();
        extra.insert("error_exception".into(), Json::from(exception));
        RpcError {
            token: "invalidTransaction",
            code: None,
            message: None,
            extra,
        }
    }

    /// The error's fields, to merge into a response.
    pub fn fields(&self) -> Map<String, Json> {
        let mut m = Map::new();
        m.insert("error".into(), Json::from(self.token));
        if let Some(code) = self.code {
            m.insert("error_code".into(), Json::from(code));
        }
        if let Some(msg) = &self.message {
            m.insert("error_message".into(), Json::from(msg.clone()));
        }
        m.extend(self.extra.clone());
        m
    }
}

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

fn xrp_number(d: Drops) -> Json {
    // Display only: rippled prints these as JSON numbers of XRP.
    #[allow(clippy::cast_precision_loss)]
    let xrp = d.get() as f64 / 1_000_000.0;
    Json::from(xrp)
}

fn complete_ledgers(node: &Node) -> String {
    let (a, b) = node.chain.complete_ledgers();
    format!("{a}-{b}")
}

fn server_info(node: &Node) -> Json {
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

fn server_state(node: &Node) -> Json {
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

fn fee(node: &Node) -> Json {
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

/// The ledger a request names (`ledger_index` or `ledger_hash`; default
/// `current`).
struct Selected<'a> {
    state: &'a State,
    seq: u32,
    closed: Option<&'a ClosedLedger>,
}

impl Selected<'_> {
    /// rippled's ledger fields for a response.
    fn fields(&self, out: &mut Map<String, Json>) {
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

fn select<'a>(node: &'a Node, params: &Json) -> Result<Selected<'a>> {
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

fn account_param(params: &Json, name: &str) -> Result<AccountId> {
    let s = params
        .get(name)
        .ok_or_else(|| RpcError::invalid_params(format!("Missing field '{name}'.")))?
        .as_str()
        .ok_or_else(RpcError::act_malformed)?;
    s.parse().map_err(|_| RpcError::act_malformed())
}

fn with_index(mut sle: Json, index: Hash256) -> Json {
    if let Some(m) = sle.as_object_mut() {
        m.insert("index".into(), Json::from(index.to_string()));
    }
    sle
}

fn account_json(a: &AccountRoot) -> Json {
    with_index(codec::to_json(&a.to_sle()), account_index(&a.account))
}

fn account_info(node: &Node, params: &Json) -> Result<Json> {
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

fn account_channels(node: &Node, params: &Json) -> Result<Json> {
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

fn account_objects(node: &Node, params: &Json) -> Result<Json> {
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

fn ledger_entry(node: &Node, params: &Json) -> Result<Json> {
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

fn tx(node: &Node, params: &Json, v: u32) -> Result<Json> {
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

fn account_tx(node: &Node, params: &Json, v: u32) -> Result<Json> {
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

fn ledger(node: &Node, params: &Json, v: u32) -> Result<Json> {
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

fn channel_id_param(params: &Json) -> Result<Hash256> {
    params
        .get("channel_id")
        .and_then(Json::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(RpcError::channel_malformed)
}

fn amount_param(params: &Json) -> Result<Drops> {
    params
        .get("amount")
        .and_then(Json::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(RpcError::channel_amt_malformed)
}

fn seed_param(params: &Json) -> Result<Seed> {
    let key_type = match params.get("key_type") {
        None => None,
        Some(k) => Some(
            k.as_str()
                .and_then(|s| s.parse::<KeyType>().ok())
                .ok_or_else(RpcError::bad_key_type)?,
        ),
    };
    let secret = params
        .get("secret")
        .or_else(|| params.get("seed"))
        .and_then(Json::as_str);
    if let Some(s) = secret {
        let seed: Seed = s.parse().map_err(|_| RpcError::bad_seed())?;
        // An explicit key type overrides the seed's encoding, as rippled does.
        return Ok(match key_type {
            Some(kt) => Seed::from_entropy(*seed.entropy(), kt),
            None => seed,
        });
    }
    if let Some(h) = params.get("seed_hex").and_then(Json::as_str) {
        let mut entropy = [0u8; 16];
        hex::decode_to_slice(h, &mut entropy).map_err(|_| RpcError::bad_seed())?;
        return Ok(Seed::from_entropy(
            entropy,
            key_type.unwrap_or(KeyType::Secp256k1),
        ));
    }
    Err(RpcError::invalid_params("Missing field 'secret'."))
}

fn channel_authorize(params: &Json) -> Result<Json> {
    let seed = seed_param(params)?;
    let channel = channel_id_param(params)?;
    let amount = amount_param(params)?;
    let key = seed.key_pair().map_err(|_| RpcError::bad_seed())?;
    Ok(json!({"signature": hex::encode_upper(sign_claim(&key, &channel, amount))}))
}

fn channel_verify(params: &Json) -> Result<Json> {
    let key_str = params
        .get("public_key")
        .and_then(Json::as_str)
        .ok_or_else(RpcError::public_malformed)?;
    let key = PublicKey::from_hex(key_str)
        .or_else(|_| PublicKey::from_base58(key_str))
        .map_err(|_| RpcError::public_malformed())?;
    let channel = channel_id_param(params)?;
    let amount = amount_param(params)?;
    let sig = params
        .get("signature")
        .and_then(Json::as_str)
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| RpcError::invalid_params("Invalid field 'signature'."))?;
    let ok = key.verify(&claim_message(&channel, amount), &sig).is_ok();
    Ok(json!({"signature_verified": ok}))
}

fn wallet_propose(params: &Json) -> Result<Json> {
    let seed = match seed_param(params) {
        Ok(seed) => seed,
        Err(e) if e.token == "invalidParams" => {
            let kt = match params.get("key_type") {
                None => KeyType::Secp256k1,
                Some(k) => k
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(RpcError::bad_key_type)?,
            };
            let mut entropy = [0u8; 16];
            getrandom::getrandom(&mut entropy).map_err(|_| RpcError::internal())?;
            Seed::from_entropy(entropy, kt)
        }
        Err(e) => return Err(e),
    };
    let key = seed.key_pair().map_err(|_| RpcError::bad_seed())?;
    Ok(json!({
        "account_id": key.account_id().to_address(),
        "key_type": key.key_type().as_str(),
        "master_seed": seed.encode(),
        "master_seed_hex": hex::encode_upper(seed.entropy()),
        "public_key": key.public_key().to_base58(),
        "public_key_hex": key.public_key().to_hex(),
    }))
}

/// Devnet extension: `{"engine_result": "telINSUF_FEE_P", "count": 1}` makes
/// the next `count` submissions answer that result: a `tec` is applied as
/// rippled applies one (fee and sequence taken, nothing else); `terQUEUED`
/// is applied normally but answered as queued; any other class is refused
/// without touching the ledger, and (but `tefPAST_SEQ`) held, as rippled
/// holds it, to be tried again when the next ledger closes, or after
/// `held_for` more closes (a fee spike that lasts).
fn devnet_fail(node: &mut Node, params: &Json) -> Result<Json> {
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
fn devnet_clock(node: &mut Node, params: &Json) -> Result<Json> {
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
