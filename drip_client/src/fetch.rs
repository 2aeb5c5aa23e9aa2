//! The payer's side of HTTP 402 (the Machine Payments Protocol's XRPL
//! sessions): fetch a URL, and when it answers `402` with a `Payment`
//! challenge, pay it from the wallet: open a channel to the challenge's
//! recipient with the first claim (the server submits it), then pay later
//! requests with vouchers on that channel, one price above the total each
//! time. One channel per origin and recipient, kept in the wallet file; the
//! wallet records every voucher before it is sent, and never signs below
//! what it signed before. The mandate bounds it: a request's price (as one
//! polling interval), the channel's total (as one session), its funding
//! and settle delay.

use std::time::Duration;

use drip_core::claim::sign_claim;
use drip_core::{Drops, Hash256, KeyPair};
use drip_ledger::Submitter;
use drip_mpp::{Challenge, Credential, PayerDid, Payload, Receipt, ReceiptAction, SessionRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::mandate::Refusal;
use crate::store::{StoreError, Wallet};

/// A channel the wallet pays an origin's HTTP 402 routes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpChannel {
    /// The recipient (the server's address).
    pub recipient: String,
    /// The channel.
    pub channel_id: Hash256,
    /// Drops put into it.
    pub deposit: Drops,
    /// The highest voucher the wallet signed (and may have sent).
    pub signed: Drops,
    /// The server's accepted total, from its last receipt.
    pub accepted: Drops,
    /// The wallet sent the close.
    #[serde(default)]
    pub closed: bool,
}

/// What stopped a fetch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed, or the URL is not one.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The server's challenge is not one the wallet can read.
    #[error("the server's challenge: {0}")]
    Challenge(String),
    /// The user's limits forbid it.
    #[error("the mandate forbids it: {0}")]
    Mandate(#[from] Refusal),
    /// The ledger could not be read to sign the channel's create.
    #[error("ledger: {0}")]
    Ledger(#[from] drip_ledger::Error),
    /// The wallet file.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server refused the payment.
    #[error("payment refused ({status}): {problem}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its problem details.
        problem: String,
    },
}

/// How a fetch pays.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Drops a new channel holds (at most the mandate's funding limit).
    pub deposit: Drops,
    /// A new channel's settle delay, seconds.
    pub settle_delay: u32,
    /// The XRPL network named in the payer's `source`.
    pub network: String,
}

impl Default for FetchConfig {
    /// 1 XRP channels, an hour's settle delay (the draft's floor), mainnet.
    fn default() -> Self {
        FetchConfig {
            deposit: Drops::new(Drops::PER_XRP),
            settle_delay: 3600,
            network: "mainnet".into(),
        }
    }
}

/// A response, paid or free.
#[derive(Debug)]
pub struct Fetched {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// The payment's receipt, if it was paid.
    pub receipt: Option<Receipt>,
}

/// Fetches URLs, paying their 402s from one wallet.
#[derive(Debug)]
pub struct Fetcher<'w> {
    http: reqwest::Client,
    wallet: &'w mut Wallet,
    ledger: Submitter,
    config: FetchConfig,
}

