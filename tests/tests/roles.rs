//! Logging in as each role drip creates (through login users granted it),
//! over real connections: each does its part and nothing else, and what
//! one role's holder could do to the others' money it cannot.

use drip_core::{KeyType, Seed};
use drip_tests::{active_session, connect, describe, TestDb};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// A new login user, granted `role` if any: how to connect as it.
async fn login_config(
    db: &TestDb,
    admin: &Client,
    user: &str,
    role: Option<&str>,
) -> tokio_postgres::Config {
    let mut password = [0u8; 16];
    getrandom::getrandom(&mut password).unwrap();
    let password = hex::encode(password);
    let in_role = role.map(|r| format!(" IN ROLE {r}")).unwrap_or_default();
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {user}; CREATE ROLE {user} LOGIN PASSWORD '{password}'{in_role}"
        ))
        .await
        .unwrap();
    let mut config: tokio_postgres::Config = db.url.parse().unwrap();
    config.user(user).password(password.as_str());
    config
}

/// A login user in `role`, connected to `db`.
async fn login(db: &TestDb, admin: &Client, user: &str, role: &str) -> Client {
    let (client, connection) = login_config(db, admin, user, Some(role))
        .await
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("login as {user}: {e}"));
    tokio::spawn(connection);
    client
}

async fn allowed(c: &Client, who: &str, sql: &str) {
    if let Err(e) = c.batch_execute(sql).await {
        panic!("{who} should be allowed `{sql}`: {}", describe(&e));
    }
}

async fn denied(c: &Client, who: &str, sql: &str) {
    match c.batch_execute(sql).await {
        Ok(()) => panic!("{who} ran `{sql}`"),
        Err(e) => assert_eq!(
            e.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{who} `{sql}`: {}",
            describe(&e)
        ),
    }
}

/// What each role may execute, besides the four functions everyone may
/// (version, verify_claim, terms_rate, server_public_key).
const GRANTS: &[(&str, &[&str])] = &[
    (
        "drip_merchant",
        &[
            "add_unit_debt",
            "create_session",
            "destroy_session",
            "get_session",
        ],
    ),
    (
        "drip_payer",
        &[
            "agreement_state",
            "amount_due",
            "inquire",
            "pay",
            "refresh_inquire",
            "submit_agreement",
            "submit_refresh",
        ],
    ),
    (
        "drip_ilp",
        &[
            "ilp_account",
            "ilp_claim",
            "ilp_claims",
            "ilp_connect",
            "ilp_fulfilled",
            "ilp_outgoing_channel",
            "ilp_prepare",
            "ilp_rollback",
            "ilp_route",
            "ilp_route_fulfilled",
        ],
    ),
    (
        "drip_ledger",
        &[
            "confirm_channel",
            "confirm_fund",
            "ilp_configure",
            "ilp_fund_channel",
            "ilp_open_channel",
            "ilp_outgoing_channel",
            "ilp_outgoing_closed",
            "ilp_outgoing_open",
            "ilp_outgoing_result",
            "ilp_queue_claims",
            "ilp_release_expired",
            "mpp_open_channel",
            "outbox_done",
            "outbox_failed",
            "outbox_needs",
            "outbox_requeue",
            "outbox_submitted",
            "record_channel_balance",
            "record_channel_closed",
            "record_channel_closing",
            "reject_agreement",
            "requeue_claim",
            "sweep",
            "take_outbox",
            "watched_channels",
        ],
    ),
    ("drip_http", &["mpp_channel", "mpp_pay"]),
    (
        "drip_admin",
        &[
            "_amount_due",
            "_claim_deadline",
            "_claim_deadline_by",
            "_due",
            "_due_at",
            "_mpp_deadline",
            "_settle_margin_secs",
            "requeue_claim",
        ],
    ),
];

const EVERYONE: &[&str] = &["server_public_key", "terms_rate", "verify_claim", "version"];

