//! Prometheus metrics, served on `metrics.listen` at `/metrics`: claims by
//! outcome, ledger results by code, outbox backlog and age, job lag, gRPC
//! latency per method, open connections and WatchSession streams.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use deadpool_postgres::Pool;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::engine::outbox;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Job {
    job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Backlog {
    kind: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Listener {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refusal {
    server: String,
    reason: String,
}

/// The sidecar's metrics; cheap to clone, shared by every part.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    claims: Family<Outcome, Counter>,
    ledger_results: Family<Code, Counter>,
    drift: Family<Outcome, Counter>,
    job_runs: Family<Job, Gauge>,
    outbox_jobs: Family<Backlog, Gauge>,
    outbox_oldest: Family<Backlog, Gauge>,
    attempt_failures: Family<Job, Counter>,
    losses: Family<Outcome, Gauge>,
    grpc: Family<Method, Histogram>,
    connections: Family<Listener, Gauge>,
    refused: Family<Refusal, Counter>,
    watch_streams: Gauge,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with drip's metrics.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("drip");
        let claims = Family::<Outcome, Counter>::default();
        registry.register(
            "claims",
            "Claims taken by Pay, by outcome (accepted or the denial)",
            claims.clone(),
        );
        let ledger_results = Family::<Code, Counter>::default();
        registry.register(
            "ledger_results",
            "Outcomes of drip's own ledger transactions, by result code",
            ledger_results.clone(),
        );
        let drift = Family::<Outcome, Counter>::default();
        registry.register(
            "ledger_drift",
            "Channels whose ledger state disagrees with drip's (outcome: above_best_claim, left_unredeemed)",
            drift.clone(),
        );
        let job_runs = Family::<Job, Gauge>::default();
        registry.register(
            "job_last_success_seconds",
            "Seconds since start at each job's last successful run (lag = uptime minus this)",
            job_runs.clone(),
        );
        let outbox_jobs = Family::<Backlog, Gauge>::default();
        registry.register(
            "outbox_jobs",
            "Outbox jobs by kind and state",
            outbox_jobs.clone(),
        );
        let outbox_oldest = Family::<Backlog, Gauge>::default();
        registry.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest outbox job by kind and state",
            outbox_oldest.clone(),
        );
        let attempt_failures = Family::<Job, Counter>::default();
        registry.register(
            "outbox_attempt_failures",
            "Outbox job attempts that failed (retried after a backoff, or failed for good), by kind",
            attempt_failures.clone(),
        );
        let losses = Family::<Outcome, Gauge>::default();
        registry.register(
            "lost_drops",
            "Drops of accepted claims the ledger never paid (drip.losses), by reason",
            losses.clone(),
        );
        let grpc = Family::<Method, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register(
            "grpc_request_seconds",
            "gRPC request latency by method (a path no service serves is `unknown`)",
            grpc.clone(),
        );
        let connections = Family::<Listener, Gauge>::default();
        registry.register(
            "connections",
            "Open connections by server (grpc, btp), handshakes included",
            connections.clone(),
        );
        let refused = Family::<Refusal, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections closed at once by server and the cap they met (total, per_ip)",
            refused.clone(),
        );
        let watch_streams = Gauge::default();
        registry.register(
            "watch_streams",
            "Open WatchSession streams",
            watch_streams.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                claims,
                ledger_results,
                drift,
                job_runs,
                outbox_jobs,
                outbox_oldest,
                attempt_failures,
                losses,
                grpc,
                connections,
                refused,
                watch_streams,
                started: Instant::now(),
            }),
        }
    }

    /// A Pay answer: `accepted`, or the denial's name.
    pub fn claim(&self, outcome: &str) {
        self.inner
            .claims
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// One of drip's transactions ended with `code`.
    pub fn ledger_result(&self, code: &str) {
        self.inner
            .ledger_results
            .get_or_create(&Code {
                code: code.to_owned(),
            })
            .inc();
    }

    /// The ledger disagreed with drip about a channel.
    pub fn drift(&self, outcome: &str) {
        self.inner
            .drift
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// `job` just ran successfully.
    pub fn job_ran(&self, job: &str) {
        let secs = i64::try_from(self.inner.started.elapsed().as_secs()).unwrap_or(i64::MAX);
        self.inner
            .job_runs
            .get_or_create(&Job {
                job: job.to_owned(),
            })
            .set(secs);
    }

    /// An attempt at an outbox job of `kind` failed.
    pub fn attempt_failed(&self, kind: &str) {
        self.inner
            .attempt_failures
            .get_or_create(&Job {
                job: kind.to_owned(),
            })
            .inc();
    }

    /// `server` holds `open` connections now.
    pub fn connections(&self, server: &str, open: usize) {
        self.inner
            .connections
            .get_or_create(&Listener {
                server: server.to_owned(),
            })
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// `server` closed a new connection at once: it met the `reason` cap.
    pub fn connection_refused(&self, server: &str, reason: &str) {
        self.inner
            .refused
            .get_or_create(&Refusal {
                server: server.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A WatchSession stream opened; it counts until the guard is dropped.
    pub fn watch_stream(&self) -> WatchStream {
        self.inner.watch_streams.inc();
        WatchStream(self.inner.watch_streams.clone())
    }

    fn observe(&self, method: &str, seconds: f64) {
        self.inner
            .grpc
            .get_or_create(&Method {
                method: method.to_owned(),
            })
            .observe(seconds);
    }

    /// The text exposition, with the outbox read fresh from the database.
    pub async fn render(&self, pool: &Pool) -> String {
        if let Ok(client) = pool.get().await {
            if let Ok(rows) = outbox::outbox_backlog(&client).await {
                self.inner.outbox_jobs.clear();
                self.inner.outbox_oldest.clear();
                let now = SystemTime::now();
                for r in rows {
                    let labels = Backlog {
                        kind: r.kind.as_str().to_owned(),
                        state: r.state.as_str().to_owned(),
                    };
                    self.inner.outbox_jobs.get_or_create(&labels).set(r.jobs);
                    self.inner
                        .outbox_oldest
                        .get_or_create(&labels)
                        .set(r.oldest.map_or(0, |t| age_secs(now, t)));
                }
            }
            if let Ok(rows) = outbox::losses_by_reason(&client).await {
                for r in rows {
                    let labels = Outcome { outcome: r.reason };
                    self.inner.losses.get_or_create(&labels).set(r.drops);
                }
            }
        }
        let mut out = String::new();
        if encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Whole seconds from `then` to `now`, rounded (0 for a time ahead of
/// this clock).
fn age_secs(now: SystemTime, then: SystemTime) -> i64 {
    now.duration_since(then)
        .map_or(0, |d| (d + Duration::from_millis(500)).as_secs())
        .try_into()
        .unwrap_or(i64::MAX)
}

/// Serve `/metrics` on `addr` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    pool: Pool,
    mut stop: watch::Receiver<bool>,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (metrics, pool) = (metrics.clone(), pool.clone());
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.render(&pool).await,
                )
            }
        }),
    );
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "metrics server stopped");
    }
}

