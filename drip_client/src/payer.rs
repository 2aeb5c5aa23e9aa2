//! One drip session from the wallet's side: check the signed proposal, open
//! the channel it asks for (proposal id as memo, a fresh key), agree, then
//! poll what is due and pay it with a claim for the cumulative amount; fund
//! the channel further before the session or the channel runs out (judged
//! by the ledger and the wallet's own claims, never the server's numbers);
//! and once the session ends, find the transaction that closed the channel.
//!
//! Every step that gives something out is written to the wallet file first:
//! a signed claim before it is sent, a signed transaction before it is
//! submitted. A restarted wallet picks up the same channel, follows its
//! transactions by hash, and resends its best claim rather than signing a
//! lower one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use drip_core::claim::sign_claim;
use drip_core::proposal::{Proposal, ProposalKind, SignedProposal};
use drip_core::{Drops, Hash256, KeyType, PublicKey};
use drip_ledger::{Outcome, ResultClass, Submitter};
use drip_proto::{AgreementRequest, AgreementResponse, AmountDueResponse, Denial, SessionState};
use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::api::Api;
use crate::mandate::{session_secs, time_allowance, Mandate, Refusal, Spend, Window};
use crate::store::{random_seed, PendingTx, SessionRecord, SignedClaim, Site, Wallet};
use crate::uri::Target;
use crate::Error;

/// How the wallet pays.
#[derive(Debug, Clone)]
pub struct PayerConfig {
    /// The server key proposals must be signed with; without it, the key is
    /// pinned for the site on first use.
    pub server_key: Option<PublicKey>,
    /// The type of each session's fresh channel key.
    pub key_type: KeyType,
    /// A fresh channel key per session (else the account's own key signs
    /// the claims).
    pub fresh_key: bool,
    /// How often to ask what is due (default: half the polling interval).
    pub poll: Option<Duration>,
    /// Fund the channel further when the session or channel runs short
    /// (see [`refresh_due`]).
    pub refresh: bool,
    /// How long the server may take to check a channel on the ledger.
    pub agreement_wait: Duration,
}

impl Default for PayerConfig {
    fn default() -> Self {
        PayerConfig {
            server_key: None,
            key_type: KeyType::Ed25519,
            fresh_key: true,
            poll: None,
            refresh: true,
            agreement_wait: Duration::from_secs(30),
        }
    }
}

/// Where a session stands, after one round of the pay loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// `created`, `pending`, `active`, `closing` or `closed`.
    pub state: &'static str,
    /// Cumulative debt.
    pub due: u64,
    /// The best claim the server holds.
    pub paid: u64,
    /// The channel's amount on the ledger.
    pub channel_amount: u64,
    /// Unix seconds at which the session ends.
    pub ends_at: Option<i64>,
    /// Why the wallet would not pay what is due (a mandate), if so.
    pub refused: Option<String>,
    /// Something that happened this round (a refresh).
    pub event: Option<String>,
}

/// How a session's channel was closed on the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Closing {
    /// The channel.
    pub channel_id: String,
    /// The transaction that closed it (the merchant's PaymentChannelClaim,
    /// normally).
    pub tx_hash: String,
    /// Its type.
    pub tx_type: String,
    /// The validated ledger it is in.
    pub ledger_index: u32,
    /// The merchant's balance change: the claim less the fee it paid.
    pub merchant_gain: i128,
    /// The payer's balance change: what the channel returned.
    pub refund: i128,
}

/// One session, paid by one wallet.
#[derive(Debug)]
pub struct Payer<'w> {
    api: Api,
    ledger: Submitter,
    wallet: &'w mut Wallet,
    token: String,
    site: String,
    config: PayerConfig,
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn state_name(s: SessionState) -> &'static str {
    match s {
        SessionState::Unspecified => "unknown",
        SessionState::Created => "created",
        SessionState::Pending => "pending",
        SessionState::Active => "active",
        SessionState::Closing => "closing",
        SessionState::Closed => "closed",
    }
}

/// An agreement the server refused, in its words.
fn refused(a: &AgreementResponse) -> Error {
    let reason = if a.reason.is_empty() {
        a.denial().as_str_name().to_ascii_lowercase()
    } else {
        a.reason.clone()
    };
    Error::Refused {
        action: a.action.clone(),
        message: a.message.clone(),
        reason,
    }
}

