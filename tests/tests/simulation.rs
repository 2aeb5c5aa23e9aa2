//! The seeded fault simulation (`drip_tests::sim`) over a bounded number of
//! schedules: every money invariant must hold after each. A failing seed
//! prints its schedule and how to replay it; `./dev soak` runs many more
//! with a fresh seed.
//!
//! Settings (environment): `SIM_SEED` (the first schedule's seed; later
//! ones count up from it), `SIM_SCHEDULES`, `SIM_STEPS`.

use std::time::Instant;

use drip_tests::sim;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            }
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_schedules_keep_every_money_invariant() {
    let first = setting("SIM_SEED", 0xD819_0001);
    let schedules = setting("SIM_SCHEDULES", 6);
    let steps = u32::try_from(setting("SIM_STEPS", 150)).unwrap();
    let started = Instant::now();
    let (mut claims, mut channels, mut lost) = (0, 0, 0);
    for n in 0..schedules {
        let seed = first.wrapping_add(n);
        let report = sim::run(seed, steps).await;
        if !report.violations.is_empty() {
            for line in &report.trace {
                eprintln!("  {line}");
            }
            panic!(
                "seed {seed:#x} broke {} invariant(s):\n  {}\nreplay: SIM_SEED={seed:#x} SIM_SCHEDULES=1 SIM_STEPS={steps} ./dev soak",
                report.violations.len(),
                report.violations.join("\n  ")
            );
        }
        claims += report.accepted;
        channels += report.channels;
        lost += report.lost;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{schedules} schedules of {steps} steps from seed {first:#x} in {secs:.1} s ({:.2} schedules/s): \
         {claims} claims accepted, {channels} channels closed, {lost} drops lost to clock jumps past Expiration",
        schedules as f64 / secs
    );
}
