//! Settings: a TOML file, each key overridable by environment (`DRIP_…`)
//! and by flags. A bad or missing value stops start-up with one line naming
//! the key. Secrets may be given as `…_encrypted` (see [`crate::secret`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use drip_core::{Drops, KeyPair, Seed};
use serde::Deserialize;

use crate::secret;

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required key has no value anywhere.
    #[error("config: {key}: missing (set it in the config file, {env} or --{flag})")]
    Missing {
        /// The TOML key.
        key: &'static str,
        /// Its environment variable.
        env: &'static str,
        /// Its flag.
        flag: &'static str,
    },
    /// A value that does not parse or is out of range.
    #[error("config: {key}: {why}")]
    Invalid {
        /// The TOML key.
        key: &'static str,
        /// What is wrong (never the value itself: it may be a secret).
        why: String,
    },
    /// The config file could not be read or is not TOML of the right shape.
    #[error("config: file {path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Declares every setting once: its file key (`[section] key`), its type,
/// and, unless it is for the file only, its flag (the `Args` field, as
/// `--section-key`), environment variable and help. From that come
/// `Args` (clap), the file's shape (serde, unknown keys refused) and
/// [`File::under`], which puts flags and environment over the file.
macro_rules! settings {
    ($(
        $section:ident: $File:ident {
            $(
                $key:ident: $ty:ty $(=> {
                    $(#[doc = $doc:literal])*
                    $field:ident, $env:literal $(, $hide:ident)?
                })?;
            )*
        }
    )*) => {
        /// `drip-sidecar`'s command line. Every setting is a flag, an environment
        /// variable, or a key in the config file, in that order of precedence.
        #[derive(Debug, Default, Parser)]
        #[command(
            name = "drip-sidecar",
            version,
            about = "drip's network side beside PostgreSQL"
        )]
        pub struct Args {
            /// The TOML config file.
            #[arg(long, env = "DRIP_CONFIG")]
            pub config: Option<PathBuf>,
            $($($(
                $(#[doc = $doc])*
                #[arg(long, env = $env $(, $hide = true)?)]
                pub $field: Option<$ty>,
            )?)*)*
        }

        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            $(
                #[serde(default)]
                $section: $File,
            )*
        }

        $(
            #[derive(Debug, Default, Deserialize)]
            #[serde(deny_unknown_fields)]
            struct $File {
                $($key: Option<$ty>,)*
            }
        )*

        impl File {
            /// These settings with `args`' (flags and environment) over
            /// them.
            fn under(mut self, args: Args) -> File {
                $($($(
                    self.$section.$key = args.$field.or(self.$section.$key);
                )?)*)*
                self
            }
        }

        /// Each flag's file key, `Args` field and environment variable.
        #[cfg(test)]
        const FLAGS: &[(&str, &str, &str)] = &[
            $($($(
                (
                    concat!(stringify!($section), ".", stringify!($key)),
                    stringify!($field),
                    $env,
                ),
            )?)*)*
        ];
    };
}

