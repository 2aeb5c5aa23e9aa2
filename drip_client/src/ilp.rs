//! The asymmetric XRP plugin's client side (as `ilp-plugin-xrp-asym-client`
//! does it): connect over BTP, learn the server's details (`info`), open a
//! payment channel to the server with a key derived from the wallet's
//! secret, prove it is ours, and pay by signing ever-higher claims sent as
//! BTP Transfers, topping the channel up near its end. It asks for the
//! server's channel back (`fund_channel`), checks it on the ledger, and
//! verifies and keeps every claim the server pays it with. Both channels
//! and both best claims are kept in a local file, written before a claim
//! leaves or is acknowledged, so a restarted client continues where it
//! stopped; on close it redeems the server's best claim.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use drip_core::claim::{sign_claim, verify_claim};
use drip_core::{AccountId, Drops, Hash256, KeyPair, PublicKey};
use drip_ilp::asym::{self, protocol, ClaimJson};
use drip_ilp::btp::{self, find, Body, ProtocolData};
use drip_ilp::ilp;
use drip_ledger::{Outcome, ResultClass, Submitter};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::btp::{BtpError, Connection};
use crate::store::{read_no_follow, write_atomic};

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
    /// The channel's amount when one is opened, and each top-up.
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
    /// The server's channel to this client.
    #[serde(default)]
    pub incoming: Option<Hash256>,
    /// The best claim the server paid on it (base units) and its signature.
    #[serde(default)]
    pub incoming_best: u64,
    /// Hex.
    #[serde(default)]
    pub incoming_signature: Option<String>,
}

/// The server's channel to this client, as the ledger has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Its id.
    pub channel: Hash256,
    /// The key the server signs claims with.
    pub key: PublicKey,
    /// Drops in it.
    pub amount: Drops,
}

/// What one of the server's requests did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A claim paying `amount` more base units (`total` in all) was
    /// verified and kept.
    Paid {
        /// The increase.
        amount: u64,
        /// The new best claim.
        total: u64,
    },
    /// The server's channel was reloaded (it funded it): now `amount` drops.
    Refreshed {
        /// Drops in the channel.
        amount: Drops,
    },
    /// An ILP packet to this client, answered by the handler.
    Packet,
    /// Something else, answered with an empty Response.
    Other,
}

/// A connected client of the asymmetric XRP server.
#[derive(Debug)]
pub struct IlpClient {
    conn: Connection,
    config: IlpConfig,
    ledger: Arc<Submitter>,
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
    /// Drops in it.
    pub channel_amount: Drops,
    /// The server's channel to this client, once asked for.
    pub incoming: Option<Incoming>,
    stored: Stored,
    store: PathBuf,
}

