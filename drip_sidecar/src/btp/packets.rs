//! ILP packets from clients: IL-DCP answered here; every other Prepare,
//! from a socket bound to its account only, is held to the sender's claims
//! and bandwidth and to what the server's channel to the receiver can pay
//! (`drip.ilp_route`), then routed to the client it is addressed to, and
//! its answer checked (fulfillment against condition, expiry) before it
//! goes back. A fulfilled packet is paid to its receiver by claim, and goes
//! back fulfilled once that payout is recorded (the claim is sent apart);
//! what a packet left unanswered (a crash) holds is released by the sweep
//! once it expired.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use drip_ilp::asym::protocol;
use drip_ilp::btp::{self, find, Body, ProtocolData};
use drip_ilp::ildcp;
use drip_ilp::ilp::{self, amount_too_large_data, ErrorCode, Packet, Prepare, Reject, Timestamp};

use drip_ilp::calls::CallError;

use super::failure::{self, Failure};
use super::{outgoing, Login, Server};
use crate::engine::ilp as engine;

/// The asset code IL-DCP announces.
const ASSET_CODE: &str = "XRP";

/// The answer (an encoded Fulfill or Reject) to a client's packet; refused
/// outright, but for IL-DCP, while the socket is not bound to its account.
pub(super) async fn from_client(
    server: &Arc<Server>,
    login: &Login,
    bytes: &[u8],
) -> Result<Vec<u8>, Failure> {
    let account = login.account.as_str();
    let reply = match Packet::decode(bytes) {
        Ok(Packet::Prepare(p)) if ildcp::is_request(&p) => ildcp_config(server, account),
        Ok(Packet::Prepare(p)) => {
            failure::bound(login)?;
            prepare(server, account, p).await
        }
        Ok(_) => reject(
            server,
            ErrorCode::F01_INVALID_PACKET,
            "expected a Prepare",
            vec![],
        ),
        Err(e) => reject(
            server,
            ErrorCode::F01_INVALID_PACKET,
            &e.to_string(),
            vec![],
        ),
    };
    Ok(reply.encode().unwrap_or_default())
}

fn reject(server: &Server, code: ErrorCode, message: &str, data: Vec<u8>) -> Packet {
    Packet::Reject(Reject {
        code,
        triggered_by: server.config.address.to_string(),
        message: message.to_owned(),
        data,
    })
}

/// IL-DCP: the client's address, scale and asset.
fn ildcp_config(server: &Server, account: &str) -> Packet {
    let Ok(client_address) = server.client_address(account).parse() else {
        return reject(
            server,
            ErrorCode::F02_UNREACHABLE,
            "no address for this account",
            vec![],
        );
    };
    Packet::Fulfill(
        ildcp::Config {
            client_address,
            asset_scale: server.config.asset_scale,
            asset_code: ASSET_CODE.into(),
        }
        .response(),
    )
}

async fn prepare(server: &Arc<Server>, account: &str, mut p: Prepare) -> Packet {
    let config = &server.config;
    if p.amount > config.max_packet_amount {
        return reject(
            server,
            ErrorCode::F08_AMOUNT_TOO_LARGE,
            "Packet size is too large.",
            amount_too_large_data(p.amount, config.max_packet_amount),
        );
    }
    let now = Timestamp::now();
    if p.expires_at <= now {
        return reject(
            server,
            ErrorCode::R00_TRANSFER_TIMED_OUT,
            "packet expired",
            vec![],
        );
    }
    // A later expiry is cut to the longest hold for the next hop, as
    // connectors do: a packet, of nothing too, holds the server's channel
    // capacity and a task for that long at most.
    let max_hold_ms = i64::from(config.limits.max_hold_secs) * 1000;
    p.expires_at.unix_ms = p
        .expires_at
        .unix_ms
        .min(now.unix_ms.saturating_add(max_hold_ms));
    let Some(target) = route(server, &p.destination) else {
        return reject(
            server,
            ErrorCode::F02_UNREACHABLE,
            "no such destination",
            vec![],
        );
    };
    if p.amount == 0 {
        // Nothing to hold; but, as the original answers any Prepare of an
        // account not READY, only a client with a channel sends packets.
        if let Err(refusal) = ready(server, account).await {
            return refusal;
        }
        return forward(server, &target, &p).await;
    }
    let held = match hold(server, account, &target, &p).await {
        Ok(h) => h,
        Err(refusal) => return refusal,
    };
    let mut answer = forward(server, &target, &p).await;
    if matches!(answer, Packet::Fulfill(_)) {
        // Fulfilled only once the receiver's payout is recorded: a hold
        // released meanwhile (expired) pays nobody, so the sender must not
        // get the fulfillment either.
        if let Err((code, message)) = outgoing::pay(server, &target, held, p.amount).await {
            answer = reject(server, code, message, vec![]);
        }
    }
    if !matches!(answer, Packet::Fulfill(_)) {
        release(server, held).await;
    }
    answer
}

/// The account a destination belongs to: `ADDRESS.ACCOUNT[.…]`.
fn route(server: &Server, destination: &ilp::Address) -> Option<String> {
    let prefix = format!("{}.", server.config.address);
    let rest = destination.as_str().strip_prefix(&prefix)?;
    let account = rest.split('.').next()?;
    (!account.is_empty()).then(|| account.to_owned())
}

