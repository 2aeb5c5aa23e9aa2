//! Upgrades: a database on every released version of drip, with live data,
//! is updated with `ALTER EXTENSION drip UPDATE` and must then have exactly
//! the schema of a fresh install, keep its data, and keep working.
//! Released install scripts are kept in `sql/released/`; `./dev` installs
//! them beside the current one.

use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyType, Seed};
use drip_tests::{active_session, describe, TestDb};
use tokio_postgres::Client;

/// Every released version, oldest first.
const RELEASED: &[&str] = &["0.1.0"];

/// One line per object in schema `drip`, for comparing two databases: the
/// functions with their definitions, privileges and comments; columns in
/// order with types, defaults and nullability; constraints, indexes,
/// triggers, views, enum labels, table privileges and the extension's
/// membership.
const FINGERPRINT: &str = r#"
WITH ns AS (SELECT 'drip'::regnamespace AS oid)
SELECT line FROM (
  SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
         || E'\nacl ' || coalesce(p.proacl::text, '-')
         || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-') AS line
  FROM pg_proc p, ns WHERE p.pronamespace = ns.oid
  UNION ALL
  SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s', c.relname, a.attname,
                rank() OVER (PARTITION BY c.oid ORDER BY a.attnum), format_type(a.atttypid, a.atttypmod),
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity)
  FROM pg_class c JOIN ns ON c.relnamespace = ns.oid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
  UNION ALL
  SELECT format('relation %s kind=%s acl=%s comment=%s', c.relname, c.relkind, c.relacl,
                obj_description(c.oid, 'pg_class'))
  FROM pg_class c JOIN ns ON c.relnamespace = ns.oid
  UNION ALL
  SELECT format('constraint %s on %s: %s', con.conname, con.conrelid::regclass, pg_get_constraintdef(con.oid))
  FROM pg_constraint con JOIN ns ON con.connamespace = ns.oid
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON c.relnamespace = ns.oid
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON c.relnamespace = ns.oid
  WHERE NOT t.tgisinternal
  UNION ALL
  SELECT format('view %s: %s', c.relname, pg_get_viewdef(c.oid))
  FROM pg_class c JOIN ns ON c.relnamespace = ns.oid WHERE c.relkind = 'v'
  UNION ALL
  SELECT format('enum %s: %s', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
  FROM pg_type t JOIN ns ON t.typnamespace = ns.oid JOIN pg_enum e ON e.enumtypid = t.oid
  GROUP BY t.typname
  UNION ALL
  SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d JOIN pg_extension x ON d.refobjid = x.oid AND d.refclassid = 'pg_extension'::regclass
  WHERE x.extname = 'drip' AND d.deptype = 'e'
) lines
ORDER BY line
"#;

