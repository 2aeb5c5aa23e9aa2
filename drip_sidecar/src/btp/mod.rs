//! The ILP server: BTP 2.0 over WebSocket for many lightweight clients of
//! the asymmetric XRP plugin (`ilp-plugin-xrp-asym-client`), settling through
//! claims on each client's incoming payment channel. Every decision about
//! money is one of the extension's `drip.ilp_*` functions; this module does
//! the sockets, the wire formats and the routing of packets between clients.

mod claims;
mod connection;
mod failure;
mod outgoing;
mod packets;
mod protocols;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drip_core::{Drops, KeyPair};
use drip_ilp::asym;
use drip_ilp::btp;
use drip_ilp::calls::{CallError, Calls};
use drip_ilp::ilp::Address;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};

use crate::engine::ilp;

/// The `[btp]` settings.
#[derive(Debug, Clone)]
pub struct BtpConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The server's ILP address; a client's is `ADDRESS.ACCOUNT`.
    pub address: Address,
    /// Decimal places of amounts (6: drops).
    pub asset_scale: u8,
    /// How far a client's packets may run ahead of its claims (base units).
    pub bandwidth: u64,
    /// The largest Prepare taken (base units).
    pub max_packet_amount: u64,
    /// The least settle delay of an incoming channel (seconds).
    pub min_settle_delay: u32,
    /// How often claims worth their fee are redeemed on the ledger.
    pub claim_interval: Duration,
    /// Drops in a new channel to a client, and in each top-up.
    pub outgoing_channel_amount: Drops,
    /// A client gets a channel back only for an incoming one this large.
    pub min_incoming_channel_amount: Drops,
    /// The keys of the channels to clients.
    pub channel_keys: ChannelKeys,
    /// Bounds on what a client can make the server hold.
    pub limits: BtpLimits,
}

/// The ILP server's bounds against clients that hold it up.
#[derive(Debug, Clone)]
pub struct BtpLimits {
    /// Sockets held at once, unauthenticated ones included.
    pub max_connections: usize,
    /// Sockets from one address (an IPv6 /64).
    pub max_connections_per_ip: usize,
    /// From accepting a socket to answering its auth: TLS, the WebSocket
    /// handshake and the auth Message.
    pub auth_timeout: Duration,
    /// The largest WebSocket message read, before auth and after.
    pub max_message_bytes: usize,
    /// Requests of one socket handled at once (more wait, unread); as many
    /// frames may wait to be written to it.
    pub max_in_flight: usize,
    /// A socket that takes none of a frame for this long is closed.
    pub write_timeout: Duration,
    /// The longest a Prepare holds funds and waits for its answer.
    pub max_hold_secs: u32,
    /// A socket whose account is not bound to its token this long after
    /// its auth (no channel proven) is closed: squatters cannot keep
    /// places for ever.
    pub unbound_timeout: Duration,
    /// Connections of the BTP server's own database pool, apart from the
    /// one gRPC and the jobs share: its load cannot starve them.
    pub pool_size: usize,
}

impl Default for BtpLimits {
    fn default() -> BtpLimits {
        BtpLimits {
            max_connections: 1024,
            max_connections_per_ip: 64,
            auth_timeout: Duration::from_secs(10),
            max_message_bytes: 64 * 1024,
            max_in_flight: 64,
            write_timeout: Duration::from_secs(30),
            max_hold_secs: 30,
            unbound_timeout: Duration::from_secs(120),
            pool_size: 4,
        }
    }
}

/// Derives each account's outgoing-channel key from the server's secret as
/// the original server does, so its claims are per account (a shared key
/// let one client's claims be replayed on another's channel).
#[derive(Clone)]
pub struct ChannelKeys(String);

impl ChannelKeys {
    /// Keys from the server wallet's seed (as written: the HMAC key).
    pub fn new(secret: &str) -> ChannelKeys {
        ChannelKeys(secret.to_owned())
    }

    /// The Ed25519 key of `account`'s outgoing channel.
    pub(crate) fn key_pair(&self, account: &str) -> Result<KeyPair, drip_core::keys::KeyError> {
        KeyPair::ed25519_from_secret(&asym::server_channel_secret(&self.0, account))
    }
}

impl std::fmt::Debug for ChannelKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelKeys(<secret>)")
    }
}

