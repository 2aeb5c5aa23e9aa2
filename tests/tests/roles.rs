//! Logging in as each role drip creates (through login users granted it),
//! over real connections: each does its part and nothing else.

use drip_tests::{connect, describe, TestDb};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// A login user in `role`, connected to `db`.
async fn login(db: &TestDb, admin: &Client, user: &str, role: &str) -> Client {
    let mut password = [0u8; 16];
    getrandom::getrandom(&mut password).unwrap();
    let password = hex::encode(password);
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {user}; CREATE ROLE {user} LOGIN PASSWORD '{password}' IN ROLE {role}"
        ))
        .await
        .unwrap();
    let mut config: tokio_postgres::Config = db.url.parse().unwrap();
    config.user(user).password(password.as_str());
    let (client, connection) = config
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

#[tokio::test]
async fn each_role_logs_in_and_does_only_its_part() {
    let db = TestDb::new("roles_login").await;
    let admin = connect(&db.url).await;
    admin
        .batch_execute("UPDATE drip.terms SET destination = 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh'")
        .await
        .unwrap();
    let pid = std::process::id();
    let (app_user, ledger_user, admin_user) = (
        format!("t_app_{pid}"),
        format!("t_ledger_{pid}"),
        format!("t_admin_{pid}"),
    );

    let app = login(&db, &admin, &app_user, "drip_app").await;
    allowed(&app, "drip_app", "SELECT drip.create_session('web-role')").await;
    allowed(
        &app,
        "drip_app",
        "SELECT drip.inquire(drip_token) FROM drip.create_session('web-role')",
    )
    .await;
    for sql in [
        "SELECT * FROM drip.sessions",
        "SELECT * FROM drip.server_key",
        "UPDATE drip.terms SET channel_funding = 1",
        "SELECT drip.sweep()",
        "SELECT * FROM drip.take_outbox(1)",
        "SELECT drip.record_channel_closed('\\x00', 0, NULL)",
        "SELECT drip._new_token()",
        "SELECT * FROM drip.sessions_overview",
        "SELECT drip.ilp_release_expired()",
        "SELECT * FROM drip.ilp_holds",
    ] {
        denied(&app, "drip_app", sql).await;
    }

    let ledger = login(&db, &admin, &ledger_user, "drip_ledger").await;
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

    let operator = login(&db, &admin, &admin_user, "drip_admin").await;
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
    for sql in [
        "SELECT * FROM drip.server_key",
        "DELETE FROM drip.terms",
        "SELECT drip.sweep()",
        "INSERT INTO drip.sessions (session_id, drip_token, uri) VALUES ('x', 'y', 'z')",
    ] {
        denied(&operator, "drip_admin", sql).await;
    }

    drop((app, ledger, operator));
    for user in [app_user, ledger_user, admin_user] {
        admin
            .batch_execute(&format!("DROP ROLE {user}"))
            .await
            .unwrap();
    }
}
