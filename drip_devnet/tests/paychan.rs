//! rippled's payment-channel scenarios (`PayChan_test.cpp`: simple,
//! disallowIncoming, cancelAfter, settleDelay, expiration, closeDry,
//! defaultAmount, dstTag, depositAuth, multiple, metaAndOwnership) against
//! the devnet's ledger, with signed transactions and exact balances. The
//! RPC-level cases (accountChannels, authorize/verify) are in `rpc.rs`.

// The harness fails the test on bad set-up, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::panic)]

use drip_core::claim::sign_claim;
use drip_core::codec::{self, StObject};
use drip_core::{tx, AccountId, Drops, Hash256, KeyPair, KeyType, Seed};
use drip_devnet::ledger::chain::{genesis_account, GENESIS_SEED};
use drip_devnet::ledger::{Chain, Config};
use drip_devnet::ter::Ter;
use serde_json::{json, Value as Json};

const XRP: u64 = 1_000_000;
const FEE: u64 = 10;
const TF_RENEW: u32 = 0x0001_0000;
const TF_CLOSE: u32 = 0x0002_0000;

fn xrp(n: u64) -> Drops {
    Drops::new(n * XRP)
}

/// A chain with a clock, and signed-transaction helpers.
struct Env {
    chain: Chain,
    now: u32,
}

struct Wallet {
    key: KeyPair,
    id: AccountId,
}

impl Env {
    fn new() -> Env {
        let now = 800_000_000;
        Env {
            chain: Chain::new(Config::default(), now),
            now,
        }
    }

    fn wallet(&self, n: u8, kt: KeyType) -> Wallet {
        let key = Seed::from_entropy([n; 16], kt).key_pair().unwrap();
        Wallet {
            id: key.account_id(),
            key,
        }
    }

    fn genesis(&self) -> Wallet {
        let key = GENESIS_SEED.parse::<Seed>().unwrap().key_pair().unwrap();
        assert_eq!(key.account_id(), genesis_account());
        Wallet {
            id: key.account_id(),
            key,
        }
    }

    /// A funded account, like rippled's `env.fund(XRP(n), alice)`.
    fn funded(&mut self, n: u8, kt: KeyType, amount: Drops) -> Wallet {
        let w = self.wallet(n, kt);
        let g = self.genesis();
        let r = self.submit(&g, json!({"TransactionType": "Payment", "Destination": w.id.to_address(), "Amount": amount.to_string()}));
        assert_eq!(r, Ter::tesSUCCESS);
        self.close();
        w
    }

    fn seq(&self, id: &AccountId) -> u32 {
        self.chain.open_state().accounts[id].sequence
    }

    fn balance(&self, id: &AccountId) -> Drops {
        self.chain
            .open_state()
            .accounts
            .get(id)
            .map_or(Drops::ZERO, |a| a.balance)
    }

    fn owner_count(&self, id: &AccountId) -> u32 {
        self.chain.open_state().accounts[id].owner_count
    }

    /// Sign `fields` (plus Account, Sequence, Fee) as `w` and submit.
    fn submit(&mut self, w: &Wallet, mut fields: Json) -> Ter {
        let m = fields.as_object_mut().unwrap();
        m.insert("Account".into(), json!(w.id.to_address()));
        m.entry("Sequence").or_insert(json!(self.seq(&w.id)));
        m.entry("Fee").or_insert(json!(FEE.to_string()));
        let mut obj: StObject = codec::from_json(&fields).unwrap();
        let signed = tx::sign(&mut obj, &w.key).unwrap();
        self.chain.submit(&signed.blob).unwrap().ter
    }

    /// AccountSet with `SetFlag` (`on`) or `ClearFlag` of `asf`.
    fn account_flag(&mut self, w: &Wallet, asf: u32, on: bool) -> Ter {
        let field = if on { "SetFlag" } else { "ClearFlag" };
        self.submit(w, json!({"TransactionType": "AccountSet", field: asf}))
    }

    fn close(&mut self) {
        self.chain.close(self.now);
    }

    /// Move the clock forward and close a ledger: the next transaction sees
    /// this close time as its parent close time.
    fn advance(&mut self, secs: u32) {
        self.now = self.last_close_time() + secs;
        self.close();
    }

