//! The extension's enum types as Rust enums. A label the Rust side does not
//! know is refused when read (the derives compare the whole label set), and
//! the catalog test compares each label list with `pg_enum`.

use postgres_types::{FromSql, ToSql};

/// A Rust enum mirroring an SQL enum of schema `drip`.
pub trait SqlEnum {
    /// The SQL type, schema-qualified.
    const TYPE: &'static str;
    /// Its labels, in the type's order.
    const LABELS: &'static [&'static str];
}

/// An SQL enum as the catalog test sees it.
#[derive(Debug, Clone, Copy)]
pub struct EnumDecl {
    /// The SQL type, schema-qualified.
    pub ty: &'static str,
    /// The labels the Rust enum knows, in order.
    pub labels: &'static [&'static str],
}

/// An enum with the `ToSql`/`FromSql` derives for `drip.$sql`, its labels
/// and each value's label as text.
macro_rules! sql_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident = $sql:literal {
            $($(#[$vmeta:meta])* $variant:ident = $label:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ToSql, FromSql)]
        #[postgres(name = $sql)]
        pub enum $name {
            $($(#[$vmeta])* #[postgres(name = $label)] $variant,)+
        }

        impl $name {
            /// The SQL label.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }
        }

        impl SqlEnum for $name {
            const TYPE: &'static str = concat!("drip.", $sql);
            const LABELS: &'static [&'static str] = &[$($label),+];
        }

        impl super::SqlType for $name {
            const SQL: &'static str = concat!("drip.", $sql);
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

sql_enum! {
    /// `drip.session_state`: where a session is in its life.
    pub enum SessionState = "session_state" {
        Created = "created",
        Pending = "pending",
        Active = "active",
        Closing = "closing",
        Closed = "closed",
    }
}

sql_enum! {
    /// `drip.payment_type`: what a session bills.
    pub enum PaymentType = "payment_type" {
        Time = "time",
        Unit = "unit",
        Both = "both",
    }
}

sql_enum! {
    /// `drip.proposal_kind`: a session's first proposal or a refresh.
    pub enum ProposalKind = "proposal_kind" {
        Initial = "initial",
        Refresh = "refresh",
    }
}

sql_enum! {
    /// `drip.outbox_kind`: what a ledger job does.
    pub enum OutboxKind = "outbox_kind" {
        VerifyChannel = "verify_channel",
        VerifyFund = "verify_fund",
        Claim = "claim",
        ClaimAndClose = "claim_and_close",
        Offload = "offload",
        IlpChannel = "ilp_channel",
        IlpFund = "ilp_fund",
    }
}

sql_enum! {
    /// `drip.outbox_state`: where a ledger job is.
    pub enum OutboxState = "outbox_state" {
        Queued = "queued",
        Submitted = "submitted",
        Done = "done",
        Failed = "failed",
    }
}

sql_enum! {
    /// `drip.reason`: why drip refused (a claim, a unit debt, an agreement,
    /// an ILP call); the sidecar's own refusals of agreements too.
    pub enum Reason = "reason" {
        // a session, a claim, a unit debt
        NotFound = "not_found",
        NotActive = "not_active",
        BadSignature = "bad_signature",
        NotAboveBest = "not_above_best",
        ExceedsChannel = "exceeds_channel",
        SessionEnding = "session_ending",
        AwaitingPayment = "awaiting_payment",
        NotUnitBased = "not_unit_based",
        NotPositive = "not_positive",
        AlreadyEnding = "already_ending",
        // an agreement or a refresh
        AlreadyAgreed = "already_agreed",
        NotAnInitialProposal = "not_an_initial_proposal",
        NotARefreshProposal = "not_a_refresh_proposal",
        ProposalExpired = "proposal_expired",
        NotPending = "not_pending",
        NotSubmitted = "not_submitted",
        NotChecked = "not_checked",
        // the channel or fund on the validated ledger is not the proposal's
        MemoMismatch = "memo_mismatch",
        WrongDestination = "wrong_destination",
        WrongDestinationTag = "wrong_destination_tag",
        Underfunded = "underfunded",
        SettleDelayTooShort = "settle_delay_too_short",
        BadPublicKey = "bad_public_key",
        CancelAfterTooSoon = "cancel_after_too_soon",
        ExpirationTooSoon = "expiration_too_soon",
        BadChannelId = "bad_channel_id",
        ChannelInUse = "channel_in_use",
        WrongChannel = "wrong_channel",
        NotAChannelCreate = "not_a_channel_create",
        NoChannelCreated = "no_channel_created",
        ChannelNotOnLedger = "channel_not_on_ledger",
        NotAFundOfThisChannel = "not_a_fund_of_this_channel",
        TxFailed = "tx_failed",
        TxNotValidated = "tx_not_validated",
        // ILP
        Malformed = "malformed",
        NoChannel = "no_channel",
        Blocked = "blocked",
        ChannelExpires = "channel_expires",
        ChannelExists = "channel_exists",
        NoIncomingChannel = "no_incoming_channel",
        IncomingChannelTooSmall = "incoming_channel_too_small",
        OtherDestination = "other_destination",
        NotHeld = "not_held",
        Expired = "expired",
        // HTTP 402 (MPP sessions)
        Replayed = "replayed",
        BelowBest = "below_best",
        Underpaid = "underpaid",
        Finalized = "finalized",
        WrongSource = "wrong_source",
        ChallengeUsed = "challenge_used",
    }
}

/// Every SQL enum mirrored here, for the catalog test.
pub static ENUMS: &[EnumDecl] = &[
    decl::<SessionState>(),
    decl::<PaymentType>(),
    decl::<ProposalKind>(),
    decl::<OutboxKind>(),
    decl::<OutboxState>(),
    decl::<Reason>(),
];

const fn decl<E: SqlEnum>() -> EnumDecl {
    EnumDecl {
        ty: E::TYPE,
        labels: E::LABELS,
    }
}

/// `drip.ilp_outgoing.state`, the server's channel to an ILP client: text
/// under a CHECK, not an SQL enum, read as one all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingState {
    /// Its create is in the outbox.
    Opening,
    /// On the ledger, paid by claims.
    Open,
    /// Its create failed.
    Failed,
    /// It left the ledger.
    Closed,
}

impl OutgoingState {
    /// Each state by its label, in the CHECK's order.
    pub const LABELS: [(&'static str, OutgoingState); 4] = [
        ("opening", OutgoingState::Opening),
        ("open", OutgoingState::Open),
        ("failed", OutgoingState::Failed),
        ("closed", OutgoingState::Closed),
    ];
}

impl<'a> FromSql<'a> for OutgoingState {
    fn from_sql(
        ty: &postgres_types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let label = <&str as FromSql>::from_sql(ty, raw)?;
        OutgoingState::LABELS
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, s)| *s)
            .ok_or_else(|| format!("unknown ilp_outgoing state {label:?}").into())
    }

    fn accepts(ty: &postgres_types::Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

impl super::SqlType for OutgoingState {
    const SQL: &'static str = "text";
}

/// The enums whose labels in the database are not the Rust enum's, in
/// order: one line each. A row of such a type would fail to read in the
/// middle of a payment, so the sidecar refuses to start instead.
pub async fn enum_mismatches(
    client: &tokio_postgres::Client,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let mut wrong = Vec::new();
    for e in ENUMS {
        let labels: Vec<String> = client
            .query(
                "SELECT enumlabel::text FROM pg_enum WHERE enumtypid = $1::text::regtype
                 ORDER BY enumsortorder",
                &[&e.ty],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if labels != e.labels {
            wrong.push(format!(
                "{}: the database has {labels:?}, this sidecar knows {:?}",
                e.ty, e.labels
            ));
        }
    }
    Ok(wrong)
}