/// `scheme://host:port`, the key a channel is kept under.
fn origin(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

impl<'w> Fetcher<'w> {
    /// A fetcher trusting the public roots and `ca_pem`, if given.
    pub fn new(
        wallet: &'w mut Wallet,
        ledger: Submitter,
        ca_pem: Option<&[u8]>,
        config: FetchConfig,
    ) -> Result<Fetcher<'w>, FetchError> {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(60));
        if let Some(pem) = ca_pem {
            b = b.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        Ok(Fetcher {
            http: b.build()?,
            wallet,
            ledger,
            config,
        })
    }

    /// GET `url`, paying for it if it asks (`close`: with the closing
    /// voucher, which asks the server to redeem and close the channel).
    pub async fn get(&mut self, url: &str, close: bool) -> Result<Fetched, FetchError> {
        let url = reqwest::Url::parse(url).map_err(|e| FetchError::Challenge(e.to_string()))?;
        let known = self.channel(&url).cloned();
        let mut first = self.http.get(url.clone());
        if let Some(c) = &known {
            first = first
                .header("X-MPP-PayChannel-Id", c.channel_id.to_string())
                .header("X-MPP-PayChannel-Cumulative", c.accepted.get().to_string());
        }
        let r = first.send().await?;
        if r.status() != 402 {
            return done(r).await;
        }
        let challenge = r
            .headers()
            .get_all("www-authenticate")
            .iter()
            .find_map(|v| Challenge::from_header(v.to_str().ok()?).ok())
            .ok_or_else(|| FetchError::Challenge("no Payment challenge".into()))?;
        let terms = challenge
            .session_request()
            .map_err(|e| FetchError::Challenge(e.to_string()))?;
        let credential = self.pay(&url, &challenge, &terms, close).await?;
        let r = self
            .http
            .get(url.clone())
            .header("Authorization", credential)
            .send()
            .await?;
        let fetched = done(r).await?;
        if let Some(receipt) = &fetched.receipt {
            let key = origin(&url);
            self.wallet.update(|f| {
                if let Some(c) = f.http_channels.get_mut(&key) {
                    if c.channel_id == receipt.channel_id {
                        c.accepted = c.accepted.max(Drops::new(receipt.cumulative));
                        c.closed |= receipt.action == ReceiptAction::Close;
                    }
                }
            })?;
        }
        Ok(fetched)
    }

    fn channel(&self, url: &reqwest::Url) -> Option<&HttpChannel> {
        self.wallet
            .file()
            .http_channels
            .get(&origin(url))
            .filter(|c| !c.closed)
    }

    /// The credential answering `challenge`: a voucher on the wallet's
    /// channel if the challenge names it, else an open.
    async fn pay(
        &mut self,
        url: &reqwest::Url,
        challenge: &Challenge,
        terms: &SessionRequest,
        close: bool,
    ) -> Result<String, FetchError> {
        let mandate = self.wallet.file().mandate;
        let price = Drops::new(terms.amount);
        if price > mandate.per_interval {
            return Err(Refusal::PerInterval {
                amount: price,
                limit: mandate.per_interval,
            }
            .into());
        }
        let account = self.wallet.account()?;
        let source = PayerDid {
            network: self.config.network.clone(),
            address: account.account_id(),
        };
        let recipient = terms.recipient.to_address();
        let known = self.channel(url).cloned();
        let (payload, record) = match (known, terms.channel_id) {
            (Some(c), Some(id)) if c.channel_id == id && c.recipient == recipient => {
                // Never below what was signed before: a voucher whose answer
                // was lost is sent again rather than undercut.
                let mark = Drops::new(terms.cumulative_amount.unwrap_or(0));
                let want = mark
                    .checked_add(price)
                    .ok_or_else(|| FetchError::Challenge("the total overflows".into()))?;
                let amount = want.max(c.signed);
                self.within(&mandate, amount, c.deposit)?;
                let signature = sign_claim(&account, &id, amount);
                let payload = if close {
                    Payload::Close {
                        channel_id: id,
                        amount: amount.get(),
                        signature,
                    }
                } else {
                    Payload::Voucher {
                        channel_id: id,
                        amount: amount.get(),
                        signature,
                    }
                };
                (
                    payload,
                    HttpChannel {
                        signed: amount,
                        ..c
                    },
                )
            }
            (_, Some(_)) => {
                return Err(FetchError::Challenge(
                    "the server names a channel this wallet does not hold for it".into(),
                ))
            }
            (_, None) => self.open(&account, &recipient, price, &mandate).await?,
        };
        let key = origin(url);
        self.wallet.update(|f| {
            f.http_channels.insert(key, record);
        })?;
        Ok(Credential {
            challenge: challenge.clone(),
            source: Some(source),
            payload,
        }
        .header_value())
    }

    fn within(
        &self,
        mandate: &crate::Mandate,
        amount: Drops,
        deposit: Drops,
    ) -> Result<(), FetchError> {
        if amount > mandate.per_session {
            return Err(Refusal::PerSession {
                amount,
                limit: mandate.per_session,
            }
            .into());
        }
        if amount > deposit {
            return Err(FetchError::Challenge(
                "the channel is spent: close it and fetch again".into(),
            ));
        }
        Ok(())
    }

    /// A signed, unsubmitted PaymentChannelCreate to `recipient` and the
    /// first claim on the channel it creates.
    async fn open(
        &self,
        account: &KeyPair,
        recipient: &str,
        price: Drops,
        mandate: &crate::Mandate,
    ) -> Result<(Payload, HttpChannel), FetchError> {
        let deposit = self.config.deposit.min(mandate.max_funding);
        if self.config.settle_delay > mandate.max_settle_delay_secs {
            return Err(Refusal::SettleDelay {
                secs: self.config.settle_delay,
                limit: mandate.max_settle_delay_secs,
            }
            .into());
        }
        self.within(mandate, price, deposit)?;
        let destination: drip_core::AccountId = recipient
            .parse()
            .map_err(|_| FetchError::Challenge("the recipient is not an address".into()))?;
        let prepared = self
            .ledger
            .prepare(
                json!({"TransactionType": "PaymentChannelCreate", "Destination": recipient,
                       "Amount": deposit.get().to_string(), "SettleDelay": self.config.settle_delay,
                       "PublicKey": account.public_key().to_hex()}),
                0,
            )
            .await?;
        let channel_id =
            drip_core::channel::channel_id(&account.account_id(), &destination, prepared.sequence);
        let payload = Payload::Open {
            transaction: prepared.blob,
            amount: price.get(),
            signature: sign_claim(account, &channel_id, price),
        };
        let record = HttpChannel {
            recipient: recipient.to_owned(),
            channel_id,
            deposit,
            signed: price,
            accepted: Drops::ZERO,
            closed: false,
        };
        Ok((payload, record))
    }
}

/// The response, its receipt read; a refusal as an error.
async fn done(r: reqwest::Response) -> Result<Fetched, FetchError> {
    let status = r.status().as_u16();
    let receipt = r
        .headers()
        .get(drip_mpp::RECEIPT_HEADER)
        .and_then(|v| Receipt::decode(v.to_str().ok()?).ok());
    let body = r.bytes().await?.to_vec();
    if status == 402 {
        return Err(FetchError::Refused {
            status,
            problem: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    Ok(Fetched {
        status,
        body,
        receipt,
    })
}
