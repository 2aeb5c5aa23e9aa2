//! Applying one signed transaction to the open ledger, in rippled's order:
//! preflight (tem), the common preclaim checks (account, sequence,
//! LastLedgerSequence, fee, signing key), then each transactor's checks and
//! effects. tes and tec results charge the fee and use the sequence; tec
//! undoes everything else; other classes change nothing.

use drip_core::claim::claim_message;
use drip_core::codec::{Amount, StObject, Value};
use drip_core::{AccountId, Drops, Hash256, PublicKey};

use super::entry::{flags, AccountRoot, PayChannel};
use super::state::{Changes, Sandbox, State};
use crate::ter::Ter;

/// Fees and reserves in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fees {
    /// The reference transaction cost.
    pub base_fee: Drops,
    /// The reserve of an account with no objects.
    pub reserve_base: Drops,
    /// The reserve of each owned object.
    pub reserve_inc: Drops,
}

impl Fees {
    /// Base + inc × `owner_count`.
    pub fn reserve(&self, owner_count: u32) -> Drops {
        self.reserve_inc
            .checked_mul(u64::from(owner_count))
            .and_then(|inc| inc.checked_add(self.reserve_base))
            .unwrap_or(Drops::MAX)
    }
}

/// The open ledger a transaction applies to.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// The open ledger's sequence.
    pub ledger_seq: u32,
    /// The previous ledger's close time (Ripple epoch), which channel times
    /// are compared with.
    pub parent_close_time: u32,
    /// Fees and reserves.
    pub fees: Fees,
    /// A `tec` result to give instead of the transaction's own effect (the
    /// devnet's fault injection; `None` normally).
    pub forced_tec: Option<Ter>,
}

/// What applying a transaction did.
#[derive(Debug)]
pub struct Applied {
    /// The result.
    pub ter: Ter,
    /// Changes with metadata, when the result is applied (tes or tec).
    pub changes: Option<Changes>,
    /// XRP delivered by a Payment.
    pub delivered: Option<Drops>,
}

/// Universal transaction flags (tfFullyCanonicalSig, tfInnerBatchTxn).
const UNIVERSAL_FLAGS: u32 = 0xC000_0000;
/// PaymentChannelClaim flags.
const TF_RENEW: u32 = 0x0001_0000;
const TF_CLOSE: u32 = 0x0002_0000;
/// AccountSet transaction flags tfRequireDestTag, tfOptionalDestTag.
const TF_REQUIRE_DEST_TAG: u32 = 0x0001_0000;
const TF_OPTIONAL_DEST_TAG: u32 = 0x0002_0000;
/// AccountSet `asf` values the devnet honours.
const ASF_REQUIRE_DEST: u32 = 1;
const ASF_DEPOSIT_AUTH: u32 = 9;
const ASF_DISALLOW_INCOMING_PAYCHAN: u32 = 14;

/// Transaction types the devnet applies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Payment,
    AccountSet,
    ChannelCreate,
    ChannelFund,
    ChannelClaim,
}

impl Kind {
    fn of(tx: &StObject) -> Option<Kind> {
        Some(match tx.u16("TransactionType")? {
            0 => Kind::Payment,
            3 => Kind::AccountSet,
            13 => Kind::ChannelCreate,
            14 => Kind::ChannelFund,
            15 => Kind::ChannelClaim,
            _ => return None,
        })
    }

    fn allowed_flags(self) -> u32 {
        UNIVERSAL_FLAGS
            | match self {
                Kind::AccountSet => 0x00FF_0000,
                Kind::ChannelClaim => TF_RENEW | TF_CLOSE,
                _ => 0,
            }
    }
}

