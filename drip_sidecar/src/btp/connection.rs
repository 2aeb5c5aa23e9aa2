//! One client's socket: BTP authentication first, then its requests
//! (answered concurrently) and the answers to the server's own calls.

use std::sync::Arc;
use std::time::Duration;

use drip_ilp::asym::{self, protocol};
use drip_ilp::btp::{self, find, Body, Packet};
use futures_util::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Frame;

use super::protocols::{self, Failure};
use super::Server;

/// Small buffers: the server holds many idle connections. A frame may
/// still be as large as an ILP packet can make it.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// How long a client has to authenticate.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests of one connection handled at once; more wait (the socket is not
/// read meanwhile), so a client cannot make the server hold unbounded work.
const IN_FLIGHT: usize = 64;

pub(super) async fn run<S>(server: Arc<Server>, stream: S, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handshake = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config()));
    let ws = match Box::pin(handshake).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(error = %e, "not a WebSocket handshake");
            return;
        }
    };
    let (mut sink, mut source) = ws.split();

    // The first frame must authenticate.
    let first = tokio::time::timeout(AUTH_TIMEOUT, async {
        loop {
            match source.next().await {
                Some(Ok(Frame::Binary(b))) => return Some(b),
                Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await;
    let Ok(Some(first)) = first else {
        return;
    };
    // Boxed: the database call's state would otherwise stay in every
    // connection's task for as long as the socket lives.
    let (request_id, account, paid) = match Box::pin(authenticate(&server, &first)).await {
        Ok(ok) => ok,
        Err((request_id, why)) => {
            let reply = Failure::not_accepted(why).into_packet(request_id);
            let _ = sink.send(Frame::Binary(reply.encode().into())).await;
            let _ = sink.close().await;
            return;
        }
    };
    let ok = Packet {
        request_id,
        body: Body::Response(vec![]),
    };
    if sink.send(Frame::Binary(ok.encode().into())).await.is_err() {
        return;
    }

    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(32);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let peer = server.register(&account, tx);
    tracing::debug!(%account, peer = peer.id, "BTP client connected");
    if paid {
        let (server, account) = (server.clone(), account.clone());
        tokio::spawn(async move { super::outgoing::resend_claim(&server, &account).await });
    }
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(Frame::Binary(frame.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    loop {
        let frame = tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            frame = source.next() => frame,
        };
        match frame {
            Some(Ok(Frame::Binary(bytes))) => {
                // Answers to the server's own calls never wait: a request
                // waiting on another client's answer must not hold them up.
                let permit = if matches!(bytes.first(), Some(1 | 2)) {
                    None
                } else {
                    match in_flight.clone().acquire_owned().await {
                        Ok(p) => Some(p),
                        Err(_) => break,
                    }
                };
                on_frame(&server, &account, &peer, &bytes, permit);
            }
            Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break,
            // Pings are answered by the WebSocket layer; text is not BTP.
            Some(Ok(_)) => {}
        }
    }
    server.unregister(&account, peer.id);
    // Calls waiting on this socket fail now (F02), not at their timeout.
    peer.calls.close();
    drop(peer);
    writer.abort();
    tracing::debug!(%account, "BTP client gone");
}

/// Check the auth Message: the account and its token (bound on first use),
/// and whether the server has paid the account claims it may have missed.
async fn authenticate(server: &Server, bytes: &[u8]) -> Result<(u32, String, bool), (u32, String)> {
    let packet = Packet::decode(bytes).map_err(|e| (0, format!("invalid auth packet: {e}")))?;
    let id = packet.request_id;
    let Body::Message(pd) = &packet.body else {
        return Err((id, "the first packet must be the auth Message".into()));
    };
    if find(pd, protocol::AUTH).is_none() {
        return Err((id, "the first packet must be the auth Message".into()));
    }
    let token = find(pd, protocol::AUTH_TOKEN)
        .map(|t| String::from_utf8_lossy(&t.data).into_owned())
        .filter(|t| !t.is_empty())
        .ok_or((id, "auth_token is required".to_owned()))?;
    let username = find(pd, protocol::AUTH_USERNAME)
        .map(|u| String::from_utf8_lossy(&u.data).into_owned())
        .unwrap_or_default();
    let account = if username.is_empty() {
        asym::account_name(&token)
    } else {
        username
    };
    if !account
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'~' | b'-'))
        || account.len() > 128
    {
        return Err((id, "the account name must be an ILP address segment".into()));
    }
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    let client = server
        .pool
        .get()
        .await
        .map_err(|e| (id, format!("server unavailable: {e}")))?;
    let row = client
        .query_one(
            "SELECT (a).account IS NOT NULL, (a).blocked, (a).block_reason,
                    coalesce((SELECT o.signed > 0 AND o.state = 'open' FROM drip.ilp_outgoing_channel($1) o), false)
             FROM drip.ilp_connect($1, $2) a",
            &[&account, &hash],
        )
        .await
        .map_err(|e| (id, format!("server unavailable: {e}")))?;
    if !row.get::<_, bool>(0) {
        return Err((id, "invalid auth_token".into()));
    }
    if row.get::<_, Option<bool>>(1) == Some(true) {
        let reason: Option<String> = row.get(2);
        return Err((
            id,
            format!(
                "cannot connect to blocked account. reconfigure your uplink to connect with a new payment channel. reason={}",
                reason.unwrap_or_default()
            ),
        ));
    }
    Ok((id, account, row.get(3)))
}

/// A frame from the client: an answer to one of the server's calls, or a
/// request (handled in its own task so the socket keeps reading).
fn on_frame(
    server: &Arc<Server>,
    account: &str,
    peer: &super::Peer,
    bytes: &[u8],
    permit: Option<OwnedSemaphorePermit>,
) {
    let packet = match Packet::decode(bytes) {
        Ok(p) => p,
        Err(e) => {
            // Answer what can be answered: the request id, if it is there.
            let id = bytes
                .get(1..5)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let reply = Failure::invalid_fields(e.to_string()).into_packet(id);
            let peer = peer.clone();
            tokio::spawn(async move {
                let _ = peer.send(&reply).await;
                drop(permit);
            });
            return;
        }
    };
    let request_id = packet.request_id;
    match packet.body {
        Body::Response(_) | Body::Error(_) => peer.answered(packet),
        Body::Message(pd) => {
            let (server, account, peer) = (server.clone(), account.to_owned(), peer.clone());
            tokio::spawn(async move {
                let reply = protocols::message(&server, &account, pd).await;
                let _ = peer.send(&reply_packet(request_id, reply)).await;
                drop(permit);
            });
        }
        Body::Transfer { protocol_data, .. } => {
            let (server, account, peer) = (server.clone(), account.to_owned(), peer.clone());
            tokio::spawn(async move {
                let reply = protocols::transfer(&server, &account, protocol_data).await;
                let _ = peer.send(&reply_packet(request_id, reply)).await;
                drop(permit);
            });
        }
    }
}

fn reply_packet(request_id: u32, reply: Result<Vec<btp::ProtocolData>, Failure>) -> Packet {
    match reply {
        Ok(pd) => Packet {
            request_id,
            body: Body::Response(pd),
        },
        Err(f) => f.into_packet(request_id),
    }
}
