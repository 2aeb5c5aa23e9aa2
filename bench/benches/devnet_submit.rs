//! The devnet's submit + apply, in process: decode, check the signature,
//! apply to the open ledger (closing every 1,000 transactions). Baseline in
//! the same run: only decoding and checking the signature of the same blobs.
//! Payments from an Ed25519 and from a secp256k1 account. `pipelined` is the
//! server's path: two threads decode and check signatures (no lock needed)
//! while the ledger applies in order.
//!
//! cargo bench -p drip_bench --bench devnet_submit

// Set-up that fails is a bug in the bench itself.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use drip_core::{codec, tx, Drops, KeyPair, KeyType, Seed};
use drip_devnet::ledger::chain::GENESIS_SEED;
use drip_devnet::ledger::{Chain, Config, Prepared};
use serde_json::json;

/// A chain where `payer` holds plenty of XRP, and `n` signed payments from it.
fn setup(kt: KeyType, n: u64) -> (Chain, Vec<Vec<u8>>) {
    let mut chain = Chain::new(Config::default(), 800_000_000);
    let genesis = GENESIS_SEED.parse::<Seed>().unwrap().key_pair().unwrap();
    let payer = Seed::from_entropy([0x11; 16], kt).key_pair().unwrap();
    let payee = Seed::from_entropy([0x22; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    let pay = |from: &KeyPair, to: &KeyPair, seq: u64, amount: Drops| {
        let mut obj = codec::from_json(&json!({
            "TransactionType": "Payment", "Account": from.account_id().to_address(),
            "Destination": to.account_id().to_address(), "Amount": amount.to_string(),
            "Sequence": seq, "Fee": "10",
        }))
        .unwrap();
        tx::sign(&mut obj, from).unwrap().blob
    };
    for (to, amount) in [
        (&payer, Drops::from_xrp(1_000_000)),
        (&payee, Drops::from_xrp(100)),
    ] {
        let seq = u64::from(chain.open_state().accounts[&genesis.account_id()].sequence);
        let r = chain.submit(&pay(&genesis, to, seq, amount.unwrap()));
        assert!(r.is_ok_and(|s| s.applied));
    }
    chain.close(800_000_001);
    let first = u64::from(chain.open_state().accounts[&payer.account_id()].sequence);
    let blobs = (0..n)
        .map(|i| pay(&payer, &payee, first + i, Drops::new(1)))
        .collect();
    (chain, blobs)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("devnet");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for kt in [KeyType::Ed25519, KeyType::Secp256k1] {
        group.bench_function(BenchmarkId::new("baseline_decode_and_verify", kt), |b| {
            b.iter_custom(|iters| {
                let (_, blobs) = setup(kt, iters);
                let start = Instant::now();
                for blob in &blobs {
                    let obj = codec::decode(blob).unwrap();
                    assert!(tx::verify_signature(&obj).is_ok());
                }
                start.elapsed()
            })
        });
        group.bench_function(BenchmarkId::new("submit_and_apply", kt), |b| {
            b.iter_custom(|iters| {
                let (mut chain, blobs) = setup(kt, iters);
                let start = Instant::now();
                for (i, blob) in blobs.iter().enumerate() {
                    let r = chain.submit(blob);
                    assert!(r.is_ok_and(|s| s.applied));
                    if i % 1000 == 999 {
                        chain.close(800_000_002 + u32::try_from(i).unwrap_or(0));
                    }
                }
                start.elapsed()
            })
        });
        group.bench_function(BenchmarkId::new("pipelined_2_threads", kt), |b| {
            b.iter_custom(|iters| {
                let (mut chain, blobs) = setup(kt, iters);
                let start = Instant::now();
                pipelined(&mut chain, &blobs);
                start.elapsed()
            })
        });
    }
    group.finish();
}

/// Two threads prepare alternate blobs; this thread applies them in order.
fn pipelined(chain: &mut Chain, blobs: &[Vec<u8>]) {
    let (tx0, rx0) = std::sync::mpsc::sync_channel::<Prepared>(256);
    let (tx1, rx1) = std::sync::mpsc::sync_channel::<Prepared>(256);
    std::thread::scope(|s| {
        for (parity, out) in [(0, tx0), (1, tx1)] {
            s.spawn(move || {
                for blob in blobs.iter().skip(parity).step_by(2) {
                    let p = Prepared::new(blob).unwrap();
                    if out.send(p).is_err() {
                        return;
                    }
                }
            });
        }
        for i in 0..blobs.len() {
            let rx = if i % 2 == 0 { &rx0 } else { &rx1 };
            let p = rx.recv().unwrap();
            assert!(chain.submit_prepared(p).applied);
            if i % 1000 == 999 {
                chain.close(800_000_002 + u32::try_from(i).unwrap_or(0));
            }
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
