//! Garbage for every SQL function a role may call: random and boundary
//! arguments (NULLs, empty, huge, negative, 2^63-1, malformed bytes and
//! text). Each call gives an answer or a clear SQLSTATE, never an internal
//! error or a lost connection, and after each the money invariants hold.
//! The fixture (a live session, an ILP account with a channel and a held
//! packet) puts real tokens and ids among the arguments, so calls reach
//! past the first checks.

use drip_core::{KeyType, Seed};
use drip_tests::sim::Rng;
use drip_tests::{active_session, describe, TestDb};
use tokio_postgres::Client;

/// One of `from`, at random.
fn pick<'a>(rng: &mut Rng, from: &'a [String]) -> &'a str {
    &from[usize::try_from(rng.below(from.len() as u64)).unwrap_or(0)]
}

/// SQL expressions of `ty` worth trying: boundaries, malformed values, and
/// the fixture's real ones.
fn values(ty: &str, real: &Real, rng: &mut Rng) -> Vec<String> {
    let random_hex = |n: usize, rng: &mut Rng| -> String {
        (0..n)
            .map(|_| format!("{:02x}", rng.next_u64() as u8))
            .collect()
    };
    let mut v: Vec<String> = match ty {
        "text" => vec![
            "''".into(),
            "'x'".into(),
            "repeat('a', 100000)".into(),
            "E'\\x01\\x7f'".into(),
            "'drip://localhost/'".into(),
            format!("'{}'", real.token),
            format!("'{}'", real.proposal),
            format!("'{}'", real.account),
            "'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh'".into(),
            "'not_checked'".into(),
            format!("'{}'", random_hex(20, rng)),
        ],
        "bigint" => vec![
            "0".into(),
            "-1".into(),
            "1".into(),
            "9223372036854775807".into(),
            "(-9223372036854775807 - 1)".into(),
            "1000000".into(),
            real.hold.to_string(),
            (rng.next_u64() >> 1).to_string(),
        ],
        "integer" => vec![
            "0".into(),
            "-1".into(),
            "6".into(),
            "19".into(),
            "20".into(),
            "2147483647".into(),
            "(-2147483647 - 1)".into(),
        ],
        "bytea" => vec![
            "'\\x'".into(),
            "'\\x00'".into(),
            format!("'\\x{}'", "00".repeat(32)),
            format!("'\\x{}'", "ed".repeat(33)),
            format!("'\\x{}'", "00".repeat(64)),
            format!("'\\x{}'", hex::encode(real.channel)),
            "decode(repeat('ff', 100000), 'hex')".into(),
            format!("'\\x{}'", random_hex(64, rng)),
        ],
        "timestamp with time zone" => vec![
            "'infinity'".into(),
            "'-infinity'".into(),
            "now()".into(),
            "now() - interval '1 day'".into(),
            "now() + interval '100 years'".into(),
            "'1970-01-01'".into(),
        ],
        "boolean" => vec!["true".into(), "false".into()],
        "text[]" => vec![
            "'{}'".into(),
            "ARRAY['a']".into(),
            "ARRAY[NULL]::text[]".into(),
            format!("ARRAY['{}', '{}']", real.account, real.account),
        ],
        "bigint[]" => vec![
            "'{}'".into(),
            "ARRAY[1]::bigint[]".into(),
            "ARRAY[9223372036854775807]".into(),
            "ARRAY[-1, NULL]::bigint[]".into(),
        ],
        "bytea[]" => vec![
            "'{}'".into(),
            "ARRAY['\\x00'::bytea]".into(),
            format!("ARRAY['\\x{}'::bytea]", "00".repeat(64)),
        ],
        _ => vec![],
    };
    v.push("NULL".into());
    v.into_iter().map(|e| format!("({e})::{ty}")).collect()
}

/// The fixture's real identifiers.
struct Real {
    token: String,
    proposal: String,
    account: String,
    channel: [u8; 32],
    hold: i64,
}