    fn last_close_time(&self) -> u32 {
        self.chain.last_closed().close_time
    }

    fn create(
        &mut self,
        src: &Wallet,
        dst: &Wallet,
        amount: Drops,
        settle_delay: u32,
        extra: Json,
    ) -> (Ter, Hash256) {
        let seq = self.seq(&src.id);
        let mut tx = json!({
            "TransactionType": "PaymentChannelCreate",
            "Destination": dst.id.to_address(),
            "Amount": amount.to_string(),
            "SettleDelay": settle_delay,
            "PublicKey": src.key.public_key().to_hex(),
        });
        tx.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let ter = self.submit(src, tx);
        (ter, drip_core::channel::channel_id(&src.id, &dst.id, seq))
    }

    fn fund(&mut self, w: &Wallet, chan: Hash256, amount: Drops, extra: Json) -> Ter {
        let mut tx = json!({"TransactionType": "PaymentChannelFund", "Channel": chan.to_string(), "Amount": amount.to_string()});
        tx.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.submit(w, tx)
    }

    /// A claim sent by `w`; `signed_by` signs a claim for `balance` if given.
    fn claim(
        &mut self,
        w: &Wallet,
        chan: Hash256,
        balance: Option<Drops>,
        signed_by: Option<&Wallet>,
        flags: u32,
    ) -> Ter {
        let mut tx = json!({"TransactionType": "PaymentChannelClaim", "Channel": chan.to_string(), "Flags": flags});
        let m = tx.as_object_mut().unwrap();
        if let Some(b) = balance {
            m.insert("Balance".into(), json!(b.to_string()));
            m.insert("Amount".into(), json!(b.to_string()));
            if let Some(signer) = signed_by {
                let sig = sign_claim(&signer.key, &chan, b);
                m.insert("Signature".into(), json!(hex::encode_upper(sig)));
                m.insert("PublicKey".into(), json!(signer.key.public_key().to_hex()));
            }
        }
        self.submit(w, tx)
    }

    /// The metadata of the transaction `w` sent last.
    fn last_meta(&self, w: &Wallet) -> Json {
        let hash = self.chain.account_txs(&w.id).last().unwrap();
        codec::to_json(&codec::decode(&self.chain.tx(hash).unwrap().meta).unwrap())
    }

    fn channel(&self, chan: &Hash256) -> Option<drip_devnet::ledger::PayChannel> {
        self.chain.open_state().channels.get(chan).cloned()
    }
}

fn fee(n: u64) -> Drops {
    Drops::new(n * FEE)
}

