//! The sidecar's typed boundary against the installed extension's catalog:
//! every call `drip_sidecar::engine` declares exists with the argument
//! types it passes and returns the columns (names and types) its struct
//! reads, and every Rust enum has its SQL enum's labels in order. Driven by
//! the very declarations the calls render their statements from, so a
//! renamed column, a changed argument or a new label fails here.

use drip_sidecar::engine::{self, Column, Declared, OutgoingState, Source};
use drip_tests::{describe, TestDb};
use tokio_postgres::types::Oid;
use tokio_postgres::Client;

/// A result column as the catalog has it.
#[derive(Debug, PartialEq)]
struct Found {
    name: String,
    ty: Oid,
}

/// The OID of the type PostgreSQL spells `ty`.
async fn type_oid(c: &Client, ty: &str) -> Oid {
    c.query_one("SELECT $1::text::regtype::oid", &[&ty])
        .await
        .unwrap_or_else(|e| panic!("no type {ty}: {}", describe(&e)))
        .get(0)
}

/// The columns of the relation (a view, or a composite type's) `rel`.
async fn attributes(c: &Client, rel: Oid) -> Vec<Found> {
    c.query(
        "SELECT attname::text, atttypid FROM pg_attribute
         WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        &[&rel],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| Found {
        name: r.get(0),
        ty: r.get(1),
    })
    .collect()
}

/// The view's columns.
async fn view_columns(c: &Client, name: &str) -> Result<Vec<Found>, String> {
    let rel: Oid = c
        .query_opt(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'drip' AND c.relname = $1 AND c.relkind = 'v'",
            &[&name],
        )
        .await
        .unwrap()
        .ok_or("no such view")?
        .get(0);
    Ok(attributes(c, rel).await)
}

/// The result columns of the function `drip.name` that takes `args` (and
/// perhaps more, with defaults): its OUT or TABLE parameters, its
/// composite type's attributes, or one column named after it.
async fn function_columns(c: &Client, call: &dyn Declared) -> Result<Vec<Found>, String> {
    let name = call.name();
    let args: Vec<Oid> = call.args().iter().map(|t| t.oid()).collect();
    let rows = c
        .query(
            "SELECT p.proargtypes::oid[], p.pronargdefaults, p.proretset, p.prorettype, t.typtype::text,
                    t.typrelid, coalesce(p.proallargtypes, '{}'), coalesce(p.proargmodes::text[], '{}'),
                    coalesce(p.proargnames, '{}')
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  JOIN pg_type t ON t.oid = p.prorettype
             WHERE n.nspname = 'drip' AND p.proname = $1",
            &[&name],
        )
        .await
        .unwrap();
    if rows.is_empty() {
        return Err("no such function".into());
    }
    // The overload this call resolves to: its leading parameters are the
    // arguments passed, the rest have defaults.
    let takes = |r: &tokio_postgres::Row| {
        let params: Vec<Oid> = r.get(0);
        let defaults = usize::try_from(r.get::<_, i16>(1)).unwrap();
        params.len() >= args.len()
            && params[..args.len()] == args[..]
            && params.len() - args.len() <= defaults
    };
    let matching: Vec<_> = rows.iter().filter(|r| takes(r)).collect();
    let [r] = matching[..] else {
        let found: Vec<Vec<Oid>> = rows.iter().map(|r| r.get(0)).collect();
        return Err(format!(
            "{} overloads take the argument types {args:?} (their parameters: {found:?})",
            matching.len()
        ));
    };
    let set: bool = r.get(2);
    if set != (call.source() == Source::SetFunction) {
        return Err(format!("returns a set: {set}"));
    }
    let (types, modes, names): (Vec<Oid>, Vec<String>, Vec<String>) =
        (r.get(6), r.get(7), r.get(8));
    let outs: Vec<Found> = modes
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m.as_str(), "o" | "b" | "t"))
        .map(|(i, _)| Found {
            name: names[i].clone(),
            ty: types[i],
        })
        .collect();
    let (returns, typtype, typrelid): (Oid, String, Oid) = (r.get(3), r.get(4), r.get(5));
    Ok(if !outs.is_empty() {
        outs
    } else if typtype == "c" {
        attributes(c, typrelid).await
    } else {
        vec![Found {
            name: name.to_owned(),
            ty: returns,
        }]
    })
}

/// What `call` reads missing from `columns`, or of another type there.
async fn mismatches(c: &Client, declared: &[Column], columns: &[Found]) -> Vec<String> {
    let mut wrong = Vec::new();
    for col in declared {
        let ty = type_oid(c, col.ty).await;
        match columns.iter().find(|f| f.name == col.name) {
            None => wrong.push(format!("no column {}", col.name)),
            Some(f) if f.ty != ty => wrong.push(format!(
                "column {} is not {} (type oid {} there)",
                col.name, col.ty, f.ty
            )),
            Some(_) => {}
        }
    }
    wrong
}

#[tokio::test]
async fn every_call_matches_the_catalog() {
    let db = TestDb::new("catalog_calls").await;
    let c = db.client().await;
    let mut wrong = Vec::new();
    let mut n = 0;
    for call in engine::all_calls() {
        n += 1;
        let columns = match call.source() {
            Source::View => view_columns(&c, call.name()).await,
            Source::Function | Source::SetFunction => function_columns(&c, call).await,
        };
        let found = match columns {
            Ok(columns) => mismatches(&c, call.columns(), &columns).await,
            Err(e) => vec![e],
        };
        for w in found {
            wrong.push(format!("drip.{}: {w}", call.name()));
        }
        // And the statement itself, as the sidecar prepares it.
        if let Err(e) = c.prepare_typed(call.sql(), call.args()).await {
            wrong.push(format!("`{}`: {}", call.sql(), describe(&e)));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(n > 40, "only {n} calls declared");
}

#[tokio::test]
async fn every_enum_has_the_sql_labels_in_order() {
    let db = TestDb::new("catalog_enums").await;
    let c = db.client().await;
    let wrong = engine::enum_mismatches(&c)
        .await
        .unwrap_or_else(|err| panic!("{}", describe(&err)));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(engine::ENUMS.len(), 6, "every SQL enum the sidecar reads");
}

/// `drip.ilp_outgoing.state` is text under a CHECK: its labels are the
/// CHECK's list.
#[tokio::test]
async fn the_outgoing_states_are_the_check_s() {
    let db = TestDb::new("catalog_outgoing").await;
    let c = db.client().await;
    let defs: Vec<String> = c
        .query(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = 'drip.ilp_outgoing'::regclass AND contype = 'c'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // CHECK ((state = ANY (ARRAY['opening'::text, 'open'::text, ...])))
    let def = defs
        .iter()
        .find(|d| d.starts_with("CHECK ((state = ANY (ARRAY["))
        .unwrap_or_else(|| panic!("no state CHECK among {defs:?}"));
    let list = def
        .split_once("ARRAY[")
        .and_then(|(_, rest)| rest.split_once(']'))
        .unwrap()
        .0;
    let labels: Vec<&str> = list
        .split(", ")
        .map(|l| l.trim_end_matches("::text").trim_matches('\''))
        .collect();
    let ours: Vec<&str> = OutgoingState::LABELS.iter().map(|(l, _)| *l).collect();
    assert_eq!(labels, ours);
}
