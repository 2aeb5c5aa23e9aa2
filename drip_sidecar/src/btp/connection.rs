//! One client's socket: BTP authentication first, then its requests
//! (answered concurrently, a bounded number at once) and the answers to the
//! server's own calls. Whatever a client sends or fails to read, what the
//! server holds for it stays within [`super::BtpLimits`].

use std::sync::Arc;

use drip_ilp::asym::{self, protocol};
use drip_ilp::btp::{self, find, Body, Packet, ProtocolData};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

use super::failure::Failure;
use super::protocols;
use super::{Binding, Login, Peer, Registration, Server};
use crate::engine::{ilp, OutgoingState};

/// Small buffers: the server holds many idle connections. A message, the
/// auth Message included, is read whole up to `max_message` bytes.
fn ws_config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * max_message)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

type Sink<S> = SplitSink<WebSocketStream<S>, Frame>;
type Source<S> = SplitStream<WebSocketStream<S>>;

/// Serve a socket accepted (and TLS-wrapped) already: authenticated by
/// `deadline`, or closed.
pub(super) async fn run<S>(
    server: Arc<Server>,
    stream: S,
    deadline: Instant,
    stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Vec<u8>>(server.config.limits.max_in_flight);
    // Boxed: the handshake's and the database call's state would otherwise
    // stay in every connection's task for as long as the socket lives.
    let opened = tokio::time::timeout_at(deadline, Box::pin(open(&server, stream, tx))).await;
    let Ok(Some((sink, source, login, registration, paid))) = opened else {
        return;
    };
    serve(server, sink, source, login, registration, paid, rx, stop).await;
}

/// The WebSocket handshake and the auth Message: the socket registered
/// as its account's, and whether the server has paid the account claims
/// it may have missed. Dropped at the deadline, its registration with it.
async fn open<S>(
    server: &Arc<Server>,
    stream: S,
    out: mpsc::Sender<Vec<u8>>,
) -> Option<(Sink<S>, Source<S>, Login, Registration, bool)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = ws_config(server.config.limits.max_message_bytes);
    let ws = match tokio_tungstenite::accept_async_with_config(stream, Some(config)).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(error = %e, "not a WebSocket handshake");
            return None;
        }
    };
    let (mut sink, mut source) = ws.split();
    // The first frame must authenticate.
    let first = loop {
        match source.next().await {
            Some(Ok(Frame::Binary(b))) => break b,
            Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
            _ => return None,
        }
    };
    let authenticated =
        authenticate(server, &first)
            .await
            .and_then(|(id, login, paid)| match server.register(&login, out) {
                Some(registration) => Ok((id, login, registration, paid)),
                // The name is held by another token's socket.
                None => Err((id, "invalid auth_token".to_owned())),
            });
    let (request_id, login, registration, paid) = match authenticated {
        Ok(ok) => ok,
        Err((request_id, why)) => {
            let reply = Failure::not_accepted(why).into_packet(request_id);
            let _ = sink.send(Frame::Binary(reply.encode().into())).await;
            let _ = sink.close().await;
            return None;
        }
    };
    let ok = Packet {
        request_id,
        body: Body::Response(vec![]),
    };
    if sink.send(Frame::Binary(ok.encode().into())).await.is_err() {
        return None;
    }
    Some((sink, source, login, registration, paid))
}

