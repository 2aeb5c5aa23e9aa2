//! Shared inputs for drip's benchmarks: a valid claim of each key type, made
//! from fixed seeds so every run measures the same work.

use drip_core::claim::sign_claim;
use drip_core::{ChannelId, Drops, Hash256, KeyType, Seed};

/// A signed claim, as raw bytes (the shape SQL receives).
#[derive(Debug, Clone)]
pub struct RawClaim {
    /// 32-byte channel id.
    pub channel: ChannelId,
    /// Amount in drops.
    pub amount: Drops,
    /// Signature bytes.
    pub signature: Vec<u8>,
    /// 33-byte public key.
    pub public_key: [u8; 33],
}

/// A valid claim for 1,000,000 drops made with `key_type`.
pub fn claim(key_type: KeyType) -> RawClaim {
    let pair = Seed::from_entropy([0x42; 16], key_type)
        .key_pair()
        .unwrap_or_else(|e| unreachable!("fixed seed derives: {e}"));
    let channel = Hash256([0x5D; 32]);
    let amount = Drops::new(1_000_000);
    RawClaim {
        channel,
        amount,
        signature: sign_claim(&pair, &channel, amount),
        public_key: *pair.public_key().as_bytes(),
    }
}
