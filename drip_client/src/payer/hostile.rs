//! The wallet against a hostile drip server: a gRPC server of the test's
//! own, answering as each test scripts it (with proposals it signs), and a
//! real ledger (drip-devnet, in process).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use drip_core::terms::PaymentType;
use drip_core::{AccountId, KeyPair, Seed};
use drip_devnet::{Devnet, Options};
use drip_ledger::{Client, SubmitterConfig};
use drip_proto::drip_server::{Drip, DripServer};
use drip_proto::{
    AddUnitDebtRequest, AddUnitDebtResponse, AmountDueRequest, CreateSessionRequest,
    CreateSessionResponse, DestroySessionRequest, DestroySessionResponse, GetSessionRequest,
    InquireRequest, PayRequest, PayResponse, Session, SessionEvent, WatchSessionRequest,
};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::*;
use crate::api::Endpoint;

const TOKEN: &str = "hostile-session-0123456789";

/// What the server answers, and what it saw.
#[derive(Debug)]
struct Script {
    /// What an inquiry answers, signed.
    inquiry: Proposal,
    /// Answers to agreements, in turn; then acceptance, active.
    agreements: VecDeque<AgreementResponse>,
    /// What is due: the server's word.
    due: AmountDueResponse,
    /// The channel refresh proposals name.
    channel: Option<Hash256>,
    /// What refresh proposals ask to fund.
    refresh_funding: Drops,
    /// Whether refresh agreements are taken.
    refresh_taken: bool,
    /// Refresh proposals asked for.
    refresh_inquiries: u32,
}

#[derive(Debug)]
struct Hostile {
    key: KeyPair,
    script: Arc<Mutex<Script>>,
}

fn agreement(accepted: bool, state: SessionState) -> AgreementResponse {
    AgreementResponse {
        accepted,
        state: state.into(),
        ..Default::default()
    }
}

impl Hostile {
    fn signed(&self, p: &Proposal) -> Result<Response<drip_proto::Proposal>, Status> {
        let s = p
            .sign(&self.key)
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(drip_proto::Proposal {
            proposal_id: p.proposal_id.clone(),
            payload: s.payload,
            signature: s.signature,
            public_key: s.public_key,
            ..Default::default()
        }))
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[tonic::async_trait]
impl Drip for Hostile {
    async fn create_session(
        &self,
        _: Request<CreateSessionRequest>,
    ) -> Result<Response<CreateSessionResponse>, Status> {
        Err(Status::unimplemented("merchant"))
    }

    async fn get_session(
        &self,
        _: Request<GetSessionRequest>,
    ) -> Result<Response<Session>, Status> {
        Err(Status::unimplemented("merchant"))
    }

    async fn destroy_session(
        &self,
        _: Request<DestroySessionRequest>,
    ) -> Result<Response<DestroySessionResponse>, Status> {
        Err(Status::unimplemented("merchant"))
    }

    async fn inquire(
        &self,
        _: Request<InquireRequest>,
    ) -> Result<Response<drip_proto::Proposal>, Status> {
        let p = self.script().inquiry.clone();
        self.signed(&p)
    }

    async fn refresh_inquire(
        &self,
        _: Request<InquireRequest>,
    ) -> Result<Response<drip_proto::Proposal>, Status> {
        let p = {
            let mut s = self.script();
            s.refresh_inquiries += 1;
            let channel_id = s
                .channel
                .ok_or_else(|| Status::failed_precondition("no channel"))?;
            Proposal {
                proposal_id: format!("refresh-{}", s.refresh_inquiries),
                kind: ProposalKind::Refresh { channel_id },
                channel_funding: s.refresh_funding,
                ..s.inquiry.clone()
            }
        };
        self.signed(&p)
    }

    async fn submit_agreement(
        &self,
        _: Request<AgreementRequest>,
    ) -> Result<Response<AgreementResponse>, Status> {
        let next = self.script().agreements.pop_front();
        Ok(Response::new(
            next.unwrap_or_else(|| agreement(true, SessionState::Active)),
        ))
    }

    async fn submit_refresh(
        &self,
        _: Request<AgreementRequest>,
    ) -> Result<Response<AgreementResponse>, Status> {
        let taken = self.script().refresh_taken;
        Ok(Response::new(agreement(taken, SessionState::Active)))
    }

