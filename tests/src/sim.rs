//! A seeded fault simulation of drip's money path, in the spirit of
//! FoundationDB's simulation tests: one process holds a real PostgreSQL
//! database with the extension, two ledger workers (two sidecars on one
//! outbox) and the channel watch as library calls, and an in-process
//! devnet whose clock the schedule moves. A seeded schedule mixes payers
//! (sessions created, agreed, paid with valid, stale, forged and oversized
//! claims, refreshed, destroyed, channels closed by their payers), the
//! merchant (unit debt, destroy), the ledger (tel/ter/tef/tec answers, a
//! clock jumping toward Expiration) and the sidecar (crashed mid-job, down
//! for a while, two workers racing). Afterwards the outbox must drain and
//! every invariant is checked against the ledger itself.
//!
//! The schedule (each choice, each fault) replays exactly from its seed;
//! the moment a crashed worker stops depends on I/O readiness, and ledgers
//! close on a timer, so a replay takes the same steps, not always the same
//! interleaving.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use drip_core::claim::sign_claim;
use drip_core::{AccountId, Drops, Hash256, KeyPair, KeyType, Seed};
use drip_devnet::ledger::chain::GENESIS_SEED;
use drip_devnet::server::{Devnet, Options};
use drip_ledger::{Client, Outcome, Submitter, SubmitterConfig};
use drip_sidecar::jobs::outbox::Worker;
use drip_sidecar::metrics::Metrics;
use serde_json::{json, Value as Json};

use crate::TestDb;

/// SplitMix64: small, seedable, and the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What a schedule did, and what broke (empty: every invariant held).
#[derive(Debug, Default)]
pub struct Report {
    /// Steps taken, one line each.
    pub trace: Vec<String>,
    /// Broken invariants.
    pub violations: Vec<String>,
    /// Claims drip accepted.
    pub accepted: u64,
    /// Channels drip held that the schedule ended on the ledger.
    pub channels: u64,
    /// Drops recorded lost (each explained by the schedule).
    pub lost: u64,
}

/// The merchant's terms in the simulation: 10 s polling over an hour,
/// channels of 1 XRP, an hour's settle delay. Ledgers close every 20 ms,
/// each at least a second after its parent, so ledger time runs about 50
/// times faster than the wall's: an hour of it is over a minute of the
/// schedule's, and only a clock jump (up to two settle delays) can outrun
/// the watch.
const FUNDING: u64 = 1_000_000;
const SETTLE_DELAY: u32 = 3600;
/// Ledger results the devnet is told to answer at random (tem codes are
/// drip's own malformed transactions, not the ledger's doing).
const FAULTS: [&str; 8] = [
    "telINSUF_FEE_P",
    "telCAN_NOT_QUEUE",
    "terQUEUED",
    "terPRE_SEQ",
    "tefPAST_SEQ",
    "tecNO_TARGET",
    "tecUNFUNDED_PAYMENT",
    "tecNO_PERMISSION",
];

/// One payer: a wallet, and its session as far as it got.
struct Payer {
    key: KeyPair,
    submitter: Submitter,
    web: String,
    token: Option<String>,
    channel: Option<Hash256>,
    /// The highest claim drip accepted from it.
    best: u64,
}

struct Sim {
    rng: Rng,
    report: Report,
    db: tokio_postgres::Client,
    devnet: Arc<Devnet>,
    closing: Arc<AtomicBool>,
    genesis: Submitter,
    merchant: KeyPair,
    workers: [Worker; 2],
    metrics: Metrics,
    ledger: Client,
    payers: Vec<Payer>,
    /// Steps left while the sidecar is down (no worker, no watch).
    down: u32,
    /// Channels whose Expiration a clock jump passed, with why: the only
    /// reason a loss may be recorded.
    outrun: HashMap<Hash256, String>,
}

/// Run one schedule of `steps` steps from `seed` on a fresh database.
pub async fn run(seed: u64, steps: u32) -> Report {
    let mut sim = Sim::new(seed).await;
    for step in 0..steps {
        sim.step(step).await;
    }
    sim.drain().await;
    sim.check().await;
    sim.finish().await
}

