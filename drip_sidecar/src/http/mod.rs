//! The HTTP 402 front door: routes paid per request over the Machine
//! Payments Protocol's XRPL sessions (`Payment` HTTP authentication,
//! method `xrpl`, intent `session`). An unpaid request gets a `402` and a
//! challenge; a credential's voucher is checked and kept by
//! `drip.mpp_pay`, in one transaction, before the route answers (itself, or
//! by proxying an upstream API). The wire is `drip_mpp`'s; the decisions are
//! the extension's; this module only carries them over HTTP.

mod payment;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use drip_core::{AccountId, Drops};
use drip_ledger::Submitter;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::limits::ConnectionLimit;

/// A paid (or free) route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The request path it serves, exactly (no query).
    pub path: String,
    /// Drops per request; 0: free, no payment asked.
    pub price: Drops,
    /// The API answering paid requests (`http://host:port`, the request's
    /// path and query appended); none: drip answers with the payment's
    /// receipt as JSON.
    pub upstream: Option<String>,
    /// What the payer sees in the challenge.
    pub description: Option<String>,
}

/// The front door's settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The challenges' protection space (`realm`).
    pub realm: String,
    /// The XRPL network named to payers, and required of their `source`;
    /// none: not named, any accepted.
    pub network: Option<drip_mpp::Network>,
    /// The routes.
    pub routes: Vec<Route>,
    /// The shortest SettleDelay of a payer's channel, seconds.
    pub min_settle_delay: u32,
    /// How long a challenge may be answered.
    pub challenge_ttl: Duration,
    /// How long an open waits for the payer's channel to validate.
    pub open_timeout: Duration,
    /// The largest request body forwarded upstream.
    pub max_body_bytes: usize,
    /// Connections open at once, in all and from one address.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Signs challenge ids.
    pub challenge_key: ChallengeKey,
    /// Database connections of the front door's own pool, so that its load
    /// cannot starve the jobs that redeem claims.
    pub pool_size: usize,
    /// Opens and channels brought in from the ledger under way at once;
    /// more are answered 503.
    pub max_ledger_work: usize,
}

/// The HMAC-SHA256 key of challenge ids, derived from the wallet's secret
/// so that every sidecar of one wallet verifies the others' challenges.
#[derive(Clone)]
pub struct ChallengeKey(pub(crate) [u8; 32]);

impl ChallengeKey {
    /// The key for the wallet whose seed is `secret`.
    pub fn derive(secret: &str) -> ChallengeKey {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"drip/http/challenge-id\0");
        h.update(secret.as_bytes());
        ChallengeKey(h.finalize().into())
    }
}

impl ChallengeKey {
    /// The key's bytes (for a payer-side tool that must issue as drip
    /// does: tests, benchmarks).
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for ChallengeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChallengeKey(<secret>)")
    }
}

impl HttpConfig {
    /// Defaults around `listen`, `routes` and `challenge_key`: realm
    /// `drip`, a one-hour settle delay floor, challenges good for 60 s,
    /// opens waited for 15 s.
    pub fn new(listen: SocketAddr, routes: Vec<Route>, challenge_key: ChallengeKey) -> HttpConfig {
        HttpConfig {
            listen,
            realm: "drip".into(),
            network: None,
            routes,
            min_settle_delay: 3600,
            challenge_ttl: Duration::from_secs(60),
            open_timeout: Duration::from_secs(15),
            max_body_bytes: 1 << 20,
            max_connections: 1024,
            max_connections_per_ip: 64,
            challenge_key,
            pool_size: 4,
            max_ledger_work: 8,
        }
    }
}

/// What every request's handler shares.
#[derive(Debug)]
pub(crate) struct FrontDoor {
    config: HttpConfig,
    pool: deadpool_postgres::Pool,
    /// The payer's channel creates go to the ledger through it.
    submitter: Arc<Submitter>,
    /// The account channels must pay: the wallet's.
    recipient: AccountId,
    /// Permits for the requests that wait on the ledger (opens, channels
    /// brought in).
    ledger_work: tokio::sync::Semaphore,
    upstream: reqwest::Client,
}

/// Bind the HTTP port.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serve until `stop`: HTTPS with an acceptor, plain HTTP without (only
/// for loopback tests: MPP requires TLS).
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    config: HttpConfig,
    pool: deadpool_postgres::Pool,
    submitter: Arc<Submitter>,
    limit: Arc<ConnectionLimit>,
    stop: watch::Receiver<bool>,
) {
    let recipient = submitter.account_id();
    let ledger_work = tokio::sync::Semaphore::new(config.max_ledger_work);
    let front = Arc::new(FrontDoor {
        config,
        pool,
        submitter,
        recipient,
        ledger_work,
        upstream: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default(),
    });
    let app = payment::router(front);
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
                    let (app, tls, mut stop) = (app.clone(), tls.clone(), stop.clone());
                    tokio::spawn(async move {
                        let service = TowerToHyperService::new(app);
                        // A client that never finishes its headers is let go.
                        let mut builder = hyper::server::conn::http1::Builder::new();
                        builder.timer(TokioTimer::new()).header_read_timeout(HANDSHAKE);
                        let served = async {
                            match tls {
                                None => {
                                    builder
                                        .serve_connection(TokioIo::new(stream), service)
                                        .with_upgrades()
                                        .await
                                }
                                Some(acceptor) => {
                                    let handshake = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream));
                                    let Ok(Ok(stream)) = handshake.await else {
                                        return Ok(());
                                    };
                                    builder
                                        .serve_connection(TokioIo::new(stream), service)
                                        .with_upgrades()
                                        .await
                                }
                            }
                        };
                        tokio::select! {
                            _ = served => {}
                            _ = stop.wait_for(|s| *s) => {}
                        }
                        drop(admission);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// A TLS handshake, and a request's headers, must each fit in this.
const HANDSHAKE: Duration = Duration::from_secs(10);
