//! rippled's transaction stream for some accounts, over WebSocket: each
//! validated transaction that touches them, as it happens. It only speeds
//! things up: whoever waits on it still reads the truth over JSON-RPC, and
//! polls when the stream is down (it reconnects and subscribes again).

use std::time::Duration;

use drip_core::Hash256;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value as Json;
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::Message;
use xrpl::models::requests::subscribe::Subscribe;

/// A validated transaction the stream announced.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Its id.
    pub hash: Hash256,
    /// Its transaction type, e.g. `PaymentChannelClaim`.
    pub kind: String,
    /// The channel it names, for channel transactions.
    pub channel: Option<Hash256>,
}

/// The stream's announcements, fanned out in-process.
#[derive(Debug, Clone)]
pub struct Stream {
    sender: broadcast::Sender<Validated>,
}

impl Stream {
    /// Subscribe to `accounts` at `url` until `stop` turns true.
    pub fn start(url: String, accounts: Vec<String>, mut stop: watch::Receiver<bool>) -> Stream {
        let (sender, _) = broadcast::channel(1024);
        let out = sender.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                tokio::select! {
                    r = follow(&url, &accounts, &out) => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "ledger stream lost; reconnecting");
                        }
                    }
                    _ = stop.wait_for(|s| *s) => return,
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        Stream { sender }
    }

    /// Announcements from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Validated> {
        self.sender.subscribe()
    }
}

async fn follow(
    url: &str,
    accounts: &[String],
    out: &broadcast::Sender<Validated>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let subscribe = Subscribe::new(
        Some("1".into()),
        Some(accounts.iter().map(|a| a.as_str().into()).collect()),
        None,
        None,
        None,
        None,
        None,
        None,
    );
    let subscribe = serde_json::to_string(&subscribe)
        .map_err(|e| tokio_tungstenite::tungstenite::Error::Io(std::io::Error::other(e)))?;
    ws.send(Message::text(subscribe)).await?;
    tracing::debug!(accounts = accounts.len(), "following the ledger stream");
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        if let Some(v) = announcement(&text) {
            let _ = out.send(v);
        }
    }
    Ok(())
}

/// A validated transaction from a stream message (API v1 or v2 shapes).
fn announcement(text: &str) -> Option<Validated> {
    let m: Json = serde_json::from_str(text).ok()?;
    if m["type"] != "transaction" || m["validated"] != true {
        return None;
    }
    let tx = if m["tx_json"].is_object() {
        &m["tx_json"]
    } else {
        &m["transaction"]
    };
    let hash = m["hash"]
        .as_str()
        .or_else(|| tx["hash"].as_str())?
        .parse()
        .ok()?;
    Some(Validated {
        hash,
        kind: tx["TransactionType"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        channel: tx["Channel"].as_str().and_then(|c| c.parse().ok()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_api_shapes_and_ignores_the_rest() {
        let h = "AB".repeat(32);
        let v1 = json!({"type": "transaction", "validated": true,
            "transaction": {"hash": h, "TransactionType": "PaymentChannelClaim", "Channel": "5D".repeat(32)}});
        let a = announcement(&v1.to_string()).unwrap();
        assert_eq!(
            (a.kind.as_str(), a.channel),
            ("PaymentChannelClaim", Some(Hash256([0x5D; 32])))
        );
        let v2 = json!({"type": "transaction", "validated": true, "hash": h, "tx_json": {"TransactionType": "Payment"}});
        assert_eq!(
            announcement(&v2.to_string()).unwrap().hash,
            Hash256([0xAB; 32])
        );
        for other in [
            json!({"type": "ledgerClosed"}),
            json!({"type": "transaction", "validated": false}),
        ] {
            assert!(announcement(&other.to_string()).is_none());
        }
        assert!(announcement("not json").is_none());
    }
}