impl Sim {
    async fn new(seed: u64) -> Sim {
        let db = TestDb::new(&format!("sim_{seed:x}")).await;
        let c = db.client().await;
        let devnet = Arc::new(
            Devnet::start(Options::default())
                .await
                .expect("the devnet starts"),
        );
        let closing = Arc::new(AtomicBool::new(true));
        let (d, on) = (Arc::downgrade(&devnet), closing.clone());
        tokio::spawn(async move {
            while let Some(devnet) = d.upgrade() {
                if on.load(Ordering::SeqCst) {
                    devnet.close_ledger();
                }
                drop(devnet);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let ledger = Client::new(devnet.rpc_url.clone());
        let genesis = submitter(&ledger, seed_key(GENESIS_SEED));
        let merchant = Seed::from_entropy([0x4D; 16], KeyType::Secp256k1)
            .key_pair()
            .expect("a key");
        let mut config: tokio_postgres::Config = db.url.parse().expect("the test URL");
        config.application_name("drip-sim");
        let pool = drip_sidecar::db::pool(&config, 4).expect("a pool");
        let metrics = Metrics::new();
        // Two sidecars: one outbox, one wallet, a submitter (and its
        // sequence) each; a short lease, so a crashed one is followed soon.
        let worker = || Worker {
            pool: pool.clone(),
            submitter: Arc::new(submitter(&ledger, merchant.clone())),
            poll: Duration::from_millis(20),
            lease: Duration::from_secs(1),
            metrics: metrics.clone(),
        };
        let workers = [worker(), worker()];
        c.batch_execute(&format!(
            "UPDATE drip.terms SET destination = '{}', polling_interval_secs = 10,
             session_length_secs = 3600, channel_funding = {FUNDING},
             min_settle_delay_secs = {SETTLE_DELAY}, claim_window_secs = 30, payment_type = 'both'",
            merchant.account_id().to_address()
        ))
        .await
        .expect("terms");
        let mut sim = Sim {
            rng: Rng::new(seed),
            report: Report::default(),
            db: c,
            devnet,
            closing,
            genesis,
            merchant,
            workers,
            metrics,
            ledger,
            payers: Vec::new(),
            down: 0,
            outrun: HashMap::new(),
        };
        let merchant = sim.merchant.account_id();
        sim.fund(&merchant, 100_000_000).await;
        sim
    }

    fn log(&mut self, line: String) {
        self.report.trace.push(line);
    }

    fn violation(&mut self, what: String) {
        self.report.violations.push(what);
    }

    /// Send `drops` from the genesis account, through whatever faults.
    async fn fund(&mut self, to: &AccountId, drops: u64) {
        for _ in 0..20 {
            let fields = json!({"TransactionType": "Payment", "Destination": to.to_address(), "Amount": drops.to_string()});
            if let Ok(Outcome::Validated { result, .. }) = send(&self.genesis, fields).await {
                if result == "tesSUCCESS" {
                    return;
                }
            }
        }
        panic!("genesis could not fund {to}");
    }

    async fn step(&mut self, n: u32) {
        let op = self.rng.below(100);
        match op {
            0..=7 => self.new_session().await,
            8..=17 => self.agree().await,
            18..=39 => self.pay().await,
            40..=44 => self.unit_debt().await,
            45..=48 => self.destroy().await,
            49..=51 => self.payer_closes().await,
            52..=56 => self.clock_jump().await,
            57..=59 => self.refresh().await,
            60..=61 => {
                let steps = 1 + u32::try_from(self.rng.below(8)).unwrap_or(0);
                self.log(format!("{n}: the sidecar is down for {steps} steps"));
                self.down = steps;
            }
            62..=64 => self.fault(),
            65..=67 => {
                let r = self
                    .db
                    .query_one("SELECT ended FROM drip.sweep()", &[])
                    .await;
                self.log(format!("{n}: sweep {:?}", r.map(|r| r.get::<_, i32>(0))));
            }
            _ => self.sidecar(n).await,
        }
        self.down = self.down.saturating_sub(1);
    }

    fn payer_index(&mut self, want: impl Fn(&Payer) -> bool) -> Option<usize> {
        let found: Vec<usize> = (0..self.payers.len())
            .filter(|&i| want(&self.payers[i]))
            .collect();
        if found.is_empty() {
            return None;
        }
        let pick = usize::try_from(self.rng.below(found.len() as u64)).unwrap_or(0);
        Some(found[pick])
    }

    async fn new_session(&mut self) {
        if self.payers.len() >= 6 {
            return;
        }
        let n = self.payers.len();
        let kt = if self.rng.chance(50) {
            KeyType::Ed25519
        } else {
            KeyType::Secp256k1
        };
        let key = Seed::from_entropy([u8::try_from(n).unwrap_or(0) + 1; 16], kt)
            .key_pair()
            .expect("a key");
        self.fund(&key.account_id(), 20_000_000).await;
        let web = format!("web-{n}");
        let token: String = self
            .db
            .query_one("SELECT drip_token FROM drip.create_session($1)", &[&web])
            .await
            .expect("create_session")
            .get(0);
        self.log(format!("new session {web} ({kt:?})"));
        self.payers.push(Payer {
            submitter: submitter(&self.ledger, key.clone()),
            key,
            web,
            token: Some(token),
            channel: None,
            best: 0,
        });
    }

    async fn session_state(&self, web: &str) -> String {
        self.db
            .query_one("SELECT state::text FROM drip.get_session($1)", &[&web])
            .await
            .map(|r| r.get(0))
            .unwrap_or_default()
    }

    /// A payer opens the channel its proposal asks for (or a wrong one, at
    /// times) and agrees.
    async fn agree(&mut self) {
        let Some(i) = self.payer_index(|p| p.channel.is_none() && p.token.is_some()) else {
            return;
        };
        let web = self.payers[i].web.clone();
        if self.session_state(&web).await != "created" {
            return;
        }
        let token = self.payers[i].token.clone().unwrap_or_default();
        let Ok(row) = self
            .db
            .query_one("SELECT proposal_id FROM drip.inquire($1)", &[&token])
            .await
        else {
            return;
        };
        let proposal: String = row.get(0);
        let short = self.rng.chance(10);
        let amount = if short { FUNDING / 2 } else { FUNDING };
        let fields = json!({
            "TransactionType": "PaymentChannelCreate",
            "Destination": self.merchant.account_id().to_address(),
            "Amount": amount.to_string(), "SettleDelay": SETTLE_DELAY,
            "PublicKey": self.payers[i].key.public_key().to_hex(),
            "Memos": [{"Memo": {"MemoData": hex::encode_upper(proposal.as_bytes())}}],
        });
        let Ok(Outcome::Validated { result, tx, .. }) =
            send(&self.payers[i].submitter, fields).await
        else {
            self.log(format!("{web}: its channel create did not validate"));
            return;
        };
        let Some(channel) = drip_ledger::created_channel(&tx).filter(|_| result == "tesSUCCESS")
        else {
            self.log(format!("{web}: channel create {result}"));
            return;
        };
        let hash = hex::decode(tx["hash"].as_str().unwrap_or_default()).unwrap_or_default();
        let r = self
            .db
            .query_one(
                "SELECT accepted, reason::text AS reason FROM drip.submit_agreement($1, $2)",
                &[&proposal, &hash],
            )
            .await;
        self.log(format!(
            "{web}: opened {channel} with {amount} drops, agreed: {:?}",
            r.map(|r| (r.get::<_, bool>(0), r.get::<_, Option<String>>(1)))
        ));
        if !short {
            self.payers[i].channel = Some(channel);
        }
    }

    /// A claim: valid and higher, stale, forged or above the channel.
    async fn pay(&mut self) {
        let Some(i) = self.payer_index(|p| p.channel.is_some()) else {
            return;
        };
        let (web, channel, token) = {
            let p = &self.payers[i];
            (
                p.web.clone(),
                p.channel.unwrap_or_default(),
                p.token.clone().unwrap_or_default(),
            )
        };
        let Ok(due) = self
            .db
            .query_one(
                "SELECT due, paid, channel_amount FROM drip.amount_due($1)",
                &[&token],
            )
            .await
        else {
            return;
        };
        let (due, paid, cap): (Option<i64>, i64, Option<i64>) =
            (due.get(0), due.get(1), due.get(2));
        let (Some(due), Some(cap)) = (due, cap) else {
            return;
        };
        let best = u64::try_from(paid).unwrap_or(0);
        let cap = u64::try_from(cap).unwrap_or(0);
        let kind = self.rng.below(10);
        let (amount, signer, what) = match kind {
            0 => (
                best.saturating_sub(self.rng.below(3)),
                self.payers[i].key.clone(),
                "stale",
            ),
            1 => {
                let forger = Seed::from_entropy([0xF0; 16], KeyType::Ed25519)
                    .key_pair()
                    .expect("a key");
                (best + 1 + self.rng.below(1000), forger, "forged")
            }
            2 => (
                cap + 1 + self.rng.below(1000),
                self.payers[i].key.clone(),
                "oversized",
            ),
            _ => {
                let floor = best.max(u64::try_from(due).unwrap_or(0));
                (
                    floor + 1 + self.rng.below(5_000),
                    self.payers[i].key.clone(),
                    "valid",
                )
            }
        };
        let Ok(drops) = i64::try_from(amount) else {
            return;
        };
        let signature = sign_claim(&signer, &channel, Drops::new(amount));
        let r = self
            .db
            .query_one(
                "SELECT accepted, reason::text AS reason FROM drip.pay($1, $2, $3)",
                &[&token, &drops, &signature],
            )
            .await;
        let outcome = r.map(|r| (r.get::<_, bool>(0), r.get::<_, Option<String>>(1)));
        if let Ok((true, _)) = outcome {
            self.report.accepted += 1;
            if what != "valid" || amount <= best || amount > cap {
                self.violation(format!(
                    "{web}: a {what} claim of {amount} was accepted (best {best}, channel {cap})"
                ));
            }
            self.payers[i].best = amount;
        }
        self.log(format!("{web}: pays {what} {amount}: {outcome:?}"));
    }

    async fn unit_debt(&mut self) {
        let Some(i) = self.payer_index(|p| p.channel.is_some()) else {
            return;
        };
        let token = self.payers[i].token.clone().unwrap_or_default();
        let drops = i64::try_from(1 + self.rng.below(20_000)).unwrap_or(1);
        let r = self
            .db
            .query_one(
                "SELECT accepted, reason::text AS reason FROM drip.add_unit_debt($1, $2)",
                &[&token, &drops],
            )
            .await;
        let web = self.payers[i].web.clone();
        self.log(format!(
            "{web}: unit debt {drops}: {:?}",
            r.map(|r| (r.get::<_, bool>(0), r.get::<_, Option<String>>(1)))
        ));
    }

    async fn destroy(&mut self) {
        let Some(i) = self.payer_index(|p| p.token.is_some()) else {
            return;
        };
        let web = self.payers[i].web.clone();
        let r = self
            .db
            .query_one(
                "SELECT accepted, reason::text AS reason FROM drip.destroy_session($1)",
                &[&web],
            )
            .await;
        self.log(format!(
            "{web}: destroyed: {:?}",
            r.map(|r| (r.get::<_, bool>(0), r.get::<_, Option<String>>(1)))
        ));
    }

    /// The payer asks the ledger to close its channel: an Expiration a
    /// settle delay away.
    async fn payer_closes(&mut self) {
        let Some(i) = self.payer_index(|p| p.channel.is_some()) else {
            return;
        };
        let channel = self.payers[i].channel.unwrap_or_default();
        let fields = json!({"TransactionType": "PaymentChannelClaim", "Channel": channel.to_string(), "Flags": 0x0002_0000u32});
        let r = send(&self.payers[i].submitter, fields).await;
        let web = self.payers[i].web.clone();
        self.log(format!("{web}: the payer asks to close: {}", brief(&r)));
    }

    /// Ledger time jumps (up to twice the settle delay): a channel whose
    /// Expiration it passes may close before drip's claim, which is the one
    /// loss the invariants accept.
    async fn clock_jump(&mut self) {
        let secs = 1 + self.rng.below(u64::from(SETTLE_DELAY) * 2);
        let before = self.devnet.last_close_time();
        let mut expiring = Vec::new();
        for p in &self.payers {
            if let Some(c) = p.channel {
                if let Ok(Some(e)) = self.ledger.channel(&c).await {
                    if let Some(exp) = e.expiration {
                        expiring.push((c, exp));
                    }
                }
            }
        }
        self.devnet.advance_time(secs);
        let after = self.devnet.last_close_time();
        for (c, exp) in expiring {
            if exp <= after {
                self.outrun.entry(c).or_insert_with(|| {
                    format!("a clock jump from {before} to {after} passed its Expiration {exp}")
                });
            }
        }
        self.log(format!("the ledger clock jumps {secs} s"));
    }

    /// A refresh: the payer funds its channel further and says so.
    async fn refresh(&mut self) {
        let Some(i) = self.payer_index(|p| p.channel.is_some()) else {
            return;
        };
        let token = self.payers[i].token.clone().unwrap_or_default();
        let Ok(row) = self
            .db
            .query_one(
                "SELECT proposal_id FROM drip.refresh_inquire($1)",
                &[&token],
            )
            .await
        else {
            return;
        };
        let proposal: String = row.get(0);
        let channel = self.payers[i].channel.unwrap_or_default();
        let fields = json!({"TransactionType": "PaymentChannelFund", "Channel": channel.to_string(), "Amount": FUNDING.to_string()});
        let web = self.payers[i].web.clone();
        let r = send(&self.payers[i].submitter, fields).await;
        let Ok(Outcome::Validated { tx, .. }) = &r else {
            self.log(format!("{web}: refresh fund: {}", brief(&r)));
            return;
        };
        let hash = hex::decode(tx["hash"].as_str().unwrap_or_default()).unwrap_or_default();
        let agreed = self
            .db
            .query_one(
                "SELECT accepted FROM drip.submit_refresh($1, $2)",
                &[&proposal, &hash],
            )
            .await;
        self.log(format!(
            "{web}: refreshed: {:?}",
            agreed.map(|r| r.get::<_, bool>(0))
        ));
    }

    /// The ledger answers the next submission (anyone's) with a fault.
    fn fault(&mut self) {
        let code = FAULTS[usize::try_from(self.rng.below(FAULTS.len() as u64)).unwrap_or(0)];
        // rippled holds a refused one and tries it again, here after up to
        // 30 ledgers (a fee spike that lasts).
        let held_for = self.rng.below(30);
        let _ = self.devnet.call(
            "devnet_fail",
            json!({"engine_result": code, "count": 1, "held_for": held_for}),
        );
        self.log(format!(
            "the ledger will answer {code} (held {held_for} ledgers)"
        ));
    }

    /// The sidecar's turn: a worker step (at times crashed part way, at
    /// times both workers at once), or a watch pass.
    async fn sidecar(&mut self, n: u32) {
        if self.down > 0 {
            return;
        }
        match self.rng.below(10) {
            0..=1 => {
                let r = drip_sidecar::jobs::watch::look(
                    &self.workers[0].pool,
                    &self.ledger,
                    &self.merchant.account_id(),
                    &self.metrics,
                )
                .await;
                self.log(format!("{n}: watch: {r:?}"));
            }
            2..=3 => {
                // Two sidecars' workers and a watch, all at once.
                let wallet = self.merchant.account_id();
                let (a, b, c) = tokio::join!(
                    self.workers[0].step(),
                    self.workers[1].step(),
                    drip_sidecar::jobs::watch::look(
                        &self.workers[0].pool,
                        &self.ledger,
                        &wallet,
                        &self.metrics
                    )
                );
                self.log(format!(
                    "{n}: both workers and the watch: {a:?} {b:?} {c:?}"
                ));
            }
            4 => {
                let polls = 1 + self.rng.below(40);
                let w = usize::try_from(self.rng.below(2)).unwrap_or(0);
                let crashed = crash_after(polls, self.workers[w].step()).await;
                self.log(format!(
                    "{n}: worker {w} crashes after {polls} polls: {crashed:?}"
                ));
            }
            _ => {
                let w = usize::try_from(self.rng.below(2)).unwrap_or(0);
                let r = self.workers[w].step().await;
                self.log(format!("{n}: worker {w}: {r:?}"));
            }
        }
    }

    /// No more faults: every session ends, and the sidecar works until the
    /// outbox is empty (the bound is the invariant: it drains).
    async fn drain(&mut self) {
        self.log("drain".into());
        let webs: Vec<String> = self.payers.iter().map(|p| p.web.clone()).collect();
        for _ in 0..600 {
            // Faults left queued in the devnet are used up by this traffic.
            for web in &webs {
                let _ = self
                    .db
                    .execute("SELECT drip.destroy_session($1)", &[web])
                    .await;
            }
            let _ = self.db.query_one("SELECT drip.sweep()", &[]).await;
            let _ = drip_sidecar::jobs::watch::look(
                &self.workers[0].pool,
                &self.ledger,
                &self.merchant.account_id(),
                &self.metrics,
            )
            .await;
            while let Ok(true) = self.workers[0].step().await {}
            let open: i64 = self
                .db
                .query_one(
                    "SELECT (SELECT count(*) FROM drip.outbox WHERE state IN ('queued', 'submitted'))
                          + (SELECT count(*) FROM drip.sessions WHERE state IN ('pending', 'active', 'closing'))",
                    &[],
                )
                .await
                .map(|r| r.get(0))
                .unwrap_or(1);
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stuck: Vec<String> = self
            .db
            .query(
                "SELECT format('job %s %s %s failures=%s error=%s', id, kind, state, failures, last_error)
                 FROM drip.outbox WHERE state IN ('queued', 'submitted')
                 UNION ALL SELECT format('session %s %s', session_id, state) FROM drip.sessions
                 WHERE state IN ('pending', 'active', 'closing')",
                &[],
            )
            .await
            .map(|rows| rows.iter().map(|r| r.get(0)).collect())
            .unwrap_or_default();
        self.violation(format!("the outbox did not drain: {stuck:?}"));
    }

    /// The invariants, against the ledger.
    async fn check(&mut self) {
        let failed: i64 = self
            .db
            .query_one(
                "SELECT count(*) FROM drip.outbox WHERE state = 'failed'",
                &[],
            )
            .await
            .map(|r| r.get(0))
            .unwrap_or(-1);
        if failed != 0 {
            self.violation(format!("{failed} outbox jobs failed for good"));
        }
        let merchant = self.merchant.account_id();
        let history = self.merchant_history().await;
        let rows = self
            .db
            .query(
                "SELECT c.channel_id, c.amount, c.best_claim, c.ledger_balance, c.closed_at IS NOT NULL,
                        coalesce((SELECT sum(l.amount) FROM drip.losses l WHERE l.channel_id = c.channel_id), 0)::bigint,
                        coalesce((SELECT string_agg(l.reason, ',') FROM drip.losses l WHERE l.channel_id = c.channel_id), ''),
                        coalesce((SELECT bool_and(a.amount > coalesce(a.previous, 0))
                                  FROM (SELECT amount, lag(amount) OVER (ORDER BY accepted_at, amount) AS previous
                                        FROM drip.claims WHERE channel_id = c.channel_id) a), true),
                        coalesce((SELECT max(amount) FROM drip.claims WHERE channel_id = c.channel_id), 0)
                 FROM drip.channels c",
                &[],
            )
            .await
            .expect("channels");
        let mut paid_total = 0u64;
        for r in rows {
            self.report.channels += 1;
            let id = Hash256(r.get::<_, Vec<u8>>(0).try_into().unwrap_or([0; 32]));
            let (amount, best, balance, closed): (i64, i64, i64, bool) =
                (r.get(1), r.get(2), r.get(3), r.get(4));
            let (lost, reasons, rising, top): (i64, String, bool, i64) =
                (r.get(5), r.get(6), r.get(7), r.get(8));
            if !rising || top != best || best > amount {
                self.violation(format!("{id}: accepted claims do not rise to the best ({best}) within the channel ({amount})"));
            }
            if !closed {
                self.violation(format!("{id}: still open in drip after the drain"));
            }
            if let Ok(Some(_)) = self.ledger.channel(&id).await {
                self.violation(format!("{id}: still on the ledger after the drain"));
            }
            // What the ledger paid: the deleted channel's final Balance.
            let closes: Vec<&Json> = history
                .iter()
                .filter(|t| drip_ledger::deleted_channel(t, &id))
                .collect();
            let ledger_paid = closes
                .first()
                .and_then(|t| drip_ledger::channel_after(t, &id))
                .map(|(b, _)| b.get());
            let claims_by_drip = history
                .iter()
                .filter(|t| {
                    t["TransactionType"] == "PaymentChannelClaim"
                        && t["Channel"] == id.to_string().as_str()
                        && t["Account"] == merchant.to_address().as_str()
                        && t["meta"]["TransactionResult"] == "tesSUCCESS"
                })
                .count();
            if claims_by_drip > 1 {
                self.violation(format!(
                    "{id}: {claims_by_drip} successful claims by drip (one intent, one claim)"
                ));
            }
            // A claim of drip's that reached the ledger after the channel
            // left it was signed for an intent already carried out.
            let (gone_at, gone_by) = closes.first().map_or((None, None), |t| {
                (t["ledger_index"].as_u64(), t["hash"].as_str())
            });
            let late = history
                .iter()
                .filter(|t| {
                    t["TransactionType"] == "PaymentChannelClaim"
                        && t["Channel"] == id.to_string().as_str()
                        && t["Account"] == merchant.to_address().as_str()
                        && t["hash"].as_str() != gone_by
                        && (gone_at.is_none() || t["ledger_index"].as_u64() >= gone_at)
                })
                .count();
            if late > 0 {
                self.violation(format!(
                    "{id}: {late} claims by drip after the channel left the ledger"
                ));
            }
            match ledger_paid {
                None => self.violation(format!("{id}: no close of it found on the ledger")),
                Some(p) if i64::try_from(p).ok() != Some(balance) => self.violation(format!(
                    "{id}: drip records {balance} paid, the ledger paid {p}"
                )),
                Some(p) => paid_total += p,
            }
            if best != balance + lost {
                self.violation(format!("{id}: best claim {best} is neither paid ({balance}) nor a recorded loss ({lost})"));
            }
            if lost > 0 {
                self.report.lost += u64::try_from(lost).unwrap_or(0);
                if !self.outrun.contains_key(&id) {
                    self.violation(format!("{id}: {lost} drops lost ({reasons}) with no clock jump past its Expiration"));
                }
            }
        }
        // The merchant's balance, to the drop: what the ledger paid into it
        // from drip's channels, less every fee it spent.
        let fees: u64 = history
            .iter()
            .filter(|t| t["Account"] == merchant.to_address().as_str())
            .filter_map(|t| t["Fee"].as_str()?.parse::<u64>().ok())
            .sum();
        let (_, now) = self.ledger.account_info(&merchant).await.expect("merchant");
        let expected = (100_000_000 + paid_total).checked_sub(fees);
        if expected != Some(now.get()) {
            self.violation(format!(
                "the merchant holds {now} drops; funding, {paid_total} paid by channels and {fees} of fees make {expected:?}"
            ));
        }
    }

    /// Every validated transaction touching the merchant, oldest first.
    async fn merchant_history(&self) -> Vec<Json> {
        let address = self.merchant.account_id().to_address();
        let mut out = Vec::new();
        let mut marker = Json::Null;
        loop {
            let mut params =
                json!({"account": address, "forward": true, "limit": 400, "api_version": 1});
            if !marker.is_null() {
                params["marker"] = marker.clone();
            }
            let page = self
                .ledger
                .call("account_tx", params)
                .await
                .expect("account_tx");
            for t in page["transactions"].as_array().into_iter().flatten() {
                let mut tx = t["tx"].clone();
                tx["meta"] = t["meta"].clone();
                out.push(tx);
            }
            marker = page["marker"].clone();
            if marker.is_null() {
                return out;
            }
        }
    }

    async fn finish(self) -> Report {
        self.closing.store(false, Ordering::SeqCst);
        if let Ok(devnet) = Arc::try_unwrap(self.devnet) {
            devnet.shutdown().await;
        }
        self.report
    }
}

fn seed_key(seed: &str) -> KeyPair {
    seed.parse::<Seed>()
        .ok()
        .and_then(|s| s.key_pair().ok())
        .expect("a seed")
}

fn submitter(ledger: &Client, key: KeyPair) -> Submitter {
    Submitter::new(
        ledger.clone(),
        key,
        SubmitterConfig {
            poll: Duration::from_millis(20),
            ..SubmitterConfig::default()
        },
    )
}

/// Sign, submit and wait.
async fn send(s: &Submitter, fields: Json) -> Result<Outcome, drip_ledger::Error> {
    let prepared = s.prepare(fields, 0).await?;
    s.submit_and_wait(&prepared).await
}

fn brief(r: &Result<Outcome, drip_ledger::Error>) -> String {
    match r {
        Ok(Outcome::Validated { result, .. }) => result.clone(),
        Ok(other) => format!("{other:?}"),
        Err(e) => e.to_string(),
    }
}

/// Poll `f` at most `polls` times: a sidecar killed at that point (its
/// future dropped, its transaction rolled back, its lease left to run out).
/// Whether it finished first.
async fn crash_after<F: Future>(polls: u64, f: F) -> bool {
    let mut f = pin!(f);
    let mut left = polls;
    std::future::poll_fn(move |cx| {
        if left == 0 {
            return Poll::Ready(false);
        }
        left -= 1;
        match f.as_mut().poll(cx) {
            Poll::Ready(_) => Poll::Ready(true),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
