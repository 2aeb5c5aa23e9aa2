//! The devnet on the network: rippled's JSON-RPC (HTTP POST) on one port and
//! its WebSocket API (requests and subscriptions) on another, a timer that
//! closes ledgers, and optional state kept in a file across restarts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json as AxumJson, Router};
use drip_core::AccountId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::ledger::{Chain, Config, Event};
use crate::node::Node;
use crate::rpc::{self, RpcError};

/// How to run a devnet.
#[derive(Clone, Debug)]
pub struct Options {
    /// JSON-RPC listen address (port 0 picks a free one).
    pub rpc_addr: SocketAddr,
    /// WebSocket listen address (port 0 picks a free one).
    pub ws_addr: SocketAddr,
    /// Close a ledger this often; `None` closes only on `ledger_accept`.
    pub ledger_interval: Option<Duration>,
    /// Fees and reserves of a new chain.
    pub config: Config,
    /// Keep the chain in this file: loaded at start, written at every close.
    pub state_file: Option<PathBuf>,
}

impl Default for Options {
    /// Loopback, free ports, ledgers closed by hand, mainnet fees.
    fn default() -> Self {
        let lo = SocketAddr::from(([127, 0, 0, 1], 0));
        Options {
            rpc_addr: lo,
            ws_addr: lo,
            ledger_interval: None,
            config: Config::default(),
            state_file: None,
        }
    }
}

/// A message for WebSocket subscribers.
#[derive(Clone, Debug)]
enum Published {
    Ledger(Json),
    Transaction {
        v1: Json,
        v2: Json,
        accounts: Vec<AccountId>,
    },
}

#[derive(Debug)]
struct Shared {
    node: Mutex<Node>,
    published: broadcast::Sender<Published>,
    state_file: Option<PathBuf>,
}

/// What is saved in `--state`.
#[derive(Serialize, Deserialize)]
struct Saved {
    chain: Chain,
    clock_offset: u64,
}

impl Shared {
    fn node(&self) -> MutexGuard<'_, Node> {
        // A panic while holding the lock would be a devnet bug; keep serving.
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run a method, then publish whatever it closed. A submitted blob is
    /// decoded and its signature checked before the ledger lock is taken, so
    /// concurrent submissions verify in parallel.
    fn call(&self, method: &str, params: &Json) -> Result<Json, RpcError> {
        let prepared = match method {
            "submit" => Some(rpc::api_version(params).and_then(|_| rpc::prepare_submit(params))?),
            _ => None,
        };
        let (result, published, saved) = {
            let mut node = self.node();
            let result = match prepared {
                Some(p) => Ok(rpc::submit_prepared(&mut node, p)),
                None => rpc::handle(&mut node, method, params),
            };
            let events = node.chain.take_events();
            let closed = events.iter().any(|e| matches!(e, Event::LedgerClosed(_)));
            let published: Vec<Published> = events
                .iter()
                .map(|e| match e {
                    Event::LedgerClosed(l) => Published::Ledger(rpc::ledger_message(&node, l)),
                    Event::Transaction(r) => Published::Transaction {
                        v1: rpc::transaction_message(&node, r, 1),
                        v2: rpc::transaction_message(&node, r, 2),
                        accounts: rpc::affected_accounts(r),
                    },
                })
                .collect();
            let saved = match (&self.state_file, closed) {
                (Some(_), true) => serde_json::to_vec(&SavedRef {
                    chain: &node.chain,
                    clock_offset: node.clock_offset,
                })
                .ok(),
                _ => None,
            };
            (result, published, saved)
        };
        if let (Some(path), Some(bytes)) = (&self.state_file, saved) {
            if let Err(e) = write_atomically(path, &bytes) {
                tracing::error!(path = %path.display(), error = %e, "cannot save devnet state");
            }
        }
        for p in published {
            // No subscribers is fine.
            let _ = self.published.send(p);
        }
        result
    }
}