#[test]
fn simple() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Secp256k1, xrp(10_000));
    let bob = env.funded(2, KeyType::Ed25519, xrp(10_000));
    let (ter, chan) = env.create(&alice, &bob, xrp(1000), 3600, json!({}));
    assert_eq!(ter, Ter::tesSUCCESS);
    let c = env.channel(&chan).unwrap();
    assert_eq!((c.amount, c.balance), (xrp(1000), Drops::ZERO));
    assert_eq!(env.owner_count(&alice.id), 1);

    assert_eq!(
        env.fund(&alice, chan, xrp(1000), json!({})),
        Ter::tesSUCCESS
    );
    assert_eq!(env.channel(&chan).unwrap().amount, xrp(2000));
    // Preflight: a negative or zero amount, a bad flag.
    assert_eq!(
        env.fund(&alice, chan, Drops::ZERO, json!({})),
        Ter::temBAD_AMOUNT
    );
    assert_eq!(
        env.fund(&alice, chan, xrp(1), json!({"Flags": TF_RENEW})),
        Ter::temINVALID_FLAG
    );
    // No such channel.
    assert_eq!(
        env.fund(&alice, Hash256([7; 32]), xrp(1), json!({})),
        Ter::tecNO_ENTRY
    );
    // Only the source can fund.
    assert_eq!(
        env.fund(&bob, chan, xrp(1), json!({})),
        Ter::tecNO_PERMISSION
    );

    // The destination claims 500 XRP with the source's signature.
    let bob_before = env.balance(&bob.id);
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(500)), Some(&alice), 0),
        Ter::tesSUCCESS
    );
    assert_eq!(
        env.balance(&bob.id),
        bob_before
            .checked_add(xrp(500))
            .unwrap()
            .checked_sub(fee(1))
            .unwrap()
    );
    assert_eq!(env.channel(&chan).unwrap().balance, xrp(500));
    // The same balance again: nothing to claim, the fee burns.
    let bob_before = env.balance(&bob.id);
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(500)), Some(&alice), 0),
        Ter::tecUNFUNDED_PAYMENT
    );
    assert_eq!(
        env.balance(&bob.id),
        bob_before.checked_sub(fee(1)).unwrap()
    );
    // More than the channel holds.
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(2001)), Some(&alice), 0),
        Ter::tecUNFUNDED_PAYMENT
    );
    // Signed by someone else: the signature does not match the PublicKey the
    // claim names, so preflight refuses it; naming another key is temBAD_SIGNER.
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(600)), Some(&bob), 0),
        Ter::temBAD_SIGNER
    );
    let mut tampered = json!({
        "TransactionType": "PaymentChannelClaim", "Channel": chan.to_string(),
        "Balance": xrp(600).to_string(), "Amount": xrp(600).to_string(),
        "Signature": hex::encode_upper(sign_claim(&alice.key, &chan, xrp(599))),
        "PublicKey": alice.key.public_key().to_hex(),
    });
    assert_eq!(env.submit(&bob, tampered.take()), Ter::temBAD_SIGNATURE);
    // The destination cannot claim without a signature.
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(600)), None, 0),
        Ter::temBAD_SIGNATURE
    );
    // The source can, without one.
    let bob_before = env.balance(&bob.id);
    assert_eq!(
        env.claim(&alice, chan, Some(xrp(600)), None, 0),
        Ter::tesSUCCESS
    );
    assert_eq!(
        env.balance(&bob.id),
        bob_before.checked_add(xrp(100)).unwrap()
    );

    // The destination closes: the rest goes back to the source at once.
    let alice_before = env.balance(&alice.id);
    assert_eq!(env.claim(&bob, chan, None, None, TF_CLOSE), Ter::tesSUCCESS);
    assert!(env.channel(&chan).is_none());
    assert_eq!(
        env.balance(&alice.id),
        alice_before.checked_add(xrp(1400)).unwrap()
    );
    assert_eq!(env.owner_count(&alice.id), 0);
}

#[test]
fn disallow_incoming() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Ed25519, xrp(10_000));
    let bob = env.funded(2, KeyType::Secp256k1, xrp(10_000));
    assert_eq!(env.account_flag(&bob, 14, true), Ter::tesSUCCESS);
    let (ter, _) = env.create(&alice, &bob, xrp(1000), 100, json!({}));
    assert_eq!(ter, Ter::tecNO_PERMISSION);
    assert_eq!(env.owner_count(&alice.id), 0);
    assert_eq!(env.account_flag(&bob, 14, false), Ter::tesSUCCESS);
    let (ter, _) = env.create(&alice, &bob, xrp(1000), 100, json!({}));
    assert_eq!(ter, Ter::tesSUCCESS);
}

#[test]
fn cancel_after() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Secp256k1, xrp(10_000));
    let bob = env.funded(2, KeyType::Secp256k1, xrp(10_000));
    let carol = env.funded(3, KeyType::Secp256k1, xrp(10_000));
    // A CancelAfter already passed is refused; equal to the parent close time is fine.
    let past = env.last_close_time() - 1;
    let (ter, _) = env.create(&alice, &bob, xrp(1000), 100, json!({"CancelAfter": past}));
    assert_eq!(ter, Ter::tecEXPIRED);
    let cancel_after = env.last_close_time() + 3600;
    let (ter, chan) = env.create(
        &alice,
        &bob,
        xrp(1000),
        100,
        json!({"CancelAfter": cancel_after}),
    );
    assert_eq!(ter, Ter::tesSUCCESS);
    env.close();
    // Before CancelAfter, claims work.
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(100)), Some(&alice), 0),
        Ter::tesSUCCESS
    );
    // At CancelAfter, any transaction closes the channel, whoever sends it,
    // and the source gets the rest back.
    env.advance(3600);
    assert!(env.last_close_time() >= cancel_after);
    let alice_before = env.balance(&alice.id);
    let bob_before = env.balance(&bob.id);
    assert_eq!(env.claim(&carol, chan, None, None, 0), Ter::tesSUCCESS);
    assert!(env.channel(&chan).is_none());
    assert_eq!(
        env.balance(&alice.id),
        alice_before.checked_add(xrp(900)).unwrap()
    );
    assert_eq!(
        env.balance(&bob.id),
        bob_before,
        "the destination gains nothing more"
    );
}

