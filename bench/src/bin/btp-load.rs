//! The ILP server under load: a `drip-sidecar` process (the release binary)
//! holds CONNECTIONS authenticated BTP connections, and its resident memory
//! per connection is reported; then STREAMS of them send pre-signed,
//! ever-higher claims as BTP Transfers for SECONDS, each answered only once
//! PostgreSQL committed it, against `drip.ilp_claim` called directly over
//! SQL by as many connections in the same run (the baseline).
//!
//! btp-load CONNECTIONS STREAMS SECONDS   (DRIP_DATABASE_URL: a superuser URL
//! of a cluster with the drip extension installed; a database `btp_bench`
//! is made in it and dropped after; the open-file limit must allow twice
//! CONNECTIONS)

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use drip_bench::{connect, BenchDb};
use drip_client::btp::Connection;
use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyPair, KeyType, Seed};
use drip_ilp::asym::{self, protocol, ClaimJson};
use drip_ilp::btp::{self, Body, ProtocolData};
use sha2::Digest as _;
use tokio::io::AsyncBufReadExt;

const SERVER: &str = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";
const SERVER_SEED: &str = "snoPBrXtMeMyMHUVTgbuqAfg1SUTb";

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")
}

fn token(i: usize) -> String {
    format!("bench-token-{i:06}")
}