/// Bind the metrics port.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Counts one open WatchSession stream while it lives.
#[derive(Debug)]
pub struct WatchStream(Gauge);

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A tower layer timing each gRPC request by its method.
#[derive(Clone, Debug)]
pub struct GrpcLatency {
    metrics: Metrics,
    methods: Arc<HashSet<String>>,
}

impl GrpcLatency {
    /// Requests to the methods of the services in `descriptor_sets`
    /// (encoded `FileDescriptorSet`s) are timed by method; any other path
    /// is `unknown`, so a caller cannot add series by making paths up.
    pub fn new(
        metrics: Metrics,
        descriptor_sets: &[&[u8]],
    ) -> Result<GrpcLatency, prost::DecodeError> {
        use prost::Message;
        let mut methods = HashSet::new();
        for bytes in descriptor_sets {
            for file in prost_types::FileDescriptorSet::decode(*bytes)?.file {
                let package = file.package();
                for service in &file.service {
                    for method in &service.method {
                        let service = match package {
                            "" => service.name().to_owned(),
                            p => format!("{p}.{}", service.name()),
                        };
                        methods.insert(format!("/{service}/{}", method.name()));
                    }
                }
            }
        }
        Ok(GrpcLatency {
            metrics,
            methods: Arc::new(methods),
        })
    }
}

impl<S> tower::Layer<S> for GrpcLatency {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Timed<S> {
        Timed {
            inner,
            metrics: self.metrics.clone(),
            methods: self.methods.clone(),
        }
    }
}

/// The service [`GrpcLatency`] wraps.
#[derive(Clone, Debug)]
pub struct Timed<S> {
    inner: S,
    metrics: Metrics,
    methods: Arc<HashSet<String>>,
}

impl<S, B> tower::Service<http::Request<B>> for Timed<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // "/drip.v1.Drip/Pay" → "Pay"; other services keep their path.
        let path = request.uri().path();
        let method = if self.methods.contains(path) {
            path.strip_prefix("/drip.v1.Drip/").unwrap_or(path)
        } else {
            "unknown"
        }
        .to_owned();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let r = future.await;
            metrics.observe(&method, started.elapsed().as_secs_f64());
            r
        })
    }
}