/// Apply `tx` (whose signature has been checked; `signer` is the account of
/// its signing key) to `state`.
pub fn apply(
    state: &mut State,
    tx: &StObject,
    tx_id: Hash256,
    signer: AccountId,
    ctx: &Context,
) -> Applied {
    let not_applied = |ter| Applied {
        ter,
        changes: None,
        delivered: None,
    };
    let (kind, account, fee, sequence) = match preflight(tx) {
        Ok(v) => v,
        Err(ter) => return not_applied(ter),
    };
    let mut sb = Sandbox::new(state);
    let Some(mut src) = sb.account(&account) else {
        return not_applied(Ter::terNO_ACCOUNT);
    };
    if sequence < src.sequence {
        return not_applied(Ter::tefPAST_SEQ);
    }
    if sequence > src.sequence {
        return not_applied(Ter::terPRE_SEQ);
    }
    if tx
        .u32("LastLedgerSequence")
        .is_some_and(|lls| lls < ctx.ledger_seq)
    {
        return not_applied(Ter::tefMAX_LEDGER);
    }
    if fee < ctx.fees.base_fee {
        return not_applied(Ter::telINSUF_FEE_P);
    }
    if src.balance < fee {
        return not_applied(Ter::terINSUF_FEE_B);
    }
    if signer != account {
        return not_applied(Ter::tefBAD_AUTH);
    }

    // Pay the fee and use the sequence; these stand even on a tec.
    let prior_balance = src.balance;
    src.balance = src.balance.saturating_sub(fee);
    src.sequence = src.sequence.saturating_add(1);
    sb.put_account(src.clone());

    let mut delivered = None;
    let ter = match (ctx.forced_tec, kind) {
        (Some(forced), _) => forced,
        (None, kind) => match kind {
            Kind::Payment => payment(&mut sb, tx, &src, prior_balance, ctx, &mut delivered),
            Kind::AccountSet => account_set(&mut sb, tx, src.clone()),
            Kind::ChannelCreate => {
                channel_create(&mut sb, tx, src.clone(), prior_balance, sequence, ctx)
            }
            Kind::ChannelFund => channel_fund(&mut sb, tx, src.clone(), ctx),
            Kind::ChannelClaim => channel_claim(&mut sb, tx, account, ctx),
        },
    };
    if !ter.is_applied() {
        return not_applied(ter);
    }
    if ter != Ter::tesSUCCESS {
        // tec: keep only the fee and the sequence.
        sb.discard();
        sb.put_account(src);
        delivered = None;
    }
    let changes = sb.finish(tx_id, ctx.ledger_seq);
    Applied {
        ter,
        changes: Some(changes),
        delivered,
    }
}

fn positive_xrp(tx: &StObject, name: &str) -> Result<Option<Drops>, Ter> {
    match tx.get(name) {
        None => Ok(None),
        Some(Value::Amount(Amount::Xrp(d))) if *d > Drops::ZERO => Ok(Some(*d)),
        Some(_) => Err(Ter::temBAD_AMOUNT),
    }
}

/// Checks that need no ledger state.
fn preflight(tx: &StObject) -> Result<(Kind, AccountId, Drops, u32), Ter> {
    let kind = Kind::of(tx).ok_or(Ter::temUNKNOWN)?;
    let account = tx.account("Account").ok_or(Ter::temMALFORMED)?;
    let fee = match tx.get("Fee") {
        Some(Value::Amount(Amount::Xrp(d))) => *d,
        Some(_) => return Err(Ter::temBAD_FEE),
        None => return Err(Ter::temMALFORMED),
    };
    let sequence = tx.u32("Sequence").ok_or(Ter::temMALFORMED)?;
    if tx.get("TicketSequence").is_some() {
        // Tickets are not modelled.
        return Err(Ter::temDISABLED);
    }
    if tx.u32("Flags").unwrap_or(0) & !kind.allowed_flags() != 0 {
        return Err(Ter::temINVALID_FLAG);
    }
    match kind {
        Kind::Payment => {
            positive_xrp(tx, "Amount")?.ok_or(Ter::temBAD_AMOUNT)?;
            let dst = tx.account("Destination").ok_or(Ter::temDST_NEEDED)?;
            if dst == account {
                return Err(Ter::temREDUNDANT);
            }
        }
        Kind::AccountSet => {
            let set = tx.u32("SetFlag");
            if set.is_some() && set == tx.u32("ClearFlag") {
                return Err(Ter::temINVALID_FLAG);
            }
            let f = tx.u32("Flags").unwrap_or(0);
            if f & TF_REQUIRE_DEST_TAG != 0 && f & TF_OPTIONAL_DEST_TAG != 0 {
                return Err(Ter::temINVALID_FLAG);
            }
        }
        Kind::ChannelCreate => {
            positive_xrp(tx, "Amount")?.ok_or(Ter::temBAD_AMOUNT)?;
            let dst = tx.account("Destination").ok_or(Ter::temDST_NEEDED)?;
            if dst == account {
                return Err(Ter::temDST_IS_SRC);
            }
            tx.u32("SettleDelay").ok_or(Ter::temMALFORMED)?;
            let key = tx.blob("PublicKey").ok_or(Ter::temMALFORMED)?;
            PublicKey::from_slice(key).map_err(|_| Ter::temMALFORMED)?;
        }
        Kind::ChannelFund => {
            positive_xrp(tx, "Amount")?.ok_or(Ter::temBAD_AMOUNT)?;
            tx.hash256("Channel").ok_or(Ter::temMALFORMED)?;
        }
        Kind::ChannelClaim => claim_preflight(tx)?,
    }
    Ok((kind, account, fee, sequence))
}