    async fn amount_due(
        &self,
        _: Request<AmountDueRequest>,
    ) -> Result<Response<AmountDueResponse>, Status> {
        Ok(Response::new(self.script().due.clone()))
    }

    async fn pay(&self, r: Request<PayRequest>) -> Result<Response<PayResponse>, Status> {
        let mut s = self.script();
        s.due.paid = r.into_inner().amount;
        Ok(Response::new(PayResponse {
            accepted: true,
            due: s.due.due,
            paid: s.due.paid,
            ..Default::default()
        }))
    }

    async fn add_unit_debt(
        &self,
        _: Request<AddUnitDebtRequest>,
    ) -> Result<Response<AddUnitDebtResponse>, Status> {
        Err(Status::unimplemented("merchant"))
    }

    type WatchSessionStream = futures_util::stream::Empty<Result<SessionEvent, Status>>;

    async fn watch_session(
        &self,
        _: Request<WatchSessionRequest>,
    ) -> Result<Response<Self::WatchSessionStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

/// A devnet closing a ledger every 100 ms, the hostile server, and a
/// funded payer with a wallet file of defaults.
struct World {
    devnet: Devnet,
    script: Arc<Mutex<Script>>,
    url: String,
    payer: KeyPair,
    wallet: PathBuf,
}

/// A proposal from the server's `destination`: `rate` per `interval` s,
/// `funding`, valid for ten minutes.
fn proposal(
    destination: AccountId,
    payment_type: PaymentType,
    rate: u64,
    interval: u32,
    funding: u64,
) -> Proposal {
    Proposal {
        proposal_id: "hostile-initial".into(),
        kind: ProposalKind::Initial,
        payment_type,
        rate: Drops::new(rate),
        polling_interval_secs: interval,
        channel_funding: Drops::new(funding),
        settle_delay_secs: 600,
        destination,
        destination_tag: None,
        expires_at: unix_now() + 600,
    }
}

async fn must(s: &Submitter, fields: Json) {
    let prepared = s.prepare(fields, 0).await.unwrap();
    let outcome = s.submit_and_wait(&prepared).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Validated { result, .. } if result == "tesSUCCESS"),
        "{outcome:?}"
    );
}

impl World {
    async fn start(
        name: &str,
        terms: impl FnOnce(AccountId) -> Proposal,
        adjust: impl FnOnce(&mut Mandate),
    ) -> World {
        let devnet = Devnet::start(Options {
            ledger_interval: Some(Duration::from_millis(100)),
            ..Options::default()
        })
        .await
        .unwrap();
        let genesis = Submitter::new(
            Client::new(devnet.rpc_url.clone()),
            drip_devnet::ledger::chain::GENESIS_SEED
                .parse::<Seed>()
                .unwrap()
                .key_pair()
                .unwrap(),
            SubmitterConfig::default(),
        );
        let server = Seed::from_entropy([0x5E; 16], KeyType::Ed25519)
            .key_pair()
            .unwrap();
        let payer = Seed::from_entropy([0x9A; 16], KeyType::Ed25519)
            .key_pair()
            .unwrap();
        for (account, drops) in [(&server, "20000000"), (&payer, "100000000")] {
            must(
                &genesis,
                json!({"TransactionType": "Payment", "Amount": drops,
                       "Destination": account.account_id().to_address()}),
            )
            .await;
        }
        let script = Arc::new(Mutex::new(Script {
            inquiry: terms(server.account_id()),
            agreements: VecDeque::new(),
            due: AmountDueResponse::default(),
            channel: None,
            refresh_funding: Drops::ZERO,
            refresh_taken: true,
            refresh_inquiries: 0,
        }));
        let incoming = TcpIncoming::bind(([127, 0, 0, 1], 0).into()).unwrap();
        let url = format!("http://{}", incoming.local_addr().unwrap());
        let service = DripServer::new(Hostile {
            key: server,
            script: script.clone(),
        });
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        );
        let dir = std::env::temp_dir().join(format!("drip-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let wallet = dir.join("wallet.json");
        let seed = Seed::from_entropy([0x9A; 16], KeyType::Ed25519);
        let mut w = Wallet::create(&wallet, KeyType::Ed25519, Some(seed)).unwrap();
        w.update(|f| adjust(&mut f.mandate)).unwrap();
        World {
            devnet,
            script,
            url,
            payer,
            wallet,
        }
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap()
    }

    fn open_wallet(&self) -> Wallet {
        Wallet::open(&self.wallet).unwrap()
    }

    /// A payer of the session through the hostile server.
    fn payer<'w>(&self, wallet: &'w mut Wallet) -> Payer<'w> {
        let mut e = Endpoint::new(self.url.clone());
        e.token = Some(TOKEN.into());
        let ledger = Submitter::new(
            Client::new(self.devnet.rpc_url.clone()),
            self.payer.clone(),
            SubmitterConfig::default(),
        );
        let target = format!("drip://hostile.test/{TOKEN}").parse().unwrap();
        Payer::new(
            Api::new(&e).unwrap(),
            ledger,
            wallet,
            &target,
            "",
            PayerConfig::default(),
        )
    }

    /// The payer's channels on the ledger, and their amounts.
    async fn channels(&self) -> Vec<Drops> {
        Client::new(self.devnet.rpc_url.clone())
            .account_channels(&self.payer.account_id())
            .await
            .unwrap()
            .iter()
            .map(|c| c.amount)
            .collect()
    }

    async fn finish(self) {
        let _ = std::fs::remove_dir_all(self.wallet.parent().unwrap());
        self.devnet.shutdown().await;
    }
}