#[derive(Serialize)]
struct SavedRef<'a> {
    chain: &'a Chain,
    clock_offset: u64,
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A running devnet. Dropping it does not stop it; call [`Devnet::shutdown`].
#[derive(Debug)]
pub struct Devnet {
    /// JSON-RPC URL (`http://127.0.0.1:PORT/`).
    pub rpc_url: String,
    /// WebSocket URL (`ws://127.0.0.1:PORT/`).
    pub ws_url: String,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Devnet {
    /// Start serving; returns once both ports are listening.
    pub async fn start(opts: Options) -> anyhow::Result<Devnet> {
        let node = match &opts.state_file {
            Some(path) if path.exists() => {
                let saved: Saved = serde_json::from_slice(&std::fs::read(path)?)
                    .map_err(|e| anyhow::anyhow!("state file {}: {e}", path.display()))?;
                Node {
                    chain: saved.chain.restored(),
                    clock_offset: saved.clock_offset,
                    faults: std::collections::VecDeque::new(),
                    held: Vec::new(),
                    held_for: 0,
                }
            }
            _ => Node::new(opts.config),
        };
        let (published, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            node: Mutex::new(node),
            published,
            state_file: opts.state_file.clone(),
        });
        let (stop, stopped) = watch::channel(false);

        let rpc_listener = TcpListener::bind(opts.rpc_addr).await?;
        let ws_listener = TcpListener::bind(opts.ws_addr).await?;
        let rpc_url = format!("http://{}/", rpc_listener.local_addr()?);
        let ws_url = format!("ws://{}/", ws_listener.local_addr()?);

        let rpc_app = Router::new()
            .route("/", post(json_rpc))
            .with_state(shared.clone());
        let ws_app = Router::new()
            .route("/", any(websocket))
            .with_state(shared.clone());
        let mut tasks = vec![
            tokio::spawn(serve(rpc_listener, rpc_app, stopped.clone())),
            tokio::spawn(serve(ws_listener, ws_app, stopped.clone())),
        ];
        if let Some(every) = opts.ledger_interval {
            let shared = shared.clone();
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => { let _ = shared.call("ledger_accept", &json!({})); }
                        _ = stopped.changed() => break,
                    }
                }
            }));
        }
        tracing::info!(%rpc_url, %ws_url, "devnet listening");
        Ok(Devnet {
            rpc_url,
            ws_url,
            shared,
            stop,
            tasks,
        })
    }

    /// Call a method in process (as JSON-RPC would), publishing what it closes.
    pub fn call(&self, method: &str, params: Json) -> Result<Json, RpcError> {
        self.shared.call(method, &params)
    }

    /// Close the open ledger; returns the closed ledger's sequence.
    pub fn close_ledger(&self) -> u32 {
        let r = self.shared.call("ledger_accept", &json!({}));
        r.ok()
            .and_then(|v| v["ledger_current_index"].as_u64())
            .and_then(|n| u32::try_from(n).ok())
            .map_or(0, |n| n.saturating_sub(1))
    }

    /// Move the clock forward and close a ledger at the new time, so the next
    /// transaction sees it as its parent close time.
    pub fn advance_time(&self, seconds: u64) {
        let _ = self
            .shared
            .call("devnet_clock", &json!({"advance": seconds, "close": true}));
    }

    /// The close time of the last closed ledger (Ripple-epoch seconds):
    /// what the next transaction sees as its parent close time.
    pub fn last_close_time(&self) -> u32 {
        self.with_node(|n| n.chain.last_closed().close_time)
    }

    /// Close a ledger at `time` (Ripple-epoch seconds), moving the clock
    /// forward to it; a second after the last close if that is later (close
    /// times rise). Returns the new ledger's close time.
    pub fn close_at(&self, time: u32) -> u32 {
        let now = self.with_node(Node::now);
        self.advance_time(u64::from(time.saturating_sub(now)));
        self.last_close_time()
    }

    /// Read the node directly (tests).
    pub fn with_node<R>(&self, f: impl FnOnce(&Node) -> R) -> R {
        f(&self.shared.node())
    }

    /// Stop serving and wait for the servers to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn serve(listener: TcpListener, app: Router, mut stopped: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stopped.changed().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "devnet server stopped");
    }
}