fn claim_preflight(tx: &StObject) -> Result<(), Ter> {
    let channel = tx.hash256("Channel").ok_or(Ter::temMALFORMED)?;
    let balance = positive_xrp(tx, "Balance")?;
    let amount = positive_xrp(tx, "Amount")?;
    if let (Some(b), Some(a)) = (balance, amount) {
        if b > a {
            return Err(Ter::temBAD_AMOUNT);
        }
    }
    let f = tx.u32("Flags").unwrap_or(0);
    if f & TF_CLOSE != 0 && f & TF_RENEW != 0 {
        return Err(Ter::temMALFORMED);
    }
    if let Some(sig) = tx.blob("Signature") {
        let (Some(key), Some(balance)) = (tx.blob("PublicKey"), balance) else {
            return Err(Ter::temMALFORMED);
        };
        let authorized = amount.unwrap_or(balance);
        let key = PublicKey::from_slice(key).map_err(|_| Ter::temMALFORMED)?;
        key.verify(&claim_message(&Hash256(channel), authorized), sig)
            .map_err(|_| Ter::temBAD_SIGNATURE)?;
    }
    Ok(())
}

fn payment(
    sb: &mut Sandbox<'_>,
    tx: &StObject,
    src: &AccountRoot,
    prior_balance: Drops,
    ctx: &Context,
    delivered: &mut Option<Drops>,
) -> Ter {
    let (Some(amount), Some(dst_id)) = (tx.xrp("Amount"), tx.account("Destination")) else {
        return Ter::temMALFORMED;
    };
    let mut dst = match sb.account(&dst_id) {
        Some(d) => d,
        None if amount < ctx.fees.reserve_base => return Ter::tecNO_DST_INSUF_XRP,
        // New accounts start at the current ledger's sequence (DeletableAccounts).
        None => AccountRoot::new(dst_id, Drops::ZERO, ctx.ledger_seq),
    };
    if dst.flags & flags::REQUIRE_DEST_TAG != 0 && tx.u32("DestinationTag").is_none() {
        return Ter::tecDST_TAG_NEEDED;
    }
    // DepositAuth lets small payments through to an account at or below the
    // base reserve, so it cannot be locked out (DepositPreauth amendment).
    if dst.flags & flags::DEPOSIT_AUTH != 0
        && !(dst.balance <= ctx.fees.reserve_base && amount <= ctx.fees.reserve_base)
    {
        return Ter::tecNO_PERMISSION;
    }
    let fee = tx.xrp("Fee").unwrap_or(Drops::ZERO);
    let needed = ctx
        .fees
        .reserve(src.owner_count)
        .max(fee)
        .checked_add(amount);
    if needed.is_none_or(|n| prior_balance < n) {
        return Ter::tecUNFUNDED_PAYMENT;
    }
    let mut src = src.clone();
    src.balance = src.balance.saturating_sub(amount);
    dst.balance = dst.balance.checked_add(amount).unwrap_or(Drops::MAX);
    sb.put_account(src);
    sb.put_account(dst);
    *delivered = Some(amount);
    Ter::tesSUCCESS
}

