//! The sidecar's ILP server over real sockets (wss): BTP auth and token binding,
//! `info` before and after a channel, IL-DCP, the channel ownership proof
//! against a channel on the devnet, claims kept in PostgreSQL, bandwidth
//! (T04) and packet size (F08), packets routed between two clients with
//! the fulfillment checked, and malformed frames. Hostile clients, over raw
//! sockets where no library would behave so: sockets beyond the caps, late
//! or oversized auth, a client that stops reading, accounts that prove
//! nothing, packets that would wait longer than the longest hold, and ILP
//! data beyond 32,767 bytes.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drip_client::btp::{BtpError, Connection};
use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyType, Seed};
use drip_ilp::asym::{self, protocol, ClaimJson};
use drip_ilp::btp::{self, find, Body, Packet, ProtocolData};
use drip_ilp::ildcp;
use drip_ilp::ilp::{self, ErrorCode, Fulfill, Prepare, Timestamp};
use drip_sidecar::btp::BtpLimits;
use drip_sidecar::config::Tls;
use drip_sidecar::proto::CreateSessionRequest;
use drip_sidecar::Sidecar;
use drip_tests::raw;
use drip_tests::sidecar::{
    api, btp_config, finish, fund, ilp_channel, key, metric, must, sidecar, submitter, world_with,
    World, MERCHANT_TOKEN,
};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(10);
const FULFILLMENT: [u8; 32] = [9; 32];

async fn btp_world(name: &str) -> World {
    world_with(name, |c| {
        c.btp = Some(btp_config(1_000_000));
    })
    .await
}

/// Over wss (TLS is on by default), trusting the sidecar's certificate;
/// over ws when TLS is off.
async fn connect(w: &World, username: &str, token: &str) -> Result<Connection, BtpError> {
    connect_to(sidecar(w), username, token).await
}