/// A database call failed: logged, and the sender gets a T00.
fn internal(server: &Server, call: &str, e: &dyn std::fmt::Display) -> Packet {
    tracing::warn!(error = %e, "{call} failed");
    reject(
        server,
        ErrorCode::T00_INTERNAL_ERROR,
        "internal error",
        vec![],
    )
}

/// Whether `account` has an open channel and is not blocked.
async fn ready(server: &Server, account: &str) -> Result<(), Packet> {
    let internal = |e: &dyn std::fmt::Display| internal(server, "ilp_account", e);
    let client = server.pool.get().await.map_err(|e| internal(&e))?;
    let a = engine::ilp_account(&client, account)
        .await
        .map_err(|e| internal(&e))?;
    match (a.channel_id, a.blocked) {
        (Some(_), Some(false)) => Ok(()),
        // As `drip.ilp_route` words it.
        _ => Err(reject(
            server,
            ErrorCode::F02_UNREACHABLE,
            "account has no open channel",
            vec![],
        )),
    }
}

/// Count the packet against the sender's claims and bandwidth, and hold it
/// on the server's channel to the receiver until it expires: the hold's id,
/// or a Reject if it may not pass.
async fn hold(server: &Server, from: &str, to: &str, p: &Prepare) -> Result<i64, Packet> {
    let internal = |e: &dyn std::fmt::Display| internal(server, "ilp_route", e);
    let Ok(amount) = i64::try_from(p.amount) else {
        return Err(reject(
            server,
            ErrorCode::F08_AMOUNT_TOO_LARGE,
            "amount out of range",
            vec![],
        ));
    };
    // After now (checked before), so after 1970.
    let expires_at =
        UNIX_EPOCH + Duration::from_millis(u64::try_from(p.expires_at.unix_ms).unwrap_or(0));
    let client = server.pool.get().await.map_err(|e| internal(&e))?;
    let verdict = engine::ilp_route(&client, from, to, amount, expires_at)
        .await
        .map_err(|e| internal(&e))?;
    match verdict.code {
        None => verdict
            .hold
            .ok_or_else(|| internal(&"ilp_route held nothing")),
        Some(code) => {
            let message = verdict.message.unwrap_or_default();
            let code = ErrorCode(code.as_bytes().try_into().unwrap_or(*b"T00"));
            Err(reject(server, code, &message, vec![]))
        }
    }
}

/// The packet was not fulfilled: it owes nothing, and is owed nothing. If
/// this fails, `drip.ilp_release_expired` releases the hold once the packet
/// expired.
async fn release(server: &Server, hold: i64) {
    let result = match server.pool.get().await {
        Ok(c) => engine::ilp_rollback(&c, hold)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, hold, "ilp_rollback failed");
    }
}

/// Send the Prepare to the target client and wait for its answer until the
/// packet expires: in its queue (a client that reads nothing fills it) and
/// for its answer together.
async fn forward(server: &Server, target: &str, p: &Prepare) -> Packet {
    let Some(peer) = server.peer(target) else {
        return reject(
            server,
            ErrorCode::F02_UNREACHABLE,
            "the destination is not connected",
            vec![],
        );
    };
    let Ok(bytes) = Packet::Prepare(p.clone()).encode() else {
        return reject(
            server,
            ErrorCode::F01_INVALID_PACKET,
            "unencodable packet",
            vec![],
        );
    };
    let left = u64::try_from(p.expires_at.unix_ms - Timestamp::now().unix_ms).unwrap_or(0);
    let answer = peer
        .call(
            Body::Message(vec![ProtocolData::new(
                protocol::ILP,
                btp::OCTET_STREAM,
                bytes,
            )]),
            Duration::from_millis(left),
        )
        .await;
    let reply = match answer {
        Ok(btp::Packet {
            body: Body::Response(pd),
            ..
        }) => find(&pd, protocol::ILP).and_then(|d| Packet::decode(&d.data).ok()),
        Ok(_) => None,
        Err(CallError::Timeout) => {
            return reject(
                server,
                ErrorCode::R00_TRANSFER_TIMED_OUT,
                "no answer before the packet expired",
                vec![],
            )
        }
        Err(CallError::Send(_) | CallError::Closed) => {
            return reject(
                server,
                ErrorCode::F02_UNREACHABLE,
                "the destination left",
                vec![],
            )
        }
    };
    match reply {
        Some(Packet::Fulfill(f)) if f.fulfills(p) => {
            if Timestamp::now() > p.expires_at {
                reject(
                    server,
                    ErrorCode::R00_TRANSFER_TIMED_OUT,
                    "fulfilled after expiry",
                    vec![],
                )
            } else {
                Packet::Fulfill(f)
            }
        }
        Some(Packet::Fulfill(_)) => reject(
            server,
            ErrorCode::F05_WRONG_CONDITION,
            "fulfillment does not match the condition",
            vec![],
        ),
        Some(Packet::Reject(r)) => Packet::Reject(r),
        _ => reject(
            server,
            ErrorCode::T00_INTERNAL_ERROR,
            "the destination answered with no ILP reply",
            vec![],
        ),
    }
}
