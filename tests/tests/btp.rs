//! The sidecar's ILP server over real sockets (wss): BTP auth and token binding,
//! `info` before and after a channel, IL-DCP, the channel ownership proof
//! against a channel on the devnet, claims kept in PostgreSQL, bandwidth
//! (T04) and packet size (F08), packets routed between two clients with
//! the fulfillment checked, and malformed frames.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use drip_client::btp::{BtpError, Connection};
use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyType, Seed};
use drip_ilp::asym::{self, protocol, ClaimJson};
use drip_ilp::btp::{self, find, Body, Packet, ProtocolData};
use drip_ilp::ildcp;
use drip_ilp::ilp::{self, ErrorCode, Fulfill, Prepare, Timestamp};
use drip_tests::sidecar::{btp_config, finish, fund, must, sidecar, submitter, world_with, World};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

const T: Duration = Duration::from_secs(10);
const FULFILLMENT: [u8; 32] = [9; 32];

async fn btp_world(name: &str) -> World {
    world_with(name, |c| {
        c.btp = Some(btp_config(1_000_000));
    })
    .await
}

/// Over wss (TLS is on by default), trusting the sidecar's certificate.
async fn connect(w: &World, username: &str, token: &str) -> Result<Connection, BtpError> {
    let url = format!("wss://{}", sidecar(w).btp_addr.unwrap());
    let ca = sidecar(w).certificate.clone().unwrap();
    Connection::connect_trusting(&url, username, token, Some(ca.as_bytes()), T).await
}

async fn message(c: &Connection, pd: Vec<ProtocolData>) -> Packet {
    c.call(Body::Message(pd), T).await.unwrap()
}

fn error_text(p: &Packet) -> Option<(String, String)> {
    match &p.body {
        Body::Error(e) => Some((
            e.code.clone(),
            String::from_utf8_lossy(&e.data).into_owned(),
        )),
        _ => None,
    }
}

async fn info(c: &Connection) -> Json {
    let p = message(
        c,
        vec![ProtocolData::new(
            protocol::INFO,
            btp::OCTET_STREAM,
            vec![2],
        )],
    )
    .await;
    let Body::Response(pd) = p.body else {
        panic!("{p:?}")
    };
    serde_json::from_slice(&find(&pd, protocol::INFO).unwrap().data).unwrap()
}

/// Send an ILP packet; the ILP answer.
async fn ilp(c: &Connection, packet: ilp::Packet) -> ilp::Packet {
    let bytes = packet.encode().unwrap();
    let p = message(
        c,
        vec![ProtocolData::new(protocol::ILP, btp::OCTET_STREAM, bytes)],
    )
    .await;
    let Body::Response(pd) = p.body else {
        panic!("{p:?}")
    };
    ilp::Packet::decode(&find(&pd, protocol::ILP).unwrap().data).unwrap()
}

fn prepare(amount: u64, destination: &str) -> ilp::Packet {
    ilp::Packet::Prepare(Prepare {
        amount,
        expires_at: Timestamp::from_unix_ms(Timestamp::now().unix_ms + 10_000),
        execution_condition: Sha256::digest(FULFILLMENT).into(),
        destination: destination.parse().unwrap(),
        data: b"hello".to_vec(),
    })
}

fn reject_code(p: &ilp::Packet) -> Option<String> {
    match p {
        ilp::Packet::Reject(r) => Some(r.code.as_str().to_owned()),
        _ => None,
    }
}

/// A 10 XRP channel from `payer` to the sidecar's wallet, settle delay
/// 3600 s, validated on the devnet.
async fn open_channel(w: &World, payer: &drip_core::KeyPair) -> Hash256 {
    let create = must(
        &submitter(&w.devnet, payer.clone()),
        json!({"TransactionType": "PaymentChannelCreate", "Destination": w.merchant.account_id().to_address(),
               "Amount": "10000000", "SettleDelay": 3600, "PublicKey": payer.public_key().to_hex()}),
    )
    .await;
    drip_ledger::created_channel(&create).unwrap()
}

/// The Message that registers `channel` with its ownership proof.
fn register(channel: &Hash256, proof: Vec<u8>) -> Vec<ProtocolData> {
    vec![
        ProtocolData::new(protocol::CHANNEL, 0, channel.0.to_vec()),
        ProtocolData::new(protocol::CHANNEL_SIGNATURE, 0, proof),
    ]
}

