//! `submit` under random and mutated blobs: every answer is a rippled-shaped
//! error (`invalidTransaction` or `invalidParams`) or a non-applied engine
//! result, and the ledger does not change.

#![allow(clippy::unwrap_used, clippy::panic)]

use drip_core::codec;
use drip_core::{tx, Seed};
use drip_devnet::ledger::chain::GENESIS_SEED;
use drip_devnet::ledger::Config;
use drip_devnet::node::Node;
use drip_devnet::rpc;
use proptest::prelude::*;
use serde_json::json;

fn valid_blob(node: &Node) -> Vec<u8> {
    let g = GENESIS_SEED.parse::<Seed>().unwrap().key_pair().unwrap();
    let seq = node.chain.open_state().accounts[&g.account_id()].sequence;
    let mut obj = codec::from_json(&json!({
        "TransactionType": "PaymentChannelCreate", "Account": g.account_id().to_address(),
        "Destination": "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe", "Amount": "1000000", "SettleDelay": 60,
        "PublicKey": g.public_key().to_hex(), "Sequence": seq, "Fee": "10",
        "Memos": [{"Memo": {"MemoData": "ABCD"}}],
    }))
    .unwrap();
    tx::sign(&mut obj, &g).unwrap().blob
}

fn submit_changes_nothing(node: &mut Node, blob: &[u8]) -> Result<(), TestCaseError> {
    let before = serde_json::to_string(node.chain.open_state()).unwrap();
    match rpc::handle(node, "submit", &json!({"tx_blob": hex::encode(blob)})) {
        Err(e) => prop_assert!(
            ["invalidTransaction", "invalidParams"].contains(&e.token),
            "unexpected error {}",
            e.token
        ),
        Ok(r) => prop_assert_eq!(r["applied"].as_bool(), Some(false), "{}", r),
    }
    prop_assert_eq!(
        serde_json::to_string(node.chain.open_state()).unwrap(),
        before
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_blobs(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut node = Node::new(Config::default());
        submit_changes_nothing(&mut node, &bytes)?;
    }

    #[test]
    fn mutated_valid_blobs(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in any::<usize>()) {
        let mut node = Node::new(Config::default());
        let mut blob = valid_blob(&node);
        for (pos, byte) in edits {
            let i = pos % blob.len();
            if blob[i] == byte {
                continue;
            }
            blob[i] = byte;
        }
        if blob != valid_blob(&node) {
            submit_changes_nothing(&mut node, &blob)?;
        }
        let keep = cut % blob.len();
        submit_changes_nothing(&mut node, &blob[..keep])?;
    }
}

#[test]
fn the_unmutated_blob_applies() {
    // So the mutation test above starts from something the devnet accepts.
    let mut node = Node::new(Config::default());
    let blob = valid_blob(&node);
    let r = rpc::handle(&mut node, "submit", &json!({"tx_blob": hex::encode(&blob)})).unwrap();
    assert_eq!(
        r["engine_result"], "tecNO_DST",
        "the destination does not exist: {r}"
    );
    assert_eq!(r["applied"], true);
}