/// Claim batches in flight at once: two let one batch commit while the
/// next is checked (three or four measured no better on 2 cores: smaller
/// batches). Each keeps a connection of its own.
pub(crate) const CLAIM_WORKERS: usize = 2;

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Server {
    config: BtpConfig,
    /// The BTP server's own (`btp.pool_size`): however many requests its
    /// clients make, gRPC and the jobs keep theirs.
    pool: deadpool_postgres::Pool,
    ledger: drip_ledger::Client,
    /// The sidecar's wallet: incoming channels pay it.
    wallet: String,
    peers: Mutex<HashMap<String, Vec<Peer>>>,
    next_peer: AtomicU64,
    claims: claims::Claims,
    /// Accounts whose claim is being sent, each with the newest one
    /// recorded meanwhile, to send next (see [`outgoing::pay`]).
    claims_out: Mutex<HashMap<String, Option<outgoing::Claim>>>,
    /// `drip_ilp` notices: an account's outgoing channel changed.
    changes: broadcast::Sender<String>,
}

/// Whether a socket may act as the account it authenticated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binding {
    /// It took a name no token was bound to: it may prove a channel, and
    /// nothing that moves or reveals money (another sidecar, or another
    /// socket here, may bind the name to another token meanwhile).
    Unbound,
    /// The account is bound to its token in the database (seen at its
    /// auth, or a channel proven since with that token). For good.
    Bound,
    /// Put out by a socket bound to the account: closed.
    Evicted,
}

/// Who a socket authenticated as.
#[derive(Debug)]
struct Login {
    account: String,
    /// SHA-256 of its auth token: the account is bound to it in the
    /// database once the client proves a channel.
    token_hash: [u8; 32],
    /// Whether it may act as the account; shared with its [`Peer`].
    binding: watch::Sender<Binding>,
}

impl Login {
    fn bound(&self) -> bool {
        *self.binding.borrow() == Binding::Bound
    }
}

/// One authenticated socket of an account.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    id: u64,
    /// SHA-256 of the token it authenticated with.
    token_hash: [u8; 32],
    /// Shared with the socket's [`Login`]; changed only under the `peers`
    /// lock.
    binding: watch::Sender<Binding>,
    out: mpsc::Sender<Vec<u8>>,
    calls: Arc<Calls>,
}

/// A socket's place among its account's: dropped (the socket closed, or
/// its task dropped mid-auth), the place is given up.
#[derive(Debug)]
struct Registration {
    server: Arc<Server>,
    account: String,
    peer: Peer,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.server.unregister(&self.account, self.peer.id);
        // Calls waiting on this socket fail now (F02), not at their timeout.
        self.peer.calls.close();
    }
}

impl Peer {
    fn bound(&self) -> bool {
        *self.binding.borrow() == Binding::Bound
    }

    /// An unbound socket becomes `to` (bound, or put out); any other stays
    /// as it is.
    fn leave_unbound(&self, to: Binding) {
        self.binding.send_if_modified(|b| {
            let unbound = *b == Binding::Unbound;
            if unbound {
                *b = to;
            }
            unbound
        });
    }

    /// Queue a frame for the socket.
    async fn send(&self, packet: &btp::Packet) -> Result<(), Gone> {
        self.out.send(packet.encode()).await.map_err(|_| Gone)
    }

    /// Send a Message or Transfer and wait for its Response or Error.
    async fn call(
        &self,
        body: btp::Body,
        timeout: Duration,
    ) -> Result<btp::Packet, CallError<Gone>> {
        self.calls
            .call(timeout, |request_id| async move {
                self.send(&btp::Packet { request_id, body }).await
            })
            .await
    }

    /// Hand an answer to the call waiting for it.
    fn answered(&self, packet: btp::Packet) {
        self.calls.answered(packet);
    }
}

/// The client's socket is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gone;

