//! The HTTP 402 front door over real sockets (https), against the devnet:
//! the draft-xrpl-session flow from the payer's side (a challenge, an open
//! that drip puts on the ledger, vouchers, a close the ledger pays to the
//! last voucher), every problem the draft names provoked with the mark left
//! alone, racing vouchers on one channel, a free route and an upstream
//! API.

use std::time::Duration;

use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyPair, KeyType};
use drip_ledger::Prepared;
use drip_mpp::{Challenge, Credential, PayerDid, Payload, Receipt, ReceiptAction};
use drip_sidecar::http::{ChallengeKey, HttpConfig, Route};
use drip_tests::sidecar::{finish, fund, key, sidecar, submitter, world_with, World};
use serde_json::{json, Value as Json};

const PRICE: u64 = 1000;
const DEPOSIT: u64 = 100_000;

async fn http_world(name: &str, adjust: impl FnOnce(&mut HttpConfig)) -> World {
    world_with(name, |c| {
        let routes = vec![
            Route {
                path: "/paid".into(),
                price: Drops::new(PRICE),
                upstream: None,
                description: Some("a paid route".into()),
            },
            Route {
                path: "/free".into(),
                price: Drops::ZERO,
                upstream: None,
                description: None,
            },
        ];
        let mut http = HttpConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            routes,
            ChallengeKey::derive("http402-test-secret"),
        );
        adjust(&mut http);
        c.http = Some(http);
    })
    .await
}

fn web(w: &World) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(sidecar(w).certificate.as_ref().unwrap().as_bytes())
        .unwrap();
    reqwest::Client::builder()
        .add_root_certificate(cert)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn url(w: &World, path: &str) -> String {
    format!(
        "https://localhost:{}{path}",
        sidecar(w).http_addr.unwrap().port()
    )
}

/// A payer with XRP on the devnet.
async fn payer(w: &World, byte: u8) -> KeyPair {
    let k = key(byte, KeyType::Ed25519);
    fund(w, &k.account_id(), 50_000_000).await;
    k
}

/// An unpaid request: a 402 and its challenge (naming `hint`'s channel
/// when drip takes vouchers on it).
async fn challenge(http: &reqwest::Client, url: &str, hint: Option<&Hash256>) -> Challenge {
    let mut r = http.get(url);
    if let Some(h) = hint {
        r = r.header("X-MPP-PayChannel-Id", h.to_string());
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 402);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let header = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    Challenge::from_header(&header).unwrap()
}

/// The payer's PaymentChannelCreate to the sidecar's wallet, signed, not
/// submitted; and the channel it creates.
async fn create(w: &World, payer: &KeyPair, fields: Json) -> (Prepared, Hash256) {
    let mut tx = json!({"TransactionType": "PaymentChannelCreate",
        "Destination": w.merchant.account_id().to_address(), "Amount": DEPOSIT.to_string(),
        "SettleDelay": 3600, "PublicKey": payer.public_key().to_hex()});
    for (k, v) in fields.as_object().unwrap() {
        tx[k] = v.clone();
    }
    let p = submitter(&w.devnet, payer.clone())
        .prepare(tx, 0)
        .await
        .unwrap();
    let dest = w.merchant.account_id();
    let channel = drip_core::channel::channel_id(&payer.account_id(), &dest, p.sequence);
    (p, channel)
}

fn source(payer: &KeyPair) -> Option<PayerDid> {
    Some(
        PayerDid::parse(&format!(
            "did:pkh:xrpl:devnet:{}",
            payer.account_id().to_address()
        ))
        .unwrap(),
    )
}

fn open(ch: &Challenge, payer: &KeyPair, blob: &[u8], channel: &Hash256, amount: u64) -> String {
    Credential {
        challenge: ch.clone(),
        source: source(payer),
        payload: Payload::Open {
            transaction: blob.to_vec(),
            amount,
            signature: sign_claim(payer, channel, Drops::new(amount)),
        },
    }
    .header_value()
}

fn voucher(ch: &Challenge, payer: &KeyPair, channel: &Hash256, amount: u64, close: bool) -> String {
    let signature = sign_claim(payer, channel, Drops::new(amount));
    let payload = if close {
        Payload::Close {
            channel_id: *channel,
            amount,
            signature,
        }
    } else {
        Payload::Voucher {
            channel_id: *channel,
            amount,
            signature,
        }
    };
    Credential {
        challenge: ch.clone(),
        source: source(payer),
        payload,
    }
    .header_value()
}

