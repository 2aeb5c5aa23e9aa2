//! Claim verification per key type, single-threaded (so the rate is per
//! core), against a baseline in the same run: SHA-512Half of the same
//! 44-byte claim message.
//!
//! cargo bench -p drip_bench --bench claim_verify

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use drip_bench::claim;
use drip_core::claim::{check_claim, check_claim_prepared, claim_message, verify_claim};
use drip_core::hash::sha512_half;
use drip_core::{KeyType, PublicKey};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("claim");
    group.throughput(Throughput::Elements(1));
    let ed = claim(KeyType::Ed25519);
    group.bench_function("baseline_sha512half_of_message", |b| {
        b.iter(|| sha512_half(&[&claim_message(black_box(&ed.channel), black_box(ed.amount))]))
    });
    for kt in [KeyType::Ed25519, KeyType::Secp256k1] {
        let cl = claim(kt);
        let key = PublicKey::from_slice(&cl.public_key).unwrap_or_else(|e| unreachable!("{e}"));
        group.bench_with_input(BenchmarkId::new("verify_parsed_key", kt), &cl, |b, cl| {
            b.iter(|| {
                verify_claim(
                    &key,
                    black_box(&cl.channel),
                    cl.amount,
                    black_box(&cl.signature),
                )
            })
        });
        // What drip.verify_claim does per call: parse the key, then verify.
        let amount = cl.amount.to_i64().unwrap_or_default();
        group.bench_with_input(BenchmarkId::new("check_claim_raw", kt), &cl, |b, cl| {
            b.iter(|| {
                check_claim(
                    black_box(cl.channel.as_bytes()),
                    amount,
                    black_box(&cl.signature),
                    black_box(&cl.public_key),
                )
            })
        });
        // What drip.pay does per call: the key's stored tables, if any.
        let prepared = key.prepare();
        group.bench_with_input(
            BenchmarkId::new("check_claim_prepared", kt),
            &cl,
            |b, cl| {
                b.iter(|| {
                    check_claim_prepared(
                        black_box(cl.channel.as_bytes()),
                        amount,
                        black_box(&cl.signature),
                        black_box(&cl.public_key),
                        black_box(prepared.as_deref()),
                    )
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
