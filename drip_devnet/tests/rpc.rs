//! The devnet over real sockets: rippled's method shapes and error shapes on
//! JSON-RPC and WebSocket, the accountChannels and authorize/verify cases of
//! rippled's PayChan_test, streams, API versions, and `--state`.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use drip_core::claim::sign_claim;
use drip_core::codec;
use drip_core::{tx, KeyPair, KeyType, Seed};
use drip_devnet::ledger::chain::GENESIS_SEED;
use drip_devnet::{Devnet, Options};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message as JSON, or `None` if none comes within `wait`.
async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Json> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Err(_) => return None,
            Ok(m) => match m.unwrap().unwrap() {
                Message::Text(t) => return Some(serde_json::from_str(t.as_str()).unwrap()),
                _ => continue,
            },
        }
    }
}

async fn start() -> Devnet {
    Devnet::start(Options::default()).await.unwrap()
}

async fn rpc(d: &Devnet, method: &str, params: Json) -> Json {
    let body = json!({"method": method, "params": [params]});
    let resp = reqwest::Client::new()
        .post(&d.rpc_url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.json::<Json>().await.unwrap()["result"].clone()
}

async fn raw_rpc(d: &Devnet, body: &'static str) -> Json {
    let resp = reqwest::Client::new()
        .post(&d.rpc_url)
        .body(body)
        .send()
        .await
        .unwrap();
    resp.json::<Json>().await.unwrap()["result"].clone()
}

fn key(n: u8, kt: KeyType) -> KeyPair {
    Seed::from_entropy([n; 16], kt).key_pair().unwrap()
}

/// Sign and submit over JSON-RPC, autofilling Sequence and Fee.
async fn submit(d: &Devnet, k: &KeyPair, mut fields: Json) -> Json {
    let info = rpc(
        d,
        "account_info",
        json!({"account": k.account_id().to_address()}),
    )
    .await;
    let m = fields.as_object_mut().unwrap();
    m.insert("Account".into(), json!(k.account_id().to_address()));
    m.insert("Sequence".into(), info["account_data"]["Sequence"].clone());
    m.insert("Fee".into(), json!("10"));
    let mut obj = codec::from_json(&fields).unwrap();
    let signed = tx::sign(&mut obj, k).unwrap();
    rpc(
        d,
        "submit",
        json!({"tx_blob": hex::encode_upper(&signed.blob)}),
    )
    .await
}

async fn fund(d: &Devnet, k: &KeyPair, drops: u64) {
    let g = GENESIS_SEED.parse::<Seed>().unwrap().key_pair().unwrap();
    let r = submit(d, &g, json!({"TransactionType": "Payment", "Destination": k.account_id().to_address(), "Amount": drops.to_string()})).await;
    assert_eq!(r["engine_result"], "tesSUCCESS", "{r}");
}

#[tokio::test]
async fn error_shapes_on_json_rpc() {
    let d = start().await;
    let e = raw_rpc(&d, "{not json").await;
    assert_eq!(
        (
            e["error"].as_str(),
            e["error_code"].as_i64(),
            e["status"].as_str()
        ),
        (Some("badSyntax"), Some(1), Some("error"))
    );
    let e = raw_rpc(&d, r#"{"params": [{}]}"#).await;
    assert_eq!(e["error"], "missingCommand");
    let e = rpc(&d, "no_such_method", json!({})).await;
    assert_eq!(
        (e["error"].as_str(), e["error_code"].as_i64()),
        (Some("unknownCmd"), Some(32))
    );
    assert_eq!(e["error_message"], "Unknown method.");
    assert_eq!(e["request"]["command"], "no_such_method");
    let e = rpc(&d, "account_info", json!({"account": "rNotAnAddress"})).await;
    assert_eq!(
        (e["error"].as_str(), e["error_code"].as_i64()),
        (Some("actMalformed"), Some(35))
    );
    let e = rpc(
        &d,
        "account_info",
        json!({"account": key(1, KeyType::Ed25519).account_id().to_address()}),
    )
    .await;
    assert_eq!(
        (e["error"].as_str(), e["error_code"].as_i64()),
        (Some("actNotFound"), Some(19))
    );
    let e = rpc(&d, "tx", json!({"transaction": "00".repeat(32)})).await;
    assert_eq!(
        (e["error"].as_str(), e["error_code"].as_i64()),
        (Some("txnNotFound"), Some(29))
    );
    let e = rpc(
        &d,
        "ledger_entry",
        json!({"payment_channel": "00".repeat(32)}),
    )
    .await;
    assert_eq!(e["error"], "entryNotFound");
    let e = rpc(&d, "ledger", json!({"ledger_index": 999})).await;
    assert_eq!(
        (e["error"].as_str(), e["error_code"].as_i64()),
        (Some("lgrNotFound"), Some(21))
    );
    let e = rpc(&d, "submit", json!({"tx_blob": "zz"})).await;
    assert_eq!(e["error"], "invalidParams");
    let e = rpc(&d, "submit", json!({"tx_blob": "1200"})).await;
    assert_eq!(e["error"], "invalidTransaction");
    let e = rpc(&d, "ping", json!({"api_version": 7})).await;
    assert_eq!(e["error"], "invalid_API_version");
    d.shutdown().await;
}

#[tokio::test]
async fn a_bad_signature_is_invalid_transaction_and_changes_nothing() {
    let d = start().await;
    let alice = key(1, KeyType::Secp256k1);
    fund(&d, &alice, 100_000_000).await;
    let mut obj = codec::from_json(&json!({"TransactionType": "Payment", "Account": alice.account_id().to_address(),
        "Destination": "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", "Amount": "5", "Sequence": 2, "Fee": "10"})).unwrap();
    let mut blob = tx::sign(&mut obj, &alice).unwrap().blob;
    let n = blob.len();
    blob[n - 25] ^= 0x01; // inside TxnSignature... or the destination: either way it must not apply
    let before = rpc(
        &d,
        "account_info",
        json!({"account": alice.account_id().to_address()}),
    )
    .await;
    let e = rpc(&d, "submit", json!({"tx_blob": hex::encode(&blob)})).await;
    assert_eq!(e["error"], "invalidTransaction");
    assert_eq!(
        e["error_exception"],
        "fails local checks: Invalid signature."
    );
    let after = rpc(
        &d,
        "account_info",
        json!({"account": alice.account_id().to_address()}),
    )
    .await;
    assert_eq!(before["account_data"], after["account_data"]);
    d.shutdown().await;
}

#[tokio::test]
async fn account_channels_pages_with_limit_and_marker() {
    let d = start().await;
    let alice = key(1, KeyType::Ed25519);
    let bob = key(2, KeyType::Secp256k1);
    let carol = key(3, KeyType::Secp256k1);
    fund(&d, &alice, 1_000_000_000).await;
    fund(&d, &bob, 100_000_000).await;
    fund(&d, &carol, 100_000_000).await;
    d.close_ledger();
    for i in 0..23 {
        let dst = if i % 2 == 0 { &bob } else { &carol };
        let r = submit(&d, &alice, json!({"TransactionType": "PaymentChannelCreate", "Destination": dst.account_id().to_address(),
            "Amount": "1000000", "SettleDelay": 60, "PublicKey": alice.public_key().to_hex()})).await;
        assert_eq!(r["engine_result"], "tesSUCCESS");
    }
    d.close_ledger();
    let a = alice.account_id().to_address();
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let mut p = json!({"account": a, "ledger_index": "validated", "limit": 10});
        if let Some(m) = &marker {
            p["marker"] = json!(m);
        }
        let r = rpc(&d, "account_channels", p).await;
        assert_eq!(r["validated"], true);
        let page = r["channels"].as_array().unwrap();
        assert!(page.len() <= 10);
        seen.extend(
            page.iter()
                .map(|c| c["channel_id"].as_str().unwrap().to_owned()),
        );
        match r.get("marker") {
            Some(m) => marker = Some(m.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 23, "every channel once");
    // destination_account filters; only channels whose source is the account are listed.
    let r = rpc(
        &d,
        "account_channels",
        json!({"account": a, "destination_account": bob.account_id().to_address(), "limit": 400}),
    )
    .await;
    assert_eq!(r["channels"].as_array().unwrap().len(), 12);
    let r = rpc(
        &d,
        "account_channels",
        json!({"account": bob.account_id().to_address()}),
    )
    .await;
    assert_eq!(r["channels"].as_array().unwrap().len(), 0);
    // …but account_objects shows them on both sides' owner directories.
    let r = rpc(
        &d,
        "account_objects",
        json!({"account": bob.account_id().to_address(), "type": "payment_channel"}),
    )
    .await;
    assert_eq!(r["account_objects"].as_array().unwrap().len(), 12);
    d.shutdown().await;
}

#[tokio::test]
async fn authorize_and_verify() {
    let d = start().await;
    let chan = "5DB01B7FFED6B67E6B0414DED11E051D2EE2B7619CE0EAA6286D67A3A4D5BDB3";
    for kt in [KeyType::Secp256k1, KeyType::Ed25519] {
        let k = key(9, kt);
        let seed = Seed::from_entropy([9; 16], kt).encode();
        let r = rpc(
            &d,
            "channel_authorize",
            json!({"channel_id": chan, "amount": "1000000", "secret": seed}),
        )
        .await;
        let sig = r["signature"].as_str().unwrap().to_owned();
        assert_eq!(
            sig,
            hex::encode_upper(sign_claim(
                &k,
                &chan.parse().unwrap(),
                drip_core::Drops::new(1_000_000)
            ))
        );
        for pk in [k.public_key().to_hex(), k.public_key().to_base58()] {
            let v = rpc(&d, "channel_verify", json!({"channel_id": chan, "amount": "1000000", "public_key": pk, "signature": sig})).await;
            assert_eq!(v["signature_verified"], true);
            let v = rpc(&d, "channel_verify", json!({"channel_id": chan, "amount": "1000001", "public_key": pk, "signature": sig})).await;
            assert_eq!(v["signature_verified"], false);
        }
    }
    let e = rpc(
        &d,
        "channel_verify",
        json!({"channel_id": chan, "amount": "1", "public_key": "zz", "signature": "00"}),
    )
    .await;
    assert_eq!(
        (e["error"].as_str(), e["error_code"].as_i64()),
        (Some("publicMalformed"), Some(62))
    );
    let e = rpc(
        &d,
        "channel_authorize",
        json!({"channel_id": "12", "amount": "1", "secret": GENESIS_SEED}),
    )
    .await;
    assert_eq!(
        (e["error"].as_str(), e["error_code"].as_i64()),
        (Some("channelMalformed"), Some(45))
    );
    let e = rpc(
        &d,
        "channel_authorize",
        json!({"channel_id": chan, "amount": "-1", "secret": GENESIS_SEED}),
    )
    .await;
    assert_eq!(
        (e["error"].as_str(), e["error_code"].as_i64()),
        (Some("channelAmtMalformed"), Some(46))
    );
    let e = rpc(
        &d,
        "channel_authorize",
        json!({"channel_id": chan, "amount": "1", "secret": "snot"}),
    )
    .await;
    assert_eq!(e["error"], "badSeed");
    let e = rpc(
        &d,
        "channel_authorize",
        json!({"channel_id": chan, "amount": "1", "seed": GENESIS_SEED, "key_type": "rsa"}),
    )
    .await;
    assert_eq!(e["error"], "badKeyType");
    let w = rpc(&d, "wallet_propose", json!({"key_type": "ed25519"})).await;
    assert!(w["master_seed"].as_str().unwrap().starts_with("sEd"));
    assert!(w["public_key_hex"].as_str().unwrap().starts_with("ED"));
    d.shutdown().await;
}

#[tokio::test]
async fn tx_has_api_v1_and_v2_shapes() {
    let d = start().await;
    let alice = key(4, KeyType::Ed25519);
    fund(&d, &alice, 50_000_000).await;
    let ledger = rpc(&d, "ledger_current", json!({})).await["ledger_current_index"]
        .as_u64()
        .unwrap();
    d.close_ledger();
    let txs = rpc(
        &d,
        "ledger",
        json!({"ledger_index": ledger, "transactions": true, "expand": true}),
    )
    .await;
    let hash = txs["ledger"]["transactions"][0]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        txs["ledger"]["transactions"][0]["metaData"].is_object(),
        "v1 ledger uses metaData"
    );
    let v1 = rpc(&d, "tx", json!({"transaction": hash})).await;
    assert_eq!(v1["TransactionType"], "Payment");
    assert_eq!(v1["validated"], true);
    assert_eq!(v1["meta"]["TransactionResult"], "tesSUCCESS");
    assert_eq!(v1["meta"]["delivered_amount"], "50000000");
    assert_eq!(v1["inLedger"].as_u64(), Some(ledger));
    let v2 = rpc(&d, "tx", json!({"transaction": hash, "api_version": 2})).await;
    assert_eq!(v2["tx_json"]["TransactionType"], "Payment");
    assert_eq!(v2["tx_json"]["ledger_index"].as_u64(), Some(ledger));
    assert!(v2["close_time_iso"].as_str().unwrap().ends_with('Z'));
    assert!(v2["ledger_hash"].is_string());
    assert!(v2.get("TransactionType").is_none());
    let bin = rpc(&d, "tx", json!({"transaction": hash, "binary": true})).await;
    assert!(bin["tx_blob"].is_string() && bin["meta"].is_string());
    let acct = rpc(
        &d,
        "account_tx",
        json!({"account": alice.account_id().to_address()}),
    )
    .await;
    assert_eq!(acct["transactions"][0]["tx"]["hash"], hash);
    d.shutdown().await;
}

/// `tx` with `min_ledger`/`max_ledger`: a missing transaction proves it is
/// in none of them (`searched_all`) only where the server holds them all;
/// a bad range is rippled's range error.
#[tokio::test]
async fn tx_in_a_ledger_range_says_whether_it_searched_all() {
    let d = start().await;
    for _ in 0..3 {
        d.close_ledger();
    }
    let last = rpc(&d, "ledger_closed", json!({})).await["ledger_index"]
        .as_u64()
        .unwrap();
    let missing = "AB".repeat(32);
    let look = |min: u64, max: u64| {
        rpc(
            &d,
            "tx",
            json!({"transaction": missing, "min_ledger": min, "max_ledger": max}),
        )
    };
    let held = look(1, last).await;
    assert_eq!(held["error"], "txnNotFound");
    assert_eq!(held["searched_all"], true, "{held}");
    let beyond = look(last, last + 5).await;
    assert_eq!(beyond["error"], "txnNotFound");
    assert_eq!(beyond["searched_all"], false, "{beyond}");
    let plain = rpc(&d, "tx", json!({"transaction": missing})).await;
    assert_eq!(plain["error"], "txnNotFound");
    assert!(plain.get("searched_all").is_none(), "only for a range");
    let upside_down = look(5, 4).await;
    assert_eq!(upside_down["error"], "invalidLgrRange");
    assert_eq!(upside_down["error_code"], 79);
    let wide = look(1, 1002).await;
    assert_eq!(wide["error"], "excessiveLgrRange");
    assert_eq!(wide["error_code"], 78);
    let not_a_number = rpc(
        &d,
        "tx",
        json!({"transaction": missing, "min_ledger": -1, "max_ledger": 4}),
    )
    .await;
    assert_eq!(not_a_number["error"], "invalidLgrRange");
    d.shutdown().await;
}

#[tokio::test]
async fn websocket_requests_errors_and_streams() {
    let d = start().await;
    let alice = key(5, KeyType::Secp256k1);
    let (mut ws, _) = tokio_tungstenite::connect_async(&d.ws_url).await.unwrap();
    let next = async |ws: &mut Ws| next_json(ws, Duration::from_secs(5)).await.unwrap();
    ws.send(Message::text(r#"{"id": 1, "command": "ping"}"#))
        .await
        .unwrap();
    let r = next(&mut ws).await;
    assert_eq!(
        (r["id"].as_i64(), r["status"].as_str(), r["type"].as_str()),
        (Some(1), Some("success"), Some("response"))
    );
    ws.send(Message::text(r#"{"id": 2, "command": "nope"}"#))
        .await
        .unwrap();
    let r = next(&mut ws).await;
    assert_eq!(
        (
            r["error"].as_str(),
            r["error_code"].as_i64(),
            r["status"].as_str()
        ),
        (Some("unknownCmd"), Some(32), Some("error"))
    );
    assert_eq!(r["request"]["command"], "nope");
    ws.send(Message::text("garbage")).await.unwrap();
    assert_eq!(next(&mut ws).await["error"], "badSyntax");
    ws.send(Message::text(
        r#"{"id": 3, "command": "subscribe", "streams": ["ledger", "transactions"]}"#,
    ))
    .await
    .unwrap();
    let r = next(&mut ws).await;
    assert_eq!(r["id"], 3);
    assert!(r["result"]["ledger_index"].is_u64());
    fund(&d, &alice, 25_000_000).await;
    d.close_ledger();
    let tx = next(&mut ws).await;
    assert_eq!(tx["type"], "transaction");
    assert_eq!(tx["engine_result"], "tesSUCCESS");
    assert_eq!(tx["validated"], true);
    assert_eq!(
        tx["transaction"]["Destination"],
        alice.account_id().to_address()
    );
    let closed = next(&mut ws).await;
    assert_eq!(closed["type"], "ledgerClosed");
    assert_eq!(closed["txn_count"], 1);
    assert_eq!(closed["ledger_index"], tx["ledger_index"]);
    d.shutdown().await;
}

#[tokio::test]
async fn devnet_clock_moves_parent_close_time() {
    let d = start().await;
    let before = rpc(&d, "ledger", json!({"ledger_index": "validated"})).await["ledger"]
        ["close_time"]
        .as_u64()
        .unwrap();
    let r = rpc(
        &d,
        "devnet_clock",
        json!({"advance": 86_400, "close": true}),
    )
    .await;
    let after = r["parent_close_time"].as_u64().unwrap();
    assert!(after >= before + 86_400, "{before} → {after}");
    d.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("drip-devnet-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ledger.json");
    let _ = std::fs::remove_file(&file);
    let opts = Options {
        state_file: Some(file.clone()),
        ..Options::default()
    };
    let alice = key(6, KeyType::Ed25519);
    let d = Devnet::start(opts.clone()).await.unwrap();
    fund(&d, &alice, 30_000_000).await;
    let seq = d.close_ledger();
    d.shutdown().await;
    let d = Devnet::start(opts).await.unwrap();
    let info = rpc(
        &d,
        "account_info",
        json!({"account": alice.account_id().to_address(), "ledger_index": "validated"}),
    )
    .await;
    assert_eq!(info["account_data"]["Balance"], "30000000");
    assert_eq!(info["ledger_index"].as_u64(), Some(u64::from(seq)));
    // And it keeps going from there.
    fund(&d, &alice, 1).await;
    assert_eq!(d.close_ledger(), seq + 1);
    d.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn accounts_subscription_gets_only_that_accounts_transactions_in_v2_shape() {
    let d = start().await;
    let alice = key(7, KeyType::Ed25519);
    let bob = key(8, KeyType::Ed25519);
    let (mut ws, _) = tokio_tungstenite::connect_async(&d.ws_url).await.unwrap();
    let sub = json!({"id": 1, "command": "subscribe", "accounts": [alice.account_id().to_address()], "api_version": 2});
    ws.send(Message::text(sub.to_string())).await.unwrap();
    let next = async |ws: &mut Ws| next_json(ws, Duration::from_millis(1500)).await;
    let r = next(&mut ws).await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["api_version"].as_u64()),
        (Some("success"), Some(2))
    );
    fund(&d, &bob, 10_000_000).await;
    d.close_ledger();
    assert!(
        next(&mut ws).await.is_none(),
        "bob's payment is not alice's business"
    );
    fund(&d, &alice, 10_000_000).await;
    d.close_ledger();
    let msg = next(&mut ws).await.unwrap();
    assert_eq!(msg["type"], "transaction");
    assert_eq!(
        msg["tx_json"]["Destination"],
        alice.account_id().to_address()
    );
    assert!(msg["hash"].is_string() && msg.get("transaction").is_none());
    d.shutdown().await;
}

#[tokio::test]
async fn devnet_fail_answers_the_next_submissions_as_asked() {
    let d = start().await;
    let payer = key(0x91, KeyType::Ed25519);
    let dest = key(0x92, KeyType::Ed25519).account_id().to_address();
    fund(&d, &payer, 50_000_000).await;
    let account = |k: &KeyPair| json!({"account": k.account_id().to_address()});
    let info = |r: Json| {
        (
            r["account_data"]["Sequence"].as_u64().unwrap(),
            r["account_data"]["Balance"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        )
    };
    let pay = json!({"TransactionType": "Payment", "Destination": dest, "Amount": "20000000"});

    // A refusal class: answered, nothing applied.
    let r = rpc(
        &d,
        "devnet_fail",
        json!({"engine_result": "telINSUF_FEE_P"}),
    )
    .await;
    assert_eq!(r["pending_faults"], 1, "{r}");
    let before = info(rpc(&d, "account_info", account(&payer)).await);
    let r = submit(&d, &payer, pay.clone()).await;
    assert_eq!(
        (r["engine_result"].as_str(), r["applied"].as_bool()),
        (Some("telINSUF_FEE_P"), Some(false))
    );
    assert_eq!(
        info(rpc(&d, "account_info", account(&payer)).await),
        before,
        "nothing changed"
    );

    // A tec: the fee and the sequence are taken, nothing else happens.
    rpc(&d, "devnet_fail", json!({"engine_result": "tecNO_TARGET"})).await;
    let r = submit(&d, &payer, pay.clone()).await;
    assert_eq!(r["engine_result"], "tecNO_TARGET");
    assert_eq!(
        info(rpc(&d, "account_info", account(&payer)).await),
        (before.0 + 1, before.1 - 10)
    );
    let missing = rpc(&d, "account_info", json!({"account": dest})).await;
    assert_eq!(
        missing["error"], "actNotFound",
        "the payment did not happen"
    );

    // terQUEUED: answered as queued, and it applies.
    rpc(&d, "devnet_fail", json!({"engine_result": "terQUEUED"})).await;
    let r = submit(&d, &payer, pay).await;
    assert_eq!(r["engine_result"], "terQUEUED");
    assert_eq!(
        info(rpc(&d, "account_info", json!({"account": dest})).await).1,
        20_000_000
    );

    // rippled holds a refused transaction and tries it again with the
    // next ledger: there it applies.
    rpc(
        &d,
        "devnet_fail",
        json!({"engine_result": "telINSUF_FEE_P"}),
    )
    .await;
    let one = json!({"TransactionType": "Payment", "Destination": dest, "Amount": "1"});
    let r = submit(&d, &payer, one).await;
    assert_eq!(
        (r["engine_result"].as_str(), r["kept"].as_bool()),
        (Some("telINSUF_FEE_P"), Some(true))
    );
    let hash = r["tx_json"]["hash"].as_str().unwrap().to_owned();
    assert_eq!(
        rpc(&d, "tx", json!({"transaction": hash})).await["error"],
        "txnNotFound"
    );
    d.close_ledger();
    d.close_ledger();
    let t = rpc(&d, "tx", json!({"transaction": hash})).await;
    assert_eq!(t["meta"]["TransactionResult"], "tesSUCCESS", "{t}");
    assert_eq!(t["validated"], true);
    // Held for three more closes (a fee spike that lasts).
    let held = json!({"engine_result": "telINSUF_FEE_P", "held_for": 3});
    rpc(&d, "devnet_fail", held).await;
    let two = json!({"TransactionType": "Payment", "Destination": dest, "Amount": "2"});
    let hash = submit(&d, &payer, two).await["tx_json"]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        d.close_ledger();
        let t = rpc(&d, "tx", json!({"transaction": hash})).await;
        assert_eq!(t["error"], "txnNotFound", "still held");
    }
    d.close_ledger();
    d.close_ledger();
    let t = rpc(&d, "tx", json!({"transaction": hash})).await;
    assert_eq!(t["meta"]["TransactionResult"], "tesSUCCESS", "{t}");

    // Bad requests change nothing.
    for bad in [
        json!({"engine_result": "tesSUCCESS"}),
        json!({"engine_result": "nope"}),
        json!({"engine_result": "tecNO_TARGET", "count": 0}),
        json!({"engine_result": "telINSUF_FEE_P", "held_for": -1}),
    ] {
        assert_eq!(rpc(&d, "devnet_fail", bad).await["error"], "invalidParams");
    }
    d.shutdown().await;
}