settings! {
    database: FileDatabase {
        url: String => {
            /// PostgreSQL URL (database.url); its password may be left out and given as database.password.
            database_url, "DRIP_DATABASE_URL", hide_env_values
        };
        password: String => {
            /// Database password (database.password), or database.password_encrypted.
            database_password, "DRIP_DATABASE_PASSWORD", hide_env_values
        };
        password_encrypted: String;
        pool_size: usize => {
            /// Connections in the pool (database.pool_size) [default: 8]; with BTP
            /// on, its claim batches hold two more of their own, and its requests
            /// btp.pool_size more.
            database_pool_size, "DRIP_DATABASE_POOL_SIZE"
        };
    }
    grpc: FileGrpc {
        listen: SocketAddr => {
            /// gRPC listen address (grpc.listen) [default: 127.0.0.1:50051].
            grpc_listen, "DRIP_GRPC_LISTEN"
        };
        max_connections: usize => {
            /// gRPC connections held at once, handshakes included; more are closed
            /// at once (grpc.max_connections) [default: 1024].
            grpc_max_connections, "DRIP_GRPC_MAX_CONNECTIONS"
        };
        max_connections_per_ip: usize => {
            /// gRPC connections from one address, an IPv6 /64 counting as one
            /// (grpc.max_connections_per_ip) [default: 256].
            grpc_max_connections_per_ip, "DRIP_GRPC_MAX_CONNECTIONS_PER_IP"
        };
        max_concurrent_streams: u32 => {
            /// Calls and streams open at once on one connection (HTTP/2
            /// SETTINGS_MAX_CONCURRENT_STREAMS; grpc.max_concurrent_streams) [default: 128].
            grpc_max_concurrent_streams, "DRIP_GRPC_MAX_CONCURRENT_STREAMS"
        };
        request_timeout_ms: u64 => {
            /// A call not answered in this long ends with CANCELLED; streams are
            /// not cut once their first answer is out (grpc.request_timeout_ms)
            /// [default: 150000, above SubmitAgreement's longest wait of 120 s].
            grpc_request_timeout_ms, "DRIP_GRPC_REQUEST_TIMEOUT_MS"
        };
        handshake_timeout_ms: u64 => {
            /// The TLS handshake must end within this (grpc.handshake_timeout_ms) [default: 10000].
            grpc_handshake_timeout_ms, "DRIP_GRPC_HANDSHAKE_TIMEOUT_MS"
        };
        keepalive_interval_ms: u64 => {
            /// HTTP/2 ping to a connection silent this long (grpc.keepalive_interval_ms) [default: 30000].
            grpc_keepalive_interval_ms, "DRIP_GRPC_KEEPALIVE_INTERVAL_MS"
        };
        keepalive_timeout_ms: u64 => {
            /// A ping unanswered this long closes the connection, and so does
            /// silence for the interval and this together, before the HTTP/2
            /// handshake too (grpc.keepalive_timeout_ms) [default: 10000].
            grpc_keepalive_timeout_ms, "DRIP_GRPC_KEEPALIVE_TIMEOUT_MS"
        };
    }
    tls: FileTls {
        disabled: bool => {
            /// Serve gRPC without TLS (tls.disabled): only for a trusted loopback.
            tls_disabled, "DRIP_TLS_DISABLED"
        };
        cert: PathBuf => {
            /// Certificate chain, PEM (tls.cert). Without one, a self-signed
            /// certificate is made once and kept in tls.dir.
            tls_cert, "DRIP_TLS_CERT"
        };
        key: PathBuf => {
            /// Private key, PEM (tls.key).
            tls_key, "DRIP_TLS_KEY"
        };
        dir: PathBuf => {
            /// Where the generated certificate is kept (tls.dir) [default: ./drip-tls].
            tls_dir, "DRIP_TLS_DIR"
        };
        client_ca: PathBuf => {
            /// CA whose client certificates are accepted as merchants (tls.client_ca).
            tls_client_ca, "DRIP_TLS_CLIENT_CA"
        };
    }
    auth: FileAuth {
        merchant_token: String => {
            /// Bearer token of the merchant's web server (auth.merchant_token): every call.
            auth_merchant_token, "DRIP_AUTH_MERCHANT_TOKEN", hide_env_values
        };
        merchant_token_encrypted: String;
        app_token: String => {
            /// Bearer token of wallet-facing proxies (auth.app_token): no AddUnitDebt or DestroySession.
            auth_app_token, "DRIP_AUTH_APP_TOKEN", hide_env_values
        };
        app_token_encrypted: String;
    }
    ledger: FileLedger {
        rpc_url: String => {
            /// rippled JSON-RPC URL (ledger.rpc_url).
            ledger_rpc_url, "DRIP_LEDGER_RPC_URL"
        };
        ws_url: String => {
            /// rippled WebSocket URL (ledger.ws_url).
            ledger_ws_url, "DRIP_LEDGER_WS_URL"
        };
        max_fee: u64 => {
            /// Highest fee to offer, drops (ledger.max_fee) [default: 10000].
            ledger_max_fee, "DRIP_LEDGER_MAX_FEE"
        };
    }
    wallet: FileWallet {
        seed: String => {
            /// The server wallet's seed (wallet.seed), or wallet.seed_encrypted.
            wallet_seed, "DRIP_WALLET_SEED", hide_env_values
        };
        seed_encrypted: String;
        address: String => {
            /// The wallet's address (wallet.address): checked against the seed.
            wallet_address, "DRIP_WALLET_ADDRESS"
        };
    }
    offload: FileOffload {
        address: String => {
            /// Cold address for the hot wallet's excess (offload.address).
            offload_address, "DRIP_OFFLOAD_ADDRESS"
        };
        threshold: u64 => {
            /// Keep this much in the hot wallet, drops (offload.threshold).
            offload_threshold, "DRIP_OFFLOAD_THRESHOLD"
        };
    }
    jobs: FileJobs {
        sweep_ms: u64 => {
            /// How often drip.sweep runs, ms (jobs.sweep_ms) [default: 1000].
            jobs_sweep_ms, "DRIP_JOBS_SWEEP_MS"
        };
        outbox_poll_ms: u64 => {
            /// How often the outbox is polled besides NOTIFY, ms (jobs.outbox_poll_ms) [default: 2000].
            jobs_outbox_poll_ms, "DRIP_JOBS_OUTBOX_POLL_MS"
        };
        offload_ms: u64 => {
            /// How often the hot wallet's excess is offloaded, ms (jobs.offload_ms) [default: 900000].
            jobs_offload_ms, "DRIP_JOBS_OFFLOAD_MS"
        };
        watch_ms: u64 => {
            /// How often channels are looked up on the ledger, ms (jobs.watch_ms) [default: 5000].
            jobs_watch_ms, "DRIP_JOBS_WATCH_MS"
        };
        outbox_lease_secs: u64 => {
            /// A submitted claim untouched this long is followed by another worker,
            /// seconds (jobs.outbox_lease_secs) [default: 120].
            jobs_outbox_lease_secs, "DRIP_JOBS_OUTBOX_LEASE_SECS"
        };
    }
    metrics: FileMetrics {
        listen: SocketAddr => {
            /// Prometheus metrics listen address (metrics.listen); off if unset.
            metrics_listen, "DRIP_METRICS_LISTEN"
        };
    }
    btp: FileBtp {
        listen: SocketAddr => {
            /// BTP (ILP) listen address; the ILP server runs only when set.
            btp_listen, "DRIP_BTP_LISTEN"
        };
        address: String => {
            /// The ILP address prefix of the server; clients are PREFIX.ACCOUNT.
            btp_address, "DRIP_BTP_ADDRESS"
        };
        asset_scale: u8 => {
            /// Asset scale of ILP amounts (6: drops).
            btp_asset_scale, "DRIP_BTP_ASSET_SCALE"
        };
        bandwidth: u64 => {
            /// How far a client's packets may run ahead of its claims (base units).
            btp_bandwidth, "DRIP_BTP_BANDWIDTH"
        };
        max_packet_amount: u64 => {
            /// The largest Prepare accepted (base units).
            btp_max_packet_amount, "DRIP_BTP_MAX_PACKET_AMOUNT"
        };
        claim_interval_ms: u64 => {
            /// How often ILP claims worth 100 fees are redeemed (ms).
            btp_claim_interval_ms, "DRIP_BTP_CLAIM_INTERVAL_MS"
        };
        outgoing_channel_amount: u64 => {
            /// Drops the server puts in a channel to a client, and in each top-up [default: 1000000].
            btp_outgoing_channel_amount, "DRIP_BTP_OUTGOING_CHANNEL_AMOUNT"
        };
        min_incoming_channel_amount: u64 => {
            /// The smallest incoming channel (drops) for which a client gets a channel back [default: 10000000].
            btp_min_incoming_channel_amount, "DRIP_BTP_MIN_INCOMING_CHANNEL_AMOUNT"
        };
        max_connections: usize => {
            /// BTP sockets held at once, unauthenticated ones included; more are
            /// closed at once (btp.max_connections) [default: 1024].
            btp_max_connections, "DRIP_BTP_MAX_CONNECTIONS"
        };
        max_connections_per_ip: usize => {
            /// BTP sockets from one address, an IPv6 /64 counting as one
            /// (btp.max_connections_per_ip) [default: 64].
            btp_max_connections_per_ip, "DRIP_BTP_MAX_CONNECTIONS_PER_IP"
        };
        auth_timeout_ms: u64 => {
            /// From accepting a socket to answering its auth Message: TLS, the
            /// WebSocket handshake and auth must fit in this (btp.auth_timeout_ms) [default: 10000].
            btp_auth_timeout_ms, "DRIP_BTP_AUTH_TIMEOUT_MS"
        };
        max_message_bytes: usize => {
            /// The largest WebSocket message read, before auth and after; an ILP
            /// packet needs up to about 34 KiB (btp.max_message_bytes) [default: 65536].
            btp_max_message_bytes, "DRIP_BTP_MAX_MESSAGE_BYTES"
        };
        max_in_flight: usize => {
            /// Requests of one socket handled at once; more wait unread. As many
            /// frames may wait to be written to it (btp.max_in_flight) [default: 64].
            btp_max_in_flight, "DRIP_BTP_MAX_IN_FLIGHT"
        };
        write_timeout_ms: u64 => {
            /// A socket that takes none of a frame for this long (its client stopped
            /// reading) is closed (btp.write_timeout_ms) [default: 30000].
            btp_write_timeout_ms, "DRIP_BTP_WRITE_TIMEOUT_MS"
        };
        max_hold_secs: u32 => {
            /// The longest a Prepare, whatever its amount, holds funds and waits for
            /// its answer: a later expiry is cut to this, 1 to 3600 (btp.max_hold_secs) [default: 30].
            btp_max_hold_secs, "DRIP_BTP_MAX_HOLD_SECS"
        };
        unbound_timeout_ms: u64 => {
            /// A socket whose account is not bound to its token (no channel proven)
            /// this long after its auth is closed (btp.unbound_timeout_ms) [default: 120000].
            btp_unbound_timeout_ms, "DRIP_BTP_UNBOUND_TIMEOUT_MS"
        };
        pool_size: usize => {
            /// Database connections of the BTP server's own pool, so that its load
            /// cannot starve gRPC and the jobs (btp.pool_size) [default: 4].
            btp_pool_size, "DRIP_BTP_POOL_SIZE"
        };
    }
    http: FileHttp {
        listen: SocketAddr => {
            /// HTTP 402 front door listen address (http.listen); it runs only when set,
            /// serving the config file's [[http.route]]s.
            http_listen, "DRIP_HTTP_LISTEN"
        };
        realm: String => {
            /// The challenges' realm (http.realm) [default: drip].
            http_realm, "DRIP_HTTP_REALM"
        };
        network: String => {
            /// The XRPL network named to payers, mainnet, testnet or devnet (http.network);
            /// unset: not named.
            http_network, "DRIP_HTTP_NETWORK"
        };
        min_settle_delay_secs: u32 => {
            /// The shortest SettleDelay of a payer's channel (http.min_settle_delay_secs)
            /// [default: 3600].
            http_min_settle_delay_secs, "DRIP_HTTP_MIN_SETTLE_DELAY_SECS"
        };
        challenge_ttl_secs: u32 => {
            /// How long a challenge may be answered, 1 to 300 (http.challenge_ttl_secs)
            /// [default: 60].
            http_challenge_ttl_secs, "DRIP_HTTP_CHALLENGE_TTL_SECS"
        };
        open_timeout_ms: u64 => {
            /// How long an open waits for the payer's channel to validate
            /// (http.open_timeout_ms) [default: 15000].
            http_open_timeout_ms, "DRIP_HTTP_OPEN_TIMEOUT_MS"
        };
        max_connections: usize => {
            /// HTTP connections open at once (http.max_connections) [default: 1024].
            http_max_connections, "DRIP_HTTP_MAX_CONNECTIONS"
        };
        max_connections_per_ip: usize => {
            /// HTTP connections open at once from one address (http.max_connections_per_ip)
            /// [default: 64].
            http_max_connections_per_ip, "DRIP_HTTP_MAX_CONNECTIONS_PER_IP"
        };
        pool_size: usize => {
            /// Database connections of the HTTP front door's own pool (http.pool_size)
            /// [default: 4].
            http_pool_size, "DRIP_HTTP_POOL_SIZE"
        };
        route: Vec<FileRoute>;
    }
    log: FileLog {
        level: String => {
            /// Log filter (log.level) [default: info].
            log_level, "DRIP_LOG_LEVEL"
        };
        format: String => {
            /// Log format, text or json (log.format) [default: text].
            log_format, "DRIP_LOG_FORMAT"
        };
    }
}