fn account_set(sb: &mut Sandbox<'_>, tx: &StObject, mut src: AccountRoot) -> Ter {
    let lsf = |asf: u32| match asf {
        ASF_REQUIRE_DEST => flags::REQUIRE_DEST_TAG,
        ASF_DEPOSIT_AUTH => flags::DEPOSIT_AUTH,
        ASF_DISALLOW_INCOMING_PAYCHAN => flags::DISALLOW_INCOMING_PAYCHAN,
        // Other asf values touch features the devnet does not model.
        _ => 0,
    };
    let f = tx.u32("Flags").unwrap_or(0);
    if f & TF_REQUIRE_DEST_TAG != 0 {
        src.flags |= flags::REQUIRE_DEST_TAG;
    }
    if f & TF_OPTIONAL_DEST_TAG != 0 {
        src.flags &= !flags::REQUIRE_DEST_TAG;
    }
    if let Some(set) = tx.u32("SetFlag") {
        src.flags |= lsf(set);
    }
    if let Some(clear) = tx.u32("ClearFlag") {
        src.flags &= !lsf(clear);
    }
    sb.put_account(src);
    Ter::tesSUCCESS
}

fn channel_create(
    sb: &mut Sandbox<'_>,
    tx: &StObject,
    mut src: AccountRoot,
    prior_balance: Drops,
    sequence: u32,
    ctx: &Context,
) -> Ter {
    let (Some(amount), Some(dst_id), Some(settle_delay), Some(key)) = (
        tx.xrp("Amount"),
        tx.account("Destination"),
        tx.u32("SettleDelay"),
        tx.blob("PublicKey"),
    ) else {
        return Ter::temMALFORMED;
    };
    let reserve = ctx.fees.reserve(src.owner_count.saturating_add(1));
    if prior_balance < reserve {
        return Ter::tecINSUFFICIENT_RESERVE;
    }
    if reserve
        .checked_add(amount)
        .is_none_or(|n| prior_balance < n)
    {
        return Ter::tecUNFUNDED;
    }
    let Some(dst) = sb.account(&dst_id) else {
        return Ter::tecNO_DST;
    };
    if dst.flags & flags::DISALLOW_INCOMING_PAYCHAN != 0 {
        return Ter::tecNO_PERMISSION;
    }
    if dst.flags & flags::REQUIRE_DEST_TAG != 0 && tx.u32("DestinationTag").is_none() {
        return Ter::tecDST_TAG_NEEDED;
    }
    let cancel_after = tx.u32("CancelAfter");
    // fixPayChanCancelAfter: a CancelAfter already passed is refused (equal is fine).
    if cancel_after.is_some_and(|c| c < ctx.parent_close_time) {
        return Ter::tecEXPIRED;
    }
    let mut public_key = [0u8; 33];
    public_key.copy_from_slice(key);
    let id = drip_core::channel::channel_id(&src.account, &dst_id, sequence);
    sb.put_channel(
        id,
        PayChannel {
            account: src.account,
            destination: dst_id,
            amount,
            balance: Drops::ZERO,
            public_key,
            settle_delay,
            expiration: None,
            cancel_after,
            source_tag: tx.u32("SourceTag"),
            destination_tag: tx.u32("DestinationTag"),
            previous_txn_id: Hash256::default(),
            previous_txn_lgr_seq: 0,
        },
    );
    src.balance = src.balance.saturating_sub(amount);
    src.owner_count = src.owner_count.saturating_add(1);
    sb.put_account(src);
    Ter::tesSUCCESS
}

/// rippled's `closeChannel`: refund the rest to the source, release its
/// reserve, delete the entry.
fn close_channel(sb: &mut Sandbox<'_>, id: Hash256, chan: &PayChannel) -> Ter {
    let Some(mut src) = sb.account(&chan.account) else {
        return Ter::tefFAILURE;
    };
    src.balance = src
        .balance
        .checked_add(chan.remaining())
        .unwrap_or(Drops::MAX);
    src.owner_count = src.owner_count.saturating_sub(1);
    sb.put_account(src);
    sb.erase_channel(id, chan.clone());
    Ter::tesSUCCESS
}