/// The server says the session is active with this much due and in the
/// channel, ending now.
fn says(due: u64, channel: u64) -> AmountDueResponse {
    AmountDueResponse {
        due,
        channel_amount: channel,
        ends_at: Some(prost_types::Timestamp {
            seconds: unix_now(),
            nanos: 0,
        }),
        state: SessionState::Active.into(),
        ..Default::default()
    }
}

/// A server reporting an all but empty channel about to end cannot make
/// the wallet fund it: the refresh decision is the wallet's own, by the
/// ledger and its own claims, and it asks for no refresh at all (it used
/// to, and then funded whatever the server asked, a drop at a time).
#[tokio::test]
async fn a_server_reporting_an_empty_channel_gets_no_refresh() {
    let w = World::start(
        "numbers",
        |dest| proposal(dest, PaymentType::Time, 100, 1, 1_000_000),
        |_| {},
    )
    .await;
    let mut wallet = w.open_wallet();
    let mut payer = w.payer(&mut wallet);
    let channel = payer.open().await.unwrap();
    {
        let mut s = w.script();
        s.channel = Some(channel);
        s.refresh_funding = Drops::new(1);
        s.due = says(100, 1);
    }
    for _ in 0..3 {
        let progress = payer.step().await.unwrap();
        assert_eq!(progress.event, None, "{progress:?}");
    }
    assert_eq!(w.script().refresh_inquiries, 0);
    assert_eq!(w.channels().await, [Drops::new(1_000_000)]);
    drop(payer);
    w.finish().await;
}

/// Purchases the wallet paid leave a quarter of a funding: a refresh is
/// due. One asking for another funding than the create's (a drop: a fee
/// burnt for each; or all max_funding allows) is refused, nothing is sent,
/// and no refresh is asked for again.
#[tokio::test]
async fn a_refresh_of_another_funding_is_refused_and_the_last() {
    let w = World::start(
        "funding",
        |dest| proposal(dest, PaymentType::Unit, 0, 1, 1_000_000),
        |m| m.unit_per_session = Drops::new(5_000_000),
    )
    .await;
    let mut wallet = w.open_wallet();
    let mut payer = w.payer(&mut wallet);
    let channel = payer.open().await.unwrap();
    {
        let mut s = w.script();
        s.channel = Some(channel);
        s.refresh_funding = Drops::new(1);
        s.due = says(800_000, 1_000_000);
    }
    let progress = payer.step().await.unwrap();
    assert_eq!(progress.paid, 800_000);
    let event = progress.event.unwrap();
    assert!(event.contains("not the session's funding"), "{event}");
    for _ in 0..2 {
        assert_eq!(payer.step().await.unwrap().event, None);
    }
    assert_eq!(w.script().refresh_inquiries, 1);
    assert_eq!(w.channels().await, [Drops::new(1_000_000)]);
    drop(payer);
    w.finish().await;
}

