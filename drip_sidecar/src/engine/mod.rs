//! The typed boundary to the `drip` extension: every SQL statement the
//! sidecar runs is built here, one Rust function per `drip.*` call, taking
//! typed arguments and returning a struct read by column name.
//!
//! Each call is declared once, as a [`Call`]: the function's name, the
//! types of the arguments passed and (from the result struct's fields) the
//! columns read. The statement is rendered from that declaration, and
//! `tests/tests/catalog.rs` checks the same declarations against the
//! installed extension's catalog, so a renamed column, a changed argument
//! or a new enum label fails a test before it fails a payment.

mod enums;
pub mod ilp;
pub mod mpp;
pub mod outbox;
pub mod sessions;

use std::marker::PhantomData;
use std::sync::OnceLock;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Error, Row};

pub use enums::{
    enum_mismatches, EnumDecl, OutboxKind, OutboxState, OutgoingState, PaymentType, ProposalKind,
    Reason, SessionState, SqlEnum, ENUMS,
};

/// A column a result struct reads: its name and its SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The column's name in the function's result.
    pub name: &'static str,
    /// Its type, as PostgreSQL spells it (`bigint`, `drip.session_state`).
    pub ty: &'static str,
}

/// A Rust type read from (or passed as) a column, with the SQL type it
/// stands for.
pub trait SqlType {
    /// The SQL type's name, as PostgreSQL spells it.
    const SQL: &'static str;
}

macro_rules! sql_types {
    ($($rust:ty => $sql:literal),+ $(,)?) => {
        $(impl SqlType for $rust {
            const SQL: &'static str = $sql;
        })+
    };
}

sql_types! {
    bool => "boolean",
    i32 => "integer",
    i64 => "bigint",
    String => "text",
    Vec<u8> => "bytea",
    SystemTime => "timestamp with time zone",
}

// NULL reads as None: the column's type is the inner one.
impl<T: SqlType> SqlType for Option<T> {
    const SQL: &'static str = T::SQL;
}

/// A struct read from a result row, column by column.
pub trait FromRow: Sized {
    /// The columns read, in the order the statement names them.
    const COLUMNS: &'static [Column];
    /// The struct, from a row holding [`Self::COLUMNS`].
    fn from_row(row: &Row) -> Result<Self, Error>;
}

/// A result that is not read (a `void` function, or one called for its
/// effect): the statement selects the call itself.
impl FromRow for () {
    const COLUMNS: &'static [Column] = &[];
    fn from_row(_: &Row) -> Result<(), Error> {
        Ok(())
    }
}

/// A result struct whose fields are the columns read (named as the
/// columns are), each field's type declaring the column's SQL type.
macro_rules! row {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$fmeta:meta])* $field:ident: $ty:ty),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)+
        }

        impl $crate::engine::FromRow for $name {
            const COLUMNS: &'static [$crate::engine::Column] = &[$(
                $crate::engine::Column {
                    name: stringify!($field),
                    ty: <$ty as $crate::engine::SqlType>::SQL,
                },
            )+];

            fn from_row(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
                Ok($name {
                    $($field: row.try_get(stringify!($field))?,)+
                })
            }
        }
    };
}
pub(crate) use row;

/// A module's calls: one `pub static` each, and `CALLS` listing them all
/// for the catalog test.
macro_rules! calls {
    ($($(#[$meta:meta])* $name:ident: $ty:ty = $call:expr;)+) => {
        $($(#[$meta])* pub static $name: $ty = $call;)+

        /// Every call this module declares.
        pub static CALLS: &[&dyn $crate::engine::Declared] = &[$(&$name),+];
    };
}
pub(crate) use calls;

/// What is called: a function of schema `drip`, or a view of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A function returning one row (a composite type, OUT parameters, a
    /// single value named after the function, or `void`).
    Function,
    /// A set-returning function (`SETOF`, `RETURNS TABLE`).
    SetFunction,
    /// A view.
    View,
}

/// One call into the extension: `T` is the struct its rows are read as.
pub struct Call<T> {
    name: &'static str,
    source: Source,
    args: &'static [Type],
    sql: OnceLock<String>,
    row: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("args", &self.args)
            .finish()
    }
}

/// A call as the catalog test sees it, whatever its row type.
pub trait Declared: Sync {
    /// The function's (or view's) name in schema `drip`.
    fn name(&self) -> &'static str;
    /// Function, set-returning function or view.
    fn source(&self) -> Source;
    /// The types of the arguments passed (the function may take more,
    /// with defaults).
    fn args(&self) -> &'static [Type];
    /// The result columns read (none: the result is not read).
    fn columns(&self) -> &'static [Column];
    /// The statement run.
    fn sql(&self) -> &str;
}

impl<T: FromRow> Declared for Call<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn source(&self) -> Source {
        self.source
    }
    fn args(&self) -> &'static [Type] {
        self.args
    }
    fn columns(&self) -> &'static [Column] {
        T::COLUMNS
    }
    fn sql(&self) -> &str {
        self.sql.get_or_init(|| {
            let columns: Vec<&str> = T::COLUMNS.iter().map(|c| c.name).collect();
            let args: Vec<String> = (1..=self.args.len()).map(|i| format!("${i}")).collect();
            let (name, args) = (self.name, args.join(", "));
            match (self.source, columns.is_empty()) {
                (Source::View, _) => format!("SELECT {} FROM drip.{name}", columns.join(", ")),
                (_, true) => format!("SELECT drip.{name}({args})"),
                (_, false) => format!("SELECT {} FROM drip.{name}({args})", columns.join(", ")),
            }
        })
    }
}