/// The drip functions `role` may execute, by name, sorted.
async fn executable(c: &Client, role: &str) -> Vec<String> {
    c.query(
        "SELECT DISTINCT p.proname::text FROM pg_proc p
         WHERE p.pronamespace = 'drip'::regnamespace AND has_function_privilege($1, p.oid, 'EXECUTE')
         ORDER BY 1",
        &[&role],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn sorted(names: impl IntoIterator<Item = &'static str>) -> Vec<String> {
    let mut v: Vec<String> = names.into_iter().map(str::to_owned).collect();
    v.sort();
    v.dedup();
    v
}

#[tokio::test]
async fn each_role_may_execute_exactly_what_its_holder_calls() {
    let db = TestDb::new("roles_grants").await;
    let admin = connect(&db.url).await;
    for (role, names) in GRANTS {
        assert_eq!(
            executable(&admin, role).await,
            sorted(names.iter().chain(EVERYONE).copied()),
            "{role}"
        );
    }
    // 0.1.0's web role keeps the sessions' two parts, and no ILP money.
    let merchant_and_payer = GRANTS[0].1.iter().chain(GRANTS[1].1).chain(EVERYONE);
    assert_eq!(
        executable(&admin, "drip_app").await,
        sorted(merchant_and_payer.copied())
    );
}

#[tokio::test]
async fn each_role_logs_in_and_does_only_its_part() {
    let db = TestDb::new("roles_login").await;
    let admin = connect(&db.url).await;
    admin
        .batch_execute("UPDATE drip.terms SET destination = 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh'")
        .await
        .unwrap();
    let pid = std::process::id();
    let user = |role: &str| format!("t_{}_{pid}", role.trim_start_matches("drip_"));

    let merchant = login(&db, &admin, &user("drip_merchant"), "drip_merchant").await;
    allowed(
        &merchant,
        "drip_merchant",
        "SELECT drip.create_session('web-role')",
    )
    .await;
    allowed(
        &merchant,
        "drip_merchant",
        "SELECT drip.get_session('web-role')",
    )
    .await;
    allowed(
        &merchant,
        "drip_merchant",
        "SELECT drip.add_unit_debt(drip_token, 1) FROM drip.create_session('web-role')",
    )
    .await;
    let token: String = merchant
        .query_one(
            "SELECT drip_token FROM drip.create_session('web-role')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    for sql in [
        format!("SELECT drip.inquire('{token}')"),
        format!("SELECT drip.pay('{token}', 1, '\\x00')"),
        "SELECT drip.ilp_route_fulfilled(1)".into(),
        "SELECT * FROM drip.sessions".into(),
        "SELECT drip.sweep()".into(),
        "SELECT * FROM drip.sessions_overview".into(),
    ] {
        denied(&merchant, "drip_merchant", &sql).await;
    }

    let payer = login(&db, &admin, &user("drip_payer"), "drip_payer").await;
    allowed(
        &payer,
        "drip_payer",
        &format!("SELECT drip.inquire('{token}')"),
    )
    .await;
    allowed(
        &payer,
        "drip_payer",
        &format!("SELECT drip.amount_due('{token}')"),
    )
    .await;
    for sql in [
        "SELECT drip.create_session('web-payer')".to_owned(),
        "SELECT drip.get_session('web-role')".into(),
        "SELECT drip.destroy_session('web-role')".into(),
        format!("SELECT drip.add_unit_debt('{token}', 1)"),
        "SELECT drip.ilp_rollback(1)".into(),
        "SELECT drip.ilp_connect('a', '\\x00')".into(),
        "SELECT * FROM drip.ilp_holds".into(),
    ] {
        denied(&payer, "drip_payer", &sql).await;
    }

    let ilp = login(&db, &admin, &user("drip_ilp"), "drip_ilp").await;
    allowed(&ilp, "drip_ilp", "SELECT drip.ilp_rollback(1)").await;
    allowed(&ilp, "drip_ilp", "SELECT drip.ilp_route_fulfilled(1)").await;
    for sql in [
        "SELECT drip.create_session('web-ilp')",
        "SELECT drip.ilp_configure(6, 9223372036854775807, 3600, 1, 0)",
        "UPDATE drip.ilp_settings SET bandwidth = 1",
        "SELECT drip.ilp_release_expired()",
        "SELECT drip.ilp_open_channel('a', '\\x00', 'r', '\\x00', 1, 1, 'r', NULL, NULL, 0, 0)",
        "SELECT * FROM drip.take_outbox(1)",
    ] {
        denied(&ilp, "drip_ilp", sql).await;
    }

    let ledger = login(&db, &admin, &user("drip_ledger"), "drip_ledger").await;
    allowed(&ledger, "drip_ledger", "SELECT drip.sweep()").await;
    allowed(&ledger, "drip_ledger", "SELECT * FROM drip.take_outbox(1)").await;
    allowed(
        &ledger,
        "drip_ledger",
        "SELECT * FROM drip.watched_channels()",
    )
    .await;
    allowed(&ledger, "drip_ledger", "SELECT * FROM drip.outbox_backlog").await;
    allowed(&ledger, "drip_ledger", "SELECT drip.ilp_release_expired()").await;
    allowed(
        &ledger,
        "drip_ledger",
        "SELECT drip.ilp_configure(6, 0, 30, 1000000, 10000000)",
    )
    .await;
    for sql in [
        "SELECT drip.create_session('web-ledger')",
        "SELECT drip.pay('t', 1, '\\x00')",
        "SELECT * FROM drip.channels",
        "UPDATE drip.outbox SET state = 'done'",
        "SELECT drip.ilp_rollback(1)",
        "SELECT * FROM drip.sessions_overview",
    ] {
        denied(&ledger, "drip_ledger", sql).await;
    }

    let operator = login(&db, &admin, &user("drip_admin"), "drip_admin").await;
    allowed(
        &operator,
        "drip_admin",
        "UPDATE drip.terms SET channel_funding = 2000000",
    )
    .await;
    allowed(
        &operator,
        "drip_admin",
        "SELECT * FROM drip.sessions_overview",
    )
    .await;
    allowed(&operator, "drip_admin", "SELECT * FROM drip.exposure").await;
    allowed(&operator, "drip_admin", "SELECT * FROM drip.ilp_settings").await;
    for sql in [
        "SELECT * FROM drip.server_key",
        "DELETE FROM drip.terms",
        "SELECT drip.sweep()",
        "SELECT drip.create_session('web-admin')",
        "INSERT INTO drip.sessions (session_id, drip_token, uri) VALUES ('x', 'y', 'z')",
    ] {
        denied(&operator, "drip_admin", sql).await;
    }

    drop((merchant, payer, ilp, ledger, operator));
    for role in [
        "drip_merchant",
        "drip_payer",
        "drip_ilp",
        "drip_ledger",
        "drip_admin",
    ] {
        admin
            .batch_execute(&format!("DROP ROLE {}", user(role)))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn notices_carry_no_drip_token() {
    let db = TestDb::new("roles_notices").await;
    let admin = connect(&db.url).await;
    let payer = Seed::from_entropy([0x42; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    // Anyone who may connect may LISTEN: a plain login with no drip role.
    let user = format!("t_listener_{}", std::process::id());
    let (client, mut connection) = login_config(&db, &admin, &user, None)
        .await
        .connect(NoTls)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(m)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = m {
                let _ = tx.send(n.payload().to_owned());
            }
        }
    });
    client.batch_execute("LISTEN drip_session").await.unwrap();

    let token = active_session(&admin, &payer, "web-notice", [0x4E; 32]).await;
    let id: i64 = admin
        .query_one("SELECT notice_id FROM drip.amount_due($1)", &[&token])
        .await
        .unwrap()
        .get(0);
    admin
        .execute("SELECT drip.destroy_session('web-notice')", &[])
        .await
        .unwrap();
    let mut heard = Vec::new();
    while let Ok(Some(p)) = tokio::time::timeout(std::time::Duration::from_secs(2), rx.recv()).await
    {
        heard.push(p);
    }
    assert!(!heard.is_empty(), "no notice heard");
    assert!(
        heard.iter().all(|p| p == &id.to_string()),
        "{heard:?} (session {id})"
    );
    assert!(!heard.iter().any(|p| p.contains(&token)));
    drop(client);
    admin
        .batch_execute(&format!("DROP ROLE {user}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn ilp_bounds_come_from_the_settings_the_ledger_role_wrote() {
    let db = TestDb::new("roles_ilp_bounds").await;
    let c = connect(&db.url).await;
    // Out of range settings are refused, and change nothing.
    for sql in [
        "SELECT drip.ilp_configure(20, 0, 30, 1000000, 0)",
        "SELECT drip.ilp_configure(6, -1, 30, 1000000, 0)",
        "SELECT drip.ilp_configure(6, 0, 0, 1000000, 0)",
        "SELECT drip.ilp_configure(6, 0, 30, 0, 0)",
        "SELECT drip.ilp_configure(6, 0, 30, 1000000, NULL)",
    ] {
        assert!(c.batch_execute(sql).await.is_err(), "{sql}");
    }
    let row = c
        .query_one(
            "SELECT asset_scale, bandwidth, max_hold_secs, outgoing_channel_amount FROM drip.ilp_settings",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i32>(0),
            row.get::<_, i64>(1),
            row.get::<_, i32>(2),
            row.get::<_, i64>(3)
        ),
        (6, 0, 30, 1_000_000)
    );
}