fn channel_fund(sb: &mut Sandbox<'_>, tx: &StObject, mut src: AccountRoot, ctx: &Context) -> Ter {
    let (Some(id), Some(amount)) = (tx.hash256("Channel"), tx.xrp("Amount")) else {
        return Ter::temMALFORMED;
    };
    let id = Hash256(id);
    let Some(mut chan) = sb.channel(&id) else {
        return Ter::tecNO_ENTRY;
    };
    // A Fund on an expired channel closes it, successfully, adding nothing.
    if chan.is_expired(ctx.parent_close_time) {
        return close_channel(sb, id, &chan);
    }
    if chan.account != src.account {
        return Ter::tecNO_PERMISSION;
    }
    if let Some(extend) = tx.u32("Expiration") {
        let mut min = ctx.parent_close_time.saturating_add(chan.settle_delay);
        if let Some(current) = chan.expiration {
            min = min.min(current);
        }
        if extend < min {
            return Ter::temBAD_EXPIRATION;
        }
        chan.expiration = Some(extend);
    }
    let reserve = ctx.fees.reserve(src.owner_count);
    if src.balance < reserve {
        return Ter::tecINSUFFICIENT_RESERVE;
    }
    if reserve.checked_add(amount).is_none_or(|n| src.balance < n) {
        return Ter::tecUNFUNDED;
    }
    if sb.account(&chan.destination).is_none() {
        return Ter::tecNO_DST;
    }
    chan.amount = chan.amount.checked_add(amount).unwrap_or(Drops::MAX);
    src.balance = src.balance.saturating_sub(amount);
    sb.put_channel(id, chan);
    sb.put_account(src);
    Ter::tesSUCCESS
}

fn channel_claim(sb: &mut Sandbox<'_>, tx: &StObject, account: AccountId, ctx: &Context) -> Ter {
    let Some(id) = tx.hash256("Channel").map(Hash256) else {
        return Ter::temMALFORMED;
    };
    let Some(mut chan) = sb.channel(&id) else {
        return Ter::tecNO_TARGET;
    };
    // Any transaction on an expired channel closes it, whoever sends it.
    if chan.is_expired(ctx.parent_close_time) {
        return close_channel(sb, id, &chan);
    }
    let (src, dst_id) = (chan.account, chan.destination);
    if account != src && account != dst_id {
        return Ter::tecNO_PERMISSION;
    }
    if let Some(requested) = tx.xrp("Balance") {
        if account == dst_id && tx.blob("Signature").is_none() {
            return Ter::temBAD_SIGNATURE;
        }
        if tx.blob("Signature").is_some() && tx.blob("PublicKey") != Some(&chan.public_key[..]) {
            return Ter::temBAD_SIGNER;
        }
        if requested > chan.amount || requested <= chan.balance {
            return Ter::tecUNFUNDED_PAYMENT;
        }
        let Some(mut dst) = sb.account(&dst_id) else {
            return Ter::tecNO_DST;
        };
        if dst.flags & flags::DEPOSIT_AUTH != 0 && account != dst_id {
            // Preauthorization is not modelled: only the destination may claim.
            return Ter::tecNO_PERMISSION;
        }
        let delta = requested.saturating_sub(chan.balance);
        dst.balance = dst.balance.checked_add(delta).unwrap_or(Drops::MAX);
        chan.balance = requested;
        sb.put_account(dst);
    }
    let f = tx.u32("Flags").unwrap_or(0);
    if f & TF_RENEW != 0 {
        if account != src {
            return Ter::tecNO_PERMISSION;
        }
        chan.expiration = None;
    }
    if f & TF_CLOSE != 0 {
        // The destination, or a dry channel, closes at once; the source
        // starts the settle delay.
        if account == dst_id || chan.balance == chan.amount {
            return close_channel(sb, id, &chan);
        }
        let settle = ctx.parent_close_time.saturating_add(chan.settle_delay);
        if chan.expiration.is_none_or(|e| e > settle) {
            chan.expiration = Some(settle);
        }
    }
    sb.put_channel(id, chan);
    Ter::tesSUCCESS
}
