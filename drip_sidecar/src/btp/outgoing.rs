//! The server's channels to its clients: opened when a client asks
//! (`fund_channel`) through the outbox, paid by claims as packets to the
//! client are fulfilled, topped up past half, and announced to the client
//! (`channel`) whenever they change so it reloads them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use drip_core::{claim, AccountId, Drops, Hash256};
use drip_ilp::asym::{protocol, ClaimJson};
use drip_ilp::btp::{self, Body, ProtocolData};
use drip_ilp::ilp::ErrorCode;
use tokio::sync::{broadcast, watch};

use super::failure::Failure;
use super::{lock, Server};
use crate::engine::{ilp, OutgoingState};

/// How long `fund_channel` waits for the channel to validate: less than the
/// client's 35 s call timeout.
const OPEN_WAIT: Duration = Duration::from_secs(30);

/// How long the server waits for a client to answer its Transfer or Message.
const CALL_TIMEOUT: Duration = Duration::from_secs(35);

/// An account's outgoing channel as the extension has it.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) state: Option<OutgoingState>,
    pub(super) channel: Option<Hash256>,
    signed: i64,
    last_error: Option<String>,
}

/// The outgoing channel of `account`, if it ever asked for one.
pub(super) async fn outgoing(server: &Server, account: &str) -> Result<Option<Outgoing>, Failure> {
    let client = server.pool.get().await.map_err(Failure::internal)?;
    let o = ilp::ilp_outgoing_channel(&client, account)
        .await
        .map_err(Failure::internal)?;
    Ok(o.map(|o| Outgoing {
        state: o.state,
        channel: o
            .channel_id
            .and_then(|c| <[u8; 32]>::try_from(c).ok())
            .map(Hash256),
        signed: o.signed.unwrap_or(0),
        last_error: o.last_error,
    }))
}

/// `fund_channel`: the client's XRPL address in, the id of the server's
/// channel to it out, once the channel is on the validated ledger.
pub(super) async fn fund_channel(
    server: &Server,
    account: &str,
    address: &[u8],
) -> Result<Hash256, Failure> {
    let destination = std::str::from_utf8(address)
        .ok()
        .and_then(|a| a.trim().parse::<AccountId>().ok())
        .ok_or_else(|| Failure::invalid_fields("fund_channel: not an XRPL address"))?
        .to_address();
    let key = server
        .config
        .channel_keys
        .key_pair(account)
        .map_err(Failure::internal)?;
    // Subscribed before asking, so the validation cannot be missed.
    let mut changes = server.changes.subscribe();
    // A channel the client closed is forgotten and a new one asked for, once.
    for _ in 0..2 {
        let client = server.pool.get().await.map_err(Failure::internal)?;
        let refused =
            ilp::ilp_fund_channel(&client, account, &destination, key.public_key().as_bytes())
                .await
                .map_err(Failure::internal)?;
        drop(client);
        if let Some(reason) = refused {
            return Err(Failure::not_accepted(format!(
                "fund_channel refused: {reason}"
            )));
        }
        let id = wait_open(server, account, &mut changes).await?;
        if server
            .ledger
            .channel(&id)
            .await
            .map_err(Failure::internal)?
            .is_some()
        {
            return Ok(id);
        }
        tracing::info!(%account, channel = %id, "outgoing channel gone from the ledger; opening another");
        let client = server.pool.get().await.map_err(Failure::internal)?;
        ilp::ilp_outgoing_closed(&client, account, &id.0)
            .await
            .map_err(Failure::internal)?;
    }
    Err(Failure::not_accepted(
        "fund_channel: the channel keeps leaving the ledger",
    ))
}

/// Wait until the account's outgoing channel is open (its id) or failed.
async fn wait_open(
    server: &Server,
    account: &str,
    changes: &mut broadcast::Receiver<String>,
) -> Result<Hash256, Failure> {
    let deadline = Instant::now() + OPEN_WAIT;
    loop {
        let o = outgoing(server, account).await?;
        match o {
            Some(Outgoing {
                channel: Some(id),
                state: Some(OutgoingState::Open),
                ..
            }) => return Ok(id),
            Some(Outgoing {
                state: Some(OutgoingState::Failed),
                last_error,
                ..
            }) => {
                return Err(Failure::not_accepted(format!(
                    "the channel could not be opened: {}",
                    last_error.unwrap_or_default()
                )))
            }
            _ => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::not_accepted(
                "the channel is still opening; ask again",
            ));
        }
        // A notice for this account, or a look every second in case one
        // was missed (the listener reconnecting).
        let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), async {
            loop {
                match changes.recv().await {
                    Ok(a) if a == account => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        })
        .await;
    }
}

/// A claim for an account: cumulative, so the newest covers every one
/// before it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Claim {
    channel: Hash256,
    /// Base units, and the drops they pay.
    signed: u64,
    drops: u64,
    /// The Transfer's amount: what the claim adds to the last one sent.
    amount: u64,
}

impl Claim {
    /// `next` recorded after `self`, neither sent: one claim for both.
    fn then(self, next: Claim) -> Claim {
        // Claims recorded on one channel may arrive here out of order.
        let newest = if next.channel == self.channel && next.signed < self.signed {
            self
        } else {
            next
        };
        Claim {
            // Each is at most a claim's base units, 2^63-1: the sum fits.
            amount: self.amount.saturating_add(next.amount),
            ..newest
        }
    }
}