/// JSON-RPC: `{"method": m, "params": [{…}]}` → `{"result": {…, "status"}}`.
async fn json_rpc(AxumState(shared): AxumState<Arc<Shared>>, body: Bytes) -> Response {
    let request: Json = match serde_json::from_slice(&body) {
        Ok(j @ Json::Object(_)) => j,
        _ => return rpc_error(RpcError::bad_syntax(), Json::Null),
    };
    let Some(method) = request.get("method").and_then(Json::as_str) else {
        return rpc_error(RpcError::missing_command(), request);
    };
    // rippled echoes the params with the command name in `request`.
    let echo = |params: &Json| {
        let mut e = params.clone();
        if let Some(m) = e.as_object_mut() {
            m.insert("command".into(), Json::from(method));
        }
        e
    };
    let params = match request.get("params") {
        None => json!({}),
        Some(Json::Array(a)) if a.is_empty() => json!({}),
        Some(Json::Array(a)) => match a.first() {
            Some(p @ Json::Object(_)) if a.len() == 1 => p.clone(),
            _ => {
                return rpc_error(
                    RpcError::invalid_params("params must be [ {…} ]"),
                    echo(&request),
                )
            }
        },
        Some(_) => {
            return rpc_error(
                RpcError::invalid_params("params must be an array"),
                echo(&request),
            )
        }
    };
    if matches!(method, "subscribe" | "unsubscribe") {
        return rpc_error(
            RpcError::invalid_params("subscriptions need the WebSocket API"),
            echo(&params),
        );
    }
    let request = echo(&params);
    let method = method.to_owned();
    let result = tokio::task::spawn_blocking(move || shared.call(&method, &params)).await;
    match result {
        Ok(Ok(Json::Object(mut m))) => {
            m.insert("status".into(), Json::from("success"));
            AxumJson(json!({"result": m})).into_response()
        }
        Ok(Ok(other)) => AxumJson(json!({"result": other})).into_response(),
        Ok(Err(e)) => rpc_error(e, request),
        Err(_) => rpc_error(RpcError::bad_syntax(), request),
    }
}

fn rpc_error(e: RpcError, request: Json) -> Response {
    let mut m = e.fields();
    m.insert("request".into(), request);
    m.insert("status".into(), Json::from("error"));
    AxumJson(json!({ "result": m })).into_response()
}

async fn websocket(
    AxumState(shared): AxumState<Arc<Shared>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| ws_session(shared, socket))
}

/// One WebSocket client: its requests, and the streams it subscribed to.
#[derive(Default)]
struct Subscriptions {
    ledger: bool,
    transactions: bool,
    accounts: Vec<AccountId>,
    api_version: u32,
}

impl Subscriptions {
    fn wants(&self, p: &Published) -> Option<Json> {
        match p {
            Published::Ledger(msg) if self.ledger => Some(msg.clone()),
            Published::Transaction { v1, v2, accounts }
                if self.transactions || accounts.iter().any(|a| self.accounts.contains(a)) =>
            {
                Some(if self.api_version >= 2 {
                    v2.clone()
                } else {
                    v1.clone()
                })
            }
            _ => None,
        }
    }
}

