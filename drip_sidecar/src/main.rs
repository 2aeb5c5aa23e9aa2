//! `drip-sidecar`: drip's network side beside PostgreSQL (gRPC for web
//! servers, the ledger worker, the scheduler, offload and the BTP listener).
//!
//! Filled by the sidecar issue; today it only says what it is.

fn main() {
    println!(
        "drip-sidecar {}: not built yet; see the sidecar issue",
        env!("CARGO_PKG_VERSION")
    );
}
