//! The asymmetric XRP plugin's client side (as `ilp-plugin-xrp-asym-client`
//! does it): connect over BTP, learn the server's details (`info`), open a
//! payment channel to the server with a key derived from the wallet's
//! secret, prove it is ours, and pay by signing ever-higher claims sent as
//! BTP Transfers. The channel and the best claim signed are kept in a local
//! file, written before a claim leaves, so a restarted client continues
//! the same channel above its last claim.

use std::path::{Path, PathBuf};
use std::time::Duration;

use drip_core::claim::sign_claim;
use drip_core::{AccountId, Drops, Hash256, KeyPair};
use drip_ilp::asym::{self, protocol, ClaimJson};
use drip_ilp::btp::{self, find, Body, ProtocolData};
use drip_ilp::ilp;
use drip_ledger::{Outcome, Submitter};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::btp::{BtpError, Connection};
use crate::store::write_atomic;

/// How the client connects and pays.
#[derive(Debug, Clone)]
pub struct IlpConfig {
    /// `ws://…` or `wss://…`.
    pub server: String,
    /// A PEM certificate to trust for wss.
    pub ca: Option<Vec<u8>>,
    /// The BTP token (the account is derived from it).
    pub token: String,
    /// The wallet's secret (seed text): the channel key derives from it.
    pub xrp_secret: String,
    /// The channel's amount when one is opened.
    pub channel_amount: Drops,
    /// Where the channel and best claim are kept.
    pub store: PathBuf,
    /// Each request's limit.
    pub timeout: Duration,
}