/// Ask for the server's channel to `address`.
async fn fund_channel(c: &Connection, address: &drip_core::AccountId) -> Packet {
    message(
        c,
        vec![ProtocolData::new(
            protocol::FUND_CHANNEL,
            btp::TEXT,
            address.to_address().into_bytes(),
        )],
    )
    .await
}

/// The channel's best claim as PostgreSQL holds it.
async fn best_claim(w: &World, channel: &Hash256) -> i64 {
    w.db.client()
        .await
        .query_one(
            "SELECT best_claim FROM drip.channels WHERE channel_id = $1",
            &[&channel.0.to_vec()],
        )
        .await
        .unwrap()
        .get(0)
}

async fn claim(c: &Connection, key: &drip_core::KeyPair, channel: &Hash256, amount: u64) -> Packet {
    let signature = hex::encode_upper(sign_claim(key, channel, Drops::new(amount)));
    let json = serde_json::to_vec(&ClaimJson {
        amount: amount.to_string(),
        signature,
    })
    .unwrap();
    c.call(
        Body::Transfer {
            amount: 0,
            protocol_data: vec![ProtocolData::new(protocol::CLAIM, btp::JSON, json)],
        },
        T,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn auth_binds_tokens_and_info_works_before_a_channel() {
    let w = btp_world("btp_auth").await;
    // Plain WebSocket to the TLS port, or TLS without trusting the
    // certificate, goes nowhere.
    let plain = format!("ws://{}", sidecar(&w).btp_addr.unwrap());
    assert!(Connection::connect(&plain, "", "alice-token", T)
        .await
        .is_err());
    let untrusted = format!("wss://{}", sidecar(&w).btp_addr.unwrap());
    assert!(Connection::connect(&untrusted, "", "alice-token", T)
        .await
        .is_err());
    let a = connect(&w, "", "alice-token").await.unwrap();
    let account = asym::account_name("alice-token");
    let i = info(&a).await;
    assert_eq!(i["address"], w.merchant.account_id().to_address());
    assert_eq!(i["account"], format!("test.drip.{account}"));
    assert_eq!(i["currencyScale"], 6);
    assert!(i.get("channel").is_none());

    // A named account is bound to the token that first used it.
    connect(&w, "bob", "bob-token-1").await.unwrap();
    match connect(&w, "bob", "bob-token-2").await {
        Err(BtpError::Refused(why)) => assert!(why.contains("invalid auth_token"), "{why}"),
        other => panic!("{other:?}"),
    }
    match connect(&w, "", "").await {
        Err(BtpError::Refused(why)) => assert!(why.contains("auth_token"), "{why}"),
        other => panic!("{other:?}"),
    }

    // IL-DCP gives the client its address.
    let ildcp = ilp(
        &a,
        ilp::Packet::Prepare(
            ildcp::request(Timestamp::from_unix_ms(Timestamp::now().unix_ms + 60_000)).unwrap(),
        ),
    )
    .await;
    let ilp::Packet::Fulfill(f) = ildcp else {
        panic!("{ildcp:?}")
    };
    let config = ildcp::Config::from_response(&f).unwrap();
    assert_eq!(
        config.client_address.as_str(),
        format!("test.drip.{account}")
    );
    assert_eq!((config.asset_scale, config.asset_code.as_str()), (6, "XRP"));

    // Garbage gets an error and the connection stays usable.
    a.send_raw(vec![6, 0, 0, 0, 7, 9, 9]).await.unwrap();
    let p = a
        .call(
            Body::Message(vec![ProtocolData::new("nonsense", 0, vec![])]),
            T,
        )
        .await
        .unwrap();
    assert_eq!(p.body, Body::Response(vec![]));
    assert_eq!(info(&a).await["currencyScale"], 6);
    finish(w).await;
}

#[tokio::test]
async fn channels_claims_bandwidth_and_routing() {
    let w = btp_world("btp_flow").await;
    let payer = Seed::from_entropy([0x42; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    fund(&w, &payer.account_id(), 50_000_000).await;
    let a = connect(&w, "", "alice-token").await.unwrap();
    let b = connect(&w, "", "bob-token").await.unwrap();
    let alice = format!("test.drip.{}", asym::account_name("alice-token"));
    let bob = format!("test.drip.{}", asym::account_name("bob-token"));

    // Bob fulfills what he is sent, or (when told) answers wrongly.
    let wrong = Arc::new(AtomicBool::new(false));
    let b = Arc::new(b);
    let (bb, wr) = (b.clone(), wrong.clone());
    tokio::spawn(async move {
        while let Some(req) = bb.next_request().await {
            let data = match &req.body {
                Body::Message(pd) => find(pd, protocol::ILP).cloned(),
                _ => None,
            };
            let Some(data) = data else {
                // Claims and notices: taken.
                let _ = bb.respond(req.request_id, Body::Response(vec![])).await;
                continue;
            };
            let Ok(ilp::Packet::Prepare(p)) = ilp::Packet::decode(&data.data) else {
                continue;
            };
            assert_eq!(p.data, b"hello");
            let fulfillment = if wr.load(Ordering::SeqCst) {
                [8; 32]
            } else {
                FULFILLMENT
            };
            let reply = ilp::Packet::Fulfill(Fulfill {
                fulfillment,
                data: vec![],
            })
            .encode()
            .unwrap();
            let _ = bb
                .respond(
                    req.request_id,
                    Body::Response(vec![ProtocolData::new(protocol::ILP, 0, reply)]),
                )
                .await;
        }
    });

    // No channel: nothing passes.
    assert_eq!(
        reject_code(&ilp(&a, prepare(10, &bob)).await).as_deref(),
        Some("F02")
    );

    // Alice's channel to the server, proven hers.
    let channel = open_channel(&w, &payer).await;
    let proof = |address: &str| payer.sign(&asym::ownership_message(&channel, address));
    let refused = message(&a, register(&channel, proof(&bob))).await;
    assert_eq!(
        error_text(&refused).unwrap().0,
        "F00",
        "a proof for another address"
    );
    // Bob cannot take Alice's channel either.
    let stolen = message(&b, register(&channel, proof(&bob))).await;
    assert!(
        error_text(&stolen).is_none(),
        "Bob's proof is valid for Bob: {stolen:?}"
    );
    let taken = message(&a, register(&channel, proof(&alice))).await;
    assert_eq!(
        error_text(&taken).unwrap().0,
        "F00",
        "the channel is Bob's now"
    );
    // Alice has no channel yet, so none comes back to her; Bob's 10 XRP
    // one earns him the server's channel to his wallet.
    let (code, text) = error_text(&fund_channel(&a, &payer.account_id()).await).unwrap();
    assert_eq!(
        (code.as_str(), text.as_str()),
        ("F00", "fund_channel refused: no_incoming_channel")
    );
    let back = fund_channel(&b, &payer.account_id()).await;
    let Body::Response(pd) = &back.body else {
        panic!("{back:?}")
    };
    let to_bob = Hash256(
        find(pd, protocol::FUND_CHANNEL)
            .unwrap()
            .data
            .as_slice()
            .try_into()
            .unwrap(),
    );
    let entry = w.genesis.client().channel(&to_bob).await.unwrap().unwrap();
    assert_eq!(entry.account, w.merchant.account_id());
    assert_eq!(entry.destination, payer.account_id());
    assert_eq!(entry.amount, Drops::new(1_000_000));
    assert_eq!(entry.settle_delay, 3600);
    assert_eq!(info(&b).await["clientChannel"], to_bob.to_string());

    // A second channel for Alice.
    let channel = open_channel(&w, &payer).await;
    let sig = payer.sign(&asym::ownership_message(&channel, &alice));
    let ok = message(&a, register(&channel, sig)).await;
    assert_eq!(ok.body, Body::Response(vec![]), "{ok:?}");
    assert_eq!(info(&a).await["channel"], channel.to_string());

    // Bandwidth 0: a packet waits for a claim covering it.
    assert_eq!(
        reject_code(&ilp(&a, prepare(1_000, &bob)).await).as_deref(),
        Some("T04")
    );
    assert!(error_text(&claim(&a, &payer, &channel, 1_000).await).is_none());
    let last = message(&a, vec![ProtocolData::new(protocol::LAST_CLAIM, 0, vec![])]).await;
    let Body::Response(pd) = last.body else {
        panic!()
    };
    let last: Json =
        serde_json::from_slice(&find(&pd, protocol::LAST_CLAIM).unwrap().data).unwrap();
    assert_eq!(last["amount"], "1000");
    // A lower claim is ignored; a forged one refused.
    assert!(error_text(&claim(&a, &payer, &channel, 500).await).is_none());
    let stranger = Seed::from_entropy([0x43; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    assert_eq!(
        error_text(&claim(&a, &stranger, &channel, 2_000).await)
            .unwrap()
            .0,
        "F00"
    );

    // Routed to Bob and fulfilled; a day's expiry holds its amounts for
    // 30 s at most (cut for the next hop).
    let mut far = prepare(1_000, &format!("{bob}.shop"));
    if let ilp::Packet::Prepare(p) = &mut far {
        p.expires_at = Timestamp::from_unix_ms(Timestamp::now().unix_ms + 86_400_000);
    }
    let fulfilled = ilp(&a, far).await;
    assert!(
        matches!(fulfilled, ilp::Packet::Fulfill(ref f) if f.fulfillment == FULFILLMENT),
        "{fulfilled:?}"
    );
    let held_for: f64 =
        w.db.client()
            .await
            .query_one(
                "SELECT extract(epoch FROM max(expires_at) - now())::float8 FROM drip.ilp_holds",
                &[],
            )
            .await
            .unwrap()
            .get(0);
    assert!(held_for <= 30.0, "held for {held_for} s");
    assert_eq!(
        reject_code(&ilp(&a, prepare(1, &bob)).await).as_deref(),
        Some("T04")
    );
    // A wrong fulfillment is an F05 and owes nothing.
    claim(&a, &payer, &channel, 2_000).await;
    wrong.store(true, Ordering::SeqCst);
    assert_eq!(
        reject_code(&ilp(&a, prepare(1_000, &bob)).await).as_deref(),
        Some("F05")
    );
    wrong.store(false, Ordering::SeqCst);
    assert!(matches!(
        ilp(&a, prepare(1_000, &bob)).await,
        ilp::Packet::Fulfill(_)
    ));
    // Too large, and unknown destinations.
    let big = ilp(&a, prepare(1_000_001, &bob)).await;
    let ilp::Packet::Reject(r) = &big else {
        panic!("{big:?}")
    };
    assert_eq!(r.code, ErrorCode::F08_AMOUNT_TOO_LARGE);
    assert_eq!(r.data, ilp::amount_too_large_data(1_000_001, 1_000_000));
    // The bandwidth check comes first, as in the original; then routing.
    assert_eq!(
        reject_code(&ilp(&a, prepare(1, "test.drip.nobody")).await).as_deref(),
        Some("T04")
    );
    assert_eq!(
        reject_code(&ilp(&a, prepare(0, "test.drip.nobody")).await).as_deref(),
        Some("F02")
    );
    assert_eq!(
        reject_code(&ilp(&a, prepare(1, "g.elsewhere")).await).as_deref(),
        Some("F02")
    );

    // A packet held as by a sidecar that crashed before its answer: the
    // sweep releases it once it expired.
    let (alice_account, bob_account) = (
        asym::account_name("alice-token"),
        asym::account_name("bob-token"),
    );
    let owed = "SELECT prepared FROM drip.ilp_account($1)";
    let reserved = "SELECT reserved FROM drip.ilp_outgoing_channel($1)";
    let before = db_until(&w, owed, &alice_account, 2_000i64).await;
    let held: Option<i64> =
        w.db.client()
            .await
            .query_one(
                "SELECT hold FROM drip.ilp_route($1, $2, 500, 500, 6, now() - interval '1 minute')",
                &[&alice_account, &bob_account],
            )
            .await
            .unwrap()
            .get(0);
    assert!(held.is_some());
    db_until(&w, owed, &alice_account, before).await;
    db_until(&w, reserved, &bob_account, 0i64).await;

    // The claims are in PostgreSQL.
    let best = best_claim(&w, &channel).await;
    assert_eq!(best, 2_000);

    // Worth more than 100 fees: the sidecar redeems it on the ledger, once.
    let mut on_ledger = 0;
    for _ in 0..100 {
        on_ledger = w
            .genesis
            .client()
            .channel(&channel)
            .await
            .unwrap()
            .unwrap()
            .balance
            .get();
        if on_ledger == 2_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(on_ledger, 2_000);
    let db = w.db.client().await;
    let mut recorded = 0;
    for _ in 0..50 {
        recorded = db
            .query_one(
                "SELECT ledger_balance FROM drip.channels WHERE channel_id = $1",
                &[&channel.0.to_vec()],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if recorded == 2_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(recorded, 2_000);
    // Every claim job ends done (the balance is recorded just before).
    let mut states = Vec::new();
    for _ in 0..50 {
        states = db
            .query(
                "SELECT state::text, last_error FROM drip.outbox WHERE channel_id = $1 AND kind = 'claim'",
                &[&channel.0.to_vec()],
            )
            .await
            .unwrap()
            .iter()
            .map(|j| (j.get::<_, String>(0), j.get::<_, Option<String>>(1)))
            .collect::<Vec<_>>();
        if !states.is_empty() && states.iter().all(|(s, _)| s == "done") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!states.is_empty());
    assert!(
        states.iter().all(|(s, e)| s == "done" && e.is_none()),
        "{states:?}"
    );
    finish(w).await;
}

/// A client that can be paid: its 10 XRP channel to the server, proven,
/// and the server's channel back to its wallet.
async fn payee(w: &World, token: &str, byte: u8) -> Arc<Connection> {
    let key = Seed::from_entropy([byte; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    fund(w, &key.account_id(), 50_000_000).await;
    let c = connect(w, "", token).await.unwrap();
    let channel = open_channel(w, &key).await;
    let address = format!("test.drip.{}", asym::account_name(token));
    let proof = key.sign(&asym::ownership_message(&channel, &address));
    assert_eq!(
        message(&c, register(&channel, proof)).await.body,
        Body::Response(vec![])
    );
    let back = fund_channel(&c, &key.account_id()).await;
    assert!(error_text(&back).is_none(), "{back:?}");
    Arc::new(c)
}

/// Answer every ILP Prepare on `c` with the fulfillment, tagging the data
/// with `who`; every other request with an empty Response.
fn fulfill_all(c: Arc<Connection>, who: &'static str) {
    tokio::spawn(async move {
        while let Some(req) = c.next_request().await {
            let ilp = matches!(&req.body, Body::Message(pd) if find(pd, protocol::ILP).is_some());
            if !ilp {
                let _ = c.respond(req.request_id, Body::Response(vec![])).await;
                continue;
            }
            let reply = ilp::Packet::Fulfill(Fulfill {
                fulfillment: FULFILLMENT,
                data: who.as_bytes().to_vec(),
            })
            .encode()
            .unwrap();
            let _ = c
                .respond(
                    req.request_id,
                    Body::Response(vec![ProtocolData::new(protocol::ILP, 0, reply)]),
                )
                .await;
        }
    });
}

#[tokio::test]
async fn a_second_socket_per_account_and_a_reconnect() {
    let w = btp_world("btp_sockets").await;
    let payer = Seed::from_entropy([0x44; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    fund(&w, &payer.account_id(), 50_000_000).await;
    let alice = format!("test.drip.{}", asym::account_name("alice-token"));
    let bob = format!("test.drip.{}", asym::account_name("bob-token"));
    let a = connect(&w, "", "alice-token").await.unwrap();
    let channel = open_channel(&w, &payer).await;
    let sig = payer.sign(&asym::ownership_message(&channel, &alice));
    let ok = message(&a, register(&channel, sig)).await;
    assert_eq!(ok.body, Body::Response(vec![]));
    assert!(error_text(&claim(&a, &payer, &channel, 5_000).await).is_none());

    // Bob twice: packets go to his newest socket, then to the one left.
    let b1 = Arc::new(connect(&w, "", "bob-token").await.unwrap());
    let b2 = Arc::new(connect(&w, "", "bob-token").await.unwrap());
    fulfill_all(b1.clone(), "b1");
    fulfill_all(b2.clone(), "b2");
    let answered_by = |p: ilp::Packet| match p {
        ilp::Packet::Fulfill(f) => String::from_utf8(f.data).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(answered_by(ilp(&a, prepare(0, &bob)).await), "b2");
    b2.close();
    let mut last = String::new();
    for _ in 0..50 {
        last = answered_by(ilp(&a, prepare(0, &bob)).await);
        if last == "b1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, "b1");

    // Alice drops and comes back: her best claim is still there.
    drop(a);
    let a = connect(&w, "", "alice-token").await.unwrap();
    let last = message(&a, vec![ProtocolData::new(protocol::LAST_CLAIM, 0, vec![])]).await;
    let Body::Response(pd) = last.body else {
        panic!()
    };
    let last: Json =
        serde_json::from_slice(&find(&pd, protocol::LAST_CLAIM).unwrap().data).unwrap();
    assert_eq!(last["amount"], "5000");
    let signature = hex::decode(last["signature"].as_str().unwrap()).unwrap();
    assert!(drip_core::claim::verify_claim(
        payer.public_key(),
        &channel,
        Drops::new(5_000),
        &signature
    )
    .is_ok());
    assert_eq!(info(&a).await["channel"], channel.to_string());
    finish(w).await;
}

/// drip's own ILP client: opens its channel to the server with the derived
/// key, proves it, pays with claims that let its packets through, and after
/// a restart continues the same channel above its last claim.
#[tokio::test]
async fn the_rust_client_opens_proves_pays_and_resumes() {
    use drip_client::ilp::{IlpClient, IlpConfig};
    let w = btp_world("btp_client").await;
    let seed = Seed::from_entropy([0x45; 16], KeyType::Ed25519);
    let payer = seed.key_pair().unwrap();
    fund(&w, &payer.account_id(), 50_000_000).await;
    let ledger = Arc::new(submitter(&w.devnet, payer.clone()));
    let dir = std::env::temp_dir().join(format!("drip-ilp-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = IlpConfig {
        server: format!("wss://{}", sidecar(&w).btp_addr.unwrap()),
        ca: sidecar(&w).certificate.clone().map(String::into_bytes),
        token: "carol-token".into(),
        xrp_secret: seed.encode(),
        channel_amount: Drops::new(10_000_000),
        store: dir.join("carol.json"),
        timeout: T,
    };
    let bob = format!("test.drip.{}", asym::account_name("bob-token"));
    let b = payee(&w, "bob-token", 0x48).await;
    fulfill_all(b.clone(), "bob");

    let mut carol = IlpClient::connect(&config, ledger.clone()).await.unwrap();
    assert_eq!(carol.server_account, w.merchant.account_id().to_address());
    assert_eq!(
        carol.address,
        format!("test.drip.{}", asym::account_name("carol-token"))
    );
    let channel = carol.channel;
    assert_eq!(
        reject_code(&carol.send(&prepare(700, &bob)).await.unwrap()).as_deref(),
        Some("T04")
    );
    carol.pay(700).await.unwrap();
    assert!(matches!(
        carol.send(&prepare(700, &bob)).await.unwrap(),
        ilp::Packet::Fulfill(_)
    ));
    drop(carol);

    // Restarted: the same channel, the claim continues from 700.
    let mut carol = IlpClient::connect(&config, ledger.clone()).await.unwrap();
    assert_eq!(carol.channel, channel);
    assert_eq!(carol.best(), 700);
    carol.pay(300).await.unwrap();
    assert!(matches!(
        carol.send(&prepare(300, &bob)).await.unwrap(),
        ilp::Packet::Fulfill(_)
    ));
    let lines = w
        .genesis
        .client()
        .account_channels(&payer.account_id())
        .await
        .unwrap();
    assert_eq!(lines.len(), 1, "one channel across restarts");
    let best = best_claim(&w, &channel).await;
    assert_eq!(best, 1_000);
    let _ = std::fs::remove_dir_all(&dir);
    finish(w).await;
}

/// Dave's side of the lifecycle test: answer the server until told to stop,
/// fulfilling every packet; what happened goes out on `events`.
async fn serve(
    mut dave: drip_client::ilp::IlpClient,
    events: tokio::sync::mpsc::UnboundedSender<drip_client::ilp::Event>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> drip_client::ilp::IlpClient {
    let mut fulfill = |_: &Prepare| {
        ilp::Packet::Fulfill(Fulfill {
            fulfillment: FULFILLMENT,
            data: vec![],
        })
    };
    loop {
        let stopped = tokio::select! {
            _ = &mut stop => true,
            e = dave.next_event(&mut fulfill) => match e {
                Ok(Some(e)) => events.send(e).is_err(),
                other => panic!("dave's connection: {other:?}"),
            },
        };
        if stopped {
            return dave;
        }
    }
}

/// The next event matching `want`, within 20 s.
async fn expect_event(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<drip_client::ilp::Event>,
    want: impl Fn(&drip_client::ilp::Event) -> bool,
) -> drip_client::ilp::Event {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let e = events.recv().await.expect("dave stopped");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("no such event in 20 s")
}

/// Poll `query` (one bigint, text or bool column) until it yields `want`.
async fn db_until<T>(w: &World, query: &str, account: &str, want: T) -> T
where
    T: PartialEq + std::fmt::Debug + for<'a> tokio_postgres::types::FromSql<'a>,
{
    let db = w.db.client().await;
    for _ in 0..200 {
        let got: T = db.query_one(query, &[&account]).await.unwrap().get(0);
        if got == want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{query}: never {want:?}");
}

/// The whole lifecycle with drip's client on both ends: Dave asks for the
/// server's channel back and is paid by claims as Carol's packets to him
/// are fulfilled; past half of it the server funds the channel and Dave
/// reloads it; a packet the channel cannot pay is refused and owes
/// nothing; Carol's channel is funded near its end and the server reloads
/// it; Dave restarts with his best claim, closes the server's channel with
/// it and gets a new one; Carol closes hers and the server claims it.
#[tokio::test]
async fn the_server_pays_clients_and_both_channels_close() {
    use drip_client::ilp::{Event, IlpClient, IlpConfig};
    let w = world_with("btp_lifecycle", |c| c.btp = Some(btp_config(u64::MAX))).await;
    let carol_seed = Seed::from_entropy([0x46; 16], KeyType::Ed25519);
    let dave_seed = Seed::from_entropy([0x47; 16], KeyType::Ed25519);
    let (carol_key, dave_key) = (
        carol_seed.key_pair().unwrap(),
        dave_seed.key_pair().unwrap(),
    );
    fund(&w, &carol_key.account_id(), 100_000_000).await;
    fund(&w, &dave_key.account_id(), 100_000_000).await;
    let dir = std::env::temp_dir().join(format!("drip-ilp-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = |seed: &Seed, token: &str| IlpConfig {
        server: format!("wss://{}", sidecar(&w).btp_addr.unwrap()),
        ca: sidecar(&w).certificate.clone().map(String::into_bytes),
        token: token.into(),
        xrp_secret: seed.encode(),
        channel_amount: Drops::new(10_000_000),
        store: dir.join(format!("{token}.json")),
        timeout: T,
    };
    let carol_ledger = Arc::new(submitter(&w.devnet, carol_key.clone()));
    let dave_ledger = Arc::new(submitter(&w.devnet, dave_key.clone()));
    let mut carol = IlpClient::connect(&config(&carol_seed, "carol"), carol_ledger.clone())
        .await
        .unwrap();
    let mut dave = IlpClient::connect(&config(&dave_seed, "dave"), dave_ledger.clone())
        .await
        .unwrap();
    let (carol_account, dave_account) = (asym::account_name("carol"), asym::account_name("dave"));
    let dave_address = dave.address.clone();

    // Before Dave has the server's channel, nothing can be paid to him.
    carol.pay(600_000).await.unwrap();
    assert_eq!(
        reject_code(&carol.send(&prepare(600_000, &dave_address)).await.unwrap()).as_deref(),
        Some("T04")
    );
    // The server's channel to Dave: 1 XRP, checked on the ledger by his
    // client; asking again gives the same one.
    let incoming = dave.open_incoming().await.unwrap();
    assert_eq!(incoming.amount, Drops::new(1_000_000));
    assert_eq!(
        dave.open_incoming().await.unwrap().channel,
        incoming.channel
    );

    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel();
    let dave_task = tokio::spawn(serve(dave, events_tx, stop_rx));

    // A packet to Dave: fulfilled, and the server pays him by claim.
    assert!(matches!(
        carol.send(&prepare(600_000, &dave_address)).await.unwrap(),
        ilp::Packet::Fulfill(_)
    ));
    let paid = expect_event(&mut events, |e| matches!(e, Event::Paid { .. })).await;
    assert_eq!(
        paid,
        Event::Paid {
            amount: 600_000,
            total: 600_000
        }
    );
    // Past half of the channel: the server funds 1 XRP more and tells Dave.
    expect_event(
        &mut events,
        |e| matches!(e, Event::Refreshed { amount } if *amount == Drops::new(2_000_000)),
    )
    .await;

    // More than the channel can pay: refused, and Carol owes nothing for it.
    carol.pay(1_500_000).await.unwrap();
    let refused = carol
        .send(&prepare(1_500_000, &dave_address))
        .await
        .unwrap();
    let ilp::Packet::Reject(r) = &refused else {
        panic!("{refused:?}")
    };
    assert_eq!(r.code.as_str(), "T04");
    assert_eq!(
        r.message,
        "Insufficient funds in the channel to the destination"
    );
    // Exactly what is left passes.
    assert!(matches!(
        carol
            .send(&prepare(1_400_000, &dave_address))
            .await
            .unwrap(),
        ilp::Packet::Fulfill(_)
    ));
    let paid = expect_event(&mut events, |e| matches!(e, Event::Paid { .. })).await;
    assert_eq!(
        paid,
        Event::Paid {
            amount: 1_400_000,
            total: 2_000_000
        }
    );
    let db = w.db.client().await;
    let row = db
        .query_one(
            "SELECT (o).signed, (o).reserved, (a).prepared
             FROM drip.ilp_outgoing_channel($1) o, drip.ilp_account($2) a",
            &[&dave_account, &carol_account],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2)
        ),
        (2_000_000, 0, 2_000_000)
    );

    // Carol's own channel: past half of her 10 XRP top-up she funds it
    // before signing, and the server reloads it.
    carol.pay(4_000_000).await.unwrap();
    assert_eq!(carol.channel_amount, Drops::new(20_000_000));
    db_until(
        &w,
        "SELECT channel_amount FROM drip.ilp_account($1)",
        &carol_account,
        20_000_000i64,
    )
    .await;

    // Dave restarts: his best claim comes back from his store.
    stop.send(()).unwrap();
    drop(dave_task.await.unwrap());
    let mut dave = IlpClient::connect(&config(&dave_seed, "dave"), dave_ledger.clone())
        .await
        .unwrap();
    assert_eq!(dave.incoming_best(), 2_000_000);
    assert_eq!(
        dave.incoming.as_ref().map(|i| i.channel),
        Some(incoming.channel)
    );

    // Dave closes the server's channel with its best claim: 2 XRP to him at once.
    let (_, before) = w
        .genesis
        .client()
        .account_info(&dave_key.account_id())
        .await
        .unwrap();
    let outcome = dave.claim_incoming(true).await.unwrap();
    let drip_ledger::Outcome::Validated { result, tx, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(result, "tesSUCCESS");
    let fee: u64 = tx["Fee"].as_str().unwrap().parse().unwrap();
    let (_, after) = w
        .genesis
        .client()
        .account_info(&dave_key.account_id())
        .await
        .unwrap();
    assert_eq!(after.get() + fee, before.get() + 2_000_000);
    assert!(w
        .genesis
        .client()
        .channel(&incoming.channel)
        .await
        .unwrap()
        .is_none());
    // The server sees it gone; Dave may ask for a new channel.
    db_until(
        &w,
        "SELECT state FROM drip.ilp_outgoing_channel($1)",
        &dave_account,
        "closed".to_owned(),
    )
    .await;
    let again = dave.open_incoming().await.unwrap();
    assert_ne!(again.channel, incoming.channel);
    assert_eq!(dave.incoming_best(), 0);

    // Carol asks to close hers: the server claims her best claim (6.1 XRP)
    // and closes it, and her account is not left blocked.
    must(
        &carol_ledger,
        json!({"TransactionType": "PaymentChannelClaim", "Channel": carol.channel.to_string(), "Flags": 0x0002_0000u32}),
    )
    .await;
    let db_channel = carol.channel.0.to_vec();
    for _ in 0..200 {
        let closed: bool = db
            .query_one(
                "SELECT closed_at IS NOT NULL FROM drip.channels WHERE channel_id = $1",
                &[&db_channel],
            )
            .await
            .unwrap()
            .get(0);
        if closed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(w
        .genesis
        .client()
        .channel(&carol.channel)
        .await
        .unwrap()
        .is_none());
    let row = db
        .query_one(
            "SELECT blocked, settled FROM drip.ilp_accounts WHERE account = $1",
            &[&carol_account],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, i64>(1)),
        (false, 6_100_000)
    );
    let _ = std::fs::remove_dir_all(&dir);
    finish(w).await;
}
