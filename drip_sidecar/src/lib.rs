//! drip's sidecar: the gRPC API for web servers, the ledger worker over the
//! outbox, and the scheduler, beside a PostgreSQL with the `drip` extension.
//! [`Sidecar::start`] runs it all in-process (tests use port 0);
//! `drip-sidecar` is a thin main around it.

pub mod auth;
pub mod btp;
pub mod config;
pub mod db;
pub mod engine;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod metrics;
pub mod secret;
pub mod service;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use drip_ledger::{Client, Submitter, SubmitterConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, Tls};

/// The generated `drip.v1` types and services.
/// The gRPC API, from its own crate.
pub use drip_proto as proto;

/// A background job's failure (logged; the job tries again).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A database call failed.
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// No connection from the pool.
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The ledger could not be asked, or answered unexpectedly.
    #[error("ledger: {0}")]
    Ledger(#[from] drip_ledger::Error),
}

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The pool could not be built.
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::BuildError),
    /// The database is unreachable or lacks the extension.
    #[error("database: {0}")]
    Database(String),
    /// The certificate could not be loaded or made.
    #[error("tls: {0}")]
    Tls(#[from] tls::TlsError),
    /// The gRPC server could not be set up.
    #[error("grpc: {0}")]
    Grpc(String),
    /// The listen address could not be bound.
    #[error("listen {addr}: {why}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        why: String,
    },
}

/// A running sidecar.
#[derive(Debug)]
pub struct Sidecar {
    /// Where gRPC listens (the real port when 0 was asked for).
    pub grpc_addr: SocketAddr,
    /// The TLS certificate served, PEM (for clients to trust), if TLS is on.
    pub certificate: Option<String>,
    /// Where `/metrics` is served, if it is.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the BTP (ILP) server listens, if it runs.
    pub btp_addr: Option<SocketAddr>,
    /// Where the HTTP 402 front door listens, if it runs.
    pub http_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sidecar {
    /// Check the database, bind the gRPC port and start every job.
    pub async fn start(config: Config) -> Result<Sidecar, StartError> {
        let pool = db::pool(&config.database, config.pool_size)?;
        check_database(&pool).await?;
        let (stop, stop_rx) = watch::channel(false);
        let notifications = db::Notifications::start(config.database.clone(), stop_rx.clone());

        let ledger = Client::new(config.ledger_rpc_url.clone());
        // The wallet's validated transactions, announced over WebSocket.
        let stream = config.ledger_ws_url.clone().map(|url| {
            drip_ledger::Stream::start(
                url,
                vec![config.wallet.account_id().to_address()],
                stop_rx.clone(),
            )
        });
        let mut submitter = Submitter::new(
            ledger,
            config.wallet.clone(),
            SubmitterConfig {
                max_fee: config.max_fee,
                ..SubmitterConfig::default()
            },
        );
        if let Some(s) = &stream {
            submitter = submitter.with_stream(s.clone());
        }
        let submitter = Arc::new(submitter);

        let listener = tokio::net::TcpListener::bind(config.grpc_listen)
            .await
            .map_err(|e| StartError::Listen {
                addr: config.grpc_listen,
                why: e.to_string(),
            })?;
        let grpc_addr = listener.local_addr().map_err(|e| StartError::Listen {
            addr: config.grpc_listen,
            why: e.to_string(),
        })?;
        let metrics = metrics::Metrics::new();
        // One certificate for gRPC and BTP (wss).
        let identity = match &config.tls {
            Tls::Disabled => None,
            Tls::Files { cert, key, .. } => Some(tls::load(cert, key)?),
            Tls::SelfSigned { dir, .. } => Some(tls::self_signed(dir)?),
        };
        let (server, certificate) = grpc_server(
            &config,
            identity.as_ref(),
            pool.clone(),
            notifications.clone(),
            metrics.clone(),
        )?;
        let mut tasks = Vec::new();
        let mut metrics_addr = None;
        if let Some(addr) = config.metrics_listen {
            let listener = metrics::bind(addr).await.map_err(|e| StartError::Listen {
                addr,
                why: e.to_string(),
            })?;
            metrics_addr = listener.local_addr().ok();
            tasks.push(tokio::spawn(metrics::serve(
                listener,
                metrics.clone(),
                pool.clone(),
                stop_rx.clone(),
            )));
        }
        let mut btp_addr = None;
        if let Some(btp) = &config.btp {
            let listener = btp::bind(btp.listen)
                .await
                .map_err(|e| StartError::Listen {
                    addr: btp.listen,
                    why: e.to_string(),
                })?;
            btp_addr = listener.local_addr().ok();
            let server = Arc::new(btp::Server::new(
                btp.clone(),
                db::pool(&config.database, btp.limits.pool_size)?,
                db::pool(&config.database, btp::CLAIM_WORKERS)?,
                submitter.client().clone(),
                config.wallet.account_id().to_address(),
                notifications.ilp.clone(),
            ));
            server
                .configure()
                .await
                .map_err(|e| StartError::Database(format!("ILP settings: {e}")))?;
            let acceptor = identity.as_ref().map(tls::acceptor).transpose()?;
            let limit = limits::ConnectionLimit::new(
                "btp",
                btp.limits.max_connections,
                btp.limits.max_connections_per_ip,
                metrics.clone(),
            );
            tasks.push(tokio::spawn(btp::serve(
                listener,
                acceptor,
                server,
                limit,
                stop_rx.clone(),
            )));
            tasks.push(tokio::spawn(jobs::ilp_claims::run(
                pool.clone(),
                submitter.client().clone(),
                btp.claim_interval,
                metrics.clone(),
                stop_rx.clone(),
            )));
        }
        let mut http_addr = None;
        if let Some(http) = &config.http {
            let listener = http::bind(http.listen)
                .await
                .map_err(|e| StartError::Listen {
                    addr: http.listen,
                    why: e.to_string(),
                })?;
            http_addr = listener.local_addr().ok();
            let acceptor = identity.as_ref().map(tls::acceptor).transpose()?;
            let limit = limits::ConnectionLimit::new(
                "http",
                http.max_connections,
                http.max_connections_per_ip,
                metrics.clone(),
            );
            tasks.push(tokio::spawn(http::serve(
                listener,
                acceptor,
                http.clone(),
                db::pool(&config.database, http.pool_size)?,
                submitter.clone(),
                limit,
                stop_rx.clone(),
            )));
        }
        let mut grpc_stop = stop_rx.clone();
        let grpc_limits = &config.grpc_limits;
        let incoming = limits::incoming(
            listener,
            limits::ConnectionLimit::new(
                "grpc",
                grpc_limits.max_connections,
                grpc_limits.max_connections_per_ip,
                metrics.clone(),
            ),
            grpc_limits.keepalive_interval + grpc_limits.keepalive_timeout,
        );
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = grpc_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = server
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
            {
                tracing::error!(error = %e, "gRPC server stopped");
            }
        }));
        tasks.push(tokio::spawn(jobs::sweep::run(
            pool.clone(),
            config.sweep_every,
            metrics.clone(),
            stop_rx.clone(),
        )));
        tasks.push(tokio::spawn(jobs::watch::run(
            pool.clone(),
            submitter.client().clone(),
            config.wallet.account_id(),
            config.watch_every,
            stream,
            metrics.clone(),
            stop_rx.clone(),
        )));
        if let Some((address, threshold)) = &config.offload {
            tasks.push(tokio::spawn(jobs::offload::run(
                pool.clone(),
                submitter.clone(),
                jobs::offload::Offload {
                    address: address.clone(),
                    threshold: *threshold,
                    max_fee: config.max_fee,
                },
                config.offload_every,
                metrics.clone(),
                stop_rx.clone(),
            )));
        }
        let worker = jobs::outbox::Worker {
            pool,
            submitter,
            poll: config.outbox_poll,
            lease: config.outbox_lease,
            metrics,
        };
        tasks.push(tokio::spawn(
            worker.run(notifications.ledger.subscribe(), stop_rx),
        ));
        tracing::info!(%grpc_addr, tls = certificate.is_some(), wallet = %config.wallet.account_id(), "drip-sidecar started");
        Ok(Sidecar {
            grpc_addr,
            certificate,
            metrics_addr,
            btp_addr,
            http_addr,
            stop,
            tasks,
        })
    }

    /// Stop at once, mid-work, as a killed process would (tests of crash
    /// recovery).
    pub fn abort(self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Stop accepting calls, let in-flight work finish, and return. Outbox
    /// jobs mid-submission stay `submitted` with their hash, for the next
    /// start to follow.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        tracing::info!("drip-sidecar stopped");
    }
}