/// An authenticated socket until it closes: its requests, at most
/// `max_in_flight` at once, and its writes, each taken within
/// `write_timeout` or the socket is closed; closed too if it is not bound
/// to its account within `unbound_timeout`, or is put out.
#[allow(clippy::too_many_arguments)]
async fn serve<S>(
    server: Arc<Server>,
    mut sink: Sink<S>,
    mut source: Source<S>,
    login: Login,
    registration: Registration,
    paid: bool,
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &server.config.limits;
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let mut binding = login.binding.subscribe();
    let unwanted = unwanted(&mut binding, Instant::now() + limits.unbound_timeout);
    tokio::pin!(unwanted);
    let peer = registration.peer.clone();
    let login = Arc::new(login);
    let account = login.account.clone();
    tracing::debug!(%account, peer = peer.id, "BTP client connected");
    if paid {
        let (server, account) = (server.clone(), account.clone());
        tokio::spawn(async move { super::outgoing::resend_claim(&server, &account).await });
    }
    let write_timeout = limits.write_timeout;
    let mut writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            // A client that stops reading is let go: what waits for its
            // socket (and the requests waiting behind that) stays bounded.
            let sent = tokio::time::timeout(write_timeout, sink.send(Frame::Binary(frame.into())));
            if !matches!(sent.await, Ok(Ok(()))) {
                tracing::debug!("BTP client stopped reading");
                return;
            }
        }
        let _ = tokio::time::timeout(write_timeout, sink.close()).await;
    });
    loop {
        let frame = tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = &mut writer => break,
            () = &mut unwanted => break,
            frame = source.next() => frame,
        };
        match frame {
            Some(Ok(Frame::Binary(bytes))) => {
                let request = match incoming(&bytes) {
                    // Answers to the server's own calls never wait: a request
                    // waiting on another client's answer must not hold them up.
                    Incoming::Answer(packet) => {
                        peer.answered(packet);
                        continue;
                    }
                    Incoming::Request(request) => request,
                };
                // Every other frame, undecodable ones too, waits for its
                // place (the socket is not read meanwhile).
                let permit = tokio::select! {
                    _ = stopped(&mut stop) => break,
                    _ = &mut writer => break,
                    () = &mut unwanted => break,
                    permit = in_flight.clone().acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                answer(&server, &login, &peer, request, permit);
            }
            Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break,
            // Pings are answered by the WebSocket layer; text is not BTP.
            Some(Ok(_)) => {}
        }
    }
    drop(registration);
    writer.abort();
    tracing::debug!(%account, "BTP client gone");
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Resolves once the socket must go: put out by a socket bound to its
/// account, or still unbound at `deadline` (it holds a place, and perhaps
/// a name, without proving anything).
async fn unwanted(binding: &mut watch::Receiver<Binding>, deadline: Instant) {
    loop {
        let state = *binding.borrow_and_update();
        match state {
            Binding::Evicted => return,
            Binding::Bound => std::future::pending().await,
            Binding::Unbound => {}
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return,
            changed = binding.changed() => {
                // The login holds the sender while the socket is served.
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// A frame from the client, read.
enum Incoming {
    /// A Response or Error: the answer to one of the server's calls.
    Answer(Packet),
    /// Anything else, answered in turn.
    Request(Request),
}

enum Request {
    Message(u32, Vec<ProtocolData>),
    Transfer(u32, Vec<ProtocolData>),
    /// Undecodable: an F01 with its request id, if it has one.
    Invalid(u32, String),
}

fn incoming(bytes: &[u8]) -> Incoming {
    match Packet::decode(bytes) {
        Ok(Packet {
            request_id,
            body: Body::Message(pd),
        }) => Incoming::Request(Request::Message(request_id, pd)),
        Ok(Packet {
            request_id,
            body: Body::Transfer { protocol_data, .. },
        }) => Incoming::Request(Request::Transfer(request_id, protocol_data)),
        Ok(answer) => Incoming::Answer(answer),
        Err(e) => {
            let id = bytes
                .get(1..5)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            Incoming::Request(Request::Invalid(id, e.to_string()))
        }
    }
}

/// Answer a request in its own task (so the socket keeps reading), which
/// holds its place in `permit` until the answer is queued.
fn answer(
    server: &Arc<Server>,
    login: &Arc<Login>,
    peer: &Peer,
    request: Request,
    permit: OwnedSemaphorePermit,
) {
    let (server, login, peer) = (server.clone(), login.clone(), peer.clone());
    tokio::spawn(async move {
        let reply = match request {
            Request::Message(id, pd) => {
                reply_packet(id, protocols::message(&server, &login, pd).await)
            }
            Request::Transfer(id, pd) => {
                reply_packet(id, protocols::transfer(&server, &login, pd).await)
            }
            Request::Invalid(id, why) => Failure::invalid_fields(why).into_packet(id),
        };
        let _ = peer.send(&reply).await;
        drop(permit);
    });
}

/// Check the auth Message: the account, and for an account bound already,
/// its token and whether the server has paid it claims it may have missed.
/// A new account is not written here: its token is bound once its client
/// proves a channel, so tokens that prove nothing leave nothing behind.
async fn authenticate(server: &Server, bytes: &[u8]) -> Result<(u32, Login, bool), (u32, String)> {
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
    let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let login = |binding| Login {
        account: account.clone(),
        token_hash,
        binding: watch::Sender::new(binding),
    };
    let unavailable = |e: &dyn std::fmt::Display| (id, format!("server unavailable: {e}"));
    let client = server.pool.get().await.map_err(|e| unavailable(&e))?;
    let known = ilp::ilp_account(&client, &account)
        .await
        .map_err(|e| unavailable(&e))?
        .account
        .is_some();
    // Bound only by the database's word: a name unknown here may be bound
    // to another token by the time this socket asks for anything.
    if !known {
        return Ok((id, login(Binding::Unbound), false));
    }
    let a = ilp::ilp_connect(&client, &account, &token_hash)
        .await
        .map_err(|e| unavailable(&e))?;
    if a.account.is_none() {
        return Err((id, "invalid auth_token".into()));
    }
    if a.blocked == Some(true) {
        return Err((
            id,
            format!(
                "cannot connect to blocked account. reconfigure your uplink to connect with a new payment channel. reason={}",
                a.block_reason.unwrap_or_default()
            ),
        ));
    }
    // Whether the server has paid this client on its channel to it.
    let paid = ilp::ilp_outgoing_channel(&client, &account)
        .await
        .map_err(|e| unavailable(&e))?
        .is_some_and(|o| o.signed > Some(0) && o.state == Some(OutgoingState::Open));
    Ok((id, login(Binding::Bound), paid))
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
