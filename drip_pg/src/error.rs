//! Raising PostgreSQL errors with a SQLSTATE, detail and hint.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Raise `invalid_parameter_value` (22023) naming the argument at fault.
pub(crate) fn invalid_parameter(detail: &str, argument: &str, hint: &str) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("invalid {argument}"),
        pgrx::function_name!(),
    )
    .set_detail(detail)
    .set_hint(hint)
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise `internal_error` (XX000): a broken invariant, not bad input.
pub(crate) fn internal(detail: &str) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        "drip internal error",
        pgrx::function_name!(),
    )
    .set_detail(detail)
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}