/// A `[[http.route]]`: a path, its price in drops (0: free) and, if
/// given, the API that answers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRoute {
    path: String,
    price: u64,
    upstream: Option<String>,
    description: Option<String>,
}

/// TLS for the gRPC port.
#[derive(Debug, Clone)]
pub enum Tls {
    /// Plain TCP (explicitly asked for).
    Disabled,
    /// These PEM files.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
        /// Accept client certificates from this CA as merchants.
        client_ca: Option<PathBuf>,
    },
    /// A self-signed certificate kept in this folder (made on first start).
    SelfSigned {
        /// The folder.
        dir: PathBuf,
        /// Accept client certificates from this CA as merchants.
        client_ca: Option<PathBuf>,
    },
}

/// The gRPC server's bounds against callers that hold it up.
#[derive(Debug, Clone)]
pub struct GrpcLimits {
    /// Connections held at once, handshakes included.
    pub max_connections: usize,
    /// Connections from one address (an IPv6 /64).
    pub max_connections_per_ip: usize,
    /// Calls and streams open at once on one connection.
    pub max_concurrent_streams: u32,
    /// A call's answer (a stream's first) must come within this.
    pub request_timeout: Duration,
    /// The TLS handshake must end within this.
    pub handshake_timeout: Duration,
    /// HTTP/2 keepalive: ping a connection silent this long…
    pub keepalive_interval: Duration,
    /// …and close it if the ping is not answered in this long.
    pub keepalive_timeout: Duration,
}

