//! Pre-signed claims for the `pay` benchmark, as CSV on stdout:
//! `key_type,client,seq,amount,channel_hex,signature_hex,public_key_hex`.
//! Client c's channel is 32 bytes of FIRST+c+1 (+100 for secp256k1); amounts
//! rise 1, 2, 3 … so each claim beats the last.
//!
//! pay-claims CLIENTS CLAIMS_PER_CLIENT [FIRST]

use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyType, Seed};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u32>());
    let (Some(Ok(clients)), Some(Ok(claims)), Ok(first)) =
        (args.next(), args.next(), args.next().unwrap_or(Ok(0)))
    else {
        eprintln!("usage: pay-claims CLIENTS CLAIMS_PER_CLIENT [FIRST]");
        std::process::exit(2);
    };
    for (kt, base) in [(KeyType::Ed25519, 1u8), (KeyType::Secp256k1, 101u8)] {
        let Ok(key) = Seed::from_entropy([0x77; 16], kt).key_pair() else {
            unreachable!("a fixed seed derives")
        };
        let public_key = key.public_key().to_hex();
        for client in 0..clients {
            let n = u8::try_from(first.saturating_add(client)).unwrap_or(u8::MAX);
            let channel = Hash256([base.saturating_add(n); 32]);
            for seq in 1..=claims {
                let amount = Drops::new(u64::from(seq));
                let sig = sign_claim(&key, &channel, amount);
                println!(
                    "{kt},{client},{seq},{amount},{},{},{public_key}",
                    hex::encode(channel.as_bytes()),
                    hex::encode(sig)
                );
            }
        }
    }
}