#[test]
fn settle_delay() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Ed25519, xrp(10_000));
    let bob = env.funded(2, KeyType::Ed25519, xrp(10_000));
    let (_, chan) = env.create(&alice, &bob, xrp(1000), 3600, json!({}));
    env.close();
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(100)), Some(&alice), 0),
        Ter::tesSUCCESS
    );
    // The source asks to close: Expiration = parent close time + SettleDelay.
    assert_eq!(
        env.claim(&alice, chan, None, None, TF_CLOSE),
        Ter::tesSUCCESS
    );
    let expiration = env.channel(&chan).unwrap().expiration.unwrap();
    assert_eq!(expiration, env.last_close_time() + 3600);
    // Within the delay the destination can still claim.
    env.advance(1800);
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(200)), Some(&alice), 0),
        Ter::tesSUCCESS
    );
    // After it, a claim closes the channel instead, paying nothing more.
    env.advance(1800);
    let bob_before = env.balance(&bob.id);
    let alice_before = env.balance(&alice.id);
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(300)), Some(&alice), 0),
        Ter::tesSUCCESS
    );
    assert!(env.channel(&chan).is_none());
    assert_eq!(
        env.balance(&bob.id),
        bob_before.checked_sub(fee(1)).unwrap()
    );
    assert_eq!(
        env.balance(&alice.id),
        alice_before.checked_add(xrp(800)).unwrap()
    );
}

#[test]
fn expiration() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Secp256k1, xrp(10_000));
    let bob = env.funded(2, KeyType::Secp256k1, xrp(10_000));
    let (_, chan) = env.create(&alice, &bob, xrp(1000), 3600, json!({}));
    env.close();
    let t = env.last_close_time();
    // Expiration below parent close time + SettleDelay is refused.
    assert_eq!(
        env.fund(&alice, chan, xrp(1), json!({"Expiration": t + 100})),
        Ter::temBAD_EXPIRATION
    );
    assert_eq!(
        env.fund(&alice, chan, xrp(1), json!({"Expiration": t + 3600})),
        Ter::tesSUCCESS
    );
    assert_eq!(env.channel(&chan).unwrap().expiration, Some(t + 3600));
    // It can move later, or earlier down to the same floor.
    assert_eq!(
        env.fund(&alice, chan, xrp(1), json!({"Expiration": t + 7200})),
        Ter::tesSUCCESS
    );
    assert_eq!(
        env.fund(&alice, chan, xrp(1), json!({"Expiration": t + 3700})),
        Ter::tesSUCCESS
    );
    // tfRenew clears it; only the source may renew.
    assert_eq!(
        env.claim(&bob, chan, None, None, TF_RENEW),
        Ter::tecNO_PERMISSION
    );
    assert_eq!(
        env.claim(&alice, chan, None, None, TF_RENEW),
        Ter::tesSUCCESS
    );
    assert_eq!(env.channel(&chan).unwrap().expiration, None);
    // Set again and let it pass: a Fund then closes the channel with
    // tesSUCCESS and adds nothing.
    assert_eq!(
        env.fund(
            &alice,
            chan,
            xrp(1),
            json!({"Expiration": env.last_close_time() + 3600})
        ),
        Ter::tesSUCCESS
    );
    env.advance(3600);
    let alice_before = env.balance(&alice.id);
    let remaining = env.channel(&chan).unwrap().remaining();
    assert_eq!(env.fund(&alice, chan, xrp(50), json!({})), Ter::tesSUCCESS);
    assert!(env.channel(&chan).is_none());
    assert_eq!(
        env.balance(&alice.id),
        alice_before
            .checked_add(remaining)
            .unwrap()
            .checked_sub(fee(1))
            .unwrap()
    );
}

