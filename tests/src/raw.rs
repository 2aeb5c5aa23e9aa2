//! Raw sockets for tests of hostile clients: TCP from a chosen loopback
//! address, a WebSocket spoken by hand (handshake and frames, so a test can
//! send what no library would: pings too), and a wait for the server to
//! close.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `to` from `from` (any 127.x.y.z works on Linux);
/// with `recv_buffer`, a receive buffer that small (set before connecting,
/// so the window stays small: a client that barely reads).
pub async fn tcp(to: SocketAddr, from: IpAddr, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the server closes `s` within `limit`; whatever it sends
/// meanwhile is read and dropped.
pub async fn closed_within(s: &mut (impl AsyncRead + Unpin), limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The HTTP request that opens a WebSocket.
pub const UPGRADE: &str =
    "GET / HTTP/1.1\r\nHost: drip\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Open a WebSocket on `s`: Err if the server does not switch protocols.
pub async fn ws_handshake(s: &mut TcpStream) -> std::io::Result<()> {
    s.write_all(UPGRADE.as_bytes()).await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    if head.starts_with(b"HTTP/1.1 101") {
        Ok(())
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&head).into_owned(),
        ))
    }
}

/// One binary WebSocket frame from a client (masked, as clients must).
pub fn ws_frame(payload: &[u8]) -> Vec<u8> {
    client_frame(0x82, payload)
}

/// A Ping from a client (a control frame: at most 125 bytes of payload),
/// which the server answers with a Pong of the same payload.
pub fn ws_ping(payload: &[u8]) -> Vec<u8> {
    client_frame(0x89, payload)
}

/// A final frame with `first` as its first byte (FIN and opcode), masked.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![first];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The next frame from the server: its opcode and payload; None once the
/// socket closed.
pub async fn ws_read(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await.ok()?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            s.read_exact(&mut n).await.ok()?;
            u64::from(u16::from_be_bytes(n))
        }
        127 => {
            let mut n = [0u8; 8];
            s.read_exact(&mut n).await.ok()?;
            u64::from_be_bytes(n)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    s.read_exact(&mut payload).await.ok()?;
    Some((head[0] & 0x0f, payload))
}

/// The next binary frame's payload, skipping pings; None once closed.
pub async fn ws_binary(s: &mut TcpStream) -> Option<Vec<u8>> {
    loop {
        match ws_read(s).await? {
            (0x2, payload) => return Some(payload),
            (0x8, _) => return None,
            _ => {}
        }
    }
}
