//! Paid requests through drip-sidecar's HTTP 402 front door against unpaid
//! requests to the same handler, in the same run: N concurrent clients
//! over https (keep-alive), each paying on its own MPP channel. A paid
//! request is the protocol's two round trips: the 402 with a fresh
//! challenge, then the credential with a voucher (pre-signed, as a wallet
//! could: the claim does not depend on the challenge), checked and kept by
//! `drip.mpp_pay`. The unpaid baseline asks a free route drip answers the
//! same way; direct SQL `drip.mpp_pay` shows the database's share.
//!
//! http-pay CLIENTS SECONDS   (DRIP_DATABASE_URL: a superuser URL of a
//! cluster with the drip extension installed; a database `http_bench` is
//! made in it and dropped after)

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use drip_bench::{connect, BenchDb};
use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyPair, KeyType, Seed};
use drip_mpp::{Challenge, Credential, PayerDid, Payload};
use drip_sidecar::config::{Config, GrpcLimits, LogFormat, Tls};
use drip_sidecar::http::{ChallengeKey, HttpConfig, Route};
use drip_sidecar::Sidecar;

const PRICE: u64 = 1;

/// One client's channel and its pre-signed vouchers.
struct Stream {
    channel: Hash256,
    vouchers: Vec<(u64, Vec<u8>)>,
}

/// HTTP channels `first..first + n` from `payer` to `server`, recorded as
/// the ledger would have them, with `per` vouchers each.
async fn channels(
    db: &tokio_postgres::Client,
    payer: &KeyPair,
    server: &str,
    first: usize,
    n: usize,
    per: u64,
) -> anyhow::Result<Vec<Stream>> {
    let mut out = Vec::new();
    for i in first..first + n {
        let channel = Hash256([u8::try_from(i % 250).unwrap_or(0).saturating_add(1); 32]);
        let refused: Option<String> = db
            .query_one(
                "SELECT drip.mpp_open_channel($1, $2, $3, 100000000000, 86400, $4, NULL, NULL, 0, 3600)::text",
                &[
                    &channel.0.as_slice(),
                    &payer.account_id().to_address(),
                    &payer.public_key().as_bytes().as_slice(),
                    &server,
                ],
            )
            .await?
            .get(0);
        if let Some(r) = refused {
            bail!("channel {i} refused: {r}");
        }
        let vouchers = (1..=per)
            .map(|k| {
                (
                    k * PRICE,
                    sign_claim(payer, &channel, Drops::new(k * PRICE)),
                )
            })
            .collect();
        out.push(Stream { channel, vouchers });
    }
    Ok(out)
}

/// Vouchers per second taken by direct SQL `drip.mpp_pay` (one
/// connection per stream): the database's share of a paid request.
async fn sql(
    url: &str,
    payer: &KeyPair,
    streams: Vec<Stream>,
    seconds: u64,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let source = payer.account_id().to_address();
    let expires = std::time::SystemTime::now() + Duration::from_secs(3600);
    let mut tasks = Vec::new();
    for (i, s) in streams.into_iter().enumerate() {
        let (db, source) = (connect(url).await?, source.clone());
        tasks.push(tokio::spawn(async move {
            let statement = db
                .prepare("SELECT accepted FROM drip.mpp_pay($1, $2, $3, $4, $5, $6, $7, false)")
                .await?;
            let mut done = 0u64;
            for (amount, signature) in s.vouchers {
                if Instant::now() >= deadline {
                    break;
                }
                let challenge = format!("sql-{i}-{amount}");
                let (amount, price) = (i64::try_from(amount)?, i64::try_from(PRICE)?);
                let accepted: bool = db
                    .query_one(
                        &statement,
                        &[
                            &s.channel.0.as_slice(),
                            &amount,
                            &signature,
                            &price,
                            &source,
                            &challenge,
                            &expires,
                        ],
                    )
                    .await?
                    .get(0);
                if !accepted {
                    bail!("a valid voucher was refused");
                }
                done += 1;
            }
            Ok::<_, anyhow::Error>(done)
        }));
    }
    let mut all = 0;
    for t in tasks {
        all += t.await??;
    }
    Ok(all as f64 / started.elapsed().as_secs_f64())
}

fn client(certificate: &str) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(certificate.as_bytes())?)
        .build()?)
}

/// Requests per second: `n` clients asking the free route as fast as they
/// can for `seconds`.
async fn unpaid(url: &str, certificate: &str, n: usize, seconds: u64) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (http, url) = (client(certificate)?, url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                let r = http.get(&url).send().await?;
                if r.status() != 200 {
                    bail!("the free route answered {}", r.status());
                }
                r.bytes().await?;
                done += 1;
            }
            Ok::<_, anyhow::Error>(done)
        }));
    }
    let mut all = 0;
    for t in tasks {
        all += t.await??;
    }
    Ok(all as f64 / started.elapsed().as_secs_f64())
}