/// A packet to `account` was fulfilled: the server owes it `amount` more.
/// Recorded against the packet's hold first (a crash after that only delays
/// the claim: the next one covers it, and so does the one sent at
/// reconnect), then signed and sent apart ([`send`]): the sender's Fulfill
/// does not wait for the receiver's answer. Retrying is safe: a hold is
/// paid once. Err: the payout was not recorded (the hold expired, or the
/// database failed), and the sender is to be rejected with this.
pub(super) async fn pay(
    server: &Arc<Server>,
    account: &str,
    hold: i64,
    packet: u64,
) -> Result<(), (ErrorCode, &'static str)> {
    let internal = (ErrorCode::T00_INTERNAL_ERROR, "internal error");
    let mut tries = 0;
    let payout = loop {
        let result = match server.pool.get().await {
            Ok(c) => ilp::ilp_route_fulfilled(&c, hold)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(payout) => break payout,
            Err(e) if tries < 3 => {
                tries += 1;
                tracing::warn!(error = %e, %account, hold, "recording a payout failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, %account, hold, "a fulfilled packet's payout was not recorded");
                return Err(internal);
            }
        }
    };
    if let Some(reason) = payout.reason {
        tracing::info!(%account, hold, %reason, "a fulfilled packet was not paid");
        return Err((
            ErrorCode::R00_TRANSFER_TIMED_OUT,
            "the packet expired before its fulfillment was recorded",
        ));
    }
    if let (Some(Ok(channel)), Some(Ok(signed)), Some(Ok(drops))) = (
        payout
            .channel_id
            .map(|c| <[u8; 32]>::try_from(c).map(Hash256)),
        payout.signed.map(u64::try_from),
        payout.drops.map(u64::try_from),
    ) {
        let claim = Claim {
            channel,
            signed,
            drops,
            amount: packet,
        };
        send(server, account, claim);
    }
    Ok(())
}

/// Send `claim` to the account's newest socket, in a task of its own: one
/// per account at a time, so what a client that never answers makes the
/// server hold stays one task and one claim. Claims recorded meanwhile wait
/// as one, the newest, and follow.
fn send(server: &Arc<Server>, account: &str, claim: Claim) {
    {
        let mut sending = lock(&server.claims_out);
        if let Some(waiting) = sending.get_mut(account) {
            *waiting = Some(waiting.map_or(claim, |w| w.then(claim)));
            return;
        }
        sending.insert(account.to_owned(), None);
    }
    let (server, account) = (server.clone(), account.to_owned());
    tokio::spawn(async move {
        let mut claim = claim;
        loop {
            send_claim(&server, &account, &claim).await;
            let mut sending = lock(&server.claims_out);
            match sending.get_mut(&account).and_then(Option::take) {
                Some(next) => claim = next,
                None => {
                    sending.remove(&account);
                    return;
                }
            }
        }
    });
}

/// Sign the claim and send it in a Transfer to the account's newest
/// socket; wait for its answer.
async fn send_claim(server: &Server, account: &str, claim: &Claim) {
    let Ok(key) = server.config.channel_keys.key_pair(account) else {
        return;
    };
    let signature = claim::sign_claim(&key, &claim.channel, Drops::new(claim.drops));
    let json = ClaimJson {
        amount: claim.signed.to_string(),
        signature: hex::encode(signature),
    };
    let Ok(json) = serde_json::to_vec(&json) else {
        return;
    };
    let Some(peer) = server.peer(account) else {
        return;
    };
    let body = Body::Transfer {
        amount: claim.amount,
        protocol_data: vec![ProtocolData::new(protocol::CLAIM, btp::JSON, json)],
    };
    match peer.call(body, CALL_TIMEOUT).await {
        Ok(btp::Packet {
            body: Body::Response(_),
            ..
        }) => {}
        other => {
            tracing::debug!(%account, drops = claim.drops, answer = ?other.map(|p| p.body), "claim not taken")
        }
    }
}

/// A client (re)connected: its best claim goes to it again, in case the
/// last one never arrived.
pub(super) async fn resend_claim(server: &Arc<Server>, account: &str) {
    let Ok(Some(o)) = outgoing(server, account).await else {
        return;
    };
    let (Some(channel), Ok(signed)) = (o.channel, u64::try_from(o.signed)) else {
        return;
    };
    if o.state != Some(OutgoingState::Open) || signed == 0 {
        return;
    }
    let Ok(drops) = drip_ilp::asym::base_to_drops(signed, server.config.asset_scale) else {
        return;
    };
    let claim = Claim {
        channel,
        signed,
        drops: drops.get(),
        amount: 0,
    };
    send(server, account, claim);
}

/// Tell each connected client whose outgoing channel changed (opened,
/// funded) to reload it, as the original does after a fund.
pub(super) async fn announce(server: Arc<Server>, mut stop: watch::Receiver<bool>) {
    let mut changes = server.changes.subscribe();
    loop {
        let account = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            a = changes.recv() => match a {
                Ok(a) => a,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let peers = server.peers(&account);
        if peers.is_empty() {
            continue;
        }
        let Ok(Some(Outgoing {
            channel: Some(id),
            state: Some(OutgoingState::Open),
            ..
        })) = outgoing(&server, &account).await
        else {
            continue;
        };
        for peer in peers {
            tokio::spawn(async move {
                let body = Body::Message(vec![ProtocolData::new(
                    protocol::CHANNEL,
                    btp::OCTET_STREAM,
                    id.0.to_vec(),
                )]);
                let _ = peer.call(body, CALL_TIMEOUT).await;
            });
        }
    }
}