/// What the wallet signs for what the server says is due: the amount and
/// the polling window it falls in, or `None` when the best claim already
/// covers it (never above the channel: the server would refuse it); a
/// refusal when the proposal or the mandate forbids it, and then nothing is
/// signed.
pub fn next_claim(
    record: &SessionRecord,
    mandate: &Mandate,
    site: &str,
    site_total: Drops,
    due: &AmountDueResponse,
    now: i64,
) -> Result<Option<(Drops, Window)>, Refusal> {
    let best = record.best_amount();
    let target = Drops::new(due.due.min(due.channel_amount));
    if target <= best {
        return Ok(None);
    }
    let allowed = mandate.allowed_debt(&record.proposal, record.active_from, now, record.funded());
    if target > allowed {
        return Err(Refusal::AboveProposal {
            amount: target,
            allowed,
        });
    }
    let window = record
        .window
        .at(now, record.proposal.polling_interval_secs, best);
    let spend = Spend {
        interval: window.cost(target),
        session: target,
        site: site_total
            .saturating_sub(best)
            .checked_add(target)
            .unwrap_or(Drops::MAX),
    };
    mandate.check(site, spend)?;
    Ok(Some((target, window)))
}

/// Whether a session's channel, holding `held` on the ledger, should be
/// funded further at `now`. Judged by the wallet's own numbers only (the
/// server's due, channel amount and end are its word, and could make the
/// wallet fund for nothing): less than a quarter of a funding left above
/// the best claim the wallet signed, or the proposal's rate passing `held`
/// within [`refresh_lead`]; and only if, refreshed, the wallet would let
/// the session owe more than `held` by then (no refresh its own limits
/// could never spend), and the session has been funded fewer than
/// [`Mandate::fundings`] times.
pub fn refresh_due(record: &SessionRecord, mandate: &Mandate, held: Drops, now: i64) -> bool {
    let p = &record.proposal;
    if u64::from(record.refreshes).saturating_add(1) >= mandate.fundings(p) {
        return false;
    }
    let at = now.saturating_add(refresh_lead(p));
    let refreshed = record
        .funded()
        .checked_add(p.channel_funding)
        .unwrap_or(Drops::MAX);
    if mandate.allowed_debt(p, record.active_from, at, refreshed) <= held {
        return false;
    }
    held.saturating_sub(record.best_amount()).get() < p.channel_funding.get() / 4
        || time_allowance(p, record.active_from, at) > held
}