impl Default for GrpcLimits {
    fn default() -> GrpcLimits {
        GrpcLimits {
            max_connections: 1024,
            max_connections_per_ip: 256,
            max_concurrent_streams: 128,
            request_timeout: Duration::from_secs(150),
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The sidecar's validated settings.
#[derive(Clone)]
pub struct Config {
    /// PostgreSQL connection settings (password included).
    pub database: tokio_postgres::Config,
    /// Pool size.
    pub pool_size: usize,
    /// gRPC listen address.
    pub grpc_listen: SocketAddr,
    /// gRPC connection and call bounds.
    pub grpc_limits: GrpcLimits,
    /// gRPC TLS.
    pub tls: Tls,
    /// The merchant's bearer token.
    pub merchant_token: String,
    /// The wallet proxies' bearer token, if any.
    pub app_token: Option<String>,
    /// rippled JSON-RPC URL.
    pub ledger_rpc_url: String,
    /// rippled WebSocket URL, if any.
    pub ledger_ws_url: Option<String>,
    /// Highest fee to offer.
    pub max_fee: Drops,
    /// The server wallet.
    pub wallet: KeyPair,
    /// Offload: cold address and the hot wallet's threshold.
    pub offload: Option<(String, Drops)>,
    /// drip.sweep period.
    pub sweep_every: Duration,
    /// Outbox poll period (NOTIFY wakes it sooner).
    pub outbox_poll: Duration,
    /// How long a submitted claim belongs to the worker that submitted it.
    pub outbox_lease: Duration,
    /// Channel watch period.
    pub watch_every: Duration,
    /// Offload period.
    pub offload_every: Duration,
    /// Metrics listen address.
    pub metrics_listen: Option<SocketAddr>,
    /// The ILP server, if it runs.
    pub btp: Option<crate::btp::BtpConfig>,
    /// The HTTP 402 front door, if it runs.
    pub http: Option<crate::http::HttpConfig>,
    /// Log filter.
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Config {
    // Secrets stay out of logs: only their presence is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_hosts", &self.database.get_hosts())
            .field("database_name", &self.database.get_dbname())
            .field("pool_size", &self.pool_size)
            .field("grpc_listen", &self.grpc_listen)
            .field("grpc_limits", &self.grpc_limits)
            .field("tls", &self.tls)
            .field("app_token", &self.app_token.as_ref().map(|_| "<set>"))
            .field("ledger_rpc_url", &self.ledger_rpc_url)
            .field("ledger_ws_url", &self.ledger_ws_url)
            .field("max_fee", &self.max_fee)
            .field("wallet", &self.wallet.account_id().to_address())
            .field("offload", &self.offload)
            .field("sweep_every", &self.sweep_every)
            .field("outbox_poll", &self.outbox_poll)
            .field("outbox_lease", &self.outbox_lease)
            .field("watch_every", &self.watch_every)
            .field("offload_every", &self.offload_every)
            .field("metrics_listen", &self.metrics_listen)
            .field("btp", &self.btp)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Settings from flags and environment (`args`) over the config file.
    pub fn load(args: Args) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        Config::resolve(args, file)
    }

    fn resolve(a: Args, f: File) -> Result<Config, ConfigError> {
        let f = f.under(a);
        let url = f.database.url.ok_or(ConfigError::Missing {
            key: "database.url",
            env: "DRIP_DATABASE_URL",
            flag: "database-url",
        })?;
        let mut database: tokio_postgres::Config =
            url.parse().map_err(|e| ConfigError::Invalid {
                key: "database.url",
                why: format!("not a PostgreSQL URL ({e})"),
            })?;
        let password = secret_value(
            f.database.password,
            f.database.password_encrypted,
            "database.password_encrypted",
        )?;
        if let Some(p) = password {
            database.password(p);
        }
        let pool_size = f.database.pool_size.unwrap_or(8);
        if pool_size == 0 {
            return Err(invalid("database.pool_size", "must be at least 1"));
        }

        let client_ca = f.tls.client_ca;
        let tls = if f.tls.disabled.unwrap_or(false) {
            Tls::Disabled
        } else {
            match (f.tls.cert, f.tls.key) {
                (Some(cert), Some(key)) => Tls::Files {
                    cert,
                    key,
                    client_ca,
                },
                (None, None) => Tls::SelfSigned {
                    dir: f.tls.dir.unwrap_or_else(|| "drip-tls".into()),
                    client_ca,
                },
                (Some(_), None) => {
                    return Err(invalid(
                        "tls.key",
                        "tls.cert is set, so tls.key must be too",
                    ))
                }
                (None, Some(_)) => {
                    return Err(invalid(
                        "tls.cert",
                        "tls.key is set, so tls.cert must be too",
                    ))
                }
            }
        };

        let merchant_token = secret_value(
            f.auth.merchant_token,
            f.auth.merchant_token_encrypted,
            "auth.merchant_token_encrypted",
        )?
        .ok_or(ConfigError::Missing {
            key: "auth.merchant_token",
            env: "DRIP_AUTH_MERCHANT_TOKEN",
            flag: "auth-merchant-token",
        })?;
        check_token("auth.merchant_token", &merchant_token)?;
        let app_token = secret_value(
            f.auth.app_token,
            f.auth.app_token_encrypted,
            "auth.app_token_encrypted",
        )?;
        if let Some(t) = &app_token {
            check_token("auth.app_token", t)?;
            if *t == merchant_token {
                return Err(invalid(
                    "auth.app_token",
                    "must differ from auth.merchant_token",
                ));
            }
        }

        let ledger_rpc_url = f.ledger.rpc_url.ok_or(ConfigError::Missing {
            key: "ledger.rpc_url",
            env: "DRIP_LEDGER_RPC_URL",
            flag: "ledger-rpc-url",
        })?;
        if !(ledger_rpc_url.starts_with("http://") || ledger_rpc_url.starts_with("https://")) {
            return Err(invalid(
                "ledger.rpc_url",
                "must be an http:// or https:// URL",
            ));
        }
        let max_fee = Drops::new(f.ledger.max_fee.unwrap_or(10_000));

        let seed = secret_value(
            f.wallet.seed,
            f.wallet.seed_encrypted,
            "wallet.seed_encrypted",
        )?
        .ok_or(ConfigError::Missing {
            key: "wallet.seed",
            env: "DRIP_WALLET_SEED",
            flag: "wallet-seed",
        })?;
        let wallet = seed
            .trim()
            .parse::<Seed>()
            .ok()
            .and_then(|s| s.key_pair().ok())
            .ok_or_else(|| invalid("wallet.seed", "not an XRPL seed (s… or sEd…)"))?;
        if let Some(address) = f.wallet.address {
            if address != wallet.account_id().to_address() {
                return Err(invalid("wallet.address", "does not belong to wallet.seed"));
            }
        }

        let offload = match (f.offload.address, f.offload.threshold) {
            (None, None) => None,
            (Some(address), Some(threshold)) => {
                if address.parse::<drip_core::AccountId>().is_err() {
                    return Err(invalid("offload.address", "not a classic XRPL address"));
                }
                Some((address, Drops::new(threshold)))
            }
            (Some(_), None) => {
                return Err(invalid("offload.threshold", "needed with offload.address"))
            }
            (None, Some(_)) => {
                return Err(invalid("offload.address", "needed with offload.threshold"))
            }
        };

        let millis = |key: &'static str, v: Option<u64>, default: u64| match v.unwrap_or(default) {
            0 => Err(invalid(key, "must be above 0")),
            ms => Ok(Duration::from_millis(ms)),
        };
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let count = |key: &'static str, v: Option<usize>, default: usize| match v.unwrap_or(default)
        {
            0 => Err(invalid(key, "must be at least 1")),
            n => Ok(n),
        };
        let g = GrpcLimits::default();
        let grpc_limits = GrpcLimits {
            max_connections: count(
                "grpc.max_connections",
                f.grpc.max_connections,
                g.max_connections,
            )?,
            max_connections_per_ip: count(
                "grpc.max_connections_per_ip",
                f.grpc.max_connections_per_ip,
                g.max_connections_per_ip,
            )?,
            max_concurrent_streams: match f
                .grpc
                .max_concurrent_streams
                .unwrap_or(g.max_concurrent_streams)
            {
                0 => return Err(invalid("grpc.max_concurrent_streams", "must be at least 1")),
                n => n,
            },
            request_timeout: millis(
                "grpc.request_timeout_ms",
                f.grpc.request_timeout_ms,
                ms(g.request_timeout),
            )?,
            handshake_timeout: millis(
                "grpc.handshake_timeout_ms",
                f.grpc.handshake_timeout_ms,
                ms(g.handshake_timeout),
            )?,
            keepalive_interval: millis(
                "grpc.keepalive_interval_ms",
                f.grpc.keepalive_interval_ms,
                ms(g.keepalive_interval),
            )?,
            keepalive_timeout: millis(
                "grpc.keepalive_timeout_ms",
                f.grpc.keepalive_timeout_ms,
                ms(g.keepalive_timeout),
            )?,
        };
        let btp = match f.btp.listen {
            None => None,
            Some(listen) => {
                let address = f.btp.address.unwrap_or_else(|| "test.drip".into());
                let address = address
                    .parse::<drip_ilp::ilp::Address>()
                    .map_err(|e| invalid("btp.address", &format!("not an ILP address ({e})")))?;
                let asset_scale = f.btp.asset_scale.unwrap_or(6);
                if asset_scale > 19 {
                    return Err(invalid("btp.asset_scale", "must be 0 to 19"));
                }
                let d = crate::btp::BtpLimits::default();
                let limits = crate::btp::BtpLimits {
                    max_connections: count(
                        "btp.max_connections",
                        f.btp.max_connections,
                        d.max_connections,
                    )?,
                    max_connections_per_ip: count(
                        "btp.max_connections_per_ip",
                        f.btp.max_connections_per_ip,
                        d.max_connections_per_ip,
                    )?,
                    pool_size: count("btp.pool_size", f.btp.pool_size, d.pool_size)?,
                    auth_timeout: millis(
                        "btp.auth_timeout_ms",
                        f.btp.auth_timeout_ms,
                        ms(d.auth_timeout),
                    )?,
                    max_message_bytes: match f.btp.max_message_bytes.unwrap_or(d.max_message_bytes)
                    {
                        n if n < 1024 => {
                            return Err(invalid("btp.max_message_bytes", "must be at least 1024"))
                        }
                        n => n,
                    },
                    max_in_flight: count(
                        "btp.max_in_flight",
                        f.btp.max_in_flight,
                        d.max_in_flight,
                    )?,
                    write_timeout: millis(
                        "btp.write_timeout_ms",
                        f.btp.write_timeout_ms,
                        ms(d.write_timeout),
                    )?,
                    unbound_timeout: millis(
                        "btp.unbound_timeout_ms",
                        f.btp.unbound_timeout_ms,
                        ms(d.unbound_timeout),
                    )?,
                    max_hold_secs: match f.btp.max_hold_secs.unwrap_or(d.max_hold_secs) {
                        n @ 1..=3600 => n,
                        _ => return Err(invalid("btp.max_hold_secs", "must be 1 to 3600")),
                    },
                };
                Some(crate::btp::BtpConfig {
                    listen,
                    address,
                    asset_scale,
                    bandwidth: f.btp.bandwidth.unwrap_or(0),
                    max_packet_amount: f.btp.max_packet_amount.unwrap_or(u64::MAX),
                    min_settle_delay: drip_ilp::asym::MIN_SETTLE_DELAY,
                    claim_interval: millis(
                        "btp.claim_interval_ms",
                        f.btp.claim_interval_ms,
                        300_000,
                    )?,
                    outgoing_channel_amount: match f
                        .btp
                        .outgoing_channel_amount
                        .unwrap_or(1_000_000)
                    {
                        0 => return Err(invalid("btp.outgoing_channel_amount", "must be above 0")),
                        n => Drops::new(n),
                    },
                    min_incoming_channel_amount: Drops::new(
                        f.btp.min_incoming_channel_amount.unwrap_or(10_000_000),
                    ),
                    channel_keys: crate::btp::ChannelKeys::new(seed.trim()),
                    limits,
                })
            }
        };
        let http = match f.http.listen {
            None => None,
            Some(listen) => Some(http_config(listen, f.http, seed.trim())?),
        };
        let log_format = match f.log.format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(invalid("log.format", "must be text or json")),
        };
        Ok(Config {
            database,
            pool_size,
            grpc_listen: f
                .grpc
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 50051))),
            grpc_limits,
            tls,
            btp,
            http,
            merchant_token,
            app_token,
            ledger_rpc_url,
            ledger_ws_url: f.ledger.ws_url,
            max_fee,
            wallet,
            offload,
            sweep_every: millis("jobs.sweep_ms", f.jobs.sweep_ms, 1000)?,
            outbox_poll: millis("jobs.outbox_poll_ms", f.jobs.outbox_poll_ms, 2000)?,
            watch_every: millis("jobs.watch_ms", f.jobs.watch_ms, 5000)?,
            offload_every: millis("jobs.offload_ms", f.jobs.offload_ms, 900_000)?,
            outbox_lease: Duration::from_secs(match f.jobs.outbox_lease_secs.unwrap_or(120) {
                0 => return Err(invalid("jobs.outbox_lease_secs", "must be above 0")),
                s => s,
            }),
            metrics_listen: f.metrics.listen,
            log_level: f.log.level.unwrap_or_else(|| "info".into()),
            log_format,
        })
    }
}