async fn send(http: &reqwest::Client, url: &str, credential: &str) -> reqwest::Response {
    http.get(url)
        .header("Authorization", credential)
        .send()
        .await
        .unwrap()
}

/// A paid answer's receipt.
async fn paid(r: reqwest::Response) -> Receipt {
    let status = r.status();
    let receipt = r
        .headers()
        .get("payment-receipt")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    Receipt::decode(&receipt.expect("a receipt")).unwrap()
}

/// A refusal: its problem type (after the base URI) and detail, with a
/// fresh challenge.
async fn refused(r: reqwest::Response) -> (String, String) {
    assert_eq!(r.status(), 402);
    assert!(
        r.headers().get("www-authenticate").is_some(),
        "a fresh challenge"
    );
    assert!(r.headers().get("payment-receipt").is_none());
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Json = r.json().await.unwrap();
    let t = p["type"].as_str().unwrap();
    let slug = t
        .strip_prefix("https://paymentauth.org/problems/")
        .unwrap()
        .to_owned();
    (slug, p["detail"].as_str().unwrap_or_default().to_owned())
}

/// The channel's accepted total, as drip holds it.
async fn mark(w: &World, channel: &Hash256) -> i64 {
    w.db.client()
        .await
        .query_one(
            "SELECT best FROM drip.mpp_channel($1)",
            &[&channel.0.as_slice()],
        )
        .await
        .unwrap()
        .get(0)
}

/// A channel opened through drip with a first voucher of PRICE.
async fn opened(w: &World, http: &reqwest::Client, payer: &KeyPair) -> Hash256 {
    let u = url(w, "/paid");
    let ch = challenge(http, &u, None).await;
    let (p, channel) = create(w, payer, json!({})).await;
    let r = paid(send(http, &u, &open(&ch, payer, &p.blob, &channel, PRICE)).await).await;
    assert_eq!(r.action, ReceiptAction::Open { tx_hash: p.hash });
    assert_eq!((r.channel_id, r.cumulative), (channel, PRICE));
    channel
}