/// What stopped the client.
#[derive(Debug, thiserror::Error)]
pub enum IlpError {
    /// The BTP connection.
    #[error(transparent)]
    Btp(#[from] BtpError),
    /// The ledger.
    #[error("ledger: {0}")]
    Ledger(#[from] drip_ledger::Error),
    /// The server refused or answered out of protocol.
    #[error("server: {0}")]
    Server(String),
    /// The channel is not what the client can use.
    #[error("channel: {0}")]
    Channel(String),
    /// The local store.
    #[error("store {path}: {why}")]
    Store {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// The client's local state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The channel to the server.
    pub channel: Option<Hash256>,
    /// The best claim signed, in base units (cumulative).
    pub best: u64,
}

/// A connected client of the asymmetric XRP server.
#[derive(Debug)]
pub struct IlpClient {
    conn: Connection,
    timeout: Duration,
    key: KeyPair,
    /// The client's ILP address.
    pub address: String,
    /// The server's XRPL address.
    pub server_account: String,
    /// Decimal places of amounts.
    pub scale: u8,
    /// The channel to the server.
    pub channel: Hash256,
    stored: Stored,
    store: PathBuf,
}

fn load(path: &Path) -> Result<Stored, IlpError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| IlpError::Store {
            path: path.to_owned(),
            why: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
        Err(e) => Err(IlpError::Store {
            path: path.to_owned(),
            why: e.to_string(),
        }),
    }
}

impl IlpClient {
    /// Connect, and open and prove the channel if it is not there yet;
    /// `ledger` signs as the wallet's account.
    pub async fn connect(config: &IlpConfig, ledger: &Submitter) -> Result<IlpClient, IlpError> {
        let conn = Connection::connect_trusting(
            &config.server,
            "",
            &config.token,
            config.ca.as_deref(),
            config.timeout,
        )
        .await?;
        let info = call_json(&conn, protocol::INFO, vec![2], config.timeout).await?;
        let text = |k: &str| info[k].as_str().map(str::to_owned);
        let (Some(address), Some(server_account)) = (text("account"), text("address")) else {
            return Err(IlpError::Server(format!(
                "info without account or address: {info}"
            )));
        };
        let scale = info["currencyScale"]
            .as_u64()
            .and_then(|s| u8::try_from(s).ok())
            .ok_or_else(|| IlpError::Server("info without currencyScale".into()))?;
        let secret = asym::client_channel_secret(&config.xrp_secret, &server_account);
        let key = KeyPair::ed25519_from_secret(&secret)
            .map_err(|e| IlpError::Channel(format!("channel key: {e}")))?;
        let mut stored = load(&config.store)?;
        let channel = match stored.channel {
            Some(c) => c,
            None => {
                let c = open_channel(ledger, &server_account, &key, config.channel_amount).await?;
                stored.channel = Some(c);
                save(&config.store, &stored)?;
                c
            }
        };
        let entry = ledger
            .client()
            .channel(&channel)
            .await?
            .ok_or_else(|| IlpError::Channel(format!("{channel} is not on the ledger")))?;
        let server: AccountId = server_account
            .parse()
            .map_err(|_| IlpError::Server("info's address is not an XRPL address".into()))?;
        if entry.destination != server || entry.public_key != key.public_key().as_bytes() {
            return Err(IlpError::Channel(format!(
                "{channel} is not this client's channel to the server"
            )));
        }
        if entry.settle_delay < asym::MIN_SETTLE_DELAY
            || entry.expiration.is_some()
            || entry.cancel_after.is_some()
        {
            return Err(IlpError::Channel(format!("{channel} may close too soon")));
        }
        // The ledger may have paid out more than the store remembers.
        let paid = asym::drops_to_base(entry.balance, scale).unwrap_or(0);
        stored.best = stored.best.max(paid);
        let client = IlpClient {
            conn,
            timeout: config.timeout,
            key,
            address,
            server_account,
            scale,
            channel,
            stored,
            store: config.store.clone(),
        };
        if info["channel"].as_str() != Some(&channel.to_string()) {
            client.prove().await?;
        }
        Ok(client)
    }

    async fn prove(&self) -> Result<(), IlpError> {
        let proof = self
            .key
            .sign(&asym::ownership_message(&self.channel, &self.address));
        let reply = self
            .conn
            .call(
                Body::Message(vec![
                    ProtocolData::new(
                        protocol::CHANNEL,
                        btp::OCTET_STREAM,
                        self.channel.0.to_vec(),
                    ),
                    ProtocolData::new(protocol::CHANNEL_SIGNATURE, btp::OCTET_STREAM, proof),
                ]),
                self.timeout,
            )
            .await?;
        refused(&reply)
    }

    /// The best claim signed so far (base units).
    pub fn best(&self) -> u64 {
        self.stored.best
    }

    /// Pay `amount` more (base units): a claim for the new total, recorded
    /// before it is sent.
    pub async fn pay(&mut self, amount: u64) -> Result<(), IlpError> {
        let total = self
            .stored
            .best
            .checked_add(amount)
            .ok_or_else(|| IlpError::Channel("amount overflows".into()))?;
        let drops =
            asym::base_to_drops(total, self.scale).map_err(|e| IlpError::Channel(e.to_string()))?;
        let signature = hex::encode_upper(sign_claim(&self.key, &self.channel, drops));
        let next = Stored {
            channel: Some(self.channel),
            best: total,
        };
        save(&self.store, &next)?;
        self.stored = next;
        let claim = serde_json::to_vec(&ClaimJson {
            amount: total.to_string(),
            signature,
        })
        .map_err(|e| IlpError::Server(e.to_string()))?;
        let reply = self
            .conn
            .call(
                Body::Transfer {
                    amount,
                    protocol_data: vec![ProtocolData::new(protocol::CLAIM, btp::JSON, claim)],
                },
                self.timeout,
            )
            .await?;
        refused(&reply)
    }

    /// Send an ILP packet; the server's answer.
    pub async fn send(&self, packet: &ilp::Packet) -> Result<ilp::Packet, IlpError> {
        let bytes = packet
            .encode()
            .map_err(|e| IlpError::Server(e.to_string()))?;
        let reply = self
            .conn
            .call(
                Body::Message(vec![ProtocolData::new(
                    protocol::ILP,
                    btp::OCTET_STREAM,
                    bytes,
                )]),
                self.timeout,
            )
            .await?;
        refused(&reply)?;
        let Body::Response(pd) = &reply.body else {
            return Err(IlpError::Server("no response".into()));
        };
        let data = find(pd, protocol::ILP)
            .ok_or_else(|| IlpError::Server("no ilp in the response".into()))?;
        ilp::Packet::decode(&data.data).map_err(|e| IlpError::Server(e.to_string()))
    }
}

fn save(path: &Path, stored: &Stored) -> Result<(), IlpError> {
    let bytes = serde_json::to_vec(stored).map_err(|e| IlpError::Server(e.to_string()))?;
    write_atomic(path, &bytes).map_err(|e| IlpError::Store {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// A BTP Error as the server's refusal.
fn refused(reply: &btp::Packet) -> Result<(), IlpError> {
    match &reply.body {
        Body::Error(e) => Err(IlpError::Server(format!(
            "{} {}: {}",
            e.code,
            e.name,
            String::from_utf8_lossy(&e.data)
        ))),
        _ => Ok(()),
    }
}

async fn call_json(
    conn: &Connection,
    name: &str,
    data: Vec<u8>,
    timeout: Duration,
) -> Result<Json, IlpError> {
    let reply = conn
        .call(
            Body::Message(vec![ProtocolData::new(name, btp::OCTET_STREAM, data)]),
            timeout,
        )
        .await?;
    refused(&reply)?;
    let Body::Response(pd) = &reply.body else {
        return Err(IlpError::Server("no response".into()));
    };
    let entry =
        find(pd, name).ok_or_else(|| IlpError::Server(format!("no {name} in the response")))?;
    serde_json::from_slice(&entry.data).map_err(|e| IlpError::Server(format!("{name}: {e}")))
}

/// Open the channel to the server (settle delay 3600 s, the derived key)
/// and wait for it to validate.
async fn open_channel(
    ledger: &Submitter,
    server: &str,
    key: &KeyPair,
    amount: Drops,
) -> Result<Hash256, IlpError> {
    let fields = json!({
        "TransactionType": "PaymentChannelCreate",
        "Destination": server,
        "Amount": amount.to_string(),
        "SettleDelay": asym::MIN_SETTLE_DELAY,
        "PublicKey": key.public_key().to_hex(),
    });
    let prepared = ledger.prepare(fields, 0).await?;
    match ledger.submit_and_wait(&prepared).await? {
        Outcome::Validated { result, tx, .. } if result == "tesSUCCESS" => {
            drip_ledger::created_channel(&tx)
                .ok_or_else(|| IlpError::Channel("the create made no channel".into()))
        }
        other => Err(IlpError::Channel(format!(
            "PaymentChannelCreate: {other:?}"
        ))),
    }
}