async fn fingerprint(c: &Client) -> Vec<String> {
    c.query(FINGERPRINT, &[])
        .await
        .unwrap_or_else(|e| panic!("fingerprint: {}", describe(&e)))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Lines only in `a`, then lines only in `b`, for a readable failure.
fn difference(a: &[String], b: &[String]) -> String {
    let only = |x: &[String], y: &[String]| {
        x.iter()
            .filter(|l| !y.contains(l))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "only after the upgrade:\n{}\n\nonly in a fresh install:\n{}",
        only(a, b),
        only(b, a)
    )
}

async fn installed_version(c: &Client) -> String {
    c.query_one(
        "SELECT extversion FROM pg_extension WHERE extname = 'drip'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn every_release_updates_to_the_fresh_schema_with_its_data() {
    let fresh = TestDb::new("upgrade_fresh").await;
    let fresh_client = fresh.client().await;
    let current = installed_version(&fresh_client).await;
    let want = fingerprint(&fresh_client).await;
    assert!(want.len() > 100, "the fingerprint sees the schema");

    let payer = Seed::from_entropy([0x71; 16], KeyType::Ed25519)
        .key_pair()
        .unwrap();
    let channel = Hash256([0x7C; 32]);
    let claim = |amount: i64| sign_claim(&payer, &channel, Drops::new(amount as u64));

    for old in RELEASED {
        let db = TestDb::with(
            &format!("upgrade_from_{}", old.replace('.', "_")),
            &format!("CREATE EXTENSION drip VERSION '{old}'"),
        )
        .await;
        let c = db.client().await;
        assert_eq!(installed_version(&c).await, *old);

        // Live data on the old version: an active session with a claim and
        // a unit debt, and a session that never got further than created.
        let token = active_session(&c, &payer, "live", channel.0).await;
        let paid = c
            .query_one(
                "SELECT accepted FROM drip.pay($1, 40000, $2)",
                &[&token, &claim(40000)],
            )
            .await
            .unwrap();
        assert!(paid.get::<_, bool>(0));
        let debt = c
            .query_one(
                "SELECT accepted FROM drip.add_unit_debt($1, 5000)",
                &[&token],
            )
            .await
            .unwrap();
        assert!(debt.get::<_, bool>(0));
        c.execute("SELECT drip.create_session('idle')", &[])
            .await
            .unwrap();
        let due_before: i64 = c
            .query_one("SELECT due FROM drip.amount_due($1)", &[&token])
            .await
            .unwrap()
            .get(0);

        c.batch_execute("ALTER EXTENSION drip UPDATE")
            .await
            .unwrap_or_else(|e| panic!("ALTER EXTENSION drip UPDATE from {old}: {}", describe(&e)));
        assert_eq!(installed_version(&c).await, current);
        let got = fingerprint(&c).await;
        assert!(
            got == want,
            "{old} → {current} differs from a fresh install:\n{}",
            difference(&got, &want)
        );

        // The data came through: what is owed is unchanged (one interval
        // charge and the unit debt), the claim is still the best, and the
        // session keeps taking claims and debts.
        let row = c
            .query_one(
                "SELECT due, paid, state::text FROM drip.amount_due($1)",
                &[&token],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), due_before, "due across the upgrade");
        assert_eq!(
            due_before,
            33_334 + 5000,
            "one interval's rate and the unit debt"
        );
        assert_eq!(row.get::<_, i64>(1), 40000);
        assert_eq!(row.get::<_, String>(2), "active");
        let paid = c
            .query_one(
                "SELECT accepted, reason::text AS reason FROM drip.pay($1, 45000, $2)",
                &[&token, &claim(45000)],
            )
            .await
            .unwrap();
        assert!(
            paid.get::<_, bool>(0),
            "{:?}",
            paid.get::<_, Option<String>>(1)
        );
        let stale = c
            .query_one(
                "SELECT reason::text AS reason FROM drip.pay($1, 40000, $2)",
                &[&token, &claim(40000)],
            )
            .await
            .unwrap();
        assert_eq!(
            stale.get::<_, Option<String>>(0).as_deref(),
            Some("not_above_best")
        );
        let debt = c
            .query_one("SELECT due FROM drip.add_unit_debt($1, 1000)", &[&token])
            .await
            .unwrap();
        assert_eq!(debt.get::<_, i64>(0), due_before + 1000);
        let audit: i64 = c
            .query_one("SELECT count(*) FROM drip.claims", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(audit, 2, "the old claim and the new one are audited");
        let idle: String = c
            .query_one("SELECT state::text FROM drip.get_session('idle')", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(idle, "created");
    }
}

/// The SQL functions a script defines (`CREATE [OR REPLACE] FUNCTION
/// drip.name(` … `$$;`), by name: every definition, in order.
fn sql_functions(script: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut found = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (at, _) in script.match_indices("FUNCTION drip.") {
        let head = &script[..at];
        if !(head.ends_with("CREATE ") || head.ends_with("CREATE OR REPLACE ")) {
            continue;
        }
        let rest = &script[at + "FUNCTION drip.".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let end = rest.find("\n$$;").map_or(rest.len(), |e| e + 4);
        let body = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        found.entry(name).or_default().push(body);
    }
    found
}

/// The files of the current release's SQL, read from the source tree.
fn source(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/");
    std::fs::read_to_string(format!("{root}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Hand-kept upgrade scripts miss a changed function only once: each SQL
/// function whose definition differs from the last release's install
/// script (or is new) must be (re)created by the upgrade script, the last
/// definition there being the source's. (The catalog comparison above
/// proves the result; this names the function to copy.)
#[test]
fn every_function_changed_since_the_release_is_in_the_upgrade_script() {
    let last = RELEASED.last().unwrap();
    let released = sql_functions(&source(&format!("released/drip--{last}.sql")));
    let upgrade = sql_functions(&source(&format!(
        "drip--{last}--{}.sql",
        env!("CARGO_PKG_VERSION")
    )));
    let engine = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/engine"))
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect::<String>();
    let current = sql_functions(&engine);
    assert!(current.len() > 50, "{} functions found", current.len());
    let mut stale = Vec::new();
    for (name, defs) in &current {
        let now = defs.last().unwrap();
        if released.get(name).and_then(|d| d.last()) == Some(now) {
            continue;
        }
        if upgrade.get(name).and_then(|d| d.last()) != Some(now) {
            stale.push(name.as_str());
        }
    }
    assert!(
        stale.is_empty(),
        "changed since {last} but not (re)created as now in the upgrade script \
         (scripts/upgrade-sync copies them): {stale:?}"
    );
}