/// A server that refuses a refresh the wallet funded is not given another:
/// the wallet stops refreshing the session (it used to fund again every
/// round).
#[tokio::test]
async fn a_refused_refresh_is_the_last() {
    let w = World::start(
        "refused",
        |dest| proposal(dest, PaymentType::Unit, 0, 1, 1_000_000),
        |m| m.unit_per_session = Drops::new(5_000_000),
    )
    .await;
    let mut wallet = w.open_wallet();
    let mut payer = w.payer(&mut wallet);
    let channel = payer.open().await.unwrap();
    {
        let mut s = w.script();
        s.channel = Some(channel);
        s.refresh_funding = Drops::new(1_000_000);
        s.refresh_taken = false;
        s.due = says(800_000, 1_000_000);
    }
    let event = payer.step().await.unwrap().event.unwrap();
    assert!(event.starts_with("refresh failed"), "{event}");
    for _ in 0..2 {
        assert_eq!(payer.step().await.unwrap().event, None);
    }
    assert_eq!(w.script().refresh_inquiries, 1);
    assert_eq!(w.channels().await, [Drops::new(2_000_000)]);
    assert!(payer.must_record().unwrap().refresh_stopped);
    drop(payer);
    w.finish().await;
}

/// A server that stalls the agreement (not checked in time), then takes it
/// on the next try, bills from its first: the wallet counts time from the
/// try that was taken, and refuses the stall's bill.
#[tokio::test]
async fn time_counts_from_the_agreement_that_was_taken() {
    let w = World::start(
        "stall",
        |dest| proposal(dest, PaymentType::Time, 1_000, 1, 1_000_000),
        |_| {},
    )
    .await;
    w.script()
        .agreements
        .push_back(agreement(false, SessionState::Pending));
    let mut wallet = w.open_wallet();
    let mut payer = w.payer(&mut wallet);
    let stalled = payer.open().await.unwrap_err();
    assert!(matches!(stalled, Error::Timeout(_)), "{stalled}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    payer.open().await.unwrap();
    // The three seconds of the stall, and the interval begun.
    w.script().due = says(4_000, 1_000_000);
    let progress = payer.step().await.unwrap();
    let refused = progress.refused.unwrap();
    assert!(refused.contains("the proposal allows"), "{refused}");
    assert_eq!(payer.must_record().unwrap().best_amount(), Drops::ZERO);
    drop(payer);
    w.finish().await;
}

/// A proposal that expired before its channel was made is asked for again;
/// a refresh proposal in answer is refused as the first one would be, and
/// no channel is made for it.
#[tokio::test]
async fn a_re_inquiry_answered_with_a_refresh_proposal_is_refused() {
    let w = World::start(
        "reinquiry",
        |dest| proposal(dest, PaymentType::Time, 100, 1, 1_000_000),
        |_| {},
    )
    .await;
    let expired = Proposal {
        expires_at: unix_now() - 10,
        ..w.script().inquiry.clone()
    };
    w.script().inquiry.kind = ProposalKind::Refresh {
        channel_id: Hash256([7; 32]),
    };
    let mut wallet = w.open_wallet();
    let seed = random_seed(KeyType::Ed25519).unwrap().encode();
    wallet
        .update(|f| {
            f.sessions.insert(
                TOKEN.into(),
                SessionRecord {
                    site: "hostile.test".into(),
                    channel_seed: seed,
                    proposal: expired,
                    create: None,
                    channel_id: None,
                    agreed: false,
                    fund: None,
                    best: None,
                    window: Window::default(),
                    active_from: None,
                    refreshes: 0,
                    refresh_stopped: false,
                    closed: false,
                },
            );
        })
        .unwrap();
    let mut payer = w.payer(&mut wallet);
    let e = payer.open().await.unwrap_err();
    assert!(
        matches!(&e, Error::Mismatch(m) if m.contains("refresh proposal")),
        "{e}"
    );
    assert!(w.channels().await.is_empty());
    drop(payer);
    w.finish().await;
}