async fn check_database(pool: &deadpool_postgres::Pool) -> Result<(), StartError> {
    let client = pool
        .get()
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    let version = engine::outbox::version(&client)
        .await
        .map_err(|e| StartError::Database(format!("is the drip extension installed? {e}")))?;
    let wrong = engine::enum_mismatches(&client)
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    if !wrong.is_empty() {
        return Err(StartError::Database(format!(
            "extension {version} does not match this sidecar: {}",
            wrong.join("; ")
        )));
    }
    tracing::info!(extension = %version, "database ready");
    Ok(())
}

type Router = tonic::transport::server::Router<
    tower::layer::util::Stack<metrics::GrpcLatency, tower::layer::util::Identity>,
>;

fn grpc_server(
    config: &Config,
    certificate: Option<&tls::Identity>,
    pool: deadpool_postgres::Pool,
    notifications: db::Notifications,
    metrics: metrics::Metrics,
) -> Result<(Router, Option<String>), StartError> {
    use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

    let limits = &config.grpc_limits;
    let mut builder = Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .timeout(limits.request_timeout)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout));
    let client_ca = match &config.tls {
        Tls::Disabled => None,
        Tls::Files { client_ca, .. } | Tls::SelfSigned { client_ca, .. } => client_ca.clone(),
    };
    if let Some(id) = certificate {
        let mut tls_config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&id.cert, &id.key))
            .timeout(limits.handshake_timeout);
        if let Some(ca) = &client_ca {
            let pem = std::fs::read_to_string(ca).map_err(|e| tls::TlsError::Io {
                path: ca.clone(),
                why: e.to_string(),
            })?;
            tls_config = tls_config
                .client_ca_root(Certificate::from_pem(pem))
                .client_auth_optional(true);
        }
        builder = builder
            .tls_config(tls_config)
            .map_err(|e| StartError::Grpc(e.to_string()))?;
    }
    let auth = auth::Auth::new(
        config.merchant_token.clone(),
        config.app_token.clone(),
        client_ca.is_some(),
    );
    let api = proto::drip_server::DripServer::with_interceptor(
        service::drip::DripService::new(pool, notifications, metrics.clone()),
        move |r| auth.intercept(r),
    );
    let (health_reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| StartError::Grpc(e.to_string()))?;
    let latency = metrics::GrpcLatency::new(
        metrics,
        &[
            proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        ],
    )
    .map_err(|e| StartError::Grpc(e.to_string()))?;
    let router = builder
        .layer(latency)
        .add_service(health)
        .add_service(reflection)
        .add_service(api);
    // Serving once the router exists; the reporter lives in a task.
    tokio::spawn(async move {
        health_reporter
            .set_serving::<proto::drip_server::DripServer<service::drip::DripService>>()
            .await;
    });
    Ok((router, certificate.map(|c| c.cert.clone())))
}
