//! gRPC `Pay` through drip-sidecar against direct SQL `drip.pay`, in the
//! same run: N concurrent streams, each on its own active session, paying
//! pre-signed, ever-higher Ed25519 claims for S seconds. Then the sidecar
//! again at half its measured maximum rate, for the latency there.
//!
//! grpc-pay STREAMS SECONDS   (DRIP_DATABASE_URL: a superuser URL of a
//! cluster with the drip extension installed; a database `grpc_bench` is
//! made in it and dropped after)

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use drip_bench::{connect, BenchDb};
use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyPair, KeyType, Seed};
use drip_sidecar::config::{Config, GrpcLimits, LogFormat, Tls};
use drip_sidecar::proto::drip_client::DripClient;
use drip_sidecar::proto::PayRequest;
use drip_sidecar::Sidecar;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

const SERVER: &str = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";
const TOKEN: &str = "bench-merchant-token-000000000";

/// One stream's session: its token, channel and pre-signed claims.
struct Stream {
    token: String,
    claims: Vec<(u64, String)>,
}

/// Latencies of one run, and what it achieved.
struct Run {
    tps: f64,
    p50: Duration,
    p99: Duration,
}

fn summarize(mut latencies: Vec<Duration>, elapsed: Duration) -> Run {
    latencies.sort();
    // The q-quantile by rank: q in percent, integer arithmetic.
    let at = |q: usize| {
        let i = latencies.len().saturating_sub(1) * q / 100;
        latencies.get(i).copied().unwrap_or_default()
    };
    Run {
        tps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(50),
        p99: at(99),
    }
}

/// `n` active sessions whose channels `payer` signs for, `per` claims each.
async fn sessions(
    db: &tokio_postgres::Client,
    payer: &KeyPair,
    first: usize,
    n: usize,
    per: u64,
) -> anyhow::Result<Vec<Stream>> {
    let mut out = Vec::new();
    for i in first..first + n {
        let channel = Hash256([u8::try_from(i % 250).unwrap_or(0).saturating_add(1); 32]);
        let token: String = db
            .query_one(
                "SELECT drip_token FROM drip.create_session($1)",
                &[&format!("bench-{i}")],
            )
            .await?
            .get(0);
        let pid: String = db
            .query_one("SELECT proposal_id FROM drip.inquire($1)", &[&token])
            .await?
            .get(0);
        let chan = channel.0.to_vec();
        db.execute("SELECT drip.submit_agreement($1, $2)", &[&pid, &chan])
            .await?;
        let ok: bool = db
            .query_one(
                &format!(
                    "SELECT accepted FROM drip.confirm_channel($1, $2, $2, 'rPayer', $3, 100000000000000, 86400,
                     '{SERVER}', NULL, NULL, NULL, $1)"
                ),
                &[&pid, &chan, &payer.public_key().as_bytes().to_vec()],
            )
            .await?
            .get(0);
        if !ok {
            bail!("session {i} did not activate");
        }
        let claims = (1..=per)
            .map(|a| (a, hex::encode(sign_claim(payer, &channel, Drops::new(a)))))
            .collect();
        out.push(Stream { token, claims });
    }
    Ok(out)
}