fn invalid(key: &'static str, why: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        why: why.to_owned(),
    }
}

fn http_config(
    listen: SocketAddr,
    f: FileHttp,
    seed: &str,
) -> Result<crate::http::HttpConfig, ConfigError> {
    use crate::http::{ChallengeKey, HttpConfig, Route};
    let mut routes = Vec::new();
    for r in f.route.unwrap_or_default() {
        if !r.path.starts_with('/') || r.path.contains('?') {
            return Err(invalid(
                "http.route.path",
                "must start with / and hold no query",
            ));
        }
        if routes.iter().any(|known: &Route| known.path == r.path) {
            return Err(invalid("http.route.path", "a path may be routed once"));
        }
        if r.price > Drops::MAX_NATIVE.get() {
            return Err(invalid("http.route.price", "more drops than there are"));
        }
        if let Some(u) = &r.upstream {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(invalid(
                    "http.route.upstream",
                    "must be an http:// or https:// URL",
                ));
            }
        }
        routes.push(Route {
            path: r.path,
            price: Drops::new(r.price),
            upstream: r.upstream,
            description: r.description,
        });
    }
    let mut c = HttpConfig::new(listen, routes, ChallengeKey::derive(seed));
    if let Some(realm) = f.realm {
        if realm.is_empty()
            || !realm.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            || realm.contains('"')
        {
            return Err(invalid(
                "http.realm",
                "must be printable ASCII without quotes",
            ));
        }
        c.realm = realm;
    }
    c.network = match f.network.as_deref().map(str::parse::<drip_mpp::Network>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return Err(invalid(
                "http.network",
                "must be mainnet, testnet or devnet",
            ))
        }
    };
    if let Some(secs) = f.min_settle_delay_secs {
        c.min_settle_delay = secs;
    }
    if let Some(secs) = f.challenge_ttl_secs {
        if !(1..=300).contains(&secs) {
            return Err(invalid("http.challenge_ttl_secs", "must be 1 to 300"));
        }
        c.challenge_ttl = Duration::from_secs(secs.into());
    }
    match f.open_timeout_ms {
        Some(0) => return Err(invalid("http.open_timeout_ms", "must be above 0")),
        Some(ms) => c.open_timeout = Duration::from_millis(ms),
        None => {}
    }
    for (key, v, into) in [
        (
            "http.max_connections",
            f.max_connections,
            &mut c.max_connections,
        ),
        (
            "http.max_connections_per_ip",
            f.max_connections_per_ip,
            &mut c.max_connections_per_ip,
        ),
        ("http.pool_size", f.pool_size, &mut c.pool_size),
    ] {
        match v {
            Some(0) => return Err(invalid(key, "must be at least 1")),
            Some(n) => *into = n,
            None => {}
        }
    }
    Ok(c)
}

