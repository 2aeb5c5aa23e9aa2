//! rippled's JSON-RPC methods, with typed answers for the ones drip reads.
//! Requests are xrpl-rust's models; answers are read field by field, as the
//! API's versions shape them differently.

use std::time::Duration;

use drip_core::{AccountId, Drops, Hash256};
use serde_json::{json, Value as Json};
use xrpl::models::requests::{
    account_channels::AccountChannels, account_info::AccountInfo, account_tx::AccountTx, fee::Fee,
    ledger::Ledger, ledger_entry::LedgerEntry, server_state::ServerState, submit::Submit, tx::Tx,
    LookupByLedgerRequest,
};

/// What went wrong talking to rippled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached or did not answer in time.
    #[error("ledger unreachable: {0}")]
    Transport(String),
    /// rippled answered with an error (`error` is its code, e.g. `actNotFound`).
    #[error("{method}: {error}: {message}")]
    Rpc {
        /// The method called.
        method: String,
        /// rippled's error code.
        error: String,
        /// rippled's message.
        message: String,
    },
    /// The transaction's window has passed, but the server cannot prove it
    /// is in none of its ledgers (a gap in its history): it must not be
    /// signed again yet.
    #[error("cannot prove {0} never applied: the server lacks ledgers of its window")]
    Unproven(Hash256),
    /// The answer lacked a field drip needs, or had it in a shape it cannot use.
    #[error("{method}: unexpected answer: {what}")]
    Malformed {
        /// The method called.
        method: String,
        /// What was wrong.
        what: String,
    },
}