async fn ws_session(shared: Arc<Shared>, mut socket: WebSocket) {
    let mut events = shared.published.subscribe();
    let mut subs = Subscriptions {
        api_version: 1,
        ..Default::default()
    };
    loop {
        let outgoing = tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => ws_request(&shared, &mut subs, text.as_str()).await,
                Some(Ok(Message::Binary(_))) => ws_error(&Json::Null, RpcError::bad_syntax(), &Json::Null),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            },
            published = events.recv() => match published {
                Ok(p) => match subs.wants(&p) { Some(msg) => msg, None => continue },
                // A slow client that missed messages is told nothing; it can
                // resubscribe. The stream goes on.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if socket
            .send(Message::Text(outgoing.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn ws_error(id: &Json, e: RpcError, request: &Json) -> Json {
    let mut m = e.fields();
    m.insert("request".into(), request.clone());
    m.insert("status".into(), Json::from("error"));
    m.insert("type".into(), Json::from("response"));
    if !id.is_null() {
        m.insert("id".into(), id.clone());
    }
    Json::Object(m)
}

/// Handle one WebSocket request: `{"id", "command", …params}`.
async fn ws_request(shared: &Arc<Shared>, subs: &mut Subscriptions, text: &str) -> Json {
    let request: Json = match serde_json::from_str(text) {
        Ok(j @ Json::Object(_)) => j,
        _ => return ws_error(&Json::Null, RpcError::bad_syntax(), &Json::Null),
    };
    let id = request.get("id").cloned().unwrap_or(Json::Null);
    let Some(command) = request
        .get("command")
        .or_else(|| request.get("method"))
        .and_then(Json::as_str)
        .map(str::to_owned)
    else {
        return ws_error(&id, RpcError::missing_command(), &request);
    };
    let result = match command.as_str() {
        "subscribe" | "unsubscribe" => {
            let shared = shared.clone();
            subscribe(&shared, subs, &request, command == "subscribe")
        }
        _ => {
            let shared = shared.clone();
            let params = request.clone();
            tokio::task::spawn_blocking(move || shared.call(&command, &params))
                .await
                .unwrap_or_else(|_| Err(RpcError::bad_syntax()))
        }
    };
    let version = rpc::api_version(&request).unwrap_or(1);
    match result {
        Ok(result) => {
            let mut m = Map::new();
            if !id.is_null() {
                m.insert("id".into(), id);
            }
            m.insert("result".into(), result);
            m.insert("status".into(), Json::from("success"));
            m.insert("type".into(), Json::from("response"));
            if version >= 2 {
                m.insert("api_version".into(), Json::from(version));
            }
            Json::Object(m)
        }
        Err(e) => ws_error(&id, e, &request),
    }
}

fn subscribe(
    shared: &Shared,
    subs: &mut Subscriptions,
    request: &Json,
    on: bool,
) -> Result<Json, RpcError> {
    subs.api_version = rpc::api_version(request)?;
    let mut result = json!({});
    if let Some(streams) = request.get("streams") {
        let streams = streams
            .as_array()
            .ok_or_else(|| RpcError::invalid_params("streams must be an array"))?;
        for s in streams {
            match s.as_str() {
                Some("ledger") => {
                    subs.ledger = on;
                    if on {
                        let node = shared.node();
                        let l = node.chain.last_closed().clone();
                        let mut msg = rpc::ledger_message(&node, &l);
                        if let Some(m) = msg.as_object_mut() {
                            m.remove("type");
                            m.remove("txn_count");
                        }
                        result = msg;
                    }
                }
                Some("transactions") => subs.transactions = on,
                _ => return Err(RpcError::malformed_stream()),
            }
        }
    }
    if let Some(accounts) = request.get("accounts") {
        let accounts = accounts
            .as_array()
            .ok_or_else(|| RpcError::invalid_params("accounts must be an array"))?;
        for a in accounts {
            let id: AccountId =
                a.as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| RpcError {
                        token: "actMalformed",
                        code: Some(35),
                        message: Some("Account malformed.".into()),
                        extra: Map::new(),
                    })?;
            if on {
                if !subs.accounts.contains(&id) {
                    subs.accounts.push(id);
                }
            } else {
                subs.accounts.retain(|x| *x != id);
            }
        }
    }
    Ok(result)
}