impl<T: FromRow> Call<T> {
    /// `drip.name(args)`, returning one row.
    pub const fn function(name: &'static str, args: &'static [Type]) -> Call<T> {
        Call::new(name, Source::Function, args)
    }

    /// `drip.name(args)`, returning a set of rows.
    pub const fn set_function(name: &'static str, args: &'static [Type]) -> Call<T> {
        Call::new(name, Source::SetFunction, args)
    }

    /// The view `drip.name`.
    pub const fn view(name: &'static str) -> Call<T> {
        Call::new(name, Source::View, &[])
    }

    const fn new(name: &'static str, source: Source, args: &'static [Type]) -> Call<T> {
        Call {
            name,
            source,
            args,
            sql: OnceLock::new(),
            row: PhantomData,
        }
    }

    /// The statement, prepared once per connection with the declared
    /// argument types (a Rust value of another type is refused before it
    /// is sent).
    async fn statement(
        &self,
        client: &impl GenericClient,
    ) -> Result<tokio_postgres::Statement, Error> {
        client.prepare_typed_cached(self.sql(), self.args).await
    }

    /// Exactly one row.
    pub(crate) async fn one(
        &self,
        client: &impl GenericClient,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<T, Error> {
        let statement = self.statement(client).await?;
        T::from_row(&client.query_one(&statement, params).await?)
    }

    /// At most one row.
    pub(crate) async fn opt(
        &self,
        client: &impl GenericClient,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<T>, Error> {
        let statement = self.statement(client).await?;
        client
            .query_opt(&statement, params)
            .await?
            .as_ref()
            .map(T::from_row)
            .transpose()
    }

    /// Every row.
    pub(crate) async fn all(
        &self,
        client: &impl GenericClient,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>, Error> {
        let statement = self.statement(client).await?;
        client
            .query(&statement, params)
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }
}

impl Call<()> {
    /// Run for its effect; the result is not read.
    pub(crate) async fn run(
        &self,
        client: &impl GenericClient,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(), Error> {
        let statement = self.statement(client).await?;
        client.execute(&statement, params).await?;
        Ok(())
    }
}

/// Every call the sidecar makes, by topic.
pub fn all_calls() -> impl Iterator<Item = &'static dyn Declared> {
    [sessions::CALLS, outbox::CALLS, ilp::CALLS, mpp::CALLS]
        .into_iter()
        .flatten()
        .copied()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_rendered_from_the_declarations() {
        assert_eq!(
            sessions::PAY.sql(),
            "SELECT accepted, reason, due, paid FROM drip.pay($1, $2, $3)"
        );
        assert_eq!(
            outbox::RECORD_CHANNEL_BALANCE.sql(),
            "SELECT drip.record_channel_balance($1, $2)"
        );
        assert_eq!(
            outbox::LOSSES_BY_REASON.sql(),
            "SELECT reason, drops FROM drip.losses_by_reason"
        );
        assert_eq!(
            outbox::SWEEP.sql(),
            "SELECT checked, struck, ended, proposals_expired FROM drip.sweep()"
        );
    }

    #[test]
    fn every_call_is_declared_once() {
        let mut names: Vec<&str> = all_calls().map(|c| c.name()).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a function declared twice");
    }
}