/// The claims one stream sends: (drops, signature), rising.
fn claims(key: &KeyPair, channel: &Hash256, count: u64) -> Vec<(i64, Vec<u8>)> {
    (1..=count)
        .map(|a| {
            (
                i64::try_from(a).unwrap_or(i64::MAX),
                sign_claim(key, channel, Drops::new(a)),
            )
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let (Some(Ok(connections)), Some(Ok(streams)), Some(Ok(seconds))) =
        (args.next(), args.next(), args.next())
    else {
        bail!("usage: btp-load CONNECTIONS STREAMS SECONDS");
    };
    let bench_db = BenchDb::create("btp_bench").await?;
    let url = bench_db.url.clone();
    let db = connect(&url).await?;
    db.batch_execute(&format!(
        "CREATE EXTENSION drip; UPDATE drip.terms SET destination = '{SERVER}'"
    ))
    .await?;

    // Accounts for the claim streams (BTP and SQL), each with a channel the
    // bench's key signs for: registered directly, as the ledger check would.
    let payer = Seed::from_entropy([0x51; 16], KeyType::Ed25519).key_pair()?;
    let per = u64::try_from(8_000 * seconds / streams.max(1))?;
    let mut btp_claims = Vec::new();
    let mut sql_claims = Vec::new();
    for i in 0..2 * streams {
        let account = if i < streams {
            asym::account_name(&token(i))
        } else {
            format!("sql-{i}")
        };
        let channel = Hash256(sha2::Sha256::digest(account.as_bytes()).into());
        db.execute(
            "SELECT drip.ilp_connect($1, sha256(convert_to($2, 'UTF8')))",
            &[&account, &token(i)],
        )
        .await?;
        let denial: Option<String> = db
            .query_one(
                &format!("SELECT drip.ilp_open_channel($1, $2, 'rPayer', $3, 100000000000000, 3600, '{SERVER}', NULL, NULL, 0, 3600)::text"),
                &[&account, &channel.0.to_vec(), &payer.public_key().as_bytes().to_vec()],
            )
            .await?
            .get(0);
        if let Some(d) = denial {
            bail!("channel refused: {d}");
        }
        let c = claims(&payer, &channel, per);
        if i < streams {
            btp_claims.push(c)
        } else {
            sql_claims.push((account, c))
        }
    }

    // The sidecar as its own process, so its memory is its own.
    let bin = std::env::current_exe()?.with_file_name("drip-sidecar");
    let mut sidecar = tokio::process::Command::new(&bin)
        .env("DRIP_DATABASE_URL", &url)
        .env("DRIP_DATABASE_POOL_SIZE", (streams + 4).to_string())
        .env("DRIP_AUTH_MERCHANT_TOKEN", "bench-merchant-token-000000000")
        .env("DRIP_LEDGER_RPC_URL", "http://127.0.0.1:9/")
        .env("DRIP_WALLET_SEED", SERVER_SEED)
        .env("DRIP_GRPC_LISTEN", "127.0.0.1:0")
        .env("DRIP_TLS_DISABLED", "true")
        .env("DRIP_BTP_LISTEN", "127.0.0.1:0")
        .env("DRIP_BTP_BANDWIDTH", "1000000000")
        .env("DRIP_JOBS_SWEEP_MS", "3600000")
        .env("DRIP_JOBS_WATCH_MS", "3600000")
        .env("DRIP_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = sidecar.id().context("pid")?;
    let mut lines = tokio::io::BufReader::new(sidecar.stdout.take().context("stdout")?).lines();
    let mut ws = None;
    while let Some(line) = lines.next_line().await? {
        if let Some(u) = line.strip_prefix("btp ") {
            ws = Some(u.to_owned());
            break;
        }
    }
    let ws = ws.context("the sidecar printed no btp address")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid)?;

    // Hold the connections (the streams' ones first).
    let started = Instant::now();
    let mut held = Vec::with_capacity(connections);
    for i in 0..connections.max(streams) {
        held.push(Connection::connect(&ws, "", &token(i), Duration::from_secs(30)).await?);
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    let per_conn = (after.saturating_sub(before)) as f64 / held.len() as f64;

    // Claims: BTP through the sidecar, then SQL directly, same concurrency.
    let run_btp = async {
        let deadline = Instant::now() + Duration::from_secs(u64::try_from(seconds)?);
        let t = Instant::now();
        let mut tasks = Vec::new();
        for (conn, claims) in held.iter().zip(btp_claims) {
            tasks.push(async move {
                let mut n = 0u64;
                for (amount, sig) in claims {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let json = serde_json::to_vec(&ClaimJson {
                        amount: amount.to_string(),
                        signature: hex::encode_upper(sig),
                    })?;
                    let body = Body::Transfer {
                        amount: 0,
                        protocol_data: vec![ProtocolData::new(protocol::CLAIM, btp::JSON, json)],
                    };
                    let r = conn.call(body, Duration::from_secs(30)).await?;
                    if !matches!(r.body, Body::Response(_)) {
                        bail!("a claim was refused: {r:?}");
                    }
                    n += 1;
                }
                Ok::<_, anyhow::Error>(n)
            });
        }
        let counts = futures_util::future::join_all(tasks).await;
        let total: u64 = counts
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .sum();
        Ok::<_, anyhow::Error>(total as f64 / t.elapsed().as_secs_f64())
    };
    let btp_rate = run_btp.await?;
    let deadline = Instant::now() + Duration::from_secs(u64::try_from(seconds)?);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (account, claims) in sql_claims {
        let c = connect(&url).await?;
        tasks.push(tokio::spawn(async move {
            let st = c
                .prepare("SELECT accepted FROM drip.ilp_claim($1, $2, $3)")
                .await?;
            let mut n = 0u64;
            for (amount, sig) in claims {
                if Instant::now() >= deadline {
                    break;
                }
                let ok: bool = c.query_one(&st, &[&account, &amount, &sig]).await?.get(0);
                if !ok {
                    bail!("a claim was refused");
                }
                n += 1;
            }
            Ok::<_, anyhow::Error>(n)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    let sql_rate = total as f64 / t.elapsed().as_secs_f64();
    drop(held);
    let _ = sidecar.kill().await;
    drop(db);
    bench_db.drop_database().await?;

    println!(
        "{connections} BTP connections held by drip-sidecar (connected in {connect_secs:.1} s)"
    );
    println!("resident memory: {before} KiB idle, {after} KiB with them: {per_conn:.1} KiB per connection");
    println!("{streams} streams, {seconds} s, Ed25519 claims, each committed before its answer");
    println!("{:<40} {:>9} {:>7}", "run", "claims/s", "÷ sql");
    println!(
        "{:<40} {:>9.0} {:>7.2}",
        "direct SQL drip.ilp_claim", sql_rate, 1.0
    );
    println!(
        "{:<40} {:>9.0} {:>7.2}",
        "BTP Transfer claims through the sidecar",
        btp_rate,
        btp_rate / sql_rate
    );
    Ok(())
}
