//! The wallet's channels on the ledger, and their rescue: a payer may close
//! its own channel at any time. The ledger then gives the receiver the
//! channel's settle delay to redeem its claims (the channel gets an
//! Expiration); after that, the same close deletes the channel and returns
//! what is left to the payer.

use drip_core::{AccountId, Drops, Hash256};
use drip_ledger::{ChannelLine, Client, Outcome, ResultClass, Submitter};
use serde_json::json;

use crate::Error;

/// tfClose on PaymentChannelClaim.
const TF_CLOSE: u32 = 0x0002_0000;

/// Where a close left the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Gone; the payer got `refund` drops back (less the fee).
    Closed {
        /// The payer's balance change in the closing transaction.
        refund: i128,
        /// That transaction's fee.
        fee: Drops,
        /// That transaction.
        tx_hash: String,
    },
    /// Closing: it may be closed for good after this Ripple-epoch time.
    Closing {
        /// The channel's Expiration.
        expiration: u32,
    },
}

/// The channels `account` pays into.
pub async fn list(client: &Client, account: &AccountId) -> Result<Vec<ChannelLine>, Error> {
    Ok(client.account_channels(account).await?)
}

/// Ask to close `channel`, a channel the submitter's account pays into; or,
/// once it may be, close it and take back what is left.
pub async fn close(payer: &Submitter, channel: &Hash256) -> Result<Closed, Error> {
    let fields = json!({
        "TransactionType": "PaymentChannelClaim",
        "Channel": channel.to_string(),
        "Flags": TF_CLOSE,
    });
    let prepared = payer.prepare(fields, 0).await?;
    let tx = match payer.submit_and_wait(&prepared).await? {
        Outcome::Validated { result, tx, .. }
            if ResultClass::of(&result) == ResultClass::Applied =>
        {
            tx
        }
        Outcome::Validated { result, .. } => {
            return Err(Error::Tx {
                what: "PaymentChannelClaim",
                result,
            })
        }
        Outcome::Rejected { engine_result } => {
            return Err(Error::Tx {
                what: "PaymentChannelClaim",
                result: engine_result,
            })
        }
        Outcome::Expired => {
            return Err(Error::Tx {
                what: "PaymentChannelClaim",
                result: "expired".into(),
            })
        }
    };
    if drip_ledger::deleted_channel(&tx, channel) {
        let me: AccountId = payer
            .address()
            .parse()
            .map_err(|_| Error::Mismatch("the wallet's own address".into()))?;
        return Ok(Closed::Closed {
            refund: drip_ledger::balance_change(&tx, &me).unwrap_or(0),
            fee: tx["Fee"]
                .as_str()
                .and_then(|f| f.parse().ok())
                .unwrap_or(Drops::ZERO),
            tx_hash: tx["hash"].as_str().unwrap_or_default().to_owned(),
        });
    }
    let entry = payer.client().channel(channel).await?;
    match entry.and_then(|c| c.expiration) {
        Some(expiration) => Ok(Closed::Closing { expiration }),
        None => Err(Error::Mismatch(format!(
            "channel {channel} did not start closing"
        ))),
    }
}

/// Drops as XRP with six decimals, for people.
pub fn xrp(drops: Drops) -> String {
    format!(
        "{}.{:06}",
        drops.get() / Drops::PER_XRP,
        drops.get() % Drops::PER_XRP
    )
}