/// How far ahead a refresh looks: a third of the session the proposal
/// stands for, at least three polling intervals (time for the fund to
/// validate and the server to check it).
fn refresh_lead(p: &Proposal) -> i64 {
    let secs = (session_secs(p).unwrap_or(0) / 3)
        .max(u64::from(p.polling_interval_secs).saturating_mul(3));
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Whether a failed refresh ends refreshing for the session: the server
/// refused it, or offered one the wallet refuses, or the fund failed on the
/// ledger (each retry would burn a fee). Not reaching the server or the
/// ledger is tried again the next round.
fn ends_refreshes(e: &Error) -> bool {
    matches!(
        e,
        Error::Refused { .. }
            | Error::Mandate(_)
            | Error::Mismatch(_)
            | Error::Proposal(_)
            | Error::Tx { .. }
    )
}

impl<'w> Payer<'w> {
    /// A payer for `target`, talking to drip through `api` and to the ledger
    /// through `ledger` (signing with the wallet's account). `site` names
    /// the site when the target is a bare token.
    pub fn new(
        api: Api,
        ledger: Submitter,
        wallet: &'w mut Wallet,
        target: &Target,
        site: &str,
        config: PayerConfig,
    ) -> Payer<'w> {
        Payer {
            api,
            ledger,
            wallet,
            token: target.token.clone(),
            site: target.domain.clone().unwrap_or_else(|| site.to_owned()),
            config,
        }
    }

    fn record(&self) -> Option<&SessionRecord> {
        self.wallet.file().sessions.get(&self.token)
    }

    fn must_record(&self) -> Result<&SessionRecord, Error> {
        self.record()
            .ok_or_else(|| Error::Mismatch("the wallet has no record of this session".into()))
    }

    /// Change the session's record and write it durably.
    fn update_record(&mut self, change: impl FnOnce(&mut SessionRecord)) -> Result<(), Error> {
        let token = self.token.clone();
        self.wallet.update(|f| {
            if let Some(r) = f.sessions.get_mut(&token) {
                change(r);
            }
        })?;
        Ok(())
    }

    /// Check a signed proposal: the site's key (given, or pinned on first
    /// use), the signature, expiry; pin the key if new.
    async fn verified(&mut self, p: drip_proto::Proposal) -> Result<Proposal, Error> {
        let offered = PublicKey::from_hex(&p.public_key)
            .map_err(|_| Error::Mismatch("the server key is malformed".into()))?;
        let pinned = self
            .wallet
            .file()
            .sites
            .get(&self.site)
            .map(|s| s.server_key.clone());
        let expected = match (&self.config.server_key, pinned) {
            (Some(k), _) => k.clone(),
            (None, Some(hex)) => PublicKey::from_hex(&hex)
                .map_err(|_| Error::Mismatch("the pinned server key is malformed".into()))?,
            (None, None) => offered.clone(),
        };
        let proposal = SignedProposal {
            payload: p.payload,
            signature: p.signature,
            public_key: p.public_key,
        }
        .verify(&expected, unix_now())?;
        if !self.wallet.file().sites.contains_key(&self.site) {
            let site = self.site.clone();
            tracing::info!(%site, key = %expected.to_hex(), "pinning the site's proposal key");
            self.wallet.update(|f| {
                f.sites.insert(
                    site,
                    Site {
                        server_key: expected.to_hex(),
                    },
                );
            })?;
        }
        Ok(proposal)
    }

    /// Open the session's channel and agree to the proposal, or pick up
    /// where an earlier run stopped. The channel's id.
    pub async fn open(&mut self) -> Result<Hash256, Error> {
        if self.record().is_none() {
            let proposal = self.initial_proposal().await?;
            self.start(proposal)?;
        }
        if self.must_record()?.channel_id.is_none() {
            self.create_channel().await?;
        }
        let record = self.must_record()?.clone();
        let channel = record
            .channel_id
            .ok_or_else(|| Error::Mismatch("no channel".into()))?;
        if !record.agreed {
            self.agree(&record).await?;
        }
        Ok(channel)
    }

    /// The session's initial proposal, asked for and verified (key,
    /// signature, expiry), and an initial one.
    async fn initial_proposal(&mut self) -> Result<Proposal, Error> {
        let signed = self.api.inquire(&self.token).await?;
        let proposal = self.verified(signed).await?;
        if proposal.kind != ProposalKind::Initial {
            return Err(Error::Mismatch(
                "an inquiry answered with a refresh proposal".into(),
            ));
        }
        Ok(proposal)
    }

    /// Record a new session for a verified initial proposal.
    fn start(&mut self, proposal: Proposal) -> Result<(), Error> {
        self.wallet.file().mandate.admits(&proposal)?;
        let channel_seed = if self.config.fresh_key {
            random_seed(self.config.key_type)
                .map_err(|e| Error::Timeout(format!("no random source: {e}")))?
                .encode()
        } else {
            self.wallet.file().seed.clone()
        };
        let record = SessionRecord {
            site: self.site.clone(),
            channel_seed,
            proposal,
            create: None,
            channel_id: None,
            agreed: false,
            fund: None,
            best: None,
            window: Default::default(),
            active_from: None,
            refreshes: 0,
            refresh_stopped: false,
            closed: false,
        };
        let token = self.token.clone();
        self.wallet.update(|f| {
            f.sessions.insert(token, record);
        })?;
        Ok(())
    }

    /// The PaymentChannelCreate the proposal asks for, signed, recorded,
    /// submitted and followed; or the one an earlier run submitted, followed
    /// by hash.
    async fn create_channel(&mut self) -> Result<(), Error> {
        let record = self.must_record()?.clone();
        if let Some(pending) = record.create {
            if let Some(tx) = self.follow("PaymentChannelCreate", pending).await? {
                return self.created(&tx, pending);
            }
        }
        let mut proposal = record.proposal.clone();
        if unix_now() > proposal.expires_at {
            // The old proposal's create never validated: ask again.
            proposal = self.initial_proposal().await?;
        }
        // Checked again: a new proposal, or limits changed since.
        let mandate = self.wallet.file().mandate;
        mandate.admits(&proposal)?;
        let now = unix_now();
        let cancel_after = mandate
            .cancel_after(&proposal, now)
            .ok_or(Error::Clock(now))?;
        let key = record.channel_key().map_err(Error::Mismatch)?;
        let mut fields = json!({
            "TransactionType": "PaymentChannelCreate",
            "Destination": proposal.destination.to_address(),
            "Amount": proposal.channel_funding.to_string(),
            "SettleDelay": proposal.settle_delay_secs,
            "CancelAfter": cancel_after,
            "PublicKey": key.public_key().to_hex(),
            "Memos": [{"Memo": {"MemoData": hex::encode_upper(proposal.proposal_id.as_bytes())}}],
        });
        if let Some(tag) = proposal.destination_tag {
            fields["DestinationTag"] = tag.into();
        }
        let token = self.token.clone();
        let (tx, pending) = self
            .submit("PaymentChannelCreate", fields, |f, pending| {
                if let Some(r) = f.sessions.get_mut(&token) {
                    r.create = Some(pending);
                    r.proposal = proposal.clone();
                }
            })
            .await?;
        self.created(&tx, pending)
    }

    fn created(&mut self, tx: &Json, pending: PendingTx) -> Result<(), Error> {
        let channel = drip_ledger::created_channel(tx)
            .ok_or_else(|| Error::Mismatch("the create made no channel".into()))?;
        self.update_record(|r| {
            r.create = Some(pending);
            r.channel_id = Some(channel);
        })
    }

    /// Sign `fields`, record the transaction with `persist` before it goes
    /// out, submit it and follow it to validation; retried with a fresh
    /// sequence (and a higher fee) when it provably did not apply.
    async fn submit(
        &mut self,
        what: &'static str,
        fields: Json,
        persist: impl Fn(&mut crate::store::WalletFile, PendingTx),
    ) -> Result<(Json, PendingTx), Error> {
        let mut last = String::new();
        for bumps in 0..4 {
            let prepared = self.ledger.prepare(fields.clone(), bumps).await?;
            let pending = PendingTx {
                hash: prepared.hash,
                last_ledger_sequence: prepared.last_ledger_sequence,
            };
            self.wallet.update(|f| persist(f, pending))?;
            match self.ledger.submit_and_wait(&prepared).await? {
                Outcome::Validated { result, tx, .. }
                    if ResultClass::of(&result) == ResultClass::Applied =>
                {
                    return Ok((tx, pending))
                }
                Outcome::Validated { result, .. } => return Err(Error::Tx { what, result }),
                Outcome::Rejected { engine_result }
                    if ResultClass::of(&engine_result) == ResultClass::NeverApplies =>
                {
                    return Err(Error::Tx {
                        what,
                        result: engine_result,
                    })
                }
                Outcome::Rejected { engine_result } => last = engine_result,
                Outcome::Expired => last = "expired (LastLedgerSequence passed)".into(),
            }
        }
        Err(Error::Tx { what, result: last })
    }

    /// Follow an earlier run's transaction: its validated answer if it
    /// succeeded, `None` if it can never apply (sign anew).
    async fn follow(&self, what: &'static str, pending: PendingTx) -> Result<Option<Json>, Error> {
        match self
            .ledger
            .wait(&pending.hash, pending.last_ledger_sequence)
            .await?
        {
            Outcome::Validated { result, tx, .. }
                if ResultClass::of(&result) == ResultClass::Applied =>
            {
                Ok(Some(tx))
            }
            Outcome::Validated { result, .. } => Err(Error::Tx { what, result }),
            Outcome::Expired | Outcome::Rejected { .. } => Ok(None),
        }
    }

    async fn agree(&mut self, record: &SessionRecord) -> Result<(), Error> {
        let create = record
            .create
            .ok_or_else(|| Error::Mismatch("no channel create".into()))?;
        if record.active_from.is_none() {
            // Recorded before the server hears of it: the session cannot
            // become active earlier, so time debt counts from here.
            let now = unix_now();
            self.update_record(|r| r.active_from = Some(now))?;
        }
        let request = AgreementRequest {
            proposal_id: record.proposal.proposal_id.clone(),
            tx_hash: create.hash.to_string(),
            wait: true,
            wait_seconds: u32::try_from(self.config.agreement_wait.as_secs()).unwrap_or(60),
            drip_token: self.token.clone(),
        };
        let a = self.api.submit_agreement(request).await?;
        let agreed =
            a.accepted || a.denial() == Denial::AlreadyAgreed || a.state() == SessionState::Active;
        if !agreed {
            // A definite no (refused, or not checked in time): this attempt
            // started nothing, so the next one counts time from itself, and
            // a server that stalls, then accepts hours later, cannot bill
            // for the wait.
            self.update_record(|r| r.active_from = None)?;
            if a.state() == SessionState::Pending && a.denial() == Denial::Unspecified {
                return Err(Error::Timeout(
                    "the server is still checking the channel on the ledger; run again to continue"
                        .into(),
                ));
            }
            return Err(refused(&a));
        }
        self.update_record(|r| r.agreed = true)
    }

    /// The claims of every session of this site, summed.
    fn site_total(&self) -> Drops {
        let sum = self
            .wallet
            .file()
            .sessions
            .values()
            .filter(|r| r.site == self.site)
            .map(|r| r.best_amount().get())
            .fold(0u64, u64::saturating_add);
        Drops::new(sum)
    }

    /// One round: ask what is due, pay it if the mandate allows (or resend
    /// the best claim the server lacks), fund the channel if it runs short.
    pub async fn step(&mut self) -> Result<Progress, Error> {
        let due = self.api.amount_due(&self.token).await?;
        let mut progress = Progress {
            state: state_name(due.state()),
            due: due.due,
            paid: due.paid,
            channel_amount: due.channel_amount,
            ends_at: due.ends_at.as_ref().map(|t| t.seconds),
            refused: None,
            event: None,
        };
        if due.state() != SessionState::Active {
            return Ok(progress);
        }
        let record = self.must_record()?.clone();
        let channel = record
            .channel_id
            .ok_or_else(|| Error::Mismatch("no channel".into()))?;
        let mandate = self.wallet.file().mandate;
        let claim = match next_claim(
            &record,
            &mandate,
            &self.site,
            self.site_total(),
            &due,
            unix_now(),
        ) {
            Err(refusal) => {
                progress.refused = Some(refusal.to_string());
                None
            }
            Ok(Some((amount, window))) => {
                let key = record.channel_key().map_err(Error::Mismatch)?;
                let signed = SignedClaim {
                    amount,
                    signature: hex::encode_upper(sign_claim(&key, &channel, amount)),
                };
                // Recorded before it leaves: a restart resends it, never
                // signing lower.
                self.update_record(|r| {
                    r.best = Some(signed.clone());
                    r.window = window;
                })?;
                Some(signed)
            }
            Ok(None) => record.best.clone().filter(|b| b.amount.get() > due.paid),
        };
        if let Some(c) = claim {
            let paid = self
                .api
                .pay(&self.token, c.amount.get(), &c.signature)
                .await?;
            progress.paid = paid.paid;
            progress.due = paid.due;
            if !paid.accepted && paid.denial() != Denial::NotAboveBest {
                progress.refused = Some(format!("server: {} ({:?})", paid.message, paid.denial()));
            }
        }
        // Not while the wallet refuses to pay (or the server its claim):
        // the session is ending past-due, and more funding would only sit
        // in the channel.
        if progress.refused.is_none() {
            progress.event = self.refresh_if_due(channel).await;
        }
        Ok(progress)
    }

    /// Fund the channel by a refresh if one is due; what came of it, for
    /// the status line.
    async fn refresh_if_due(&mut self, channel: Hash256) -> Option<String> {
        let outcome = match self.needs_refresh(channel).await {
            Ok(false) => return None,
            Ok(true) => self.refresh().await,
            Err(e) => Err(e),
        };
        Some(match outcome {
            Ok(amount) => format!("refreshed: channel now {amount} drops"),
            Err(e) => format!("refresh failed: {e}"),
        })
    }

    /// Whether to refresh now: a fund in flight is followed through;
    /// otherwise [`refresh_due`] decides by the channel's amount on the
    /// ledger. That is never less than what the wallet funded by agreement,
    /// and a larger amount never calls for a refresh sooner, so the ledger
    /// is asked only when that amount would call for one.
    async fn needs_refresh(&self, channel: Hash256) -> Result<bool, Error> {
        let record = self.must_record()?;
        if !self.config.refresh || record.refresh_stopped {
            return Ok(false);
        }
        if record.fund.is_some() {
            return Ok(true);
        }
        let mandate = self.wallet.file().mandate;
        let now = unix_now();
        if !refresh_due(record, &mandate, record.funded(), now) {
            return Ok(false);
        }
        let held = self.held(channel).await?;
        Ok(refresh_due(record, &mandate, held, now))
    }

    /// The channel's amount on the validated ledger (0 once it is gone).
    async fn held(&self, channel: Hash256) -> Result<Drops, Error> {
        let entry = self.ledger.client().channel(&channel).await?;
        Ok(entry.map_or(Drops::ZERO, |c| c.amount))
    }

    /// Fund the channel by a refresh proposal and have the server extend
    /// the session; the channel's new amount. A definite failure (see
    /// [`ends_refreshes`]) ends refreshing for the session.
    pub async fn refresh(&mut self) -> Result<Drops, Error> {
        let outcome = self.refresh_once().await;
        if outcome.as_ref().is_err_and(ends_refreshes) {
            self.update_record(|r| r.refresh_stopped = true)?;
        }
        outcome
    }

    async fn refresh_once(&mut self) -> Result<Drops, Error> {
        let record = self.must_record()?.clone();
        let channel = record
            .channel_id
            .ok_or_else(|| Error::Mismatch("no channel".into()))?;
        let (proposal_id, pending) = match record.fund {
            Some((id, pending)) => match self.follow("PaymentChannelFund", pending).await? {
                Some(_) => (id, pending),
                None => self.fund(channel).await?,
            },
            None => self.fund(channel).await?,
        };
        let request = AgreementRequest {
            proposal_id,
            tx_hash: pending.hash.to_string(),
            wait: true,
            wait_seconds: u32::try_from(self.config.agreement_wait.as_secs()).unwrap_or(60),
            drip_token: self.token.clone(),
        };
        let a = self.api.submit_refresh(request).await?;
        // Already agreed: an earlier run's submission, its answer lost.
        let taken = a.accepted || a.denial() == Denial::AlreadyAgreed;
        self.update_record(|r| {
            r.fund = None;
            if taken {
                r.refreshes = r.refreshes.saturating_add(1);
            }
        })?;
        if !taken {
            return Err(refused(&a));
        }
        self.held(channel).await
    }

    async fn fund(&mut self, channel: Hash256) -> Result<(String, PendingTx), Error> {
        let funding = self.must_record()?.proposal.channel_funding;
        let signed = self.api.refresh_inquire(&self.token).await?;
        let p = self.verified(signed).await?;
        if p.kind
            != (ProposalKind::Refresh {
                channel_id: channel,
            })
        {
            return Err(Error::Mismatch(
                "a refresh proposal for another channel".into(),
            ));
        }
        // As much as the create: a server choosing the amount could have
        // the wallet fund a drop at a time (a fee burnt for each) or lock
        // up all max_funding allows for a small session.
        if p.channel_funding != funding {
            return Err(Error::Mismatch(format!(
                "a refresh of {} drops, not the session's funding of {funding}",
                p.channel_funding
            )));
        }
        // The channel's amount after the fund, by the ledger.
        let held = self.held(channel).await?;
        self.wallet
            .file()
            .mandate
            .admits_funding(held.checked_add(p.channel_funding).unwrap_or(Drops::MAX))?;
        let fields = json!({
            "TransactionType": "PaymentChannelFund",
            "Channel": channel.to_string(),
            "Amount": p.channel_funding.to_string(),
        });
        let token = self.token.clone();
        let id = p.proposal_id.clone();
        let (_, pending) = self
            .submit("PaymentChannelFund", fields, |f, pending| {
                if let Some(r) = f.sessions.get_mut(&token) {
                    r.fund = Some((id.clone(), pending));
                }
            })
            .await?;
        Ok((p.proposal_id, pending))
    }

    /// The pay loop: open (or resume), then a round every poll until the
    /// session ends, calling `on` with each round's progress; then wait for
    /// the channel's close on the ledger. With `until`, stops then instead
    /// (the session stays open; `None` is returned).
    pub async fn run(
        &mut self,
        until: Option<tokio::time::Instant>,
        mut on: impl FnMut(&Progress),
    ) -> Result<Option<Closing>, Error> {
        let channel = self.open().await?;
        let interval = Duration::from_secs(u64::from(
            self.must_record()?.proposal.polling_interval_secs,
        ));
        let poll = self.config.poll.unwrap_or(interval / 2).clamp(
            Duration::from_millis(100),
            interval.max(Duration::from_millis(100)),
        );
        loop {
            let progress = self.step().await?;
            on(&progress);
            if matches!(progress.state, "closing" | "closed") {
                break;
            }
            if until.is_some_and(|u| tokio::time::Instant::now() >= u) {
                return Ok(None);
            }
            tokio::time::sleep(poll).await;
        }
        let closing = self.closed(channel, Duration::from_secs(300)).await?;
        self.update_record(|r| r.closed = true)?;
        Ok(Some(closing))
    }

    /// Wait (up to `limit`) for the channel to leave the validated ledger,
    /// then find the transaction that closed it among the account's.
    pub async fn closed(&self, channel: Hash256, limit: Duration) -> Result<Closing, Error> {
        let client = self.ledger.client();
        let payer = self.wallet.account()?.account_id();
        let deadline = tokio::time::Instant::now() + limit;
        while client.channel(&channel).await?.is_some() {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout(format!(
                    "channel {channel} is still open on the ledger"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let txs = client.account_tx(&payer, 50).await?;
        let tx = txs
            .iter()
            .find(|t| drip_ledger::deleted_channel(t, &channel))
            .ok_or_else(|| Error::Timeout(format!("no transaction closing {channel} found")))?;
        let merchant = tx["Account"].as_str().and_then(|a| a.parse().ok());
        Ok(Closing {
            channel_id: channel.to_string(),
            tx_hash: tx["hash"].as_str().unwrap_or_default().to_owned(),
            tx_type: tx["TransactionType"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            ledger_index: tx["ledger_index"]
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(0),
            merchant_gain: merchant
                .and_then(|m| drip_ledger::balance_change(tx, &m))
                .unwrap_or(0),
            refund: drip_ledger::balance_change(tx, &payer).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod hostile;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use drip_core::terms::PaymentType;

    fn d(n: u64) -> Drops {
        Drops::new(n)
    }

    /// A session at 100 drops per 10 s interval, 1 XRP funded, that asked
    /// to agree at `active_from`.
    fn record(payment_type: PaymentType, active_from: Option<i64>) -> SessionRecord {
        SessionRecord {
            site: "shop".into(),
            channel_seed: String::new(),
            proposal: Proposal {
                proposal_id: "p".into(),
                kind: ProposalKind::Initial,
                payment_type,
                rate: d(100),
                polling_interval_secs: 10,
                channel_funding: d(1_000_000),
                settle_delay_secs: 600,
                destination: "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".parse().unwrap(),
                destination_tag: None,
                expires_at: 2_000_000_000,
            },
            create: None,
            channel_id: None,
            agreed: true,
            fund: None,
            best: None,
            window: Window::default(),
            active_from,
            refreshes: 0,
            refresh_stopped: false,
            closed: false,
        }
    }

    /// The amount the wallet would sign for `due` at `now`, the server
    /// reporting `channel` in the channel.
    fn sign_in(
        r: &SessionRecord,
        m: &Mandate,
        due: u64,
        channel: u64,
        now: i64,
    ) -> Result<Option<Drops>, Refusal> {
        let owed = AmountDueResponse {
            due,
            channel_amount: channel,
            ..Default::default()
        };
        next_claim(r, m, "shop", r.best_amount(), &owed, now).map(|c| c.map(|(a, _)| a))
    }

    fn sign(r: &SessionRecord, m: &Mandate, due: u64, now: i64) -> Result<Option<Drops>, Refusal> {
        sign_in(r, m, due, 1_000_000, now)
    }

    fn above(amount: u64, allowed: u64) -> Result<Option<Drops>, Refusal> {
        Err(Refusal::AboveProposal {
            amount: d(amount),
            allowed: d(allowed),
        })
    }

    #[test]
    fn time_debt_never_exceeds_the_accepted_rate() {
        let m = Mandate::default();
        let r = record(PaymentType::Time, Some(1_000));
        // At the start: the interval drip bills as it begins.
        assert_eq!(sign(&r, &m, 100, 1_000), Ok(Some(d(100))));
        assert_eq!(sign(&r, &m, 101, 1_000), above(101, 100));
        // 25 s on: three intervals begun (rounded up), plus that one.
        assert_eq!(sign(&r, &m, 400, 1_025), Ok(Some(d(400))));
        assert_eq!(sign(&r, &m, 401, 1_025), above(401, 400));
        assert_eq!(sign(&r, &m, 401, 1_030), above(401, 400));
        assert_eq!(sign(&r, &m, 500, 1_031), Ok(Some(d(500))));
        // A clock stepped back before the agreement: the first interval.
        assert_eq!(sign(&r, &m, 101, 990), above(101, 100));
        // Already signed for: nothing new, whatever is asked.
        let paid = SessionRecord {
            best: Some(SignedClaim {
                amount: d(1_000_000),
                signature: String::new(),
            }),
            ..r.clone()
        };
        assert_eq!(sign(&paid, &m, 5_000_000, 1_000), Ok(None));
        // No record of when it agreed (a file from an older wallet): no
        // time debt can be shown to be owed.
        assert_eq!(
            sign(&record(PaymentType::Time, None), &m, 1, 1_000),
            above(1, 0)
        );
    }

    /// A server that stalled the agreement and bills for the wait (or one
    /// whose channel the ledger shows larger) gets at most the funding
    /// agreed: the create's, and one more for each refresh it took.
    #[test]
    fn time_debt_is_capped_at_the_agreed_funding() {
        let m = Mandate {
            per_interval: d(10_000_000),
            ..Mandate::default()
        };
        let r = record(PaymentType::Time, Some(1_000));
        // A day on, the rate alone would allow 864,100 drops; a year on,
        // far more than the funding.
        assert_eq!(
            sign_in(&r, &m, 864_100, 5_000_000, 1_000 + 86_400),
            Ok(Some(d(864_100)))
        );
        let year = 1_000 + 365 * 86_400;
        assert_eq!(
            sign_in(&r, &m, 1_000_000, 5_000_000, year),
            Ok(Some(d(1_000_000)))
        );
        assert_eq!(
            sign_in(&r, &m, 1_000_001, 5_000_000, year),
            above(1_000_001, 1_000_000)
        );
        let refreshed = SessionRecord {
            refreshes: 1,
            ..r.clone()
        };
        assert_eq!(
            sign_in(&refreshed, &m, 2_000_000, 5_000_000, year),
            Ok(Some(d(2_000_000)))
        );
        assert_eq!(
            sign_in(&refreshed, &m, 2_000_001, 5_000_000, year),
            above(2_000_001, 2_000_000)
        );
    }

    /// Unit debts are the merchant's word: they get their own budget, not
    /// all the session may spend.
    #[test]
    fn unit_debts_have_their_own_budget() {
        let m = Mandate {
            per_session: d(5_000),
            unit_per_session: d(2_000),
            ..Mandate::default()
        };
        // Units only: no time debt, whatever the clock. By default 1 XRP
        // of purchases, not the 10 XRP the session may cost.
        let unit = record(PaymentType::Unit, None);
        assert_eq!(
            sign_in(&unit, &Mandate::default(), 1_000_001, 5_000_000, 1_000),
            above(1_000_001, 1_000_000)
        );
        assert_eq!(sign(&unit, &m, 2_000, 1_000), Ok(Some(d(2_000))));
        assert_eq!(sign(&unit, &m, 2_001, 1_000), above(2_001, 2_000));
        assert_eq!(sign(&unit, &m, 5_000, 1_000_000), above(5_000, 2_000));
        // Both: the time debt so far plus the purchases' budget; the
        // session's limit still holds over both.
        let both = record(PaymentType::Both, Some(1_000));
        assert_eq!(sign(&both, &m, 2_101, 1_000), above(2_101, 2_100));
        assert_eq!(sign(&both, &m, 2_100, 1_000), Ok(Some(d(2_100))));
        let small = Mandate {
            per_session: d(2_000),
            ..m
        };
        assert_eq!(
            sign(&both, &small, 2_100, 1_000),
            Err(Refusal::PerSession {
                amount: d(2_100),
                limit: d(2_000)
            })
        );
    }

    /// The refresh decision: the ledger's amount, the wallet's own claims
    /// and the proposal it accepted; nothing the server says.
    #[test]
    fn a_refresh_is_due_by_the_wallets_own_numbers() {
        let m = Mandate::default();
        // 100 drops per 10 s from 1 XRP: a 100,000 s session, looked at a
        // third of it (33,333 s) ahead.
        let r = record(PaymentType::Time, Some(0));
        let held = d(1_000_000);
        assert!(!refresh_due(&r, &m, held, 0), "just started");
        // The rate passes the funding once 10,000 intervals have begun
        // (100 x 10,000, plus the one billed ahead): 99,991 s on, by the
        // wallet's clock; looked at 33,333 s ahead.
        let passes = 99_991 - 33_333;
        assert!(!refresh_due(&r, &m, held, passes - 1));
        assert!(refresh_due(&r, &m, held, passes));
        // More on the ledger than funded (a fund the server refused): not
        // yet.
        assert!(!refresh_due(&r, &m, d(2_000_000), passes));
        // Once refreshed, the next is due a session later.
        let once = SessionRecord {
            refreshes: 1,
            ..r.clone()
        };
        let twice = d(2_000_000);
        assert!(!refresh_due(&once, &m, twice, passes));
        assert!(!refresh_due(&once, &m, twice, passes + 100_000 - 1));
        assert!(refresh_due(&once, &m, twice, passes + 100_000));
        // At most ceil(per_session / funding) fundings, the create's
        // included.
        let budget = Mandate {
            per_session: d(1_500_000),
            ..m
        };
        assert!(refresh_due(&r, &budget, held, passes));
        assert!(!refresh_due(&once, &budget, twice, passes + 100_000));
        // No time reckoned (a record from an older wallet): not by time.
        let unknown = record(PaymentType::Time, None);
        assert!(!refresh_due(&unknown, &m, held, 99_980));
    }

    /// Purchases the wallet paid leave little in the channel: a refresh,
    /// unless the purchases' budget could never spend more than it holds.
    #[test]
    fn a_refresh_for_purchases_only_when_they_could_spend_it() {
        let spent = |payment_type, best: u64| SessionRecord {
            best: Some(SignedClaim {
                amount: d(best),
                signature: String::new(),
            }),
            ..record(payment_type, Some(0))
        };
        let held = d(1_000_000);
        let m = Mandate {
            unit_per_session: d(5_000_000),
            ..Mandate::default()
        };
        assert!(!refresh_due(
            &spent(PaymentType::Unit, 750_000),
            &m,
            held,
            0
        ));
        assert!(refresh_due(&spent(PaymentType::Unit, 750_001), &m, held, 0));
        assert!(refresh_due(&spent(PaymentType::Both, 750_001), &m, held, 0));
        let m = Mandate::default();
        assert!(
            !refresh_due(&spent(PaymentType::Unit, 999_999), &m, held, 0),
            "1 XRP of purchases fits in the channel as it is"
        );
    }
}