/// Direct SQL: one connection per stream.
async fn sql_run(url: &str, streams: Vec<Stream>, seconds: u64) -> anyhow::Result<Run> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in streams {
        let db = connect(url).await?;
        tasks.push(tokio::spawn(async move {
            let statement = db
                .prepare("SELECT accepted FROM drip.pay($1, $2, $3)")
                .await?;
            let mut latencies = Vec::new();
            for (amount, sig) in s.claims {
                if Instant::now() >= deadline {
                    break;
                }
                let signature = hex::decode(sig)?;
                let amount = i64::try_from(amount)?;
                let t = Instant::now();
                let accepted: bool = db
                    .query_one(&statement, &[&s.token, &amount, &signature])
                    .await?
                    .get(0);
                latencies.push(t.elapsed());
                if !accepted {
                    bail!("a valid claim was refused");
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(summarize(all, started.elapsed()))
}

/// Through the sidecar: one gRPC channel per stream; `pace` spaces each
/// stream's calls (None: as fast as it goes).
async fn grpc_run(
    sidecar: &Sidecar,
    streams: Vec<Stream>,
    seconds: u64,
    pace: Option<Duration>,
) -> anyhow::Result<Run> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(
            sidecar.certificate.clone().context("TLS is on")?,
        ))
        .domain_name("localhost");
    let mut tasks = Vec::new();
    for s in streams {
        let channel = Channel::from_shared(format!("https://{}", sidecar.grpc_addr))?
            .tls_config(tls.clone())?
            .connect()
            .await?;
        let mut api = DripClient::with_interceptor(channel, |mut r: tonic::Request<()>| {
            r.metadata_mut().insert(
                "authorization",
                format!("Bearer {TOKEN}")
                    .parse()
                    .map_err(|_| tonic::Status::internal("header"))?,
            );
            Ok(r)
        });
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut next = Instant::now();
            for (amount, signature) in s.claims {
                if Instant::now() >= deadline {
                    break;
                }
                if let Some(p) = pace {
                    tokio::time::sleep_until(next.into()).await;
                    next += p;
                }
                let t = Instant::now();
                let r = api
                    .pay(PayRequest {
                        drip_token: s.token.clone(),
                        amount,
                        signature,
                    })
                    .await?
                    .into_inner();
                latencies.push(t.elapsed());
                if !r.accepted {
                    bail!("a valid claim was refused: {r:?}");
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(summarize(all, started.elapsed()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let (Some(Ok(n)), Some(Ok(seconds))) = (args.next(), args.next()) else {
        bail!("usage: grpc-pay STREAMS SECONDS");
    };
    let n = usize::try_from(n)?;
    let bench_db = BenchDb::create("grpc_bench").await?;
    let url = bench_db.url.clone();
    let db = connect(&url).await?;
    db.batch_execute(&format!(
        "CREATE EXTENSION drip;
         UPDATE drip.terms SET destination = '{SERVER}', polling_interval_secs = 60,
           session_length_secs = 86400, channel_funding = 1000000, past_due_limit = 0"
    ))
    .await?;
    let payer = Seed::from_entropy([0x77; 16], KeyType::Ed25519).key_pair()?;
    // Enough claims for ~6,000 payments/s in all, per run.
    let per = 6_000 * seconds / u64::try_from(n)?;
    eprintln!("signing {} claims", per * 3 * u64::try_from(n)?);
    let sql_streams = sessions(&db, &payer, 0, n, per).await?;
    let grpc_streams = sessions(&db, &payer, n, n, per).await?;
    let paced_streams = sessions(&db, &payer, 2 * n, n, per).await?;

    let dir = std::env::temp_dir().join(format!("drip-grpc-bench-{}", std::process::id()));
    let config = Config {
        database: url.parse()?,
        pool_size: n + 2,
        grpc_listen: "127.0.0.1:0".parse()?,
        grpc_limits: GrpcLimits::default(),
        tls: Tls::SelfSigned {
            dir: dir.clone(),
            client_ca: None,
        },
        merchant_token: TOKEN.into(),
        app_token: None,
        // Never called: no ledger work exists in this database.
        ledger_rpc_url: "http://127.0.0.1:9/".into(),
        ledger_ws_url: None,
        max_fee: Drops::new(10_000),
        wallet: Seed::from_entropy([0x4D; 16], KeyType::Ed25519).key_pair()?,
        offload: None,
        sweep_every: Duration::from_secs(3600),
        outbox_poll: Duration::from_secs(3600),
        outbox_lease: Duration::from_secs(120),
        watch_every: Duration::from_secs(3600),
        offload_every: Duration::from_secs(3600),
        metrics_listen: None,
        btp: None,
        http: None,
        log_level: "warn".into(),
        log_format: LogFormat::Text,
    };
    let sidecar = Sidecar::start(config).await?;

    let sql = sql_run(&url, sql_streams, seconds).await?;
    let grpc = grpc_run(&sidecar, grpc_streams, seconds, None).await?;
    let half = grpc.tps / 2.0;
    let pace = Duration::from_secs_f64(n as f64 / half);
    let paced = grpc_run(&sidecar, paced_streams, seconds, Some(pace)).await?;
    sidecar.shutdown().await;
    drop(db);
    bench_db.drop_database().await?;
    let _ = std::fs::remove_dir_all(dir);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("{n} streams, {seconds} s each, Ed25519 claims");
    println!(
        "{:<34} {:>8} {:>8} {:>9} {:>9}",
        "run", "tps", "÷ sql", "p50 ms", "p99 ms"
    );
    for (name, r) in [
        ("direct SQL drip.pay", &sql),
        ("gRPC Pay (max)", &grpc),
        ("gRPC Pay at half the max rate", &paced),
    ] {
        println!(
            "{name:<34} {:>8.0} {:>8.2} {:>9.2} {:>9.2}",
            r.tps,
            r.tps / sql.tps,
            ms(r.p50),
            ms(r.p99)
        );
    }
    Ok(())
}