#[test]
fn close_dry() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Ed25519, xrp(10_000));
    let bob = env.funded(2, KeyType::Ed25519, xrp(10_000));
    let (_, chan) = env.create(&alice, &bob, xrp(100), 3600, json!({}));
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(100)), Some(&alice), 0),
        Ter::tesSUCCESS
    );
    // A dry channel closes at once, even when the source asks.
    assert_eq!(
        env.claim(&alice, chan, None, None, TF_CLOSE),
        Ter::tesSUCCESS
    );
    assert!(env.channel(&chan).is_none());
    assert_eq!(env.owner_count(&alice.id), 0);
}

#[test]
fn default_amount() {
    // A claim with Balance and a signature but no Amount: the signed amount
    // is the Balance.
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Secp256k1, xrp(10_000));
    let bob = env.funded(2, KeyType::Secp256k1, xrp(10_000));
    let (_, chan) = env.create(&alice, &bob, xrp(1000), 3600, json!({}));
    let b = xrp(250);
    let tx = json!({
        "TransactionType": "PaymentChannelClaim", "Channel": chan.to_string(),
        "Balance": b.to_string(),
        "Signature": hex::encode_upper(sign_claim(&alice.key, &chan, b)),
        "PublicKey": alice.key.public_key().to_hex(),
    });
    assert_eq!(env.submit(&bob, tx), Ter::tesSUCCESS);
    assert_eq!(env.channel(&chan).unwrap().balance, b);
}

#[test]
fn dst_tag() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Ed25519, xrp(10_000));
    let bob = env.funded(2, KeyType::Ed25519, xrp(10_000));
    assert_eq!(env.account_flag(&bob, 1, true), Ter::tesSUCCESS);
    let (ter, _) = env.create(&alice, &bob, xrp(1000), 100, json!({}));
    assert_eq!(ter, Ter::tecDST_TAG_NEEDED);
    let (ter, chan) = env.create(&alice, &bob, xrp(1000), 100, json!({"DestinationTag": 42}));
    assert_eq!(ter, Ter::tesSUCCESS);
    assert_eq!(env.channel(&chan).unwrap().destination_tag, Some(42));
}

#[test]
fn deposit_auth() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Secp256k1, xrp(10_000));
    let bob = env.funded(2, KeyType::Secp256k1, xrp(10_000));
    let (_, chan) = env.create(&alice, &bob, xrp(1000), 100, json!({}));
    assert_eq!(env.account_flag(&bob, 9, true), Ter::tesSUCCESS);
    // With DepositAuth the source cannot push a claim to the destination…
    assert_eq!(
        env.claim(&alice, chan, Some(xrp(100)), None, 0),
        Ter::tecNO_PERMISSION
    );
    // …but the destination can claim for itself.
    assert_eq!(
        env.claim(&bob, chan, Some(xrp(100)), Some(&alice), 0),
        Ter::tesSUCCESS
    );
    // Payments to it are refused too.
    assert_eq!(
        env.submit(&alice, json!({"TransactionType": "Payment", "Destination": bob.id.to_address(), "Amount": xrp(1).to_string()})),
        Ter::tecNO_PERMISSION
    );
}

#[test]
fn multiple() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Ed25519, xrp(10_000));
    let bob = env.funded(2, KeyType::Ed25519, xrp(10_000));
    let mut chans = Vec::new();
    for _ in 0..3 {
        let (ter, chan) = env.create(&alice, &bob, xrp(100), 100, json!({}));
        assert_eq!(ter, Ter::tesSUCCESS);
        chans.push(chan);
    }
    chans.dedup();
    assert_eq!(chans.len(), 3, "each create gets its own channel id");
    assert_eq!(env.owner_count(&alice.id), 3);
}