impl Error {
    /// rippled's error code, if this is an RPC error.
    pub fn rpc_code(&self) -> Option<&str> {
        match self {
            Error::Rpc { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A JSON-RPC client for one rippled (or drip_devnet) server.
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    http: reqwest::Client,
}

/// A transaction as `tx` reports it.
#[derive(Debug, Clone)]
pub enum TxLookup {
    /// Not in any ledger the server has (yet).
    NotFound,
    /// In a ledger that is not validated yet.
    Pending,
    /// In a validated ledger, with its result code and the whole answer.
    Validated {
        /// `TransactionResult`, e.g. `tesSUCCESS`.
        result: String,
        /// The validated ledger's index.
        ledger_index: u32,
        /// rippled's answer (fields, `meta`).
        tx: Json,
    },
}

/// A PayChannel ledger entry, as far as drip uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEntry {
    /// The payer.
    pub account: AccountId,
    /// The receiver.
    pub destination: AccountId,
    /// XRP put into the channel so far.
    pub amount: Drops,
    /// XRP already paid out of it.
    pub balance: Drops,
    /// The key claims must be signed with (33 bytes).
    pub public_key: Vec<u8>,
    /// Seconds the payer must wait after asking to close.
    pub settle_delay: u32,
    /// Ripple-epoch seconds after which the channel may be closed, if set.
    pub expiration: Option<u32>,
    /// Ripple-epoch seconds of the immutable close time, if set.
    pub cancel_after: Option<u32>,
    /// The receiver's tag, if set.
    pub destination_tag: Option<u32>,
}

impl Client {
    /// A client for the JSON-RPC endpoint at `url`.
    pub fn new(url: impl Into<String>) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap_or_default();
        Client {
            url: url.into(),
            http,
        }
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Send one of xrpl-rust's request models: its `command` is the
    /// JSON-RPC method, its other fields the parameter object.
    pub async fn request(&self, request: &impl serde::Serialize) -> Result<Json, Error> {
        let (method, params) = json_rpc(request)?;
        self.call(&method, params).await
    }

    /// Call `method` with one parameter object; the `result` on success
    /// (also for methods xrpl-rust has no model of, e.g. the devnet's own).
    pub async fn call(&self, method: &str, params: Json) -> Result<Json, Error> {
        let result = self.call_raw(method, params).await?;
        if result["status"] == "success" {
            return Ok(result);
        }
        Err(Error::Rpc {
            method: method.to_owned(),
            error: result["error"].as_str().unwrap_or("unknown").to_owned(),
            message: result["error_message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// `method`'s `result` object, an error answer included (some carry
    /// more than their code, e.g. `tx`'s `searched_all`).
    async fn call_raw(&self, method: &str, params: Json) -> Result<Json, Error> {
        let body = json!({"method": method, "params": [params]});
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::Transport(e.without_url().to_string()))?;
        let mut answer: Json = response
            .json()
            .await
            .map_err(|e| Error::Transport(e.without_url().to_string()))?;
        answer
            .get_mut("result")
            .map(Json::take)
            .ok_or_else(|| malformed(method, "no result"))
    }

    /// The account's next sequence and balance in the current open ledger.
    pub async fn account_info(&self, account: &AccountId) -> Result<(u32, Drops), Error> {
        let address = account.to_address();
        let r = self
            .request(&AccountInfo::new(
                None,
                address.into(),
                None,
                Some("current".into()),
                None,
                None,
                None,
            ))
            .await?;
        let data = &r["account_data"];
        let seq =
            u32_field(data, "Sequence").ok_or_else(|| malformed("account_info", "Sequence"))?;
        let balance =
            drops_field(data, "Balance").ok_or_else(|| malformed("account_info", "Balance"))?;
        Ok((seq, balance))
    }

    /// The fee to offer for a plain transaction now: the open ledger's, as
    /// rippled suggests it.
    pub async fn open_ledger_fee(&self) -> Result<Drops, Error> {
        let r = self.request(&Fee::new(None)).await?;
        drops_field(&r["drops"], "open_ledger_fee")
            .ok_or_else(|| malformed("fee", "drops.open_ledger_fee"))
    }

    /// The account's next Sequence as validated ledger `index` has it: the
    /// same answer from any server that holds that ledger (one behind it
    /// says `lgrNotFound`, or not validated, and proves nothing).
    pub async fn sequence_at(&self, account: &AccountId, index: u32) -> Result<u32, Error> {
        let r = self
            .call(
                "account_info",
                json!({"account": account.to_address(), "ledger_index": index}),
            )
            .await?;
        if r["validated"] != true {
            return Err(malformed("account_info", "a validated ledger"));
        }
        u32_field(&r["account_data"], "Sequence")
            .ok_or_else(|| malformed("account_info", "account_data.Sequence"))
    }

    /// What `account` must keep: the base reserve and one increment per
    /// object it owns (channels, for a hot wallet) as the ledger has them,
    /// and per one of `more` it is about to own.
    pub async fn account_reserve(&self, account: &AccountId, more: u32) -> Result<Drops, Error> {
        let info = self
            .call(
                "account_info",
                json!({"account": account.to_address(), "ledger_index": "current"}),
            )
            .await?;
        let owned = u32_field(&info["account_data"], "OwnerCount")
            .ok_or_else(|| malformed("account_info", "account_data.OwnerCount"))?
            .saturating_add(more);
        let state = self.request(&ServerState::new(None)).await?;
        let ledger = &state["state"]["validated_ledger"];
        let (Some(base), Some(inc)) = (
            ledger["reserve_base"].as_u64(),
            ledger["reserve_inc"].as_u64(),
        ) else {
            return Err(malformed(
                "server_state",
                "state.validated_ledger.reserve_base/inc",
            ));
        };
        Ok(Drops::new(
            inc.checked_mul(u64::from(owned))
                .and_then(|i| i.checked_add(base))
                .unwrap_or(u64::MAX),
        ))
    }

    /// The index of the newest validated ledger.
    pub async fn validated_index(&self) -> Result<u32, Error> {
        let r = self
            .request(&Ledger::new(
                None,
                None,
                None,
                None,
                None,
                None,
                Some("validated".into()),
                None,
                None,
                None,
            ))
            .await?;
        r["ledger_index"]
            .as_u64()
            .or_else(|| r["ledger"]["ledger_index"].as_str()?.parse().ok())
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| malformed("ledger", "ledger_index"))
    }

    /// Submit a signed blob; rippled's preliminary result code.
    pub async fn submit(&self, blob: &[u8]) -> Result<String, Error> {
        let r = self
            .request(&Submit::new(None, hex::encode_upper(blob).into(), None))
            .await?;
        r["engine_result"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| malformed("submit", "engine_result"))
    }

    /// Where the transaction `hash` stands.
    pub async fn tx(&self, hash: &Hash256) -> Result<TxLookup, Error> {
        match self
            .request(&Tx::new(
                None,
                None,
                None,
                None,
                Some(hash.to_string().into()),
            ))
            .await
        {
            Err(e) if e.rpc_code() == Some("txnNotFound") => Ok(TxLookup::NotFound),
            Err(e) => Err(e),
            Ok(tx) if tx["validated"] == true => {
                let result = tx["meta"]["TransactionResult"]
                    .as_str()
                    .ok_or_else(|| malformed("tx", "meta.TransactionResult"))?
                    .to_owned();
                let ledger_index = tx["ledger_index"]
                    .as_u64()
                    .and_then(|i| u32::try_from(i).ok())
                    .ok_or_else(|| malformed("tx", "ledger_index"))?;
                Ok(TxLookup::Validated {
                    result,
                    ledger_index,
                    tx,
                })
            }
            Ok(_) => Ok(TxLookup::Pending),
        }
    }

    /// Whether the server proves `hash` is in none of ledgers `min..=max`:
    /// `tx` with that range answers `txnNotFound` with `searched_all` true
    /// only when it holds every one of them. Anything else (found, or a
    /// gap in its history) is not proof.
    pub async fn absent_from(&self, hash: &Hash256, min: u32, max: u32) -> Result<bool, Error> {
        let r = self
            .call_raw(
                "tx",
                json!({"transaction": hash.to_string(), "min_ledger": min, "max_ledger": max}),
            )
            .await?;
        match r["error"].as_str() {
            None => Ok(false),
            Some("txnNotFound") => Ok(r["searched_all"] == true),
            Some(error) => Err(Error::Rpc {
                method: "tx".into(),
                error: error.to_owned(),
                message: r["error_message"].as_str().unwrap_or_default().to_owned(),
            }),
        }
    }

    /// The channel's entry in the validated ledger; `None` if it does not
    /// exist there (never created, or closed).
    pub async fn channel(&self, id: &Hash256) -> Result<Option<ChannelEntry>, Error> {
        let r = match self.request(&channel_entry(id.to_string())).await {
            Err(e) if e.rpc_code() == Some("entryNotFound") => return Ok(None),
            r => r?,
        };
        let node = &r["node"];
        let m = |what: &str| malformed("ledger_entry", what);
        let account = |f: &str| node[f].as_str().and_then(|a| a.parse::<AccountId>().ok());
        Ok(Some(ChannelEntry {
            account: account("Account").ok_or_else(|| m("Account"))?,
            destination: account("Destination").ok_or_else(|| m("Destination"))?,
            amount: drops_field(node, "Amount").ok_or_else(|| m("Amount"))?,
            balance: drops_field(node, "Balance").ok_or_else(|| m("Balance"))?,
            public_key: node["PublicKey"]
                .as_str()
                .and_then(|k| hex::decode(k).ok())
                .filter(|k| k.len() == 33)
                .ok_or_else(|| m("PublicKey"))?,
            settle_delay: u32_field(node, "SettleDelay").ok_or_else(|| m("SettleDelay"))?,
            expiration: u32_field(node, "Expiration"),
            cancel_after: u32_field(node, "CancelAfter"),
            destination_tag: u32_field(node, "DestinationTag"),
        }))
    }
    /// What the ledger paid out of `channel` in all (its final Balance),
    /// from the validated transaction that deleted it, looked for among
    /// `account`'s newest `limit` transactions (a channel's deletion shows
    /// in its destination's history); `None` when it is not there.
    pub async fn closed_balance(
        &self,
        account: &AccountId,
        channel: &Hash256,
        limit: u16,
    ) -> Result<Option<Drops>, Error> {
        Ok(self
            .account_tx(account, limit)
            .await?
            .iter()
            .filter(|t| deleted_channel(t, channel))
            .find_map(|t| channel_after(t, channel))
            .map(|(balance, _)| balance))
    }

    /// The channels `account` pays into, as the validated ledger has them.
    pub async fn account_channels(&self, account: &AccountId) -> Result<Vec<ChannelLine>, Error> {
        let address = account.to_address();
        let r = self
            .request(&AccountChannels::new(
                None,
                address.into(),
                None,
                None,
                Some("validated".into()),
                Some(400),
                None,
            ))
            .await?;
        let m = |what: &str| malformed("account_channels", what);
        r["channels"]
            .as_array()
            .ok_or_else(|| m("channels"))?
            .iter()
            .map(|c| {
                Ok(ChannelLine {
                    channel_id: c["channel_id"]
                        .as_str()
                        .and_then(|h| h.parse().ok())
                        .ok_or_else(|| m("channel_id"))?,
                    destination: c["destination_account"]
                        .as_str()
                        .and_then(|a| a.parse().ok())
                        .ok_or_else(|| m("destination_account"))?,
                    amount: drops_field(c, "amount").ok_or_else(|| m("amount"))?,
                    balance: drops_field(c, "balance").ok_or_else(|| m("balance"))?,
                    settle_delay: u32_field(c, "settle_delay").ok_or_else(|| m("settle_delay"))?,
                    expiration: u32_field(c, "expiration"),
                    cancel_after: u32_field(c, "cancel_after"),
                })
            })
            .collect()
    }

    /// The newest validated transactions that affected `account` (at most
    /// `limit`), newest first: each a `tx` answer with `meta` and `hash`.
    pub async fn account_tx(&self, account: &AccountId, limit: u16) -> Result<Vec<Json>, Error> {
        let mut r = self
            .request(&newest_first(account.to_address(), limit))
            .await?;
        let txs = r["transactions"]
            .as_array_mut()
            .ok_or_else(|| malformed("account_tx", "transactions"))?;
        Ok(txs
            .iter_mut()
            .filter(|t| t["validated"] == true)
            .map(|t| {
                // API v1 nests the fields under `tx`; v2 under `tx_json`.
                let key = if t.get("tx_json").is_some() {
                    "tx_json"
                } else {
                    "tx"
                };
                let mut fields = t[key].take();
                if let Some(o) = fields.as_object_mut() {
                    o.insert("meta".into(), t["meta"].take());
                    if let Some(h) = t.get("hash") {
                        o.entry("hash").or_insert(h.clone());
                    }
                    if let Some(i) = t.get("ledger_index").filter(|i| !i.is_null()) {
                        o.insert("ledger_index".into(), i.clone());
                    }
                }
                fields
            })
            .collect())
    }
}

/// One channel of an account, as `account_channels` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelLine {
    /// The channel's id.
    pub channel_id: Hash256,
    /// The receiver.
    pub destination: AccountId,
    /// XRP put into the channel so far.
    pub amount: Drops,
    /// XRP already paid out of it.
    pub balance: Drops,
    /// Seconds the payer must wait after asking to close.
    pub settle_delay: u32,
    /// Ripple-epoch seconds after which the channel may be closed, if set.
    pub expiration: Option<u32>,
    /// Ripple-epoch seconds of the immutable close time, if set.
    pub cancel_after: Option<u32>,
}

/// Whether the transaction (a `tx` answer) deleted the PayChannel `channel`.
pub fn deleted_channel(tx: &Json, channel: &Hash256) -> bool {
    let id = channel.to_string();
    tx["meta"]["AffectedNodes"].as_array().is_some_and(|nodes| {
        nodes.iter().any(|n| {
            n.get("DeletedNode").is_some_and(|d| {
                d["LedgerEntryType"] == "PayChannel"
                    && d["LedgerIndex"]
                        .as_str()
                        .is_some_and(|i| i.eq_ignore_ascii_case(&id))
            })
        })
    })
}

/// What the transaction (a `tx` answer) left in the PayChannel `channel`:
/// its Balance (drops paid out of it so far, by the ledger) and whether it
/// deleted it. On a channel past its Expiration or CancelAfter, rippled
/// closes it with `tesSUCCESS` and pays no claim: only this says so.
pub fn channel_after(tx: &Json, channel: &Hash256) -> Option<(Drops, bool)> {
    let id = channel.to_string();
    tx["meta"]["AffectedNodes"]
        .as_array()?
        .iter()
        .find_map(|n| {
            let (node, deleted) = match (n.get("ModifiedNode"), n.get("DeletedNode")) {
                (Some(m), _) => (m, false),
                (_, Some(d)) => (d, true),
                _ => return None,
            };
            let ours = node["LedgerEntryType"] == "PayChannel"
                && node["LedgerIndex"]
                    .as_str()
                    .is_some_and(|i| i.eq_ignore_ascii_case(&id));
            let balance = drops_field(&node["FinalFields"], "Balance");
            ours.then_some(()).and(balance).map(|b| (b, deleted))
        })
}

/// How the transaction (a `tx` answer) changed `account`'s XRP balance, in
/// drops (fees included): from its AccountRoot's previous and final Balance.
pub fn balance_change(tx: &Json, account: &AccountId) -> Option<i128> {
    let address = account.to_address();
    tx["meta"]["AffectedNodes"]
        .as_array()?
        .iter()
        .find_map(|n| {
            let m = n.get("ModifiedNode")?;
            if m["LedgerEntryType"] != "AccountRoot"
                || m["FinalFields"]["Account"] != address.as_str()
            {
                return None;
            }
            let after = drops_field(&m["FinalFields"], "Balance")?;
            // No PreviousFields.Balance: the balance did not change.
            let before = drops_field(&m["PreviousFields"], "Balance").unwrap_or(after);
            Some(i128::from(after.get()) - i128::from(before.get()))
        })
}

/// The PayChannel a validated PaymentChannelCreate made, from its metadata
/// (a `tx` answer or a stream message).
pub fn created_channel(tx: &Json) -> Option<Hash256> {
    tx["meta"]["AffectedNodes"]
        .as_array()?
        .iter()
        .find_map(|n| {
            let c = n.get("CreatedNode")?;
            if c["LedgerEntryType"] != "PayChannel" {
                return None;
            }
            c["LedgerIndex"].as_str()?.parse().ok()
        })
}

/// `ledger_entry` for a PayChannel in the validated ledger.
fn channel_entry(id: String) -> LedgerEntry<'static> {
    LedgerEntry {
        payment_channel: Some(id.into()),
        ledger_lookup: Some(LookupByLedgerRequest {
            ledger_hash: None,
            ledger_index: Some("validated".into()),
        }),
        ..LedgerEntry::default()
    }
}

/// `account_tx` for the newest `limit` transactions of `address`.
fn newest_first(address: String, limit: u16) -> AccountTx<'static> {
    AccountTx::new(
        None,
        address.into(),
        None,
        None,
        None,
        Some(false),
        None,
        None,
        Some(limit),
        None,
    )
}

/// A request model as JSON-RPC's method and parameter object.
fn json_rpc(request: &impl serde::Serialize) -> Result<(String, Json), Error> {
    let mut params =
        serde_json::to_value(request).map_err(|e| malformed("request", &e.to_string()))?;
    let method = params
        .as_object_mut()
        .and_then(|o| o.remove("command"))
        .and_then(|c| c.as_str().map(str::to_owned))
        .ok_or_else(|| malformed("request", "command"))?;
    Ok((method, params))
}

fn malformed(method: &str, what: &str) -> Error {
    Error::Malformed {
        method: method.to_owned(),
        what: what.to_owned(),
    }
}

fn u32_field(obj: &Json, field: &str) -> Option<u32> {
    obj[field].as_u64().and_then(|v| u32::try_from(v).ok())
}

/// An XRP amount: rippled writes drops as a decimal string.
fn drops_field(obj: &Json, field: &str) -> Option<Drops> {
    obj[field].as_str()?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_rippled_methods_with_their_parameters() {
        let channel = "5D".repeat(32);
        assert_eq!(
            json_rpc(&channel_entry(channel.clone())).unwrap(),
            (
                "ledger_entry".to_owned(),
                json!({"payment_channel": channel, "ledger_index": "validated"})
            )
        );
        assert_eq!(
            json_rpc(&newest_first(
                "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".into(),
                50
            ))
            .unwrap(),
            (
                "account_tx".to_owned(),
                json!({"account": "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", "forward": false, "limit": 50})
            )
        );
        assert_eq!(
            json_rpc(&Submit::new(None, "1200".into(), None)).unwrap(),
            ("submit".to_owned(), json!({"tx_blob": "1200"}))
        );
        assert!(json_rpc(&json!({"no": "command"})).is_err());
    }

    #[test]
    fn what_a_claim_left_in_the_channel_is_read_from_the_metadata() {
        let id = Hash256([0x5D; 32]);
        let node = |wrapper: &str, index: &str, balance: &str| {
            json!({wrapper: {"LedgerEntryType": "PayChannel", "LedgerIndex": index,
                             "FinalFields": {"Balance": balance}}})
        };
        let tx = |nodes: Vec<Json>| json!({"meta": {"AffectedNodes": nodes}});
        let paid = tx(vec![node("ModifiedNode", &"5d".repeat(32), "1000")]);
        assert_eq!(channel_after(&paid, &id), Some((Drops::new(1000), false)));
        let closed = tx(vec![
            node("ModifiedNode", &"AA".repeat(32), "7"),
            node("DeletedNode", &"5D".repeat(32), "0"),
        ]);
        assert_eq!(channel_after(&closed, &id), Some((Drops::ZERO, true)));
        assert_eq!(channel_after(&tx(vec![]), &id), None);
        let garbage = tx(vec![node("DeletedNode", &"5D".repeat(32), "-1")]);
        assert_eq!(channel_after(&garbage, &id), None);
        assert_eq!(channel_after(&json!({}), &id), None);
    }

    #[test]
    fn the_created_channel_is_read_from_the_metadata() {
        let tx = json!({"meta": {"AffectedNodes": [
            {"ModifiedNode": {"LedgerEntryType": "AccountRoot", "LedgerIndex": "AA".repeat(32)}},
            {"CreatedNode": {"LedgerEntryType": "PayChannel", "LedgerIndex": "5D".repeat(32)}}
        ]}});
        assert_eq!(created_channel(&tx), Some(Hash256([0x5D; 32])));
        assert_eq!(created_channel(&json!({"meta": {}})), None);
        let other = json!({"meta": {"AffectedNodes": [
            {"CreatedNode": {"LedgerEntryType": "RippleState", "LedgerIndex": "5D".repeat(32)}}]}});
        assert_eq!(created_channel(&other), None);
    }
}
