//! Caps on the connections a server holds: in all, and from one address
//! (an IPv6 client counts by its /64, which one host usually holds whole).
//! A connection over either cap is closed as soon as it is accepted, before
//! it costs a handshake; one let in holds an [`Admission`] until it closes.
//! For gRPC, [`incoming`] also closes a connection that stays silent longer
//! than the keepalive allows, handshake included.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

use crate::metrics::Metrics;

/// The connection caps of one server.
#[derive(Debug)]
pub struct ConnectionLimit {
    server: &'static str,
    max: usize,
    max_per_ip: usize,
    open: Mutex<Open>,
    metrics: Metrics,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A connection let in; dropping it frees its place.
#[derive(Debug)]
pub struct Admission {
    limit: Arc<ConnectionLimit>,
    ip: IpAddr,
}

/// The address a client is counted by.
fn counted_as(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl ConnectionLimit {
    /// At most `max` connections to `server` ("grpc", "btp"), `max_per_ip`
    /// of them from one address.
    pub fn new(server: &'static str, max: usize, max_per_ip: usize, metrics: Metrics) -> Arc<Self> {
        Arc::new(ConnectionLimit {
            server,
            max,
            max_per_ip,
            open: Mutex::default(),
            metrics,
        })
    }

    /// Let a connection from `ip` in, or refuse it (counted in the metrics).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admission> {
        let ip = counted_as(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        let refused = if open.total >= self.max {
            Some("total")
        } else if from_ip >= self.max_per_ip {
            Some("per_ip")
        } else {
            None
        };
        if let Some(reason) = refused {
            drop(open);
            self.metrics.connection_refused(self.server, reason);
            return None;
        }
        open.total += 1;
        open.per_ip.insert(ip, from_ip + 1);
        self.metrics.connections(self.server, open.total);
        Some(Admission {
            limit: self.clone(),
            ip,
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let limit = &self.limit;
        let mut open = limit.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
        limit.metrics.connections(limit.server, open.total);
    }
}

/// Accept from `listener` for gRPC: connections over `limit`'s caps are
/// closed at once, and each one let in is closed once it sent nothing for
/// `silence` (longer than the keepalive's ping interval and timeout, so
/// only a peer that never completed its handshake, or stopped answering
/// pings, is ever cut).
pub fn incoming(
    listener: TcpListener,
    limit: Arc<ConnectionLimit>,
    silence: Duration,
) -> impl Stream<Item = io::Result<Guarded>> {
    futures_util::stream::unfold(listener, move |listener| {
        let limit = limit.clone();
        async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        if let Some(admission) = limit.admit(peer.ip()) {
                            let _ = stream.set_nodelay(true);
                            return Some((Ok(Guarded::new(stream, admission, silence)), listener));
                        }
                    }
                    Err(e) => {
                        // Out of file descriptors, say: do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        return Some((Err(e), listener));
                    }
                }
            }
        }
    })
}

/// An admitted TCP connection that fails its reads once the peer has been
/// silent too long.
#[derive(Debug)]
pub struct Guarded {
    stream: TcpStream,
    silence: Duration,
    deadline: Pin<Box<Sleep>>,
    _admission: Admission,
}

impl Guarded {
    fn new(stream: TcpStream, admission: Admission, silence: Duration) -> Guarded {
        Guarded {
            stream,
            silence,
            deadline: Box::pin(tokio::time::sleep(silence)),
            _admission: admission,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.deadline.as_mut().reset(Instant::now() + this.silence);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer stayed silent",
                ))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Guarded {
    // TCP's own: the TLS layer's client certificates are found by it.
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_in_all_and_per_address() {
        let limit = ConnectionLimit::new("test", 3, 2, Metrics::new());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limit.admit(a).unwrap();
        let _a2 = limit.admit(a).unwrap();
        assert!(limit.admit(a).is_none(), "a third from one address");
        let _b1 = limit.admit(b).unwrap();
        assert!(limit.admit(b).is_none(), "a fourth in all");
        drop(a1);
        assert!(limit.admit(a).is_some(), "a place freed");
    }

    #[test]
    fn an_ipv6_host_counts_by_its_64() {
        let limit = ConnectionLimit::new("test", 10, 1, Metrics::new());
        let _one = limit.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(limit.admit("2001:db8:1:2::ffff".parse().unwrap()).is_none());
        assert!(limit.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
        // An IPv4-mapped address is its IPv4 one.
        let _v4 = limit.admit("10.1.1.1".parse().unwrap()).unwrap();
        assert!(limit.admit("::ffff:10.1.1.1".parse().unwrap()).is_none());
    }
}