#[test]
fn reserves_and_funds() {
    let mut env = Env::new();
    let reserve = env.chain.config().fees.reserve(1);
    // One drop short of the reserve of one more object plus the amount
    // (checked against the balance before the fee, as rippled does).
    let alice = env.funded(
        1,
        KeyType::Secp256k1,
        reserve
            .checked_add(xrp(10))
            .unwrap()
            .checked_sub(Drops::new(1))
            .unwrap(),
    );
    let bob = env.funded(2, KeyType::Secp256k1, xrp(100));
    let (ter, _) = env.create(&alice, &bob, xrp(10), 100, json!({}));
    assert_eq!(ter, Ter::tecUNFUNDED);
    assert_eq!(env.owner_count(&alice.id), 0);
    let (ter, _) = env.create(&alice, &bob, xrp(9), 100, json!({}));
    assert_eq!(ter, Ter::tesSUCCESS);
    let poor = env.funded(3, KeyType::Secp256k1, xrp(1));
    let (ter, _) = env.create(&poor, &bob, Drops::new(1), 100, json!({}));
    assert_eq!(ter, Ter::tecINSUFFICIENT_RESERVE);
    // No destination.
    let nobody = env.wallet(9, KeyType::Ed25519);
    let (ter, _) = env.create(&bob, &nobody, xrp(1), 100, json!({}));
    assert_eq!(ter, Ter::tecNO_DST);
}

#[test]
fn common_checks() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Ed25519, xrp(100));
    let bob = env.funded(2, KeyType::Ed25519, xrp(100));
    let pay = |n: u64| json!({"TransactionType": "Payment", "Destination": bob.id.to_address(), "Amount": n.to_string()});
    let seq = env.seq(&alice.id);
    let mut past = pay(1);
    past["Sequence"] = json!(seq - 1);
    assert_eq!(env.submit(&alice, past), Ter::tefPAST_SEQ);
    let mut future = pay(1);
    future["Sequence"] = json!(seq + 1);
    assert_eq!(env.submit(&alice, future), Ter::terPRE_SEQ);
    let mut low_fee = pay(1);
    low_fee["Fee"] = json!("9");
    assert_eq!(env.submit(&alice, low_fee), Ter::telINSUF_FEE_P);
    let mut old = pay(1);
    old["LastLedgerSequence"] = json!(env.chain.open_seq() - 1);
    assert_eq!(env.submit(&alice, old), Ter::tefMAX_LEDGER);
    // None of those used the sequence or charged a fee.
    assert_eq!(env.seq(&alice.id), seq);
    assert_eq!(env.balance(&alice.id), xrp(100));
    // Signed by a key that is not the account's master key.
    let mut obj = codec::from_json(
        &json!({"TransactionType": "Payment", "Account": alice.id.to_address(),
        "Destination": bob.id.to_address(), "Amount": "1", "Sequence": seq, "Fee": "10"}),
    )
    .unwrap();
    let signed = tx::sign(&mut obj, &bob.key).unwrap();
    assert_eq!(
        env.chain.submit(&signed.blob).unwrap().ter,
        Ter::tefBAD_AUTH
    );
    // A tampered blob fails local checks before the engine.
    let mut blob = signed.blob.clone();
    let last = blob.len() - 30;
    blob[last] ^= 1;
    assert!(env.chain.submit(&blob).is_err());
    let err = env.chain.submit(&[0x12, 0x00]).unwrap_err();
    assert!(err.to_string().starts_with("invalidTransaction"), "{err}");
}