fn load(path: &Path) -> Result<Stored, IlpError> {
    match read_no_follow(path) {
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
    pub async fn connect(
        config: &IlpConfig,
        ledger: Arc<Submitter>,
    ) -> Result<IlpClient, IlpError> {
        let conn = open(config).await?;
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
                let c = open_channel(&ledger, &server_account, &key, config.channel_amount).await?;
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
        check_settlement(&channel, &entry)?;
        // The ledger may have paid out more than the store remembers.
        let paid = asym::drops_to_base(entry.balance, scale).unwrap_or(0);
        stored.best = stored.best.max(paid);
        let mut client = IlpClient {
            conn,
            config: config.clone(),
            ledger,
            timeout: config.timeout,
            key,
            address,
            server_account,
            scale,
            channel,
            channel_amount: entry.amount,
            incoming: None,
            stored,
            store: config.store.clone(),
        };
        if info["channel"].as_str() != Some(&channel.to_string()) {
            client.prove().await?;
        }
        if let Some(id) = info["clientChannel"]
            .as_str()
            .and_then(|c| c.parse::<Hash256>().ok())
        {
            client.load_incoming(id).await?;
        }
        Ok(client)
    }

    /// Connect again after the socket broke, waiting longer after each
    /// failure (as ilp-plugin-btp: 0, 0.1, 0.5, 1, 2, then every 5 s), up
    /// to `attempts` times.
    pub async fn reconnect(&mut self, attempts: usize) -> Result<(), IlpError> {
        const BACKOFF_MS: [u64; 6] = [0, 100, 500, 1_000, 2_000, 5_000];
        let mut last = IlpError::Btp(BtpError::Closed);
        for i in 0..attempts {
            let wait = BACKOFF_MS.get(i).copied().unwrap_or(5_000);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            match open(&self.config).await {
                Ok(conn) => {
                    self.conn = conn;
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Ask the server for its channel to this client (`fund_channel`, to
    /// the wallet's address) and check it on the ledger.
    pub async fn open_incoming(&mut self) -> Result<Incoming, IlpError> {
        let me = self.ledger.address();
        let reply = self
            .conn
            .call(
                Body::Message(vec![ProtocolData::new(
                    protocol::FUND_CHANNEL,
                    btp::TEXT,
                    me.into_bytes(),
                )]),
                self.timeout,
            )
            .await?;
        refused(&reply)?;
        let Body::Response(pd) = &reply.body else {
            return Err(IlpError::Server("no response".into()));
        };
        let id = find(pd, protocol::FUND_CHANNEL)
            .and_then(|d| <[u8; 32]>::try_from(d.data.as_slice()).ok())
            .map(Hash256)
            .ok_or_else(|| IlpError::Server("fund_channel without a 32-byte channel id".into()))?;
        self.load_incoming(id).await
    }

    /// The server's channel `id` from the ledger: it must pay this wallet
    /// and not be able to close before a claim can be redeemed.
    async fn load_incoming(&mut self, id: Hash256) -> Result<Incoming, IlpError> {
        let entry = self
            .ledger
            .client()
            .channel(&id)
            .await?
            .ok_or_else(|| IlpError::Channel(format!("{id} is not on the ledger")))?;
        let server: Option<AccountId> = self.server_account.parse().ok();
        if Some(entry.account) != server || entry.destination.to_address() != self.ledger.address()
        {
            return Err(IlpError::Channel(format!(
                "{id} is not the server's channel to this wallet"
            )));
        }
        check_settlement(&id, &entry)?;
        let key = PublicKey::from_slice(&entry.public_key)
            .map_err(|e| IlpError::Channel(format!("{id}'s key: {e}")))?;
        if self.stored.incoming != Some(id) {
            // A new channel: its claims start from what the ledger paid.
            self.stored.incoming = Some(id);
            self.stored.incoming_best = 0;
            self.stored.incoming_signature = None;
        }
        let paid = asym::drops_to_base(entry.balance, self.scale).unwrap_or(0);
        self.stored.incoming_best = self.stored.incoming_best.max(paid);
        save(&self.store, &self.stored)?;
        let incoming = Incoming {
            channel: id,
            key,
            amount: entry.amount,
        };
        self.incoming = Some(incoming.clone());
        Ok(incoming)
    }

    /// The best claim the server has paid this client (base units).
    pub fn incoming_best(&self) -> u64 {
        self.stored.incoming_best
    }

    /// Answer the server's next request: a claim is verified and kept
    /// (written before the answer), a `channel` notice reloads the
    /// server's channel, an ILP Prepare goes to `handler`. `None` when the
    /// connection closed.
    pub async fn next_event(
        &mut self,
        handler: &mut (dyn FnMut(&ilp::Prepare) -> ilp::Packet + Send),
    ) -> Result<Option<Event>, IlpError> {
        let Some(request) = self.conn.next_request().await else {
            return Ok(None);
        };
        let id = request.request_id;
        let (event, reply) = match request.body {
            Body::Transfer { protocol_data, .. } => match find(&protocol_data, protocol::CLAIM) {
                Some(claim) => match self.take_claim(&claim.data) {
                    Ok(event) => (event, Ok(vec![])),
                    Err(why) => (Event::Other, Err(why)),
                },
                None => (Event::Other, Ok(vec![])),
            },
            Body::Message(pd) => {
                if let Some(c) = find(&pd, protocol::CHANNEL) {
                    let known = self.incoming.as_ref().map(|i| i.channel.0.to_vec());
                    if known.as_deref() == Some(c.data.as_slice()) {
                        let id = Hash256(c.data.as_slice().try_into().unwrap_or_default());
                        let amount = self.load_incoming(id).await?.amount;
                        (Event::Refreshed { amount }, Ok(vec![]))
                    } else {
                        (Event::Other, Ok(vec![]))
                    }
                } else if let Some(data) = find(&pd, protocol::ILP) {
                    let answer = match ilp::Packet::decode(&data.data) {
                        Ok(ilp::Packet::Prepare(p)) => handler(&p),
                        _ => reject(&self.address, "expected a Prepare"),
                    };
                    let bytes = answer.encode().unwrap_or_default();
                    (
                        Event::Packet,
                        Ok(vec![ProtocolData::new(
                            protocol::ILP,
                            btp::OCTET_STREAM,
                            bytes,
                        )]),
                    )
                } else {
                    (Event::Other, Ok(vec![]))
                }
            }
            _ => return Ok(Some(Event::Other)),
        };
        let body = match reply {
            Ok(pd) => Body::Response(pd),
            Err(why) => Body::Error(btp::BtpError {
                code: "F00".into(),
                name: "NotAcceptedError".into(),
                triggered_at: String::new(),
                data: why.into_bytes(),
                protocol_data: vec![],
            }),
        };
        self.conn.respond(id, body).await?;
        Ok(Some(event))
    }

    /// Check a claim from the server and keep it if it pays more: signed by
    /// the channel's key, within the channel.
    fn take_claim(&mut self, data: &[u8]) -> Result<Event, String> {
        let incoming = self
            .incoming
            .as_ref()
            .ok_or("a claim before the server's channel is known")?;
        let claim: ClaimJson = serde_json::from_slice(data).map_err(|e| format!("claim: {e}"))?;
        let total: u64 = claim
            .amount
            .parse()
            .map_err(|_| "claim amount is not a base-unit integer")?;
        if total <= self.stored.incoming_best {
            // Equal: already kept. Lower: stale, and no better than ours.
            return if total == self.stored.incoming_best {
                Ok(Event::Other)
            } else {
                Err(format!(
                    "claim {total} is below the best one, {}",
                    self.stored.incoming_best
                ))
            };
        }
        let drops = asym::base_to_drops(total, self.scale).map_err(|e| e.to_string())?;
        if drops > incoming.amount {
            return Err(format!(
                "claim of {drops} drops exceeds the channel's {}",
                incoming.amount
            ));
        }
        let signature = hex::decode(&claim.signature).map_err(|_| "signature is not hex")?;
        verify_claim(&incoming.key, &incoming.channel, drops, &signature)
            .map_err(|_| "invalid claim signature")?;
        let amount = total - self.stored.incoming_best;
        let mut next = self.stored.clone();
        next.incoming_best = total;
        next.incoming_signature = Some(hex::encode_upper(&signature));
        save(&self.store, &next).map_err(|e| e.to_string())?;
        self.stored = next;
        Ok(Event::Paid { amount, total })
    }

    /// Redeem the server's best claim on its channel to this client; with
    /// `close`, also close the channel (the destination may at once). The
    /// ledger's outcome.
    pub async fn claim_incoming(&self, close: bool) -> Result<Outcome, IlpError> {
        let incoming = self
            .incoming
            .as_ref()
            .ok_or_else(|| IlpError::Channel("no channel from the server".into()))?;
        let mut fields = json!({
            "TransactionType": "PaymentChannelClaim",
            "Channel": incoming.channel.to_string(),
            "Flags": if close { TF_CLOSE } else { 0 },
        });
        if let Some(signature) = &self.stored.incoming_signature {
            let drops = asym::base_to_drops(self.stored.incoming_best, self.scale)
                .map_err(|e| IlpError::Channel(e.to_string()))?;
            fields["Balance"] = json!(drops.to_string());
            fields["Amount"] = json!(drops.to_string());
            fields["Signature"] = json!(signature);
            fields["PublicKey"] = json!(incoming.key.to_hex());
        }
        let prepared = self.ledger.prepare(fields, 0).await?;
        Ok(self.ledger.submit_and_wait(&prepared).await?)
    }

    /// Look at both channels on the ledger: the server's channel asked to
    /// close (an Expiration appeared) is redeemed and closed at once; this
    /// client's channel must still be there. True when the incoming
    /// channel was closed.
    pub async fn watch(&mut self) -> Result<bool, IlpError> {
        let own = self.ledger.client().channel(&self.channel).await?;
        if own.is_none() {
            return Err(IlpError::Channel(format!(
                "{} left the ledger",
                self.channel
            )));
        }
        let Some(incoming) = self.incoming.clone() else {
            return Ok(false);
        };
        match self.ledger.client().channel(&incoming.channel).await? {
            Some(entry) if entry.expiration.is_none() && entry.cancel_after.is_none() => Ok(false),
            Some(_) => {
                self.claim_incoming(true).await?;
                self.incoming = None;
                Ok(true)
            }
            None => {
                self.incoming = None;
                Ok(true)
            }
        }
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
    /// before it is sent. Past half of the last top-up from the channel's
    /// end, the channel is funded first and the server told to reload it.
    pub async fn pay(&mut self, amount: u64) -> Result<(), IlpError> {
        let total = self
            .stored
            .best
            .checked_add(amount)
            .ok_or_else(|| IlpError::Channel("amount overflows".into()))?;
        let drops =
            asym::base_to_drops(total, self.scale).map_err(|e| IlpError::Channel(e.to_string()))?;
        let half = Drops::new(self.config.channel_amount.get() / 2);
        if self
            .channel_amount
            .checked_sub(half)
            .is_none_or(|t| drops > t)
        {
            self.fund().await?;
        }
        if drops > self.channel_amount {
            return Err(IlpError::Channel(format!(
                "{drops} drops exceed the channel's {}",
                self.channel_amount
            )));
        }
        let signature = hex::encode_upper(sign_claim(&self.key, &self.channel, drops));
        let mut next = self.stored.clone();
        next.best = total;
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

    /// Put another top-up into the channel, then have the server reload it.
    async fn fund(&mut self) -> Result<(), IlpError> {
        let fields = json!({
            "TransactionType": "PaymentChannelFund",
            "Channel": self.channel.to_string(),
            "Amount": self.config.channel_amount.to_string(),
        });
        let prepared = self.ledger.prepare(fields, 0).await?;
        match self.ledger.submit_and_wait(&prepared).await? {
            Outcome::Validated { result, .. }
                if ResultClass::of(&result) == ResultClass::Applied => {}
            other => return Err(IlpError::Channel(format!("PaymentChannelFund: {other:?}"))),
        }
        let entry = self
            .ledger
            .client()
            .channel(&self.channel)
            .await?
            .ok_or_else(|| IlpError::Channel(format!("{} left the ledger", self.channel)))?;
        self.channel_amount = entry.amount;
        // The server reloads a channel it knows (no proof checked, as the
        // original); the proof goes along all the same.
        self.prove().await
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

/// PaymentChannelClaim's tfClose flag.
const TF_CLOSE: u32 = 0x0002_0000;

async fn open(config: &IlpConfig) -> Result<Connection, IlpError> {
    Ok(Connection::connect_trusting(
        &config.server,
        "",
        &config.token,
        config.ca.as_deref(),
        config.timeout,
    )
    .await?)
}

/// A channel either side may rely on: it cannot close sooner than the
/// plugins' minimum settle delay.
fn check_settlement(id: &Hash256, entry: &drip_ledger::ChannelEntry) -> Result<(), IlpError> {
    if entry.settle_delay < asym::MIN_SETTLE_DELAY
        || entry.expiration.is_some()
        || entry.cancel_after.is_some()
    {
        return Err(IlpError::Channel(format!("{id} may close too soon")));
    }
    Ok(())
}

fn reject(address: &str, message: &str) -> ilp::Packet {
    ilp::Packet::Reject(ilp::Reject {
        code: ilp::ErrorCode::F01_INVALID_PACKET,
        triggered_by: address.to_owned(),
        message: message.to_owned(),
        data: vec![],
    })
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
        Outcome::Validated { result, tx, .. }
            if ResultClass::of(&result) == ResultClass::Applied =>
        {
            drip_ledger::created_channel(&tx)
                .ok_or_else(|| IlpError::Channel("the create made no channel".into()))
        }
        other => Err(IlpError::Channel(format!(
            "PaymentChannelCreate: {other:?}"
        ))),
    }
}