/// A poisoned lock only means another connection's task panicked; the maps
/// stay consistent (every change is one insert or remove).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Server {
    /// `pool` is the server's own; `claims_pool` holds the claim batches'
    /// connections ([`CLAIM_WORKERS`]), apart from it.
    pub(crate) fn new(
        config: BtpConfig,
        pool: deadpool_postgres::Pool,
        claims_pool: deadpool_postgres::Pool,
        ledger: drip_ledger::Client,
        wallet: String,
        changes: broadcast::Sender<String>,
    ) -> Server {
        Server {
            config,
            changes,
            claims: claims::Claims::start(claims_pool, CLAIM_WORKERS),
            pool,
            ledger,
            wallet,
            peers: Mutex::new(HashMap::new()),
            next_peer: AtomicU64::new(1),
            claims_out: Mutex::new(HashMap::new()),
        }
    }

    /// Write this server's bounds to `drip.ilp_settings` (as the ledger
    /// role): every ILP function reads them there, so the ILP role cannot
    /// pass its own scale, bandwidth or funding.
    pub(crate) async fn configure(&self) -> Result<(), String> {
        let c = &self.config;
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        let amounts = (
            i64::try_from(c.bandwidth),
            i64::try_from(c.outgoing_channel_amount.get()),
            i64::try_from(c.min_incoming_channel_amount.get()),
        );
        let (Ok(bandwidth), Ok(outgoing), Ok(min_incoming)) = amounts else {
            return Err("ILP amounts must be at most 2^63-1".into());
        };
        let settings = ilp::IlpSettings {
            asset_scale: i32::from(c.asset_scale),
            bandwidth,
            max_hold_secs: i32::try_from(c.limits.max_hold_secs).unwrap_or(i32::MAX),
            outgoing_channel_amount: outgoing,
            min_incoming_channel_amount: min_incoming,
        };
        ilp::ilp_configure(&client, &settings)
            .await
            .map_err(|e| e.to_string())
    }

    /// Add a socket of `login`'s account; none while sockets of another
    /// token hold it. An account is bound to its token in the database only
    /// once its client proves a channel: until then its first socket's
    /// token holds the name here, in this process only, so a socket bound
    /// at auth (its token is the account's) puts out the unbound sockets of
    /// other tokens.
    fn register(
        self: &Arc<Self>,
        login: &Login,
        out: mpsc::Sender<Vec<u8>>,
    ) -> Option<Registration> {
        let mut peers = lock(&self.peers);
        let list = peers.entry(login.account.clone()).or_default();
        let bound = login.bound();
        if list
            .iter()
            .any(|p| p.token_hash != login.token_hash && (!bound || p.bound()))
        {
            return None;
        }
        if bound {
            // The database's word: this token is the account's, and the
            // others (all unbound) are not.
            for p in list.iter() {
                let same = p.token_hash == login.token_hash;
                p.leave_unbound(if same {
                    Binding::Bound
                } else {
                    Binding::Evicted
                });
            }
            list.retain(|p| p.token_hash == login.token_hash);
        }
        let peer = Peer {
            id: self.next_peer.fetch_add(1, Ordering::Relaxed),
            token_hash: login.token_hash,
            binding: login.binding.clone(),
            out,
            calls: Arc::default(),
        };
        list.push(peer.clone());
        Some(Registration {
            server: self.clone(),
            account: login.account.clone(),
            peer,
        })
    }

    fn unregister(&self, account: &str, id: u64) {
        let mut peers = lock(&self.peers);
        if let Some(list) = peers.get_mut(account) {
            list.retain(|p| p.id != id);
            if list.is_empty() {
                peers.remove(account);
            }
        }
    }

    /// `login`'s account was just bound to its token in the database: its
    /// sockets of that token, the login's own included, may act as it now.
    fn bind(&self, login: &Login) {
        let peers = lock(&self.peers);
        let list = peers.get(&login.account).into_iter().flatten();
        for p in list.filter(|p| p.token_hash == login.token_hash) {
            p.leave_unbound(Binding::Bound);
        }
    }

    /// The newest socket of `account` that may act as it, if one is
    /// connected.
    fn peer(&self, account: &str) -> Option<Peer> {
        lock(&self.peers)
            .get(account)
            .and_then(|l| l.iter().rev().find(|p| p.bound()).cloned())
    }

    /// Every socket of `account` that may act as it.
    fn peers(&self, account: &str) -> Vec<Peer> {
        lock(&self.peers)
            .get(account)
            .map(|l| l.iter().filter(|p| p.bound()).cloned().collect())
            .unwrap_or_default()
    }

    /// A client's full ILP address.
    fn client_address(&self, account: &str) -> String {
        format!("{}.{account}", self.config.address)
    }
}

/// Bind the BTP port.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Accept connections until `stop`: WebSocket over TLS (wss) with an
/// acceptor, plain (ws) without. A socket over `limit`'s caps is closed at
/// once; one let in has `auth_timeout` from now to authenticate, TLS
/// handshake included.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    server: Arc<Server>,
    limit: Arc<crate::limits::ConnectionLimit>,
    stop: watch::Receiver<bool>,
) {
    tokio::spawn(outgoing::announce(server.clone(), stop.clone()));
    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            _ = async { let _ = stopped.wait_for(|s| *s).await; } => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some(admission) = limit.admit(peer.ip()) else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let deadline = tokio::time::Instant::now() + server.config.limits.auth_timeout;
                    let (server, stop, tls) = (server.clone(), stop.clone(), tls.clone());
                    tokio::spawn(async move {
                        match tls {
                            None => connection::run(server, stream, deadline, stop).await,
                            Some(acceptor) => {
                                let handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream));
                                if let Ok(Ok(stream)) = handshake.await {
                                    connection::run(server, stream, deadline, stop).await;
                                }
                            }
                        }
                        drop(admission);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "BTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
