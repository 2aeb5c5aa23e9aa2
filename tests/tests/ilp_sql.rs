//! The ILP server's state in the extension: accounts bound to their token,
//! incoming channels checked against the terms, claims kept under the
//! channel's lock (also racing), packets held to claims plus bandwidth, and
//! a closed channel that leaves its account usable.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyPair, KeyType, Seed};
use drip_tests::TestDb;
use tokio_postgres::{Client, Row};

const SERVER: &str = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";
const ACCOUNT: &str = "kwu9xRtq7VwqVnj9bije56BeiktkPPwLRCfD77hsDZQ";
const CHANNEL: [u8; 32] = [0xC1; 32];

fn payer() -> KeyPair {
    Seed::from_entropy([0x77; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap()
}

async fn db(name: &str) -> TestDb {
    TestDb::with(
        name,
        &format!("CREATE EXTENSION drip; UPDATE drip.terms SET destination = '{SERVER}'"),
    )
    .await
}

async fn connect(c: &Client, account: &str, token_hash: [u8; 32]) -> Option<Option<Vec<u8>>> {
    let row = c
        .query_one(
            "SELECT (a).account IS NOT NULL, (a).channel_id FROM drip.ilp_connect($1, $2) a",
            &[&account, &token_hash.to_vec()],
        )
        .await
        .unwrap();
    row.get::<_, bool>(0).then(|| row.get(1))
}

/// Open `channel` for `account` (amount 10 XRP, settle delay 3600, no
/// expiry) with some fields changed by `sql` (a SQL expression list).
async fn open(
    c: &Client,
    account: &str,
    channel: [u8; 32],
    destination: &str,
    settle: i32,
    expires: bool,
) -> Option<String> {
    c.query_one(
        "SELECT drip.ilp_open_channel($1, $2, 'rPayer', $3, 10000000, $4, $5,
                CASE WHEN $6 THEN now() + interval '1 day' END, NULL, 0, 3600)::text",
        &[
            &account,
            &channel.to_vec(),
            &payer().public_key().as_bytes().to_vec(),
            &settle,
            &destination,
            &expires,
        ],
    )
    .await
    .unwrap()
    .get(0)
}

async fn claim(
    c: &Client,
    account: &str,
    channel: [u8; 32],
    key: &KeyPair,
    amount: u64,
) -> (bool, Option<String>) {
    let sig = sign_claim(key, &Hash256(channel), Drops::new(amount));
    let row = c
        .query_one(
            "SELECT accepted, reason::text AS reason FROM drip.ilp_claim($1, $2, $3)",
            &[&account, &i64::try_from(amount).unwrap(), &sig],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// A Prepare's verdict: its hold (none for nothing), or "CODE message".
fn verdict(r: &Row) -> Result<Option<i64>, String> {
    match r.get::<_, Option<String>>(0) {
        Some(code) => Err(format!("{code} {}", r.get::<_, String>(1))),
        None => Ok(r.get(2)),
    }
}

/// Set the ILP server's scale and bandwidth (holds last up to an hour;
/// the other settings stay).
async fn configure(c: &Client, scale: i32, bandwidth: i64) {
    c.execute(
        "SELECT drip.ilp_configure($1, $2, 3600, s.outgoing_channel_amount, s.min_incoming_channel_amount)
         FROM drip.ilp_settings s",
        &[&scale, &bandwidth],
    )
    .await
    .unwrap();
}

/// A Prepare (scale 9, this bandwidth) expiring `expires` (an interval)
/// from now.
async fn prepare_expiring(
    c: &Client,
    account: &str,
    amount: i64,
    bandwidth: i64,
    expires: &str,
) -> Result<Option<i64>, String> {
    configure(c, 9, bandwidth).await;
    verdict(
        &c.query_one(
            "SELECT code, message, hold
             FROM drip.ilp_prepare($1, $2, now() + $3::text::interval)",
            &[&account, &amount, &expires],
        )
        .await
        .unwrap(),
    )
}

/// A Prepare expiring in 30 s: refused ("CODE message") or not (None).
async fn prepare(c: &Client, account: &str, amount: i64, bandwidth: i64) -> Option<String> {
    prepare_expiring(c, account, amount, bandwidth, "30 seconds")
        .await
        .err()
}

#[tokio::test]
async fn the_first_connection_binds_the_token() {
    let db = db("ilp_bind").await;
    let c = db.client().await;
    assert_eq!(connect(&c, ACCOUNT, [1; 32]).await, Some(None));
    assert_eq!(
        connect(&c, ACCOUNT, [1; 32]).await,
        Some(None),
        "the same token again"
    );
    assert_eq!(
        connect(&c, ACCOUNT, [2; 32]).await,
        None,
        "another token is refused"
    );
    let e = c
        .query_one("SELECT drip.ilp_connect('', $1)", &[&vec![0u8; 32]])
        .await
        .unwrap_err();
    assert_eq!(e.code().unwrap().code(), "22023");
}

#[tokio::test]
async fn channels_are_checked_against_the_terms() {
    let db = db("ilp_channels").await;
    let c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    connect(&c, "other", [2; 32]).await;
    let other = "rPEPPER7kfTD9w2To4CQk6UCfuHM9c6GDY";
    assert_eq!(
        open(&c, ACCOUNT, CHANNEL, other, 3600, false)
            .await
            .as_deref(),
        Some("wrong_destination")
    );
    assert_eq!(
        open(&c, ACCOUNT, CHANNEL, SERVER, 3599, false)
            .await
            .as_deref(),
        Some("settle_delay_too_short")
    );
    assert_eq!(
        open(&c, ACCOUNT, CHANNEL, SERVER, 3600, true)
            .await
            .as_deref(),
        Some("channel_expires")
    );
    assert_eq!(open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await, None);
    assert_eq!(
        open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await,
        None,
        "its own channel again"
    );
    assert_eq!(
        open(&c, ACCOUNT, [0xC2; 32], SERVER, 3600, false)
            .await
            .as_deref(),
        Some("channel_exists")
    );
    assert_eq!(
        open(&c, "other", CHANNEL, SERVER, 3600, false)
            .await
            .as_deref(),
        Some("channel_in_use")
    );
    assert_eq!(
        connect(&c, ACCOUNT, [1; 32]).await,
        Some(Some(CHANNEL.to_vec()))
    );
}

#[tokio::test]
async fn claims_are_kept_on_the_pay_path() {
    let db = db("ilp_claims").await;
    let c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    assert_eq!(
        claim(&c, ACCOUNT, CHANNEL, &payer(), 5).await,
        (false, Some("no_channel".into()))
    );
    open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await;
    let stranger = Seed::from_entropy([0x78; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    assert_eq!(
        claim(&c, ACCOUNT, CHANNEL, &stranger, 5).await,
        (false, Some("bad_signature".into()))
    );
    // A signature of the wrong shape for the channel's key is an error.
    let malformed = c
        .query_one(
            "SELECT drip.ilp_claim($1, 5, '\\x3006020101020101')",
            &[&ACCOUNT],
        )
        .await
        .unwrap_err();
    assert_eq!(malformed.code().unwrap().code(), "22023");
    assert_eq!(
        claim(&c, ACCOUNT, CHANNEL, &payer(), 10_000_001).await,
        (false, Some("exceeds_channel".into()))
    );
    assert_eq!(
        claim(&c, ACCOUNT, CHANNEL, &payer(), 500).await,
        (true, None)
    );
    assert_eq!(
        claim(&c, ACCOUNT, CHANNEL, &payer(), 500).await,
        (false, Some("not_above_best".into()))
    );
    assert_eq!(
        claim(&c, ACCOUNT, CHANNEL, &payer(), 400).await,
        (false, Some("not_above_best".into()))
    );
    let audit: i64 = c
        .query_one(
            "SELECT count(*) FROM drip.claims WHERE channel_id = $1",
            &[&CHANNEL.to_vec()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audit, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_claims_end_with_the_highest() {
    let db = db("ilp_claim_race").await;
    let c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await;
    let key = Arc::new(payer());
    let mut tasks = Vec::new();
    for w in 0..6u64 {
        let (url, key) = (db.url.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let c = drip_tests::connect(&url).await;
            let mut accepted = Vec::new();
            for i in 0..30u64 {
                let amount = 1_000 + (if i % 2 == 0 { i } else { 30 - i } * 6 + w) * 10;
                if claim(&c, ACCOUNT, CHANNEL, &key, amount).await.0 {
                    accepted.push(amount);
                }
            }
            accepted
        }));
    }
    let mut highest = 0;
    for t in tasks {
        highest = highest.max(t.await.unwrap().into_iter().max().unwrap_or(0));
    }
    let row = c
        .query_one(
            "SELECT best_claim, (SELECT max(amount) FROM drip.claims WHERE channel_id = $1)
             FROM drip.channels WHERE channel_id = $1",
            &[&CHANNEL.to_vec()],
        )
        .await
        .unwrap();
    assert_eq!(u64::try_from(row.get::<_, i64>(0)).unwrap(), highest);
    assert_eq!(row.get::<_, i64>(0), row.get::<_, i64>(1));
}

#[tokio::test]
async fn packets_are_held_to_claims_and_bandwidth() {
    let db = db("ilp_bandwidth").await;
    let c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    assert_eq!(
        prepare(&c, ACCOUNT, 1, 0).await.as_deref(),
        Some("F02 account has no open channel")
    );
    open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await;
    // Scale 9: a drop is 1,000 base units. No bandwidth: claim first.
    assert_eq!(
        prepare(&c, ACCOUNT, 1, 0).await.as_deref(),
        Some("T04 Insufficient bandwidth")
    );
    claim(&c, ACCOUNT, CHANNEL, &payer(), 2).await;
    assert_eq!(prepare(&c, ACCOUNT, 1_500, 0).await, None);
    assert_eq!(
        prepare(&c, ACCOUNT, 501, 0).await.as_deref(),
        Some("T04 Insufficient bandwidth")
    );
    let hold = prepare_expiring(&c, ACCOUNT, 500, 0, "30 seconds")
        .await
        .unwrap()
        .unwrap();
    // A rejected packet owes nothing.
    assert!(rollback(&c, hold).await);
    assert_eq!(prepare(&c, ACCOUNT, 500, 0).await, None);
    // Bandwidth lets packets run ahead of claims, never past the channel.
    assert_eq!(prepare(&c, ACCOUNT, 1_000_000, 1_000_000).await, None);
    assert_eq!(
        prepare(&c, ACCOUNT, 10_000_000_000_000, i64::MAX)
            .await
            .as_deref(),
        Some("T04 Insufficient funds")
    );
}

#[tokio::test]
async fn a_closed_channel_does_not_block_its_account_for_ever() {
    let db = db("ilp_close").await;
    let c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await;
    claim(&c, ACCOUNT, CHANNEL, &payer(), 3).await;
    assert_eq!(prepare(&c, ACCOUNT, 3_000, 0).await, None);
    let queued: i32 = c
        .query_one("SELECT drip.ilp_queue_claims(1)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 1);
    assert_eq!(
        c.query_one("SELECT drip.ilp_queue_claims(1)", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        0,
        "one at a time"
    );
    let watched: i64 = c
        .query_one(
            "SELECT count(*) FROM drip.watched_channels() WHERE channel_id = $1",
            &[&CHANNEL.to_vec()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(watched, 1);

    // The payer asks to close: blocked, claimed at once.
    c.execute(
        "SELECT drip.record_channel_closing($1, now() + interval '1 hour')",
        &[&CHANNEL.to_vec()],
    )
    .await
    .unwrap();
    assert_eq!(
        prepare(&c, ACCOUNT, 1, 1_000_000).await.as_deref(),
        Some("F02 account has no open channel")
    );
    assert_eq!(
        claim(&c, ACCOUNT, CHANNEL, &payer(), 4).await,
        (false, Some("blocked".into()))
    );
    assert_eq!(
        open(&c, ACCOUNT, [0xC2; 32], SERVER, 3600, false)
            .await
            .as_deref(),
        Some("blocked")
    );
    // Closed on the ledger: the account may open a new channel, and what
    // the old one's claims paid still counts.
    c.execute(
        "SELECT drip.record_channel_closed($1, 3, NULL)",
        &[&CHANNEL.to_vec()],
    )
    .await
    .unwrap();
    let open_jobs: i64 = c
        .query_one("SELECT count(*) FROM drip.outbox WHERE channel_id = $1 AND state IN ('queued', 'submitted')", &[&CHANNEL.to_vec()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(open_jobs, 0);
    assert_eq!(connect(&c, ACCOUNT, [1; 32]).await, Some(None));
    assert_eq!(
        open(&c, ACCOUNT, [0xC2; 32], SERVER, 3600, false).await,
        None
    );
    assert_eq!(
        prepare(&c, ACCOUNT, 1, 0).await.as_deref(),
        Some("T04 Insufficient bandwidth")
    );
    claim(&c, ACCOUNT, [0xC2; 32], &payer(), 1).await;
    assert_eq!(prepare(&c, ACCOUNT, 1_000, 0).await, None);
}

/// A channel that left the ledger having paid less than its best claim
/// (it expired before drip's claim, say): only what the ledger paid is
/// settled, the rest is a recorded loss, and the client still owes it.
#[tokio::test]
async fn only_what_the_ledger_paid_is_settled() {
    let db = db("ilp_settled").await;
    let c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await;
    claim(&c, ACCOUNT, CHANNEL, &payer(), 5).await;
    assert_eq!(prepare(&c, ACCOUNT, 5_000, 0).await, None);
    c.execute(
        "SELECT drip.record_channel_closed($1, 2, 'expired_before_claim')",
        &[&CHANNEL.to_vec()],
    )
    .await
    .unwrap();
    let (settled, lost): (i64, i64) = c
        .query_one(
            "SELECT a.settled, l.amount FROM drip.ilp_accounts a, drip.losses l
             WHERE a.account = $1 AND l.channel_id = $2",
            &[&ACCOUNT, &CHANNEL.to_vec()],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((settled, lost), (2, 3));
    // On a new channel, its packets are held to what was really paid.
    let next = [0xC3; 32];
    assert_eq!(open(&c, ACCOUNT, next, SERVER, 3600, false).await, None);
    claim(&c, ACCOUNT, next, &payer(), 1).await;
    assert_eq!(
        prepare(&c, ACCOUNT, 1, 0).await.as_deref(),
        Some("T04 Insufficient bandwidth")
    );
    claim(&c, ACCOUNT, next, &payer(), 4).await;
    assert_eq!(prepare(&c, ACCOUNT, 1, 0).await, None);
}

#[tokio::test]
async fn a_batch_of_claims_commits_together_and_refuses_alone() {
    let db = db("ilp_claims_batch").await;
    let mut c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await;
    let sig = |amount: u64| sign_claim(&payer(), &Hash256(CHANNEL), Drops::new(amount));
    // Counted within the transaction: each signature is checked once.
    let tx = c.transaction().await.unwrap();
    tx.batch_execute("SET LOCAL track_functions = 'all'")
        .await
        .unwrap();
    let rows = tx
        .query(
            "SELECT accepted, reason::text AS reason FROM drip.ilp_claims($1, $2, $3)",
            &[
                &vec![
                    ACCOUNT, ACCOUNT, ACCOUNT, "nobody", ACCOUNT, ACCOUNT, ACCOUNT,
                ],
                &vec![10i64, 20, 15, 30, 40, 50, 10_000_001],
                &vec![
                    sig(10),
                    sig(20),
                    sig(15),
                    sig(30),
                    vec![0x30, 0x06, 2, 1, 1, 2, 1, 1],
                    sign_claim(
                        &Seed::from_entropy([0x78; 16], KeyType::Ed25519)
                            .key_pair()
                            .unwrap(),
                        &Hash256(CHANNEL),
                        Drops::new(50),
                    ),
                    sig(10_000_001),
                ],
            ],
        )
        .await
        .unwrap();
    let verdicts: Vec<(bool, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        verdicts,
        vec![
            (true, None),
            (true, None),
            (false, Some("not_above_best".into())),
            (false, Some("malformed".into())),
            (false, Some("malformed".into())),
            (false, Some("bad_signature".into())),
            (false, Some("exceeds_channel".into())),
        ]
    );
    // Six claims reach the signature check ("nobody" has no account).
    let checks: i64 = tx
        .query_one(
            "SELECT pg_stat_get_xact_function_calls('drip._claim_fault'::regproc)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(checks, 6);
    tx.commit().await.unwrap();
    // The audit holds exactly the accepted claims.
    let kept: Vec<i64> = c
        .query("SELECT amount FROM drip.claims ORDER BY amount", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kept, [10, 20]);
    let best: i64 = c
        .query_one(
            "SELECT best_claim FROM drip.channels WHERE channel_id = $1",
            &[&CHANNEL.to_vec()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(best, 20);
    let e = c
        .query(
            "SELECT * FROM drip.ilp_claims(ARRAY['a'], ARRAY[1::bigint], ARRAY[]::bytea[])",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code().unwrap().code(), "22023");
}

const PAYEE: &str = "bQ3a9pdVdYhobNtZ2DFLNRiXr6u8zFDnMBFGUkcYiBs";
const CLIENT_WALLET: &str = "rPEPPER7kfTD9w2To4CQk6UCfuHM9c6GDY";
const SERVER_KEY: [u8; 33] = [0xED; 33];

async fn fund_channel(
    c: &Client,
    account: &str,
    destination: &str,
    min: i64,
) -> (Option<String>, Option<String>) {
    c.execute(
        "SELECT drip.ilp_configure(s.asset_scale, s.bandwidth, s.max_hold_secs, 1000000, $1)
         FROM drip.ilp_settings s",
        &[&min],
    )
    .await
    .unwrap();
    let row = c
        .query_one(
            "SELECT state, reason::text AS reason FROM drip.ilp_fund_channel($1, $2, $3)",
            &[&account, &destination, &SERVER_KEY.to_vec()],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// A routed Prepare (no bandwidth, scale 6) expiring `expires` from now.
async fn route_expiring(
    c: &Client,
    from: &str,
    to: &str,
    amount: i64,
    expires: &str,
) -> Result<Option<i64>, String> {
    configure(c, 6, 0).await;
    verdict(
        &c.query_one(
            "SELECT code, message, hold
             FROM drip.ilp_route($1, $2, $3, now() + $4::text::interval)",
            &[&from, &to, &amount, &expires],
        )
        .await
        .unwrap(),
    )
}

/// A routed Prepare expiring in 30 s: refused ("CODE message") or not.
async fn route(c: &Client, from: &str, to: &str, amount: i64) -> Option<String> {
    route_expiring(c, from, to, amount, "30 seconds")
        .await
        .err()
}

/// A routed Prepare that must pass: its hold.
async fn routed(c: &Client, from: &str, to: &str, amount: i64) -> i64 {
    route_expiring(c, from, to, amount, "30 seconds")
        .await
        .unwrap()
        .unwrap()
}

async fn rollback(c: &Client, hold: i64) -> bool {
    c.query_one("SELECT drip.ilp_rollback($1)", &[&hold])
        .await
        .unwrap()
        .get(0)
}

/// (signed, drops, funding, reason) of a routed packet's fulfilment.
async fn payout(c: &Client, hold: i64) -> (Option<i64>, Option<i64>, Option<i64>, Option<String>) {
    let r = c
        .query_one(
            "SELECT signed, drops, funding, reason::text AS reason FROM drip.ilp_route_fulfilled($1)",
            &[&hold],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

/// (state, signed, reserved, funding) of `account`'s outgoing channel.
async fn outgoing(c: &Client, account: &str) -> (String, i64, i64, Option<i64>) {
    let r = c
        .query_one(
            "SELECT state, signed, reserved, funding FROM drip.ilp_outgoing_channel($1)",
            &[&account],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

async fn prepared(c: &Client, account: &str) -> i64 {
    c.query_one("SELECT prepared FROM drip.ilp_account($1)", &[&account])
        .await
        .unwrap()
        .get(0)
}

async fn outbox_kinds(c: &Client) -> Vec<String> {
    c.query("SELECT kind::text FROM drip.outbox ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The server's channels to clients: asked for once the client's incoming
/// channel is large enough, opened through the outbox once; packets to a
/// client are held on it and refused beyond it, rolled back whole, and
/// paid on fulfilment with a top-up queued past half; a closed one may be
/// asked for again.
#[tokio::test]
async fn outgoing_channels_are_opened_once_held_paid_and_topped_up() {
    let db = db("ilp_outgoing").await;
    let c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    connect(&c, PAYEE, [2; 32]).await;
    // No incoming channel, or too small a one: nothing comes back.
    assert_eq!(
        fund_channel(&c, PAYEE, CLIENT_WALLET, 10_000_000).await,
        (None, Some("no_incoming_channel".into()))
    );
    open(&c, PAYEE, [0xC2; 32], SERVER, 3600, false).await;
    assert_eq!(
        fund_channel(&c, PAYEE, CLIENT_WALLET, 10_000_001).await,
        (None, Some("incoming_channel_too_small".into()))
    );
    // Malformed input changes nothing.
    let bad = c
        .query_one(
            "SELECT drip.ilp_fund_channel($1, 'not-an-address', $2)",
            &[&PAYEE, &SERVER_KEY.to_vec()],
        )
        .await
        .unwrap_err();
    assert_eq!(
        bad.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE)
    );
    assert!(outbox_kinds(&c).await.is_empty());
    // Asked twice while opening: one create in the outbox.
    assert_eq!(
        fund_channel(&c, PAYEE, CLIENT_WALLET, 10_000_000).await,
        (Some("opening".into()), None)
    );
    assert_eq!(
        fund_channel(&c, PAYEE, CLIENT_WALLET, 10_000_000).await,
        (Some("opening".into()), None)
    );
    assert_eq!(
        fund_channel(&c, PAYEE, "rrrrrrrrrrrrrrrrrrrrBZbvji", 10_000_000).await,
        (Some("opening".into()), Some("other_destination".into()))
    );
    assert_eq!(outbox_kinds(&c).await, ["ilp_channel"]);

    // The sender may pay (a 5 XRP claim), but the receiver's channel is not open yet.
    open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await;
    claim(&c, ACCOUNT, CHANNEL, &payer(), 5_000_000).await;
    assert_eq!(
        route(&c, ACCOUNT, PAYEE, 100).await.as_deref(),
        Some("T04 the destination has no channel to be paid on")
    );
    assert_eq!(
        prepared(&c, ACCOUNT).await,
        0,
        "a refused route owes nothing"
    );

    // Opened on the ledger: 1 XRP.
    c.execute(
        "SELECT drip.ilp_outgoing_result($1, $2, 1000000, NULL)",
        &[&PAYEE, &vec![0xD1u8; 32]],
    )
    .await
    .unwrap();
    assert_eq!(
        fund_channel(&c, PAYEE, CLIENT_WALLET, 10_000_000).await,
        (Some("open".into()), None)
    );
    let first = routed(&c, ACCOUNT, PAYEE, 400_000).await;
    let second = routed(&c, ACCOUNT, PAYEE, 600_000).await;
    assert_eq!(
        route(&c, ACCOUNT, PAYEE, 1).await.as_deref(),
        Some("T04 Insufficient funds in the channel to the destination")
    );
    assert_eq!(
        outgoing(&c, PAYEE).await,
        ("open".into(), 0, 1_000_000, None)
    );
    assert_eq!(prepared(&c, ACCOUNT).await, 1_000_000);
    // One rejected: both sides let go of it.
    assert!(rollback(&c, second).await);
    assert_eq!(outgoing(&c, PAYEE).await, ("open".into(), 0, 400_000, None));
    assert_eq!(prepared(&c, ACCOUNT).await, 400_000);
    // One fulfilled: owed to the payee, below half of the top-up from the end.
    let paid = |signed: i64, funding: Option<i64>| (Some(signed), Some(signed), funding, None);
    assert_eq!(payout(&c, first).await, paid(400_000, None));
    // Past it: a 1 XRP fund is queued, once.
    let hold = routed(&c, ACCOUNT, PAYEE, 200_000).await;
    assert_eq!(payout(&c, hold).await, paid(600_000, Some(1_000_000)));
    let hold = routed(&c, ACCOUNT, PAYEE, 100_000).await;
    assert_eq!(payout(&c, hold).await, paid(700_000, Some(1_000_000)));
    assert_eq!(outbox_kinds(&c).await, ["ilp_channel", "ilp_fund"]);
    assert_eq!(
        outgoing(&c, PAYEE).await,
        ("open".into(), 700_000, 0, Some(1_000_000))
    );
    // Funded: 2 XRP, room again.
    c.execute(
        "SELECT drip.ilp_outgoing_result($1, $2, 2000000, NULL)",
        &[&PAYEE, &vec![0xD1u8; 32]],
    )
    .await
    .unwrap();
    assert_eq!(outgoing(&c, PAYEE).await, ("open".into(), 700_000, 0, None));
    routed(&c, ACCOUNT, PAYEE, 1_300_000).await;

    // The client closed it: a new one is asked for, and starts from nothing.
    c.execute(
        "SELECT drip.ilp_outgoing_closed($1, $2)",
        &[&PAYEE, &vec![0xD1u8; 32]],
    )
    .await
    .unwrap();
    assert_eq!(
        fund_channel(&c, PAYEE, CLIENT_WALLET, 10_000_000).await,
        (Some("opening".into()), None)
    );
    assert_eq!(outgoing(&c, PAYEE).await.1, 0);
    // A failed create leaves the account free to ask again.
    c.execute(
        "SELECT drip.ilp_outgoing_result($1, NULL, NULL, 'tecNO_DST')",
        &[&PAYEE],
    )
    .await
    .unwrap();
    assert_eq!(outgoing(&c, PAYEE).await.0, "failed");
    assert_eq!(
        fund_channel(&c, PAYEE, CLIENT_WALLET, 10_000_000).await,
        (Some("opening".into()), None)
    );
    assert_eq!(
        outbox_kinds(&c).await,
        ["ilp_channel", "ilp_fund", "ilp_channel", "ilp_channel"]
    );
}

async fn fulfilled(c: &Client, hold: i64) -> Option<String> {
    c.query_one("SELECT drip.ilp_fulfilled($1)::text", &[&hold])
        .await
        .unwrap()
        .get(0)
}

/// When `hold`'s packet can no longer be fulfilled: its expiry plus drip's
/// grace.
async fn deadline(c: &Client, hold: i64) -> SystemTime {
    c.query_one(
        "SELECT expires_at + drip._ilp_hold_grace() FROM drip.ilp_holds WHERE id = $1",
        &[&hold],
    )
    .await
    .unwrap()
    .get(0)
}

/// drip.ilp_release_expired at `now` (the database's clock when None).
async fn release_expired(c: &Client, now: Option<SystemTime>) -> i32 {
    c.query_one(
        "SELECT drip.ilp_release_expired(coalesce($1, now()))",
        &[&now],
    )
    .await
    .unwrap()
    .get(0)
}

async fn invalid(c: &Client, sql: &str) {
    let e = c.batch_execute(sql).await.unwrap_err();
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE),
        "{sql}: {e}"
    );
}

/// A Prepare the sidecar never answered (it crashed): held until its
/// expiry and drip's grace, then released by the sweep, once; the
/// sidecar's late answers change nothing.
#[tokio::test]
async fn an_unanswered_prepare_is_released_after_its_expiry_and_not_before() {
    let db = db("ilp_hold_expiry").await;
    let c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await;
    claim(&c, ACCOUNT, CHANNEL, &payer(), 2).await;
    let hold = prepare_expiring(&c, ACCOUNT, 1_500, 0, "1 minute")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prepared(&c, ACCOUNT).await, 1_500);
    assert_eq!(
        prepare(&c, ACCOUNT, 501, 0).await.as_deref(),
        Some("T04 Insufficient bandwidth")
    );
    let deadline = deadline(&c, hold).await;
    assert_eq!(release_expired(&c, None).await, 0);
    assert_eq!(release_expired(&c, Some(deadline)).await, 0);
    assert_eq!(prepared(&c, ACCOUNT).await, 1_500, "not before");
    assert_eq!(
        release_expired(&c, Some(deadline + Duration::from_millis(1))).await,
        1
    );
    assert_eq!(prepared(&c, ACCOUNT).await, 0);
    assert_eq!(
        release_expired(&c, Some(deadline + Duration::from_secs(60))).await,
        0,
        "once"
    );
    // A late rollback does nothing; a late fulfilment charges nothing.
    assert!(!rollback(&c, hold).await);
    assert_eq!(fulfilled(&c, hold).await.as_deref(), Some("not_held"));
    assert_eq!(prepared(&c, ACCOUNT).await, 0);
    assert_eq!(prepare(&c, ACCOUNT, 2_000, 0).await, None);
}

/// Answers are idempotent: a hold rolled back twice is released once, one
/// fulfilled twice charged once and kept past its expiry; a fulfilment past
/// the expiry is refused and the hold left to the sweep.
#[tokio::test]
async fn a_prepare_is_answered_once() {
    let db = db("ilp_hold_answers").await;
    let c = db.client().await;
    connect(&c, ACCOUNT, [1; 32]).await;
    open(&c, ACCOUNT, CHANNEL, SERVER, 3600, false).await;
    claim(&c, ACCOUNT, CHANNEL, &payer(), 5).await;
    let held = |amount: i64, expires: &'static str| {
        let c = &c;
        async move {
            prepare_expiring(c, ACCOUNT, amount, 0, expires)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let (a, b) = (held(1_000, "1 minute").await, held(2_000, "1 minute").await);
    assert!(rollback(&c, a).await);
    assert!(!rollback(&c, a).await);
    assert_eq!(prepared(&c, ACCOUNT).await, 2_000);
    assert_eq!(fulfilled(&c, b).await, None);
    assert_eq!(fulfilled(&c, b).await, None);
    assert!(!rollback(&c, b).await, "a fulfilled packet stays paid");
    let deadline = deadline(&c, b).await;
    assert_eq!(
        release_expired(&c, Some(deadline + Duration::from_millis(1))).await,
        0
    );
    assert_eq!(prepared(&c, ACCOUNT).await, 2_000);
    let left: i64 = c
        .query_one("SELECT count(*) FROM drip.ilp_holds", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "a fulfilled hold is forgotten past its expiry");

    let late = held(1_000, "-1 minute").await;
    assert_eq!(fulfilled(&c, late).await.as_deref(), Some("expired"));
    assert_eq!(prepared(&c, ACCOUNT).await, 3_000);
    assert_eq!(release_expired(&c, None).await, 1);
    assert_eq!(prepared(&c, ACCOUNT).await, 2_000);
    // Zero holds nothing.
    assert_eq!(
        prepare_expiring(&c, ACCOUNT, 0, 0, "1 minute").await,
        Ok(None)
    );

    let unrouted = held(1, "1 minute").await;
    for sql in [
        format!("SELECT drip.ilp_prepare('{ACCOUNT}', 1, NULL)"),
        format!("SELECT drip.ilp_prepare('{ACCOUNT}', 1, 'infinity')"),
        format!("SELECT drip.ilp_prepare('{ACCOUNT}', -1, now())"),
        format!("SELECT drip.ilp_route('{ACCOUNT}', NULL, 1, now())"),
        "SELECT drip.ilp_rollback(NULL)".into(),
        "SELECT drip.ilp_fulfilled(NULL)".into(),
        "SELECT drip.ilp_route_fulfilled(NULL)".into(),
        "SELECT drip.ilp_release_expired(NULL)".into(),
        // An unrouted hold pays nobody.
        format!("SELECT drip.ilp_route_fulfilled({unrouted})"),
    ] {
        invalid(&c, &sql).await;
    }
}

/// ACCOUNT and PAYEE: each with a 5 XRP claim on its 10 XRP channel to the
/// server, and the server's 1 XRP channel back (`outgoing`) open.
async fn two_clients(c: &Client) {
    for (account, token, incoming, outgoing) in [
        (ACCOUNT, [1; 32], CHANNEL, [0xD1u8; 32]),
        (PAYEE, [2; 32], [0xC2; 32], [0xD2; 32]),
    ] {
        connect(c, account, token).await;
        assert_eq!(open(c, account, incoming, SERVER, 3600, false).await, None);
        assert_eq!(
            fund_channel(c, account, CLIENT_WALLET, 10_000_000).await,
            (Some("opening".into()), None)
        );
        c.execute(
            "SELECT drip.ilp_outgoing_result($1, $2, 1000000, NULL)",
            &[&account, &outgoing.to_vec()],
        )
        .await
        .unwrap();
        assert_eq!(
            claim(c, account, incoming, &payer(), 5_000_000).await,
            (true, None)
        );
    }
}

/// A routed packet nobody answered: the receiver's channel holds it until
/// its expiry and drip's grace, then it is released on both sides; its
/// late fulfilment pays nobody. Fulfilments and rollbacks count once.
#[tokio::test]
async fn a_routed_packet_is_released_after_its_expiry_and_paid_once() {
    let db = db("ilp_route_expiry").await;
    let c = db.client().await;
    two_clients(&c).await;
    let stale = route_expiring(&c, ACCOUNT, PAYEE, 400_000, "1 minute")
        .await
        .unwrap()
        .unwrap();
    let live = route_expiring(&c, ACCOUNT, PAYEE, 100_000, "1 hour")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outgoing(&c, PAYEE).await, ("open".into(), 0, 500_000, None));
    assert_eq!(prepared(&c, ACCOUNT).await, 500_000);
    let deadline = deadline(&c, stale).await;
    assert_eq!(release_expired(&c, Some(deadline)).await, 0);
    assert_eq!(outgoing(&c, PAYEE).await.2, 500_000, "not before");
    assert_eq!(
        release_expired(&c, Some(deadline + Duration::from_millis(1))).await,
        1
    );
    assert_eq!(outgoing(&c, PAYEE).await, ("open".into(), 0, 100_000, None));
    assert_eq!(prepared(&c, ACCOUNT).await, 100_000);
    assert_eq!(
        payout(&c, stale).await,
        (None, None, None, Some("not_held".into()))
    );
    assert_eq!(outgoing(&c, PAYEE).await, ("open".into(), 0, 100_000, None));
    assert_eq!(prepared(&c, ACCOUNT).await, 100_000);

    let paid = (Some(100_000), Some(100_000), None, None);
    assert_eq!(payout(&c, live).await, paid);
    assert_eq!(payout(&c, live).await, paid, "a retry pays nothing more");
    assert!(!rollback(&c, live).await);
    assert_eq!(outgoing(&c, PAYEE).await, ("open".into(), 100_000, 0, None));
    assert_eq!(prepared(&c, ACCOUNT).await, 100_000);

    let twice = routed(&c, ACCOUNT, PAYEE, 200_000).await;
    assert!(rollback(&c, twice).await);
    assert!(!rollback(&c, twice).await);
    assert_eq!(outgoing(&c, PAYEE).await, ("open".into(), 100_000, 0, None));
    assert_eq!(prepared(&c, ACCOUNT).await, 100_000);

    // Fulfilled past its expiry, before the sweep: refused all the same.
    let late = route_expiring(&c, ACCOUNT, PAYEE, 50_000, "-1 minute")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        payout(&c, late).await,
        (None, None, None, Some("expired".into()))
    );
    assert_eq!(
        outgoing(&c, PAYEE).await,
        ("open".into(), 100_000, 50_000, None)
    );
    assert_eq!(release_expired(&c, None).await, 1);
    assert_eq!(outgoing(&c, PAYEE).await, ("open".into(), 100_000, 0, None));
    assert_eq!(prepared(&c, ACCOUNT).await, 100_000);
    // A routed hold is fulfilled by paying its receiver.
    let hold = routed(&c, ACCOUNT, PAYEE, 1).await;
    invalid(&c, &format!("SELECT drip.ilp_fulfilled({hold})")).await;
}

/// Packets both ways between two clients, rolled back, fulfilled and swept
/// at once on several connections: no deadlock, and every amount counted
/// once (what each sender owes and each receiver is paid is exactly what
/// was fulfilled).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holds_answered_and_swept_at_once_count_once() {
    let db = db("ilp_hold_race").await;
    let c = db.client().await;
    two_clients(&c).await;
    let mut tasks = Vec::new();
    for w in 0..4usize {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let c = drip_tests::connect(&url).await;
            let (from, to) = if w % 2 == 0 {
                (ACCOUNT, PAYEE)
            } else {
                (PAYEE, ACCOUNT)
            };
            let mut paid = 0;
            for i in 0..40i64 {
                let expires = if i % 3 == 0 { "-1 minute" } else { "1 minute" };
                let hold = route_expiring(&c, from, to, 1_000 + i, expires)
                    .await
                    .unwrap()
                    .unwrap();
                // Expired ones fulfilled are refused, and left to the sweep.
                if i % 2 == 0 {
                    rollback(&c, hold).await;
                } else if payout(&c, hold).await.3.is_none() {
                    paid += 1_000 + i;
                }
            }
            (from, paid)
        }));
    }
    for _ in 0..2 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let c = drip_tests::connect(&url).await;
            for _ in 0..40 {
                release_expired(&c, None).await;
            }
            ("", 0)
        }));
    }
    let mut paid = std::collections::HashMap::new();
    for t in tasks {
        let (from, amount) = t.await.unwrap();
        *paid.entry(from).or_insert(0) += amount;
    }
    let later = SystemTime::now() + Duration::from_secs(3600);
    release_expired(&c, Some(later)).await;
    for (from, to) in [(ACCOUNT, PAYEE), (PAYEE, ACCOUNT)] {
        assert_eq!(prepared(&c, from).await, paid[from], "{from} owes");
        let (_, signed, reserved, _) = outgoing(&c, to).await;
        assert_eq!((signed, reserved), (paid[from], 0), "{to} is paid");
    }
    let left: i64 = c
        .query_one("SELECT count(*) FROM drip.ilp_holds", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
