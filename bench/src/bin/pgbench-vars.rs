//! Prints pgbench `-D` options holding one valid claim per key type, for
//! `bench/pgbench/verify_claim_*.sql` (bytea values in hex input form).

use drip_bench::claim;
use drip_core::KeyType;

fn main() {
    let ed = claim(KeyType::Ed25519);
    let secp = claim(KeyType::Secp256k1);
    let vars = [
        ("channel", ed.channel.as_bytes().to_vec()),
        ("ed_sig", ed.signature),
        ("ed_key", ed.public_key.to_vec()),
        ("secp_sig", secp.signature),
        ("secp_key", secp.public_key.to_vec()),
    ];
    let opts: Vec<String> = vars
        .iter()
        .map(|(name, bytes)| format!("-D {name}=\\x{}", hex::encode(bytes)))
        .collect();
    println!("{}", opts.join(" "));
}
