//! Payment-channel ids.

use crate::account::AccountId;
use crate::hash::{sha512_half, Hash256};

/// A payment channel's id: the index of its `PayChannel` ledger entry.
pub type ChannelId = Hash256;

/// rippled's ledger namespace for payment channels (`'x'`, as a u16).
const PAYCHAN_SPACE: [u8; 2] = [0x00, b'x'];

/// The id of the channel `source` creates to `destination` with the
/// PaymentChannelCreate that uses `sequence` (its Sequence, or its
/// TicketSequence when it uses a ticket).
pub fn channel_id(source: &AccountId, destination: &AccountId, sequence: u32) -> ChannelId {
    Hash256(sha512_half(&[
        &PAYCHAN_SPACE,
        source.as_bytes(),
        destination.as_bytes(),
        &sequence.to_be_bytes(),
    ]))
}