#[tokio::test]
async fn a_payer_opens_pays_and_closes_and_the_ledger_pays_the_last_voucher() {
    let w = http_world("http_flow", |_| {}).await;
    let http = web(&w);
    let u = url(&w, "/paid");
    let alice = payer(&w, 0x51).await;

    let first = challenge(&http, &u, None).await;
    let terms = first.session_request().unwrap();
    assert_eq!((terms.amount, terms.channel_id), (PRICE, None));
    assert_eq!(terms.recipient, w.merchant.account_id());
    let (p, channel) = create(&w, &alice, json!({})).await;
    let r = paid(send(&http, &u, &open(&first, &alice, &p.blob, &channel, PRICE)).await).await;
    assert_eq!(r.action, ReceiptAction::Open { tx_hash: p.hash });
    assert!(
        w.genesis
            .client()
            .channel(&channel)
            .await
            .unwrap()
            .is_some(),
        "on the ledger"
    );

    let mut total = PRICE;
    for _ in 0..5 {
        let ch = challenge(&http, &u, Some(&channel)).await;
        let terms = ch.session_request().unwrap();
        assert_eq!(terms.channel_id, Some(channel));
        assert_eq!(terms.cumulative_amount, Some(total), "the accepted total");
        total += PRICE;
        let r = paid(send(&http, &u, &voucher(&ch, &alice, &channel, total, false)).await).await;
        assert_eq!((r.action, r.cumulative), (ReceiptAction::Voucher, total));
    }
    assert_eq!(mark(&w, &channel).await, total as i64);

    // A challenge taken before the close, answered after it: finalized.
    let late = challenge(&http, &u, Some(&channel)).await;
    let ch = challenge(&http, &u, Some(&channel)).await;
    total += PRICE;
    let r = paid(send(&http, &u, &voucher(&ch, &alice, &channel, total, true)).await).await;
    assert_eq!((r.action, r.cumulative), (ReceiptAction::Close, total));
    let (slug, _) = refused(
        send(
            &http,
            &u,
            &voucher(&late, &alice, &channel, total + PRICE, false),
        )
        .await,
    )
    .await;
    assert_eq!(slug, "session/channel-finalized");
    let fresh = challenge(&http, &u, Some(&channel)).await;
    assert_eq!(
        fresh.session_request().unwrap().channel_id,
        None,
        "a new channel is asked for"
    );

    // drip redeems the last voucher with a closing claim.
    let db = w.db.client().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row = db
            .query_one(
                "SELECT paid, redeemed, closed_at IS NOT NULL, vouchers FROM drip.mpp_channels WHERE channel_id = $1",
                &[&hex::encode(channel.0)],
            )
            .await
            .unwrap();
        if row.get::<_, bool>(2) {
            assert_eq!(row.get::<_, i64>(0), total as i64);
            assert_eq!(
                row.get::<_, i64>(1),
                total as i64,
                "the ledger paid the last voucher"
            );
            assert_eq!(row.get::<_, i64>(3), 7);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the channel was not closed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(w.genesis.client().channel(&channel).await.unwrap(), None);
    let losses: i64 = db
        .query_one("SELECT count(*) FROM drip.losses", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(losses, 0);
    finish(w).await;
}

#[tokio::test]
async fn every_problem_is_told_apart_and_changes_nothing() {
    let w = http_world("http_problems", |_| {}).await;
    let http = web(&w);
    let u = url(&w, "/paid");
    let alice = payer(&w, 0x52).await;
    let mallory = payer(&w, 0x53).await;
    let channel = opened(&w, &http, &alice).await;
    let mut total = PRICE;

    let expect =
        |what: &'static str, slug: &'static str, detail: &'static str| (what, slug, detail);
    let cases = [
        (
            expect("forged signature", "session/invalid-signature", ""),
            {
                let ch = challenge(&http, &u, Some(&channel)).await;
                let mut c =
                    Credential::parse(&voucher(&ch, &alice, &channel, total + PRICE, false))
                        .unwrap();
                c.payload = Payload::Voucher {
                    channel_id: channel,
                    amount: total + PRICE,
                    signature: sign_claim(&mallory, &channel, Drops::new(total + PRICE)),
                };
                c.header_value()
            },
        ),
        (expect("replay", "verification-failed", "replay"), {
            let ch = challenge(&http, &u, Some(&channel)).await;
            voucher(&ch, &alice, &channel, total, false)
        }),
        (expect("rollback", "verification-failed", "rollback"), {
            let ch = challenge(&http, &u, Some(&channel)).await;
            voucher(&ch, &alice, &channel, total - 1, false)
        }),
        (
            expect("underpayment", "payment-insufficient", "underpayment"),
            {
                let ch = challenge(&http, &u, Some(&channel)).await;
                voucher(&ch, &alice, &channel, total + PRICE - 1, false)
            },
        ),
        (
            expect("above the deposit", "session/amount-exceeds-deposit", ""),
            {
                let ch = challenge(&http, &u, Some(&channel)).await;
                voucher(&ch, &alice, &channel, DEPOSIT + 1, false)
            },
        ),
        (expect("2^63", "malformed-credential", "largest"), {
            let ch = challenge(&http, &u, Some(&channel)).await;
            voucher(&ch, &alice, &channel, 1 << 63, false)
        }),
        (
            expect("another payer's source", "verification-failed", "payer"),
            {
                let ch = challenge(&http, &u, Some(&channel)).await;
                let mut c =
                    Credential::parse(&voucher(&ch, &alice, &channel, total + PRICE, false))
                        .unwrap();
                c.source = source(&mallory);
                c.header_value()
            },
        ),
        (expect("an altered challenge", "invalid-challenge", ""), {
            let mut ch = challenge(&http, &u, Some(&channel)).await;
            ch.realm = "elsewhere".into();
            voucher(&ch, &alice, &channel, total + PRICE, false)
        }),
        (
            expect("a challenge for another channel", "invalid-challenge", ""),
            {
                let ch = challenge(&http, &u, None).await;
                voucher(&ch, &alice, &channel, total + PRICE, false)
            },
        ),
        (
            expect("oversized", "malformed-credential", ""),
            format!("Payment {}", "A".repeat(9000)),
        ),
        (
            expect("garbage", "malformed-credential", ""),
            "Payment %%%\u{1}".into(),
        ),
        (
            expect("NUL bytes", "malformed-credential", ""),
            format!(
                "Payment {}",
                drip_mpp::base64url::encode(b"{\"challenge\":\0}")
            ),
        ),
    ];
    for ((what, slug, detail), credential) in cases {
        let r = http
            .get(&u)
            .header("Authorization", credential)
            .send()
            .await;
        let (got, text) = match r {
            Ok(r) => refused(r).await,
            // A header value reqwest itself refuses never reaches drip.
            Err(_) => continue,
        };
        assert_eq!(got, slug, "{what}: {text}");
        assert!(text.contains(detail), "{what}: {text}");
        assert_eq!(
            mark(&w, &channel).await,
            total as i64,
            "{what} changed the mark"
        );
    }

    // A challenge pays once.
    let ch = challenge(&http, &u, Some(&channel)).await;
    total += PRICE;
    paid(send(&http, &u, &voucher(&ch, &alice, &channel, total, false)).await).await;
    let (slug, _) = refused(
        send(
            &http,
            &u,
            &voucher(&ch, &alice, &channel, total + PRICE, false),
        )
        .await,
    )
    .await;
    assert_eq!(slug, "invalid-challenge", "a reused challenge");
    // An expired one is refused: the same terms, issued (with the
    // sidecar's key) to expire a second ago.
    let fresh = challenge(&http, &u, Some(&channel)).await;
    let now = drip_core::time::system_to_ripple(std::time::SystemTime::now()) as i64
        + drip_core::time::RIPPLE_EPOCH;
    let ch = Challenge::issue(
        ChallengeKey::derive("http402-test-secret").bytes(),
        &fresh.realm,
        &fresh.session_request().unwrap(),
        now - 1,
        None,
    )
    .unwrap();
    let (slug, _) = refused(
        send(
            &http,
            &u,
            &voucher(&ch, &alice, &channel, total + PRICE, false),
        )
        .await,
    )
    .await;
    assert_eq!(slug, "payment-expired");
    assert_eq!(mark(&w, &channel).await, total as i64);

    // Opens the ledger must not see: another recipient, a short settle
    // delay, an end inside the claim window; and a channel nobody opened.
    let bob = payer(&w, 0x54).await;
    let elsewhere = key(0x55, KeyType::Ed25519).account_id().to_address();
    let soon = drip_core::time::system_to_ripple(std::time::SystemTime::now()) + 120;
    for (what, fields, slug) in [
        (
            "another recipient",
            json!({"Destination": elsewhere}),
            "verification-failed",
        ),
        (
            "a short settle delay",
            json!({"SettleDelay": 600}),
            "verification-failed",
        ),
        (
            "a CancelAfter inside the claim window",
            json!({"CancelAfter": soon}),
            "session/channel-finalized",
        ),
    ] {
        let ch = challenge(&http, &u, None).await;
        let (p, id) = create(&w, &bob, fields).await;
        let (got, text) =
            refused(send(&http, &u, &open(&ch, &bob, &p.blob, &id, PRICE)).await).await;
        assert_eq!(got, slug, "{what}: {text}");
    }
    let nobody = Hash256([7; 32]);
    let ch = challenge(&http, &u, Some(&nobody)).await;
    let (slug, _) =
        refused(send(&http, &u, &voucher(&ch, &bob, &nobody, PRICE, false)).await).await;
    assert_eq!(slug, "session/channel-not-found");
    finish(w).await;
}

#[tokio::test]
async fn racing_vouchers_leave_the_mark_at_the_highest_accepted() {
    let w = http_world("http_race", |_| {}).await;
    let http = web(&w);
    let u = url(&w, "/paid");
    let alice = payer(&w, 0x56).await;
    let channel = opened(&w, &http, &alice).await;
    let mut tries = Vec::new();
    for k in 1..=8u64 {
        let ch = challenge(&http, &u, Some(&channel)).await;
        tries.push((
            PRICE + k * PRICE,
            voucher(&ch, &alice, &channel, PRICE + k * PRICE, false),
        ));
    }
    let sent = tries.into_iter().map(|(amount, credential)| {
        let (http, u) = (http.clone(), u.clone());
        tokio::spawn(async move { (amount, send(&http, &u, &credential).await.status()) })
    });
    let mut accepted = Vec::new();
    for t in sent {
        let (amount, status) = t.await.unwrap();
        if status == 200 {
            accepted.push(amount);
        }
    }
    assert!(!accepted.is_empty());
    let highest = *accepted.iter().max().unwrap();
    assert_eq!(mark(&w, &channel).await, highest as i64);
    let kept: i64 =
        w.db.client()
            .await
            .query_one(
                "SELECT count(*) FROM drip.claims WHERE channel_id = $1",
                &[&channel.0.as_slice()],
            )
            .await
            .unwrap()
            .get(0);
    assert_eq!(
        kept as usize,
        accepted.len() + 1,
        "every accepted voucher, and the open's"
    );
    finish(w).await;
}

#[tokio::test]
async fn a_free_route_asks_nothing_and_an_upstream_answers_a_paid_one() {
    // The upstream API: what it was asked, and whether it saw a credential.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_url = format!("http://{}", upstream.local_addr().unwrap());
    let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        let auth = req.headers().contains_key("authorization");
        axum::Json(json!({"path": req.uri().to_string(), "saw_credential": auth}))
    });
    tokio::spawn(async move { axum::serve(upstream, app).await.unwrap() });
    let w = http_world("http_upstream", |h| {
        h.routes.push(Route {
            path: "/api/weather".into(),
            price: Drops::new(PRICE),
            upstream: Some(upstream_url),
            description: None,
        })
    })
    .await;
    let http = web(&w);
    let r = http.get(url(&w, "/free")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("payment-receipt").is_none());
    let r = http.get(url(&w, "/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    let alice = payer(&w, 0x57).await;
    let u = url(&w, "/api/weather?city=Lyon");
    let ch = challenge(&http, &u, None).await;
    let (p, channel) = create(&w, &alice, json!({})).await;
    let r = send(&http, &u, &open(&ch, &alice, &p.blob, &channel, PRICE)).await;
    assert_eq!(r.headers()["cache-control"], "private");
    assert!(r.headers().get("payment-receipt").is_some());
    let body: Json = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"path": "/api/weather?city=Lyon", "saw_credential": false})
    );
    finish(w).await;
}

