//! A world for sidecar tests: a fresh database with the extension, a devnet
//! on loopback whose ledgers close every 100 ms (pausable), a funded
//! merchant wallet, and a sidecar with TLS, tokens and metrics on port 0;
//! with helpers that drive a session through gRPC the way a wallet and a web
//! server would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::TestDb;
use drip_core::claim::sign_claim;
use drip_core::{AccountId, Drops, Hash256, KeyPair, KeyType, Seed};
use drip_devnet::ledger::chain::GENESIS_SEED;
use drip_devnet::server::{Devnet, Options};
use drip_ledger::{Client, Outcome, Submitter, SubmitterConfig};
use drip_sidecar::config::{Config, GrpcLimits, LogFormat, Tls};
use drip_sidecar::proto::drip_client::DripClient;
use drip_sidecar::proto::{
    AddUnitDebtRequest, AgreementRequest, AmountDueRequest, CreateSessionRequest, Denial,
    DestroySessionRequest, GetSessionRequest, InquireRequest, PayRequest, Session, SessionState,
};
use drip_sidecar::Sidecar;
use serde_json::json;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::{Code, Request, Status};

pub const MERCHANT_TOKEN: &str = "merchant-token-for-tests-0001";
pub const APP_TOKEN: &str = "app-token-for-tests-000000001";

pub struct World {
    pub db: TestDb,
    pub devnet: Arc<Devnet>,
    /// Ledgers close every 100 ms while this is true.
    pub closing: Arc<AtomicBool>,
    pub config: Config,
    pub sidecar: Option<Sidecar>,
    pub merchant: KeyPair,
    pub genesis: Submitter,
    pub tls_dir: std::path::PathBuf,
}

pub fn key(byte: u8, key_type: KeyType) -> KeyPair {
    Seed::from_entropy([byte; 16], key_type).key_pair().unwrap()
}

pub fn submitter(devnet: &Devnet, key: KeyPair) -> Submitter {
    Submitter::new(
        Client::new(devnet.rpc_url.clone()),
        key,
        SubmitterConfig::default(),
    )
}

/// Submit and require tesSUCCESS; the validated `tx` answer.
pub async fn must(s: &Submitter, fields: serde_json::Value) -> serde_json::Value {
    let what = fields["TransactionType"].clone();
    let prepared = s.prepare(fields, 0).await.unwrap();
    match s.submit_and_wait(&prepared).await.unwrap() {
        Outcome::Validated { result, tx, .. } if result == "tesSUCCESS" => tx,
        other => panic!("{what}: {other:?}"),
    }
}

/// A 10 XRP channel from `payer` to the sidecar's wallet (an ILP client's
/// incoming channel), settle delay `settle` seconds, validated on the
/// devnet.
pub async fn ilp_channel(w: &World, payer: &KeyPair, settle: u32) -> Hash256 {
    let create = must(
        &submitter(&w.devnet, payer.clone()),
        json!({"TransactionType": "PaymentChannelCreate", "Destination": w.merchant.account_id().to_address(),
               "Amount": "10000000", "SettleDelay": settle, "PublicKey": payer.public_key().to_hex()}),
    )
    .await;
    drip_ledger::created_channel(&create).unwrap()
}

/// The ILP server's settings for tests: `test.drip`, scale 6 (drops),
/// bandwidth 0, claims redeemed every 200 ms, a 1 XRP channel back to
/// clients whose incoming channel holds 10 XRP.
pub fn btp_config(max_packet_amount: u64) -> drip_sidecar::btp::BtpConfig {
    drip_sidecar::btp::BtpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        address: "test.drip".parse().unwrap(),
        asset_scale: 6,
        bandwidth: 0,
        max_packet_amount,
        min_settle_delay: 3600,
        claim_interval: Duration::from_millis(200),
        outgoing_channel_amount: Drops::new(1_000_000),
        min_incoming_channel_amount: Drops::new(10_000_000),
        channel_keys: drip_sidecar::btp::ChannelKeys::new("btp-test-server-secret"),
        limits: drip_sidecar::btp::BtpLimits::default(),
    }
}