/// Paid requests per second: each of `streams` pays on its channel.
async fn paid(
    url: &str,
    certificate: &str,
    payer: &KeyPair,
    streams: Vec<Stream>,
    seconds: u64,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let source = PayerDid {
        network: "devnet".into(),
        address: payer.account_id(),
    };
    let mut tasks = Vec::new();
    for s in streams {
        let (http, url, source) = (client(certificate)?, url.to_owned(), source.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            for (amount, signature) in s.vouchers {
                if Instant::now() >= deadline {
                    break;
                }
                let r = http
                    .get(&url)
                    .header("X-MPP-PayChannel-Id", s.channel.to_string())
                    .send()
                    .await?;
                let header = r
                    .headers()
                    .get("www-authenticate")
                    .context("no challenge")?
                    .to_str()?
                    .to_owned();
                r.bytes().await?;
                let credential = Credential {
                    challenge: Challenge::from_header(&header)?,
                    source: Some(source.clone()),
                    payload: Payload::Voucher {
                        channel_id: s.channel,
                        amount,
                        signature,
                    },
                };
                let r = http
                    .get(&url)
                    .header("Authorization", credential.header_value())
                    .send()
                    .await?;
                if r.status() != 200 {
                    bail!("a voucher was refused: {}", r.text().await?);
                }
                r.bytes().await?;
                done += 1;
            }
            Ok::<_, anyhow::Error>(done)
        }));
    }
    let mut all = 0;
    for t in tasks {
        all += t.await??;
    }
    Ok(all as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let (Some(Ok(n)), Some(Ok(seconds))) = (args.next(), args.next()) else {
        bail!("usage: http-pay CLIENTS SECONDS");
    };
    let n = usize::try_from(n)?;
    let wallet = Seed::from_entropy([0x4D; 16], KeyType::Ed25519).key_pair()?;
    let server = wallet.account_id().to_address();
    let bench_db = BenchDb::create("http_bench").await?;
    let url = bench_db.url.clone();
    let db = connect(&url).await?;
    db.batch_execute(&format!(
        "CREATE EXTENSION drip; UPDATE drip.terms SET destination = '{server}'"
    ))
    .await?;
    let payer = Seed::from_entropy([0x78; 16], KeyType::Ed25519).key_pair()?;
    // Enough vouchers for ~4,000 paid requests/s in all.
    let per = 4_000 * seconds / u64::try_from(n)?;
    eprintln!("signing {} vouchers", per * u64::try_from(n)?);
    let streams = channels(&db, &payer, &server, 0, n, per).await?;
    let sql_streams = channels(&db, &payer, &server, n, n, per).await?;

    let dir = std::env::temp_dir().join(format!("drip-http-bench-{}", std::process::id()));
    let routes = vec![
        Route {
            path: "/paid".into(),
            price: Drops::new(PRICE),
            upstream: None,
            description: None,
        },
        Route {
            path: "/free".into(),
            price: Drops::ZERO,
            upstream: None,
            description: None,
        },
    ];
    let mut http = HttpConfig::new(
        "127.0.0.1:0".parse()?,
        routes,
        ChallengeKey::derive("http-bench"),
    );
    http.min_settle_delay = 3600;
    let config = Config {
        database: url.parse()?,
        pool_size: n + 2,
        grpc_listen: "127.0.0.1:0".parse()?,
        grpc_limits: GrpcLimits::default(),
        tls: Tls::SelfSigned {
            dir: dir.clone(),
            client_ca: None,
        },
        merchant_token: "bench-merchant-token-000000000".into(),
        app_token: None,
        // Never called: every channel is known, none is opened.
        ledger_rpc_url: "http://127.0.0.1:9/".into(),
        ledger_ws_url: None,
        max_fee: Drops::new(10_000),
        wallet,
        offload: None,
        sweep_every: Duration::from_secs(3600),
        outbox_poll: Duration::from_secs(3600),
        outbox_lease: Duration::from_secs(120),
        watch_every: Duration::from_secs(3600),
        offload_every: Duration::from_secs(3600),
        metrics_listen: None,
        btp: None,
        http: Some(http),
        log_level: "warn".into(),
        log_format: LogFormat::Text,
    };
    let sidecar = Sidecar::start(config).await?;
    let certificate = sidecar.certificate.clone().context("TLS is on")?;
    let base = format!(
        "https://localhost:{}",
        sidecar.http_addr.context("http is on")?.port()
    );
    // Baseline first and last: their mean is the ratio's denominator.
    let free = format!("{base}/free");
    let before = unpaid(&free, &certificate, n, seconds).await?;
    let paid_rps = paid(
        &format!("{base}/paid"),
        &certificate,
        &payer,
        streams,
        seconds,
    )
    .await?;
    let sql_rps = sql(&url, &payer, sql_streams, seconds).await?;
    let after = unpaid(&free, &certificate, n, seconds).await?;
    sidecar.shutdown().await;
    drop(db);
    bench_db.drop_database().await?;
    let _ = std::fs::remove_dir_all(dir);

    let baseline = (before + after) / 2.0;
    println!("{n} clients, {seconds} s each, https keep-alive, Ed25519 vouchers");
    println!("{:<46} {:>9} {:>8}", "run", "req/s", "÷ free");
    println!(
        "{:<46} {:>9.0} {:>8.2}",
        "free route (before)",
        before,
        before / baseline
    );
    println!(
        "{:<46} {:>9.0} {:>8.2}",
        "paid route (402 + voucher: two round trips)",
        paid_rps,
        paid_rps / baseline
    );
    println!(
        "{:<46} {:>9.0} {:>8.2}",
        "free route (after)",
        after,
        after / baseline
    );
    println!(
        "{:<46} {:>9.0} {:>8.2}",
        "direct SQL drip.mpp_pay (the database's share)",
        sql_rps,
        sql_rps / baseline
    );
    Ok(())
}