fn read_file(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        why: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        // toml's message names the key and line, never a value.
        why: e.message().to_owned(),
    })
}

/// A secret given plainly, or encrypted under `DRIP_SECRET`.
fn secret_value(
    plain: Option<String>,
    encrypted: Option<String>,
    key: &'static str,
) -> Result<Option<String>, ConfigError> {
    match (plain, encrypted) {
        (Some(p), _) => Ok(Some(p)),
        (None, None) => Ok(None),
        (None, Some(sealed)) => {
            let passphrase = std::env::var("DRIP_SECRET")
                .map_err(|_| invalid(key, "is encrypted, so DRIP_SECRET must be set"))?;
            secret::open(&sealed, &passphrase)
                .map(Some)
                .map_err(|e| ConfigError::Invalid {
                    key,
                    why: e.to_string(),
                })
        }
    }
}

/// Bearer tokens must be long enough not to be guessed.
fn check_token(key: &'static str, token: &str) -> Result<(), ConfigError> {
    if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(key, "must be at least 16 printable characters"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn args() -> Args {
        Args {
            database_url: Some("postgresql://drip@127.0.0.1/drip".into()),
            auth_merchant_token: Some("merchant-token-0123456789".into()),
            ledger_rpc_url: Some("http://127.0.0.1:5005/".into()),
            wallet_seed: Some("sEdTM1uX8pu2do5XvTnutH6HsouMaM2".into()),
            ..Args::default()
        }
    }

    fn error(a: Args, f: &str) -> String {
        Config::resolve(a, toml::from_str(f).unwrap())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn flags_alone_are_enough_and_defaults_are_safe() {
        let c = Config::resolve(args(), File::default()).unwrap();
        assert_eq!(c.grpc_listen.to_string(), "127.0.0.1:50051");
        assert!(
            matches!(c.tls, Tls::SelfSigned { .. }),
            "TLS is on by default"
        );
        assert_eq!(c.pool_size, 8);
    }

    #[test]
    fn each_missing_key_is_named() {
        for (clear, key) in [
            (0, "database.url"),
            (1, "auth.merchant_token"),
            (2, "ledger.rpc_url"),
            (3, "wallet.seed"),
        ] {
            let mut a = args();
            match clear {
                0 => a.database_url = None,
                1 => a.auth_merchant_token = None,
                2 => a.ledger_rpc_url = None,
                _ => a.wallet_seed = None,
            }
            let e = error(a, "");
            assert!(e.starts_with(&format!("config: {key}: missing")), "{e}");
        }
    }

    #[test]
    fn flags_win_over_the_file() {
        let f =
            toml::from_str("[grpc]\nlisten = \"127.0.0.1:1\"\n[database]\npool_size = 3").unwrap();
        let mut a = args();
        a.grpc_listen = Some("127.0.0.1:2".parse().unwrap());
        let c = Config::resolve(a, f).unwrap();
        assert_eq!(c.grpc_listen.port(), 2);
        assert_eq!(c.pool_size, 3);
    }

    #[test]
    fn bad_values_are_refused_without_echoing_them() {
        let mut a = args();
        a.wallet_seed = Some("sNotASeedAtAll".into());
        let e = error(a, "");
        assert_eq!(e, "config: wallet.seed: not an XRPL seed (s… or sEd…)");
        assert!(!e.contains("sNotASeed"));
        let mut a = args();
        a.auth_merchant_token = Some("short".into());
        assert!(error(a, "").starts_with("config: auth.merchant_token:"));
        let mut a = args();
        a.wallet_address = Some("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".into());
        assert_eq!(
            error(a, ""),
            "config: wallet.address: does not belong to wallet.seed"
        );
        assert!(error(args(), "[tls]\ncert = \"c.pem\"").starts_with("config: tls.key:"));
        assert!(error(args(), "[jobs]\nsweep_ms = 0").starts_with("config: jobs.sweep_ms:"));
    }

    #[test]
    fn limits_have_defaults_and_refuse_nonsense() {
        let c = Config::resolve(args(), File::default()).unwrap();
        assert_eq!(c.grpc_limits.max_concurrent_streams, 128);
        assert_eq!(c.grpc_limits.request_timeout, Duration::from_secs(150));
        let with_btp = "[btp]\nlisten = \"127.0.0.1:0\"\n";
        let c = Config::resolve(args(), toml::from_str(with_btp).unwrap()).unwrap();
        let btp = c.btp.unwrap().limits;
        assert_eq!((btp.max_connections, btp.max_hold_secs), (1024, 30));
        assert_eq!(
            (btp.unbound_timeout, btp.pool_size),
            (Duration::from_secs(120), 4)
        );
        for (extra, key) in [
            ("max_connections = 0", "btp.max_connections"),
            ("max_message_bytes = 100", "btp.max_message_bytes"),
            ("max_hold_secs = 3601", "btp.max_hold_secs"),
            ("write_timeout_ms = 0", "btp.write_timeout_ms"),
            ("unbound_timeout_ms = 0", "btp.unbound_timeout_ms"),
            ("pool_size = 0", "btp.pool_size"),
        ] {
            let e = error(args(), &format!("{with_btp}{extra}"));
            assert!(e.starts_with(&format!("config: {key}:")), "{e}");
        }
        let e = error(args(), "[grpc]\nmax_concurrent_streams = 0");
        assert!(e.starts_with("config: grpc.max_concurrent_streams:"), "{e}");
    }

    #[test]
    fn each_flag_and_variable_is_named_after_its_file_key() {
        for (key, field, env) in FLAGS {
            assert_eq!(key.replace('.', "_"), *field);
            assert_eq!(format!("DRIP_{}", field.to_uppercase()), *env);
        }
        let flags = <Args as clap::CommandFactory>::command();
        let longs: Vec<_> = flags.get_arguments().filter_map(|a| a.get_long()).collect();
        assert_eq!(
            longs.len(),
            FLAGS.len() + 1,
            "every flag but --config has a file key"
        );
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let e = toml::from_str::<File>("[ledger]\nrpc = \"x\"").unwrap_err();
        assert!(e.message().contains("rpc"), "{}", e.message());
    }

    #[test]
    fn encrypted_secrets_need_drip_secret() {
        let sealed = secret::seal("sEdTM1uX8pu2do5XvTnutH6HsouMaM2", "passphrase").unwrap();
        let mut a = args();
        a.wallet_seed = None;
        let f = format!("[wallet]\nseed_encrypted = \"{sealed}\"");
        // DRIP_SECRET is not set in unit tests.
        assert_eq!(
            error(a, &f),
            "config: wallet.seed_encrypted: is encrypted, so DRIP_SECRET must be set"
        );
    }
}