/// [`connect`] to another sidecar than the world's.
async fn connect_to(s: &Sidecar, username: &str, token: &str) -> Result<Connection, BtpError> {
    let addr = s.btp_addr.unwrap();
    match &s.certificate {
        Some(ca) => {
            let url = format!("wss://{addr}");
            Connection::connect_trusting(&url, username, token, Some(ca.as_bytes()), T).await
        }
        None => Connection::connect(&format!("ws://{addr}"), username, token, T).await,
    }
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

/// Send an ILP packet; the BTP answer.
async fn ilp_message(c: &Connection, packet: ilp::Packet) -> Packet {
    let bytes = packet.encode().unwrap();
    message(
        c,
        vec![ProtocolData::new(protocol::ILP, btp::OCTET_STREAM, bytes)],
    )
    .await
}

/// Send an ILP packet; the ILP answer.
async fn ilp(c: &Connection, packet: ilp::Packet) -> ilp::Packet {
    let p = ilp_message(c, packet).await;
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
    ilp_channel(w, payer, 3600).await
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

    // A named account is held by the token that first used it (bound for
    // good once its channel is proven).
    let _bob = connect(&w, "bob", "bob-token-1").await.unwrap();
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

    // No channel proven: Alice's socket sends nothing.
    assert_unbound(&ilp_message(&a, prepare(10, &bob)).await);

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
    assert_unbound(&fund_channel(&a, &payer.account_id()).await);
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
    // Held on 500 of bandwidth, granted for it alone.
    let bandwidth = |n: i64| {
        let db = &w.db;
        async move {
            db.client()
                .await
                .execute(
                    "SELECT drip.ilp_configure(s.asset_scale, $1, s.max_hold_secs,
                            s.outgoing_channel_amount, s.min_incoming_channel_amount)
                     FROM drip.ilp_settings s",
                    &[&n],
                )
                .await
                .unwrap();
        }
    };
    bandwidth(500).await;
    let held: Option<i64> =
        w.db.client()
            .await
            .query_one(
                "SELECT hold FROM drip.ilp_route($1, $2, 500, now() - interval '1 minute')",
                &[&alice_account, &bob_account],
            )
            .await
            .unwrap()
            .get(0);
    bandwidth(0).await;
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

/// The ILP address of the account of `token`.
fn address(token: &str) -> String {
    format!("test.drip.{}", asym::account_name(token))
}

/// Prove `channel` (of `payer`'s) to be the channel of `c`'s account, at
/// `address`: the account is bound to `c`'s token.
async fn prove(c: &Connection, payer: &drip_core::KeyPair, channel: &Hash256, address: &str) {
    let proof = payer.sign(&asym::ownership_message(channel, address));
    let ok = message(c, register(channel, proof)).await;
    assert_eq!(ok.body, Body::Response(vec![]), "{ok:?}");
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
    prove(&c, &key, &channel, &address(token)).await;
    let back = fund_channel(&c, &key.account_id()).await;
    assert!(error_text(&back).is_none(), "{back:?}");
    Arc::new(c)
}

/// Answer every ILP Prepare on `c` with the fulfillment, tagging the data
/// with `who`; every other request with an empty Response.
fn fulfill_all(c: Arc<Connection>, who: &'static str) {
    fulfill_packets(c, who, None);
}

/// [`fulfill_all`], but with `transfers`, Transfers (claims) go there
/// unanswered.
fn fulfill_packets(
    c: Arc<Connection>,
    who: &'static str,
    transfers: Option<tokio::sync::mpsc::UnboundedSender<Packet>>,
) {
    tokio::spawn(async move {
        while let Some(req) = c.next_request().await {
            if let (Body::Transfer { .. }, Some(to)) = (&req.body, &transfers) {
                let _ = to.send(req);
                continue;
            }
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

    // Bob twice: packets go to his newest socket, then to the one left;
    // the channel he proves on one binds both.
    let b1 = Arc::new(connect(&w, "", "bob-token").await.unwrap());
    let b2 = Arc::new(connect(&w, "", "bob-token").await.unwrap());
    let bobs = open_channel(&w, &payer).await;
    prove(&b1, &payer, &bobs, &bob).await;
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

/// A world whose ILP server speaks plain ws (so tests can speak it by
/// hand), its limits adjusted.
async fn raw_world(name: &str, adjust: impl FnOnce(&mut BtpLimits)) -> World {
    world_with(name, |c| {
        c.tls = Tls::Disabled;
        let mut btp = btp_config(1_000_000);
        adjust(&mut btp.limits);
        c.btp = Some(btp);
    })
    .await
}

const HERE: [u8; 4] = [127, 0, 0, 1];
const THERE: [u8; 4] = [127, 0, 0, 2];

/// The auth Message.
fn auth(username: &str, token: &str) -> Vec<u8> {
    Packet {
        request_id: 1,
        body: Body::Message(vec![
            ProtocolData::new(protocol::AUTH, btp::OCTET_STREAM, vec![]),
            ProtocolData::new(protocol::AUTH_USERNAME, btp::TEXT, username),
            ProtocolData::new(protocol::AUTH_TOKEN, btp::TEXT, token),
        ]),
    }
    .encode()
}

/// A raw socket from `from` through the WebSocket handshake and auth
/// (`recv_buffer`: see [`raw::tcp`]); None if the server closed or refused it.
async fn raw_login(
    w: &World,
    from: [u8; 4],
    token: &str,
    recv_buffer: Option<u32>,
) -> Option<TcpStream> {
    let mut s = raw::tcp(
        sidecar(w).btp_addr.unwrap(),
        IpAddr::from(from),
        recv_buffer,
    )
    .await;
    raw::ws_handshake(&mut s).await.ok()?;
    s.write_all(&raw::ws_frame(&auth("", token))).await.ok()?;
    let reply = raw::ws_binary(&mut s).await?;
    matches!(Packet::decode(&reply).ok()?.body, Body::Response(_)).then_some(s)
}

#[tokio::test]
async fn sockets_beyond_the_caps_are_closed_at_once() {
    let w = raw_world("btp_caps", |l| {
        l.max_connections = 3;
        l.max_connections_per_ip = 2;
    })
    .await;
    let addr = sidecar(&w).btp_addr.unwrap();
    let a1 = raw_login(&w, HERE, "cap-a1", None).await.expect("a first");
    let _a2 = raw_login(&w, HERE, "cap-a2", None).await.expect("a second");
    let mut a3 = raw::tcp(addr, IpAddr::from(HERE), None).await;
    assert!(
        raw::closed_within(&mut a3, T).await,
        "a third from one address"
    );
    let _b1 = raw_login(&w, THERE, "cap-b1", None)
        .await
        .expect("another address");
    let mut b2 = raw::tcp(addr, IpAddr::from(THERE), None).await;
    assert!(raw::closed_within(&mut b2, T).await, "a fourth in all");
    let refused = |reason: &str| {
        format!("drip_connections_refused_total{{server=\"btp\",reason=\"{reason}\"}}")
    };
    assert_eq!(metric(&w, &refused("per_ip")).await, Some(1.0));
    assert_eq!(metric(&w, &refused("total")).await, Some(1.0));
    assert_eq!(
        metric(&w, "drip_connections{server=\"btp\"}").await,
        Some(3.0)
    );
    // A place freed is taken again.
    drop(a1);
    let mut again = None;
    for _ in 0..50 {
        again = raw_login(&w, HERE, "cap-a3", None).await;
        if again.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "the freed place");
    finish(w).await;
}

#[tokio::test]
async fn a_socket_must_authenticate_in_time_and_in_few_bytes() {
    let w = raw_world("btp_auth_bounds", |l| {
        l.auth_timeout = Duration::from_secs(1);
        l.max_message_bytes = 4096;
    })
    .await;
    let addr = sidecar(&w).btp_addr.unwrap();
    // Well before the 10 s an authenticated client's own call would wait.
    let soon = Duration::from_secs(5);
    let mut silent = raw::tcp(addr, IpAddr::from(HERE), None).await;
    assert!(
        raw::closed_within(&mut silent, soon).await,
        "a silent socket"
    );
    // The handshake a byte at a time, slower than the deadline allows.
    let slow = raw::tcp(addr, IpAddr::from(HERE), None).await;
    let (mut from_server, mut to_server) = slow.into_split();
    let trickle = async {
        for b in raw::UPGRADE.bytes() {
            if to_server.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::future::pending::<()>().await;
    };
    let closed = tokio::select! {
        closed = raw::closed_within(&mut from_server, soon) => closed,
        () = trickle => unreachable!(),
    };
    assert!(closed, "a slow handshake");
    let mut quiet = raw::tcp(addr, IpAddr::from(HERE), None).await;
    raw::ws_handshake(&mut quiet).await.unwrap();
    assert!(
        raw::closed_within(&mut quiet, soon).await,
        "no auth Message"
    );

    // An auth Message larger than btp.max_message_bytes is not answered.
    let mut big = raw::tcp(addr, IpAddr::from(HERE), None).await;
    raw::ws_handshake(&mut big).await.unwrap();
    let token = "t".repeat(8_000);
    big.write_all(&raw::ws_frame(&auth("", &token)))
        .await
        .unwrap();
    assert_eq!(raw::ws_binary(&mut big).await, None, "closed unanswered");
    // After auth neither; within the bound, the same is answered.
    let nonsense = |n: usize| {
        raw::ws_frame(
            &Packet {
                request_id: 2,
                body: Body::Message(vec![ProtocolData::new("nonsense", 0, vec![0; n])]),
            }
            .encode(),
        )
    };
    let mut s = raw_login(&w, HERE, "big-after-auth", None).await.unwrap();
    s.write_all(&nonsense(8_000)).await.unwrap();
    assert_eq!(raw::ws_binary(&mut s).await, None, "closed unanswered");
    let mut s = raw_login(&w, HERE, "small-after-auth", None).await.unwrap();
    s.write_all(&nonsense(1_000)).await.unwrap();
    let reply = Packet::decode(&raw::ws_binary(&mut s).await.unwrap()).unwrap();
    assert_eq!((reply.request_id, reply.body), (2, Body::Response(vec![])));
    finish(w).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_let_go() {
    let w = raw_world("btp_no_reader", |l| {
        l.write_timeout = Duration::from_secs(1)
    })
    .await;
    let mut s = raw_login(&w, HERE, "never-reads", Some(4096))
        .await
        .unwrap();
    // Type 1 (a Response) that does not decode: each asks for an F01
    // answer, which this client never reads. First many small ones, whose
    // answers fill the socket's buffers; then large ones, 64 MiB in all.
    let burst = raw::ws_frame(&[1, 0, 0, 0, 1]).repeat(100_000);
    let mut junk = vec![1, 0, 0, 0, 1, 0x82, 0xff, 0xff];
    junk.resize(16 * 1024, 0);
    let frame = raw::ws_frame(&junk);
    let sent = tokio::time::timeout(Duration::from_secs(60), async {
        if s.write_all(&burst).await.is_err() {
            return Some(burst.len());
        }
        let mut sent = burst.len();
        while sent < 64 << 20 {
            if s.write_all(&frame).await.is_err() {
                return Some(sent);
            }
            sent += frame.len();
        }
        None
    })
    .await;
    match sent {
        Ok(Some(_)) => {}
        Ok(None) => panic!("the server read 64 MiB from a client that reads nothing"),
        Err(_) => panic!("the server stopped reading but kept the socket"),
    }
    finish(w).await;
}

#[tokio::test]
async fn an_account_is_written_only_once_its_channel_is_proven() {
    let w = raw_world("btp_accounts", |_| {}).await;
    let payer = Seed::from_entropy([0x49; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    fund(&w, &payer.account_id(), 50_000_000).await;
    let accounts = || async {
        w.db.client()
            .await
            .query_one("SELECT count(*) FROM drip.ilp_accounts", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let eve = connect(&w, "", "eve-token").await.unwrap();
    let eve_account = asym::account_name("eve-token");
    let eve_address = format!("test.drip.{eve_account}");

    // What a client can do before it proves a channel leaves no row, and
    // it can do little: nothing that moves or reveals money.
    let i = info(&eve).await;
    assert_eq!(i["account"], eve_address);
    assert!(i.get("channel").is_none());
    let last = message(
        &eve,
        vec![ProtocolData::new(protocol::LAST_CLAIM, 0, vec![])],
    )
    .await;
    assert_unbound(&last);
    for amount in [10, 0] {
        assert_unbound(&ilp_message(&eve, prepare(amount, &eve_address)).await);
    }
    let channel = open_channel(&w, &payer).await;
    assert_unbound(&claim(&eve, &payer, &channel, 10).await);
    assert_unbound(&fund_channel(&eve, &payer.account_id()).await);
    assert_eq!(accounts().await, 0);

    // A name is held by its first token while that token's socket is up.
    let _bob = connect(&w, "bob", "bob-token-1").await.unwrap();
    match connect(&w, "bob", "bob-token-2").await {
        Err(BtpError::Refused(why)) => assert!(why.contains("invalid auth_token"), "{why}"),
        other => panic!("{other:?}"),
    }

    // A wrong proof, or a proven channel the server refuses, binds nothing.
    let proof =
        |channel: &Hash256, address: &str| payer.sign(&asym::ownership_message(channel, address));
    let wrong = message(&eve, register(&channel, proof(&channel, "test.drip.x"))).await;
    assert_eq!(error_text(&wrong).unwrap().0, "F00");
    let short = ilp_channel(&w, &payer, 60).await;
    let refused = message(&eve, register(&short, proof(&short, &eve_address))).await;
    assert_eq!(
        error_text(&refused).unwrap(),
        (
            "F00".to_owned(),
            "channel refused: settle_delay_too_short".to_owned()
        )
    );
    assert_eq!(accounts().await, 0);

    // The proven channel binds the account to its token, for good.
    let ok = message(&eve, register(&channel, proof(&channel, &eve_address))).await;
    assert_eq!(ok.body, Body::Response(vec![]), "{ok:?}");
    let bound: Vec<u8> =
        w.db.client()
            .await
            .query_one(
                "SELECT token_hash FROM drip.ilp_accounts WHERE account = $1",
                &[&eve_account],
            )
            .await
            .unwrap()
            .get(0);
    assert_eq!(bound, Sha256::digest(b"eve-token").to_vec());
    assert_eq!(accounts().await, 1);
    drop(eve);
    // Once Eve's socket is gone, only the database holds her name.
    for _ in 0..100 {
        if metric(&w, "drip_connections{server=\"btp\"}").await == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match connect(&w, &eve_account, "another-token").await {
        Err(BtpError::Refused(why)) => assert!(why.contains("invalid auth_token"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(connect(&w, "", "eve-token").await.is_ok());
    finish(w).await;
}

#[tokio::test]
async fn packets_wait_at_most_the_longest_hold() {
    let w = raw_world("btp_holds", |l| {
        l.max_hold_secs = 1;
        l.max_in_flight = 1;
    })
    .await;
    let payer = Seed::from_entropy([0x4A; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    fund(&w, &payer.account_id(), 50_000_000).await;
    let alice = connect(&w, "", "alice-token").await.unwrap();
    let alice_address = format!("test.drip.{}", asym::account_name("alice-token"));
    let channel = open_channel(&w, &payer).await;
    let proof = payer.sign(&asym::ownership_message(&channel, &alice_address));
    assert_eq!(
        message(&alice, register(&channel, proof)).await.body,
        Body::Response(vec![])
    );
    // Bob takes packets and never answers them.
    let bob = Arc::new(connect(&w, "", "bob-token").await.unwrap());
    let bob_address = format!("test.drip.{}", asym::account_name("bob-token"));
    let bobs = open_channel(&w, &payer).await;
    prove(&bob, &payer, &bobs, &bob_address).await;
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let b = bob.clone();
    tokio::spawn(async move {
        while let Some(req) = b.next_request().await {
            if let Body::Message(pd) = &req.body {
                if let Some(d) = find(pd, protocol::ILP) {
                    if let Ok(ilp::Packet::Prepare(p)) = ilp::Packet::decode(&d.data) {
                        let _ = seen_tx.send((p, Timestamp::now()));
                    }
                }
            }
        }
    });

    // A day's expiry on a packet of nothing: Bob gets it expiring within a
    // second of its arrival, Alice an R00 then.
    let mut day = prepare(0, &bob_address);
    if let ilp::Packet::Prepare(p) = &mut day {
        p.expires_at = Timestamp::from_unix_ms(Timestamp::now().unix_ms + 86_400_000);
    }
    let (answer, arrived) = tokio::join!(ilp(&alice, day), seen.recv());
    let (p, at) = arrived.unwrap();
    assert!(
        p.expires_at.unix_ms <= at.unix_ms + 1_000,
        "expires {} ms after its arrival",
        p.expires_at.unix_ms - at.unix_ms
    );
    assert_eq!(reject_code(&answer).as_deref(), Some("R00"));

    // One request at a time (btp.max_in_flight = 1): info waits for the
    // packet's answer.
    let order = Mutex::new(Vec::new());
    let packet = async {
        let answer = ilp(&alice, prepare(0, &bob_address)).await;
        order.lock().unwrap().push(reject_code(&answer).unwrap());
    };
    let then_info = async {
        seen.recv().await.unwrap();
        info(&alice).await;
        order.lock().unwrap().push("info".to_owned());
    };
    tokio::join!(packet, then_info);
    assert_eq!(*order.lock().unwrap(), ["R00", "info"]);

    // ILP data: 32,767 bytes travel, one more is an invalid packet.
    let with_data = |n: usize| {
        let mut packet = prepare(0, &bob_address);
        if let ilp::Packet::Prepare(p) = &mut packet {
            p.data = vec![1; n];
        }
        packet
    };
    assert_eq!(
        reject_code(&ilp(&alice, with_data(32_768)).await).as_deref(),
        Some("F01")
    );
    let (answer, arrived) = tokio::join!(ilp(&alice, with_data(32_767)), seen.recv());
    assert_eq!(arrived.unwrap().0.data.len(), 32_767);
    assert_eq!(reject_code(&answer).as_deref(), Some("R00"));

    // A client with no channel sends nothing, not even a packet of nothing.
    let carol = connect(&w, "", "carol-token").await.unwrap();
    assert_unbound(&ilp_message(&carol, prepare(0, &bob_address)).await);
    finish(w).await;
}

#[tokio::test]
async fn every_sub_protocol_takes_garbage_without_breaking() {
    let w = btp_world("btp_garbage").await;
    let c = connect(&w, "", "garbage-token").await.unwrap();
    // Seeded: a failure replays.
    let mut rng = drip_tests::sim::Rng::new(0xd819_0023);
    let mut next = || rng.next_u64();
    let names = [
        protocol::INFO,
        protocol::CHANNEL,
        protocol::CHANNEL_SIGNATURE,
        protocol::FUND_CHANNEL,
        protocol::LAST_CLAIM,
        protocol::CLAIM,
        protocol::ILP,
        protocol::AUTH,
        protocol::AUTH_TOKEN,
        "",
        "unknown",
    ];
    for i in 0..200 {
        let mut entries = Vec::new();
        for _ in 0..=(next() % 3) {
            let name = names[(next() % names.len() as u64) as usize];
            let data: Vec<u8> = match next() % 7 {
                0 => vec![],
                1 => (0..(next() % 2_000)).map(|_| next() as u8).collect(),
                2 => br#"{"amount":"18446744073709551616","signature":"zz"}"#.to_vec(),
                3 => format!("{{\"channel\":\"{}\"}}", "AB".repeat(32)).into_bytes(),
                4 => vec![0; 20_000],
                5 => "9".repeat(40).into_bytes(),
                _ => vec![12, 0xff, 0xff, 0xff, 0xff],
            };
            entries.push(ProtocolData::new(name, next() as u8, data));
        }
        let sent: Vec<(String, u8, usize)> = entries
            .iter()
            .map(|e| (e.name.clone(), e.content_type, e.data.len()))
            .collect();
        let answer = c.call(Body::Message(entries), T).await;
        match answer {
            Ok(Packet {
                body: Body::Response(_) | Body::Error(_),
                ..
            }) => {}
            other => panic!("call {i} {sent:?}: {other:?}"),
        }
    }
    // The socket and the server still serve, and garbage bound no account.
    assert!(info(&c).await.is_object());
    let fresh = connect(&w, "", "another-token").await.unwrap();
    assert!(info(&fresh).await.is_object());
    let accounts: i64 =
        w.db.client()
            .await
            .query_one("SELECT count(*) FROM drip.ilp_accounts", &[])
            .await
            .unwrap()
            .get(0);
    assert_eq!(accounts, 0);
    finish(w).await;
}

/// A refusal for a socket whose account is not bound to its token.
fn assert_unbound(p: &Packet) {
    let (code, text) = error_text(p).unwrap_or_else(|| panic!("not refused: {p:?}"));
    assert_eq!(code, "F00", "{text}");
    assert!(text.contains("not bound"), "{text}");
}

/// Two sidecars on one database. Mallory took the name "bob" on the first
/// while no token was bound to it; Bob binds it to his own through the
/// second. Mallory's socket may then not act as Bob's account: no claim
/// read, packet sent, channel asked for or claim given, and no packet to
/// Bob delivered to it; Bob, connecting to the first too, puts it out.
#[tokio::test]
async fn a_name_bound_on_another_sidecar_is_not_the_squatters() {
    let w = raw_world("btp_squat", |_| {}).await;
    let second = Sidecar::start(w.config.clone()).await.unwrap();
    let payer = key(0x4B, KeyType::Ed25519);
    fund(&w, &payer.account_id(), 50_000_000).await;
    let mallory = connect(&w, "bob", "mallory-token").await.unwrap();
    let bob = connect_to(&second, "bob", "bob-token").await.unwrap();
    let channel = open_channel(&w, &payer).await;
    prove(&bob, &payer, &channel, "test.drip.bob").await;
    assert!(error_text(&claim(&bob, &payer, &channel, 5_000).await).is_none());

    // Mallory learns her address, and nothing of Bob's channel or claims.
    let expiry = Timestamp::from_unix_ms(Timestamp::now().unix_ms + 60_000);
    let config = ilp(
        &mallory,
        ilp::Packet::Prepare(ildcp::request(expiry).unwrap()),
    )
    .await;
    assert!(matches!(config, ilp::Packet::Fulfill(_)), "{config:?}");
    assert!(info(&mallory).await.get("channel").is_none());
    let last = vec![ProtocolData::new(protocol::LAST_CLAIM, 0, vec![])];
    assert_unbound(&message(&mallory, last).await);
    let elsewhere = key(0x4C, KeyType::Ed25519).account_id();
    assert_unbound(&fund_channel(&mallory, &elsewhere).await);
    let to_alice = prepare(1_000, &address("alice-token"));
    assert_unbound(&ilp_message(&mallory, to_alice).await);
    assert_unbound(&claim(&mallory, &payer, &channel, 6_000).await);

    // Packets to Bob's account are not delivered to her.
    let alice = connect(&w, "", "alice-token").await.unwrap();
    let alices = open_channel(&w, &payer).await;
    prove(&alice, &payer, &alices, &address("alice-token")).await;
    let to_bob = ilp(&alice, prepare(0, "test.drip.bob")).await;
    assert_eq!(reject_code(&to_bob).as_deref(), Some("F02"));

    // Bob's token, on the first sidecar too, puts her out.
    let _bob_here = connect(&w, "bob", "bob-token").await.unwrap();
    let ended = tokio::time::timeout(T, mallory.next_request()).await;
    assert!(matches!(ended, Ok(None)), "{ended:?}");
    second.shutdown().await;
    finish(w).await;
}

/// The auth deadline can fire while the server writes the auth's answer, to
/// a client that reads nothing and filled its socket with Pongs first: the
/// name that socket held is free again. (Three sockets: one whose write
/// buffer happens to have no room for the answer fails the send instead.)
#[tokio::test]
async fn an_auth_cut_off_while_answered_frees_its_name() {
    let w = raw_world("btp_auth_cut", |l| l.auth_timeout = Duration::from_secs(3)).await;
    // More Pongs than the kernel's buffers (4 MiB at most here) and the
    // server's write buffer (128 KiB) hold together.
    let pings = raw::ws_ping(&[7; 125]).repeat(40_000);
    let addr = sidecar(&w).btp_addr.unwrap();
    let cut = |name: &'static str| {
        let pings = &pings;
        async move {
            let mut s = raw::tcp(addr, IpAddr::from(HERE), Some(4096)).await;
            raw::ws_handshake(&mut s).await.unwrap();
            s.write_all(pings).await.unwrap();
            s.write_all(&raw::ws_frame(&auth(name, "first-token")))
                .await
                .unwrap();
            // Read nothing until the deadline has passed.
            tokio::time::sleep(Duration::from_secs(4)).await;
            assert!(raw::closed_within(&mut s, T).await, "{name} kept");
        }
    };
    tokio::join!(cut("cut-0"), cut("cut-1"), cut("cut-2"));
    for name in ["cut-0", "cut-1", "cut-2"] {
        if let Err(e) = connect(&w, name, "second-token").await {
            panic!("{name}: {e}");
        }
    }
    finish(w).await;
}

/// A socket whose account is not bound to its token within
/// btp.unbound_timeout_ms of its auth is closed; one bound by its channel,
/// or at its auth, stays.
#[tokio::test]
async fn a_socket_that_proves_nothing_is_let_go() {
    let unbound = Duration::from_secs(3);
    let w = raw_world("btp_unbound", |l| l.unbound_timeout = unbound).await;
    let payer = key(0x4E, KeyType::Ed25519);
    fund(&w, &payer.account_id(), 50_000_000).await;
    let channel = open_channel(&w, &payer).await;
    let mut squatter = raw_login(&w, HERE, "squatter-token", None).await.unwrap();
    let alice = connect(&w, "", "alice-token").await.unwrap();
    prove(&alice, &payer, &channel, &address("alice-token")).await;
    let again = connect(&w, "", "alice-token").await.unwrap();
    assert!(raw::closed_within(&mut squatter, T).await, "the squatter");
    tokio::time::sleep(unbound).await;
    for c in [&alice, &again] {
        assert!(info(c).await["channel"].is_string());
    }
    finish(w).await;
}

/// BTP requests waiting on the database (here for Alice's row, which
/// another transaction locked) hold the BTP server's own connections
/// only: gRPC is answered meanwhile.
#[tokio::test]
async fn btp_requests_cannot_starve_the_other_callers_of_the_database() {
    let w = btp_world("btp_pool").await;
    let payer = key(0x4F, KeyType::Ed25519);
    fund(&w, &payer.account_id(), 50_000_000).await;
    let alice = Arc::new(connect(&w, "", "alice-token").await.unwrap());
    let channel = open_channel(&w, &payer).await;
    prove(&alice, &payer, &channel, &address("alice-token")).await;
    let db = w.db.client().await;
    db.batch_execute("BEGIN").await.unwrap();
    db.execute(
        "SELECT 1 FROM drip.ilp_accounts WHERE account = $1 FOR UPDATE",
        &[&asym::account_name("alice-token")],
    )
    .await
    .unwrap();
    // More packets than either pool has connections, each waiting.
    for _ in 0..8 {
        let alice = alice.clone();
        tokio::spawn(async move {
            let bytes = prepare(1, &address("bob-token")).encode().unwrap();
            let pd = vec![ProtocolData::new(protocol::ILP, btp::OCTET_STREAM, bytes)];
            let _ = alice.call(Body::Message(pd), T).await;
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let created = api(&w, Some(MERCHANT_TOKEN))
        .await
        .create_session(CreateSessionRequest {
            session_id: "btp-pool".into(),
        })
        .await;
    let took = started.elapsed();
    db.batch_execute("ROLLBACK").await.unwrap();
    assert!(created.is_ok(), "{created:?}");
    assert!(took < Duration::from_secs(3), "gRPC waited {took:?}");
    finish(w).await;
}

/// A Prepare to a client whose queue is full (it reads nothing, and the
/// server's writes to it wait) is answered at its expiry all the same, not
/// once the socket is given up.
#[tokio::test]
async fn a_prepare_to_a_stuck_client_waits_no_longer_than_its_hold() {
    let w = raw_world("btp_stuck", |l| l.max_hold_secs = 1).await;
    let payer = key(0x50, KeyType::Ed25519);
    fund(&w, &payer.account_id(), 50_000_000).await;
    let (alices, bobs) = (
        open_channel(&w, &payer).await,
        open_channel(&w, &payer).await,
    );
    let alice = connect(&w, "", "alice-token").await.unwrap();
    prove(&alice, &payer, &alices, &address("alice-token")).await;
    // Bob proves his channel over a raw socket, then reads nothing and asks
    // for answers (F01s to frames that do not decode) until the server's
    // writes to him wait.
    let mut bob = raw_login(&w, HERE, "bob-token", Some(4096)).await.unwrap();
    let proof = payer.sign(&asym::ownership_message(&bobs, &address("bob-token")));
    let register = Packet {
        request_id: 2,
        body: Body::Message(register(&bobs, proof)),
    };
    bob.write_all(&raw::ws_frame(&register.encode()))
        .await
        .unwrap();
    let reply = Packet::decode(&raw::ws_binary(&mut bob).await.unwrap()).unwrap();
    assert_eq!(reply.body, Body::Response(vec![]));
    let burst = raw::ws_frame(&[1, 0, 0, 0, 1]).repeat(100_000);
    tokio::spawn(async move {
        let _ = bob.write_all(&burst).await;
        // The socket stays open, unread.
        std::future::pending::<()>().await;
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let answer = ilp(&alice, prepare(0, &address("bob-token"))).await;
        assert_eq!(reject_code(&answer).as_deref(), Some("R00"));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "answered after {took:?}");
    }
    finish(w).await;
}

/// A claim Transfer's amount and its claim's (base units).
fn claim_of(p: &Packet) -> (u64, String) {
    let Body::Transfer {
        amount,
        protocol_data,
    } = &p.body
    else {
        panic!("{p:?}")
    };
    let claim: ClaimJson =
        serde_json::from_slice(&find(protocol_data, protocol::CLAIM).unwrap().data).unwrap();
    (*amount, claim.amount)
}

/// The payee's claim goes out in a task of its own: a payee that sits on it
/// does not hold up the sender's Fulfill, and the claims recorded while one
/// waits for its answer follow it as one, the newest.
#[tokio::test]
async fn a_payee_sitting_on_its_claim_does_not_hold_up_the_fulfill() {
    let w = btp_world("btp_slow_payee").await;
    let payer = key(0x51, KeyType::Ed25519);
    fund(&w, &payer.account_id(), 50_000_000).await;
    let alice = connect(&w, "", "alice-token").await.unwrap();
    let channel = open_channel(&w, &payer).await;
    prove(&alice, &payer, &channel, &address("alice-token")).await;
    assert!(error_text(&claim(&alice, &payer, &channel, 3_000).await).is_none());
    let bob = payee(&w, "bob-token", 0x52).await;
    let (transfers, mut claims) = tokio::sync::mpsc::unbounded_channel();
    fulfill_packets(bob.clone(), "bob", Some(transfers));
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let answer = ilp(&alice, prepare(1_000, &address("bob-token"))).await;
        assert!(matches!(answer, ilp::Packet::Fulfill(_)), "{answer:?}");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "fulfilled after {took:?}");
    }
    let first = tokio::time::timeout(T, claims.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim_of(&first), (1_000, "1000".to_owned()));
    let early = tokio::time::timeout(Duration::from_secs(1), claims.recv()).await;
    assert!(early.is_err(), "a claim before the first was answered");
    bob.respond(first.request_id, Body::Response(vec![]))
        .await
        .unwrap();
    let next = tokio::time::timeout(T, claims.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim_of(&next), (2_000, "3000".to_owned()));
    finish(w).await;
}