async fn fixture(c: &Client) -> Real {
    let payer = Seed::from_entropy([0x5A; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    let channel = [0x6B; 32];
    let token = active_session(c, &payer, "web-garbage", channel).await;
    let proposal: String = c
        .query_one(
            "SELECT proposal_id FROM drip.refresh_inquire($1)",
            &[&token],
        )
        .await
        .unwrap()
        .get(0);
    let account = "garbage-account".to_owned();
    c.batch_execute(&format!(
        "SELECT drip.ilp_connect('{account}', '\\x{zeros}');
         SELECT drip.ilp_open_channel('{account}', '\\x{chan}', 'rPayer', '\\x{key}', 10000000, 3600,
             'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', NULL, NULL, 0, 3600);
         SELECT drip.ilp_configure(6, 1000000, 30, 1000000, 0);",
        zeros = "00".repeat(32),
        chan = "7c".repeat(32),
        key = hex::encode(payer.public_key().as_bytes()),
    ))
    .await
    .unwrap();
    let hold: i64 = c
        .query_one(
            "SELECT hold FROM drip.ilp_prepare($1, 10, now() + interval '20 seconds')",
            &[&account],
        )
        .await
        .unwrap()
        .get(0);
    Real {
        token,
        proposal,
        account,
        channel,
        hold,
    }
}

/// Every function some role other than the owner may execute, with its
/// argument types.
async fn granted(c: &Client) -> Vec<(String, Vec<String>)> {
    c.query(
        "SELECT p.proname::text,
                coalesce(array_agg(format_type(t.oid, NULL) ORDER BY a.n)
                         FILTER (WHERE t.oid IS NOT NULL), '{}')
         FROM pg_proc p
         LEFT JOIN LATERAL unnest(p.proargtypes::oid[]) WITH ORDINALITY a(oid, n) ON true
         LEFT JOIN pg_type t ON t.oid = a.oid
         WHERE p.pronamespace = 'drip'::regnamespace AND p.prokind = 'f'
           AND p.prorettype <> 'trigger'::regtype
           AND (SELECT bool_or(has_function_privilege(r, p.oid, 'EXECUTE'))
                FROM unnest(ARRAY['drip_merchant', 'drip_payer', 'drip_ilp', 'drip_ledger', 'drip_admin', 'drip_http']) r)
         GROUP BY p.oid, p.proname ORDER BY p.proname, p.oid",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// A clear refusal: bad input, an unknown object, a state that does not
/// allow it, a constraint. Never an internal error (a Rust panic in the
/// extension surfaces as XX000).
fn clear(code: &str) -> bool {
    matches!(&code[..2], "22" | "23" | "55" | "P0") || code == "42501"
}

#[tokio::test]
async fn every_granted_function_takes_garbage_without_breaking() {
    let db = TestDb::new("sql_garbage").await;
    let c = db.client().await;
    let real = fixture(&c).await;
    let seed: u64 = std::env::var("GARBAGE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xd819_0021);
    let mut rng = Rng::new(seed);
    let functions = granted(&c).await;
    assert!(functions.len() > 40, "{} functions", functions.len());
    // Money invariants that no call, however wrong, may break.
    let broken = "SELECT concat_ws('; ',
        (SELECT 'claim above channel ' || count(*) FROM drip.channels
         WHERE best_claim > amount OR ledger_balance > amount HAVING count(*) > 0),
        (SELECT 'outgoing beyond its channel ' || count(*) FROM drip.ilp_outgoing o, drip.ilp_settings st
         WHERE o.channel_id IS NOT NULL AND drip._base_in_drops(o.signed + o.reserved, st.asset_scale) > o.amount
         HAVING count(*) > 0),
        (SELECT 'holds above prepared ' || count(*) FROM drip.ilp_accounts a
         WHERE (SELECT coalesce(sum(h.amount), 0) FROM drip.ilp_holds h
                WHERE h.account = a.account AND h.fulfilled_at IS NULL) > a.prepared HAVING count(*) > 0),
        (SELECT 'active without channel ' || count(*) FROM drip.sessions s
         WHERE s.state = 'active' AND NOT EXISTS (SELECT FROM drip.channels c WHERE c.session = s.id)
         HAVING count(*) > 0))";
    let (mut calls, mut answered) = (0, 0);
    for (name, types) in &functions {
        let pools: Vec<Vec<String>> = types.iter().map(|t| values(t, &real, &mut rng)).collect();
        // Each argument NULL once, then random tuples.
        let tries = 3 + 6 * types.len().max(1);
        for i in 0..tries {
            let args: Vec<String> = pools
                .iter()
                .enumerate()
                .map(|(k, pool)| {
                    if i == k {
                        pool[pool.len() - 1].clone()
                    } else {
                        pick(&mut rng, pool).to_owned()
                    }
                })
                .collect();
            let sql = format!("SELECT drip.{name}({})", args.join(", "));
            calls += 1;
            match c.batch_execute(&sql).await {
                Ok(()) => answered += 1,
                Err(e) => {
                    let code = e
                        .code()
                        .unwrap_or_else(|| panic!("seed {seed}: `{sql}` lost the connection: {e}"))
                        .code()
                        .to_owned();
                    assert!(clear(&code), "seed {seed}: `{sql}`: {}", describe(&e));
                }
            }
            let violations: String = c.query_one(broken, &[]).await.unwrap().get(0);
            assert!(
                violations.is_empty(),
                "seed {seed}: after `{sql}`: {violations}"
            );
        }
    }
    // Garbage that never got past the first checks would prove little.
    assert!(
        calls > 300 && answered > calls / 10,
        "{answered} of {calls} calls answered"
    );
}
