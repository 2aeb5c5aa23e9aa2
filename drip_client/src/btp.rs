//! A BTP 2.0 connection over WebSocket (ws or wss), as an ILP client holds it: the
//! auth handshake, requests matched to their answers by id (with a
//! timeout), and the server's own requests handed to the caller to answer.

use std::sync::Arc;
use std::time::Duration;

use drip_ilp::asym::protocol;
use drip_ilp::btp::{self, Body, Packet, ProtocolData};
use drip_ilp::calls::{CallError, Calls};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

/// What went wrong on the connection.
#[derive(Debug, thiserror::Error)]
pub enum BtpError {
    /// The WebSocket could not be opened or broke.
    #[error("BTP connection: {0}")]
    Socket(String),
    /// The server refused the auth (its Error's data).
    #[error("BTP auth refused: {0}")]
    Refused(String),
    /// No answer in time.
    #[error("BTP: no answer in time")]
    Timeout,
    /// The connection closed.
    #[error("BTP connection closed")]
    Closed,
}

/// An authenticated BTP connection.
#[derive(Debug)]
pub struct Connection {
    out: mpsc::Sender<Vec<u8>>,
    calls: Arc<Calls>,
    requests: tokio::sync::Mutex<mpsc::Receiver<Packet>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

/// A TLS client configuration trusting only the certificates in `pem`.
fn tls_trusting(pem: &[u8]) -> Result<rustls::ClientConfig, BtpError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |e: &dyn std::fmt::Display| BtpError::Socket(format!("TLS: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(&e))?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

impl Connection {
    /// Connect to `url` (`ws://…`) and authenticate with `username` (the JS
    /// client sends '') and `token`.
    pub async fn connect(
        url: &str,
        username: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<Connection, BtpError> {
        Connection::connect_trusting(url, username, token, None, timeout).await
    }

    /// [`Connection::connect`], trusting the PEM certificate `ca` for wss
    /// (a server's self-signed one, or a private CA).
    pub async fn connect_trusting(
        url: &str,
        username: &str,
        token: &str,
        ca: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Connection, BtpError> {
        let connector = match ca {
            None => None,
            Some(pem) => Some(tokio_tungstenite::Connector::Rustls(Arc::new(
                tls_trusting(pem)?,
            ))),
        };
        let open = tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector);
        let (ws, _) = tokio::time::timeout(timeout, open)
            .await
            .map_err(|_| BtpError::Timeout)?
            .map_err(|e| BtpError::Socket(e.to_string()))?;
        let (mut sink, mut source) = ws.split();
        let (out, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
        let (req_tx, requests) = mpsc::channel::<Packet>(64);
        let calls = Arc::new(Calls::default());
        let writer = tokio::spawn(async move {
            while let Some(frame) = out_rx.recv().await {
                if sink.send(Frame::Binary(frame.into())).await.is_err() {
                    break;
                }
            }
        });
        let answers = calls.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(frame)) = source.next().await {
                let Frame::Binary(bytes) = frame else {
                    continue;
                };
                let Ok(packet) = Packet::decode(&bytes) else {
                    continue;
                };
                match packet.body {
                    Body::Response(_) | Body::Error(_) => answers.answered(packet),
                    _ => {
                        if req_tx.send(packet).await.is_err() {
                            break;
                        }
                    }
                }
            }
            // Closed: every waiting call learns it.
            answers.close();
        });
        let conn = Connection {
            out,
            calls,
            requests: tokio::sync::Mutex::new(requests),
            tasks: vec![writer, reader],
        };
        let auth = vec![
            ProtocolData::new(protocol::AUTH, btp::OCTET_STREAM, vec![]),
            ProtocolData::new(protocol::AUTH_USERNAME, btp::TEXT, username),
            ProtocolData::new(protocol::AUTH_TOKEN, btp::TEXT, token),
        ];
        match conn.call(Body::Message(auth), timeout).await?.body {
            Body::Response(_) => Ok(conn),
            Body::Error(e) => Err(BtpError::Refused(
                String::from_utf8_lossy(&e.data).into_owned(),
            )),
            _ => Err(BtpError::Closed),
        }
    }

    /// Close the socket (also done when the connection is dropped).
    pub fn close(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Send raw bytes as one frame (tests of malformed input).
    pub async fn send_raw(&self, bytes: Vec<u8>) -> Result<(), BtpError> {
        self.out.send(bytes).await.map_err(|_| BtpError::Closed)
    }

    /// Send a request and wait for its Response or Error.
    pub async fn call(&self, body: Body, timeout: Duration) -> Result<Packet, BtpError> {
        self.calls
            .call(timeout, |request_id| {
                self.send_raw(Packet { request_id, body }.encode())
            })
            .await
            .map_err(|e| match e {
                CallError::Send(e) => e,
                CallError::Closed => BtpError::Closed,
                CallError::Timeout => BtpError::Timeout,
            })
    }

    /// The server's next request (a Message or Transfer), to answer with
    /// [`Connection::respond`].
    pub async fn next_request(&self) -> Option<Packet> {
        self.requests.lock().await.recv().await
    }

    /// Answer the server's request `request_id`.
    pub async fn respond(&self, request_id: u32, body: Body) -> Result<(), BtpError> {
        self.send_raw(Packet { request_id, body }.encode()).await
    }
}