#[test]
fn meta_and_ownership() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Secp256k1, xrp(10_000));
    let bob = env.funded(2, KeyType::Secp256k1, xrp(10_000));
    let seq = env.seq(&alice.id);
    let mut obj = codec::from_json(&json!({
        "TransactionType": "PaymentChannelCreate", "Account": alice.id.to_address(),
        "Destination": bob.id.to_address(), "Amount": xrp(1000).to_string(), "SettleDelay": 100,
        "PublicKey": alice.key.public_key().to_hex(), "Sequence": seq, "Fee": "10",
    }))
    .unwrap();
    let signed = tx::sign(&mut obj, &alice.key).unwrap();
    let submitted = env.chain.submit(&signed.blob).unwrap();
    assert_eq!(submitted.ter, Ter::tesSUCCESS);
    let record = env.chain.tx(&signed.hash).unwrap().clone();
    let meta = codec::to_json(&codec::decode(&record.meta).unwrap());
    let chan = drip_core::channel::channel_id(&alice.id, &bob.id, seq);
    let created: Vec<&Json> = meta["AffectedNodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.get("CreatedNode"))
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["LedgerEntryType"], "PayChannel");
    assert_eq!(created[0]["LedgerIndex"], chan.to_string());
    assert_eq!(created[0]["NewFields"]["Amount"], xrp(1000).to_string());
    let modified: Vec<&Json> = meta["AffectedNodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.get("ModifiedNode"))
        .collect();
    assert_eq!(modified[0]["FinalFields"]["OwnerCount"], 1);
    assert_eq!(modified[0]["PreviousFields"]["OwnerCount"], 0);
    assert_eq!(meta["TransactionResult"], 0);
    // The channel is threaded to the creating transaction.
    assert_eq!(env.channel(&chan).unwrap().previous_txn_id, signed.hash);
    // Closing deletes it with a DeletedNode.
    let close_seq = env.seq(&bob.id);
    let mut obj = codec::from_json(
        &json!({"TransactionType": "PaymentChannelClaim", "Account": bob.id.to_address(),
        "Channel": chan.to_string(), "Flags": TF_CLOSE, "Sequence": close_seq, "Fee": "10"}),
    )
    .unwrap();
    let signed = tx::sign(&mut obj, &bob.key).unwrap();
    assert_eq!(env.chain.submit(&signed.blob).unwrap().ter, Ter::tesSUCCESS);
    let meta = codec::to_json(&codec::decode(&env.chain.tx(&signed.hash).unwrap().meta).unwrap());
    assert!(meta["AffectedNodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["DeletedNode"]["LedgerEntryType"] == "PayChannel"));
    assert_eq!(env.owner_count(&alice.id), 0);
}

/// A deleted channel's metadata as rippled writes it: FinalFields as the
/// transaction left the entry (a closing claim's new Balance, with the old
/// one in PreviousFields; threading inside FinalFields), so what the ledger
/// paid can be read from it. On an expired channel the claim pays nothing,
/// and the FinalFields say so.
#[test]
fn deleted_channel_metadata_shows_what_was_paid() {
    let mut env = Env::new();
    let alice = env.funded(1, KeyType::Ed25519, xrp(10_000));
    let bob = env.funded(2, KeyType::Ed25519, xrp(10_000));
    let deleted = |meta: &Json| -> Json {
        meta["AffectedNodes"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|n| {
                let d = n.get("DeletedNode")?;
                (d["LedgerEntryType"] == "PayChannel").then(|| d.clone())
            })
            .unwrap()
    };

    // Bob closes with a claim: FinalFields.Balance is what it paid.
    let (_, chan) = env.create(&alice, &bob, xrp(10), 3600, json!({}));
    env.close();
    let bob_before = env.balance(&bob.id);
    let ter = env.claim(&bob, chan, Some(xrp(3)), Some(&alice), TF_CLOSE);
    assert_eq!(ter, Ter::tesSUCCESS);
    let node = deleted(&env.last_meta(&bob));
    assert_eq!(node["FinalFields"]["Balance"], xrp(3).to_string());
    assert_eq!(node["PreviousFields"]["Balance"], "0");
    assert!(node["FinalFields"]["PreviousTxnID"].is_string(), "{node}");
    assert!(node.get("PreviousTxnID").is_none(), "{node}");
    assert_eq!(
        env.balance(&bob.id),
        bob_before
            .checked_add(xrp(3))
            .unwrap()
            .checked_sub(fee(1))
            .unwrap()
    );

    // Past its Expiration the same claim pays nothing: tesSUCCESS, the
    // channel gone, FinalFields.Balance the old balance, no PreviousFields.
    let (_, chan) = env.create(&alice, &bob, xrp(10), 3600, json!({}));
    env.close();
    let t = env.last_close_time();
    assert_eq!(
        env.fund(&alice, chan, xrp(1), json!({"Expiration": t + 3600})),
        Ter::tesSUCCESS
    );
    env.advance(3601);
    let bob_before = env.balance(&bob.id);
    let ter = env.claim(&bob, chan, Some(xrp(3)), Some(&alice), TF_CLOSE);
    assert_eq!(ter, Ter::tesSUCCESS);
    assert!(env.channel(&chan).is_none());
    let node = deleted(&env.last_meta(&bob));
    assert_eq!(node["FinalFields"]["Balance"], "0");
    assert!(node.get("PreviousFields").is_none(), "{node}");
    assert_eq!(
        env.balance(&bob.id),
        bob_before.checked_sub(fee(1)).unwrap()
    );
}