pub async fn world(name: &str) -> World {
    world_with(name, |_| {}).await
}

/// A world whose sidecar settings `adjust` changes first.
pub async fn world_with(name: &str, adjust: impl FnOnce(&mut Config)) -> World {
    // The sidecar's logs, shown for failing tests (RUST_LOG to filter).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
    let db = TestDb::new(name).await;
    let devnet = Arc::new(Devnet::start(Options::default()).await.unwrap());
    let closing = Arc::new(AtomicBool::new(true));
    let (d, c) = (Arc::downgrade(&devnet), closing.clone());
    tokio::spawn(async move {
        while let Some(devnet) = d.upgrade() {
            if c.load(Ordering::SeqCst) {
                devnet.close_ledger();
            }
            drop(devnet);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let genesis = submitter(
        &devnet,
        GENESIS_SEED.parse::<Seed>().unwrap().key_pair().unwrap(),
    );
    let merchant = key(0x4D, KeyType::Secp256k1);
    must(
        &genesis,
        json!({"TransactionType": "Payment", "Destination": merchant.account_id().to_address(), "Amount": "50000000"}),
    )
    .await;
    db.client()
        .await
        .batch_execute(&format!(
            "UPDATE drip.terms SET destination = '{}', polling_interval_secs = 60,
             session_length_secs = 1800, channel_funding = 1000000, min_settle_delay_secs = 1800,
             payment_type = 'both'",
            merchant.account_id().to_address()
        ))
        .await
        .unwrap();
    let tls_dir =
        std::env::temp_dir().join(format!("drip-sidecar-tls-{name}-{}", std::process::id()));
    let mut config = Config {
        database: db.url.parse().unwrap(),
        pool_size: 4,
        grpc_listen: "127.0.0.1:0".parse().unwrap(),
        grpc_limits: GrpcLimits::default(),
        tls: Tls::SelfSigned {
            dir: tls_dir.clone(),
            client_ca: None,
        },
        merchant_token: MERCHANT_TOKEN.into(),
        app_token: Some(APP_TOKEN.into()),
        ledger_rpc_url: devnet.rpc_url.clone(),
        ledger_ws_url: Some(devnet.ws_url.clone()),
        max_fee: Drops::new(10_000),
        wallet: merchant.clone(),
        offload: None,
        sweep_every: Duration::from_millis(200),
        outbox_poll: Duration::from_millis(200),
        outbox_lease: Duration::from_secs(120),
        watch_every: Duration::from_millis(300),
        offload_every: Duration::from_secs(3600),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        btp: None,
        http: None,
        log_level: "info".into(),
        log_format: LogFormat::Text,
    };
    adjust(&mut config);
    let sidecar = Sidecar::start(config.clone()).await.unwrap();
    World {
        db,
        devnet,
        closing,
        config,
        sidecar: Some(sidecar),
        merchant,
        genesis,
        tls_dir,
    }
}

pub async fn finish(w: World) {
    if let Some(sidecar) = w.sidecar {
        sidecar.shutdown().await;
    }
    if let Ok(devnet) = Arc::try_unwrap(w.devnet) {
        devnet.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&w.tls_dir);
}

pub type Api = DripClient<InterceptedService<Channel, Bearer>>;

#[derive(Clone)]
pub struct Bearer(pub Option<&'static str>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: Request<()>) -> Result<Request<()>, Status> {
        if let Some(t) = self.0 {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        Ok(r)
    }
}

pub fn sidecar(w: &World) -> &Sidecar {
    w.sidecar.as_ref().unwrap()
}

pub async fn api(w: &World, token: Option<&'static str>) -> Api {
    DripClient::with_interceptor(grpc_channel(w).await.unwrap(), Bearer(token))
}

/// A new connection to the sidecar's gRPC port, trusting its certificate.
pub async fn grpc_channel(w: &World) -> Result<Channel, tonic::transport::Error> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(
            sidecar(w).certificate.clone().unwrap(),
        ))
        .domain_name("localhost");
    Channel::from_shared(format!("https://{}", sidecar(w).grpc_addr))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

/// One session from creation to its channel's close on the ledger.
pub async fn flow(w: &World, web_id: &str, payer: KeyPair) {
    let (channel, best) = open_and_pay(w, web_id, payer).await;
    let before = w
        .genesis
        .client()
        .account_info(&w.merchant.account_id())
        .await
        .unwrap();
    destroy(w, web_id).await;
    let _fee = closed_with(w, web_id, &channel, best, before).await;
}

/// The merchant's view of a session.
pub async fn session(w: &World, web_id: &str) -> Session {
    get_session(&mut api(w, Some(MERCHANT_TOKEN)).await, web_id).await
}

async fn get_session(api: &mut Api, web_id: &str) -> Session {
    api.get_session(GetSessionRequest {
        session_id: web_id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// End a session as the merchant; the call must be accepted.
pub async fn destroy(w: &World, web_id: &str) {
    let r = api(w, Some(MERCHANT_TOKEN))
        .await
        .destroy_session(DestroySessionRequest {
            session_id: web_id.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.accepted, "{r:?}");
}

/// Poll the session every 100 ms until `done` holds, for at most `limit`.
pub async fn until(
    w: &World,
    web_id: &str,
    what: &str,
    limit: Duration,
    done: impl Fn(&Session) -> bool,
) -> Session {
    let deadline = tokio::time::Instant::now() + limit;
    let mut merchant = api(w, Some(MERCHANT_TOKEN)).await;
    loop {
        let s = get_session(&mut merchant, web_id).await;
        if done(&s) {
            return s;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{web_id}: {what} did not happen: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Send `drops` from the genesis account to `account`.
pub async fn fund(w: &World, account: &AccountId, drops: u64) {
    must(
        &w.genesis,
        json!({"TransactionType": "Payment", "Destination": account.to_address(), "Amount": drops.to_string()}),
    )
    .await;
}

/// Wait for the session to close on the ledger, with its channel gone; what
/// its best claim paid.
pub async fn closed(w: &World, web_id: &str, channel: &Hash256) -> u64 {
    let s = until(
        w,
        web_id,
        "the close on the ledger",
        Duration::from_secs(20),
        |s| s.state() == SessionState::Closed,
    )
    .await;
    assert_eq!(
        w.genesis.client().channel(channel).await.unwrap(),
        None,
        "channel closed"
    );
    s.paid
}

/// Wait for the session to close on the ledger; then the channel is gone and
/// the merchant got exactly `best` drops from one transaction: its fee.
pub async fn closed_with(
    w: &World,
    web_id: &str,
    channel: &Hash256,
    best: u64,
    (seq, balance): (u32, Drops),
) -> u64 {
    assert_eq!(closed(w, web_id, channel).await, best);
    let (seq_after, after) = w
        .genesis
        .client()
        .account_info(&w.merchant.account_id())
        .await
        .unwrap();
    assert_eq!(seq_after, seq + 1, "exactly one claim transaction");
    let fee = balance.get() + best - after.get();
    assert!(
        fee > 0 && fee <= 10_000,
        "redeemed {best} drops less a fee of {fee}"
    );
    fee
}

/// A Pay request with `payer`'s claim for `amount` drops on `channel`.
pub fn claim(token: &str, payer: &KeyPair, channel: &Hash256, amount: u64) -> PayRequest {
    PayRequest {
        drip_token: token.to_owned(),
        amount,
        signature: hex::encode(sign_claim(payer, channel, Drops::new(amount))),
    }
}

/// A session on a new channel of `payer`'s, active: its drip token and
/// channel.
pub async fn open(w: &World, web_id: &str, payer: &KeyPair) -> (String, Hash256) {
    let mut merchant_api = api(w, Some(MERCHANT_TOKEN)).await;
    fund(w, &payer.account_id(), 30_000_000).await;
    let payer_submitter = submitter(&w.devnet, payer.clone());

    let created = merchant_api
        .create_session(CreateSessionRequest {
            session_id: web_id.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.action, "SessionCreated");
    let token = created.drip_token;
    // The wallet's calls carry the session's own drip token, as a bearer.
    let mut wallet_api = api(w, Some(Box::leak(token.clone().into_boxed_str()))).await;
    let proposal = wallet_api
        .inquire(InquireRequest {
            drip_token: token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proposal.action, "Proposal");

    // The wallet opens the channel the proposal asks for, memo = proposal id.
    let create = must(
        &payer_submitter,
        json!({
            "TransactionType": "PaymentChannelCreate",
            "Destination": w.merchant.account_id().to_address(),
            "Amount": "2000000", "SettleDelay": 1800,
            "PublicKey": payer.public_key().to_hex(),
            "Memos": [{"Memo": {"MemoData": hex::encode_upper(proposal.proposal_id.as_bytes())}}],
        }),
    )
    .await;
    let channel = drip_ledger::created_channel(&create).expect("the create made a channel");
    let agreed = wallet_api
        .submit_agreement(AgreementRequest {
            proposal_id: proposal.proposal_id.clone(),
            tx_hash: create["hash"].as_str().unwrap().into(),
            wait: true,
            wait_seconds: 20,
            drip_token: token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(agreed.accepted, "{agreed:?}");
    assert_eq!(agreed.state(), SessionState::Active, "{agreed:?}");
    assert_eq!(agreed.action, "AgreementAccepted");
    (token, channel)
}

/// A session on a new channel of `payer`'s, active and paid: the channel and
/// the best claim.
pub async fn open_and_pay(w: &World, web_id: &str, payer: KeyPair) -> (Hash256, u64) {
    let (token, channel) = open(w, web_id, &payer).await;
    let mut merchant_api = api(w, Some(MERCHANT_TOKEN)).await;
    let mut wallet_api = api(w, Some(APP_TOKEN)).await;
    // Pay what is due, then a unit purchase, then pay again.
    let due = wallet_api
        .amount_due(AmountDueRequest {
            drip_token: token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (due.due, due.paid, due.channel_amount),
        (33_334, 0, 2_000_000)
    );
    let pay = |amount: u64| claim(&token, &payer, &channel, amount);
    let paid = wallet_api.pay(pay(33_334)).await.unwrap().into_inner();
    assert!(
        paid.accepted && paid.action == "PaymentAccepted",
        "{paid:?}"
    );
    let stale = wallet_api.pay(pay(30_000)).await.unwrap().into_inner();
    assert_eq!(stale.denial(), Denial::NotAboveBest);
    assert_eq!(stale.message, "ERR: Invalid amount for payment");
    let forged = claim(&token, &key(0x01, KeyType::Ed25519), &channel, 40_000);
    let forged = wallet_api.pay(forged).await.unwrap().into_inner();
    assert_eq!(forged.denial(), Denial::BadSignature);

    // Unit debt is the merchant's call only.
    let refused = wallet_api
        .add_unit_debt(AddUnitDebtRequest {
            drip_token: token.clone(),
            amount: 5_000,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let debt = merchant_api
        .add_unit_debt(AddUnitDebtRequest {
            drip_token: token.clone(),
            amount: 5_000,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(debt.accepted, "{debt:?}");
    assert_eq!(debt.due, 38_334);
    let too_much = merchant_api
        .add_unit_debt(AddUnitDebtRequest {
            drip_token: token.clone(),
            amount: 1_999_999,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(too_much.denial(), Denial::ExceedsChannel);
    assert_eq!(too_much.message, "ERR: Debt exceeds channel balance");
    let best = 38_334;
    assert!(
        wallet_api
            .pay(pay(best))
            .await
            .unwrap()
            .into_inner()
            .accepted
    );

    (channel, best)
}

/// The value of `series` (its name and labels, as the exposition writes
/// them) in the sidecar's metrics, if it is there.
pub async fn metric(w: &World, series: &str) -> Option<f64> {
    metrics_text(w)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The sidecar's metrics as text.
pub async fn metrics_text(w: &World) -> String {
    let url = format!("http://{}/metrics", sidecar(w).metrics_addr.unwrap());
    reqwest::get(url).await.unwrap().text().await.unwrap()
}