#[tokio::test]
async fn drip_fetch_pays_from_the_wallet_within_its_mandate() {
    use drip_client::fetch::{FetchConfig, FetchError, Fetcher};
    use drip_client::{Refusal, Wallet};
    let w = http_world("http_fetch", |_| {}).await;
    let dir = std::env::temp_dir().join(format!("drip-fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seed = drip_core::Seed::from_entropy([0x58; 16], KeyType::Ed25519);
    let mut wallet =
        Wallet::create(&dir.join("wallet.json"), KeyType::Ed25519, Some(seed)).unwrap();
    fund(&w, &wallet.account().unwrap().account_id(), 50_000_000).await;
    let ca = sidecar(&w).certificate.clone().unwrap();
    let config = FetchConfig {
        deposit: Drops::new(DEPOSIT),
        network: "devnet".into(),
        ..FetchConfig::default()
    };
    let u = url(&w, "/paid");
    let ledger = submitter(&w.devnet, wallet.account().unwrap());
    let mut fetcher =
        Fetcher::new(&mut wallet, ledger, Some(ca.as_bytes()), config.clone()).unwrap();
    let mut totals = Vec::new();
    for close in [false, false, false, true] {
        let got = fetcher.get(&u, close).await.unwrap();
        assert_eq!(got.status, 200);
        totals.push(got.receipt.unwrap().cumulative);
    }
    assert_eq!(totals, [PRICE, 2 * PRICE, 3 * PRICE, 4 * PRICE]);
    let kept = wallet.file().http_channels.values().next().unwrap().clone();
    assert!(kept.closed);
    assert_eq!(
        (kept.signed, kept.accepted),
        (Drops::new(4 * PRICE), Drops::new(4 * PRICE))
    );
    assert_eq!(mark(&w, &kept.channel_id).await, 4 * PRICE as i64);

    // A price above what one step of the mandate allows is not paid.
    wallet
        .update(|f| f.mandate.per_interval = Drops::new(PRICE - 1))
        .unwrap();
    let ledger = submitter(&w.devnet, wallet.account().unwrap());
    let mut fetcher = Fetcher::new(&mut wallet, ledger, Some(ca.as_bytes()), config).unwrap();
    match fetcher.get(&u, false).await {
        Err(FetchError::Mandate(Refusal::PerInterval { .. })) => {}
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    finish(w).await;
}

#[tokio::test]
async fn garbage_credentials_get_a_problem_and_the_door_keeps_serving() {
    let w = http_world("http_garbage", |_| {}).await;
    let http = web(&w);
    let u = url(&w, "/paid");
    let alice = payer(&w, 0x59).await;
    let channel = opened(&w, &http, &alice).await;
    let seed: u64 = std::env::var("GARBAGE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x402);
    let mut rng = drip_tests::sim::Rng::new(seed);
    let genuine = voucher(
        &challenge(&http, &u, Some(&channel)).await,
        &alice,
        &channel,
        2 * PRICE,
        false,
    );
    let mut accepted = 0;
    for i in 0..200 {
        // Random bytes, random base64url, and the genuine credential cut or
        // with a byte flipped.
        let credential = match i % 4 {
            0 => {
                let n = rng.below(600) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.below(95) as u8 + 32).collect();
                format!("Payment {}", String::from_utf8(bytes).unwrap())
            }
            1 => {
                let n = rng.below(600) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
                format!("Payment {}", drip_mpp::base64url::encode(&bytes))
            }
            2 => genuine[..rng.below(genuine.len() as u64) as usize].to_owned(),
            _ => {
                let mut b = genuine.clone().into_bytes();
                let at = 8 + rng.below(b.len() as u64 - 8) as usize;
                b[at] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                    [rng.below(64) as usize];
                String::from_utf8(b).unwrap()
            }
        };
        let r = http
            .get(&u)
            .header("Authorization", &credential)
            .send()
            .await;
        let Ok(r) = r else { continue };
        // A credential still carrying the genuine voucher may pay (a flip in
        // what the challenge's id does not bind, its description, say), but
        // the voucher pays once.
        let status = r.status().as_u16();
        if status == 200 {
            accepted += 1;
        }
        assert!(
            status == 402 && accepted <= 1 || status == 200 && accepted == 1,
            "seed {seed}, #{i}: {status} for {credential:?}"
        );
    }
    assert!(mark(&w, &channel).await <= 2 * PRICE as i64);
    // Still serving: the genuine payment path works.
    let ch = challenge(&http, &u, Some(&channel)).await;
    let total = mark(&w, &channel).await as u64 + PRICE;
    paid(send(&http, &u, &voucher(&ch, &alice, &channel, total, false)).await).await;
    finish(w).await;
}

#[tokio::test]
async fn a_channel_the_payer_opened_itself_is_brought_in_by_a_good_voucher_only() {
    let w = http_world("http_bring_in", |_| {}).await;
    let http = web(&w);
    let u = url(&w, "/paid");
    let alice = payer(&w, 0x5A).await;
    let mallory = payer(&w, 0x5B).await;
    // Alice opens her channel on the ledger herself.
    let (p, channel) = create(&w, &alice, json!({})).await;
    let s = submitter(&w.devnet, alice.clone());
    assert!(matches!(
        s.submit_and_wait(&p).await.unwrap(),
        drip_ledger::Outcome::Validated { ref result, .. } if result == "tesSUCCESS"
    ));
    let ch = challenge(&http, &u, Some(&channel)).await;
    assert_eq!(ch.session_request().unwrap().cumulative_amount, Some(0));
    // Mallory names it with her own source; an underpaying voucher; one
    // above the deposit: none brings the channel in.
    let mut wrong = Credential::parse(&voucher(&ch, &alice, &channel, PRICE, false)).unwrap();
    wrong.source = source(&mallory);
    let (slug, _) = refused(send(&http, &u, &wrong.header_value()).await).await;
    assert_eq!(slug, "verification-failed");
    let (slug, _) =
        refused(send(&http, &u, &voucher(&ch, &alice, &channel, PRICE - 1, false)).await).await;
    assert_eq!(slug, "payment-insufficient");
    let (slug, _) = refused(
        send(
            &http,
            &u,
            &voucher(&ch, &alice, &channel, DEPOSIT + 1, false),
        )
        .await,
    )
    .await;
    assert_eq!(slug, "session/amount-exceeds-deposit");
    let known: i64 =
        w.db.client()
            .await
            .query_one("SELECT count(*) FROM drip.channels WHERE mpp", &[])
            .await
            .unwrap()
            .get(0);
    assert_eq!(known, 0, "refused vouchers bring nothing in");
    // Her own voucher does; then she pays on, spends it all and closes at
    // the total (a close pays for nothing served).
    let r = paid(send(&http, &u, &voucher(&ch, &alice, &channel, PRICE, false)).await).await;
    assert_eq!((r.action, r.cumulative), (ReceiptAction::Voucher, PRICE));
    let ch = challenge(&http, &u, Some(&channel)).await;
    paid(send(&http, &u, &voucher(&ch, &alice, &channel, DEPOSIT, false)).await).await;
    let ch = challenge(&http, &u, Some(&channel)).await;
    let r = paid(send(&http, &u, &voucher(&ch, &alice, &channel, DEPOSIT, true)).await).await;
    assert_eq!((r.action, r.cumulative), (ReceiptAction::Close, DEPOSIT));
    // An open from an account the ledger does not know is refused at once.
    let ghost = key(0x5C, KeyType::Ed25519);
    let ch = challenge(&http, &u, None).await;
    let tx = json!({"TransactionType": "PaymentChannelCreate", "Account": ghost.account_id().to_address(),
        "Destination": w.merchant.account_id().to_address(), "Amount": DEPOSIT.to_string(),
        "SettleDelay": 3600, "PublicKey": ghost.public_key().to_hex(), "Sequence": 1,
        "Fee": "12", "LastLedgerSequence": 100000});
    let signed =
        drip_core::tx::sign(&mut drip_core::codec::from_json(&tx).unwrap(), &ghost).unwrap();
    let ghost_channel =
        drip_core::channel::channel_id(&ghost.account_id(), &w.merchant.account_id(), 1);
    let started = std::time::Instant::now();
    let (slug, _) = refused(
        send(
            &http,
            &u,
            &open(&ch, &ghost, &signed.blob, &ghost_channel, PRICE),
        )
        .await,
    )
    .await;
    assert_eq!(slug, "verification-failed");
    assert!(started.elapsed() < Duration::from_secs(5), "not waited for");
    finish(w).await;
}

#[tokio::test]
async fn an_idle_channel_is_redeemed_without_being_closed() {
    let w = http_world("http_idle", |_| {}).await;
    let http = web(&w);
    let u = url(&w, "/paid");
    let alice = payer(&w, 0x5D).await;
    let channel = opened(&w, &http, &alice).await;
    let ch = challenge(&http, &u, Some(&channel)).await;
    paid(send(&http, &u, &voucher(&ch, &alice, &channel, 3 * PRICE, false)).await).await;
    let db = w.db.client().await;
    // Not idle yet: nothing is queued.
    db.execute("SELECT drip.sweep()", &[]).await.unwrap();
    assert_eq!(claims_queued(&db, &channel).await, 0);
    // An hour later by the sweep's clock: a plain claim redeems the best.
    db.execute("SELECT drip.sweep(now() + interval '61 minutes')", &[])
        .await
        .unwrap();
    assert_eq!(claims_queued(&db, &channel).await, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let entry = w
            .genesis
            .client()
            .channel(&channel)
            .await
            .unwrap()
            .expect("still open");
        if entry.balance == Drops::new(3 * PRICE) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not redeemed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The channel stays open and keeps taking vouchers.
    let ch = challenge(&http, &u, Some(&channel)).await;
    assert_eq!(
        ch.session_request().unwrap().cumulative_amount,
        Some(3 * PRICE)
    );
    paid(send(&http, &u, &voucher(&ch, &alice, &channel, 4 * PRICE, false)).await).await;
    finish(w).await;
}

async fn claims_queued(db: &tokio_postgres::Client, channel: &Hash256) -> i64 {
    db.query_one(
        "SELECT count(*) FROM drip.outbox WHERE kind = 'claim' AND channel_id = $1",
        &[&channel.0.as_slice()],
    )
    .await
    .unwrap()
    .get(0)
}
