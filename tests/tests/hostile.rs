//! The sidecar's gRPC server against hostile callers, over real sockets:
//! connections beyond the caps, silent ones and dragged-out TLS handshakes
//! are closed; made-up paths add no metric series; streams per connection
//! are capped, an abandoned WatchSession on an idle session ends, and a
//! call held up ends at the request timeout. (The ILP server's are in
//! btp.rs.)

use std::net::IpAddr;
use std::time::Duration;

use drip_sidecar::proto::{CreateSessionRequest, GetSessionRequest, WatchSessionRequest};
use drip_tests::raw;
use drip_tests::sidecar::{
    api, finish, grpc_channel, metric, metrics_text, sidecar, world_with, APP_TOKEN, MERCHANT_TOKEN,
};
use tokio::io::AsyncWriteExt;
use tonic::codegen::{http, Service};
use tonic::transport::Channel;
use tonic::Code;

const T: Duration = Duration::from_secs(10);

fn session(id: &str) -> CreateSessionRequest {
    CreateSessionRequest {
        session_id: id.into(),
    }
}

#[tokio::test]
async fn connections_beyond_the_caps_silent_or_slow_are_closed() {
    let w = world_with("grpc_caps", |c| {
        c.grpc_limits.max_connections = 3;
        c.grpc_limits.max_connections_per_ip = 2;
        c.grpc_limits.handshake_timeout = Duration::from_secs(1);
        c.grpc_limits.keepalive_interval = Duration::from_secs(1);
        c.grpc_limits.keepalive_timeout = Duration::from_secs(2);
    })
    .await;
    let addr = sidecar(&w).grpc_addr;
    let there = IpAddr::from([127, 0, 0, 2]);
    // Two connections from one address are served, a third is not.
    let mut one = api(&w, Some(MERCHANT_TOKEN)).await;
    let mut two = api(&w, Some(MERCHANT_TOKEN)).await;
    one.create_session(session("caps-1")).await.unwrap();
    two.create_session(session("caps-2")).await.unwrap();
    assert!(grpc_channel(&w).await.is_err(), "a third from one address");
    // Another address has the last place, and no more.
    let mut last = raw::tcp(addr, there, None).await;
    let mut beyond = raw::tcp(addr, there, None).await;
    assert!(raw::closed_within(&mut beyond, T).await, "a fourth in all");
    let refused = |reason: &str| {
        format!("drip_connections_refused_total{{server=\"grpc\",reason=\"{reason}\"}}")
    };
    assert_eq!(metric(&w, &refused("per_ip")).await, Some(1.0));
    assert_eq!(metric(&w, &refused("total")).await, Some(1.0));

    // The last place is held by a connection that says nothing: it is
    // closed once it has been silent for the keepalive's interval and
    // timeout, though it never started HTTP/2.
    assert!(
        raw::closed_within(&mut last, T).await,
        "a silent connection"
    );
    // A TLS handshake dragged out a byte at a time is never silent that
    // long, and is closed at the handshake timeout.
    let slow = raw::tcp(addr, there, None).await;
    let (mut from_server, mut to_server) = slow.into_split();
    let trickle = async {
        // A ClientHello record's header, then its body byte by byte.
        let hello = [0x16, 0x03, 0x01, 0x02, 0x00].into_iter().chain([0; 512]);
        for b in hello {
            if to_server.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        std::future::pending::<()>().await;
    };
    let closed = tokio::select! {
        closed = raw::closed_within(&mut from_server, T) => closed,
        () = trickle => unreachable!(),
    };
    assert!(closed, "a slow TLS handshake");
    // Clients that answer the keepalive's pings are served on.
    one.create_session(session("caps-3")).await.unwrap();
    finish(w).await;
}

/// A call to `path` with no credentials and no message, over `channel`;
/// its gRPC status.
async fn made_up_call(channel: &Channel, path: &str) -> String {
    let mut channel = channel.clone();
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = channel.call(request).await.unwrap();
    response
        .headers()
        .get("grpc-status")
        .map(|s| s.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn methods_streams_and_slow_calls_are_bounded() {
    let w = world_with("grpc_streams", |c| {
        c.grpc_limits.max_concurrent_streams = 2;
        c.grpc_limits.request_timeout = Duration::from_secs(1);
    })
    .await;
    let mut merchant = api(&w, Some(MERCHANT_TOKEN)).await;
    let token = merchant
        .create_session(session("idle"))
        .await
        .unwrap()
        .into_inner()
        .drip_token;

    // Paths no service serves are timed as `unknown`, not each as itself.
    let channel = grpc_channel(&w).await.unwrap();
    for path in [
        "/x.Y/Made1",
        "/x.Y/Made2",
        "/drip.v1.Drip/Made3",
        "/grpc.health.v1.Health/Made4",
    ] {
        assert!(!made_up_call(&channel, path).await.is_empty(), "{path}");
    }
    let text = metrics_text(&w).await;
    assert!(!text.contains("Made"), "{text}");
    assert!(
        text.contains("drip_grpc_request_seconds_count{method=\"unknown\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("drip_grpc_request_seconds_count{method=\"CreateSession\"} 1\n"),
        "{text}"
    );

    // Two streams on one connection (grpc.max_concurrent_streams); a third
    // waits for a place. Open for longer than the request timeout, they
    // are not cut.
    let app = api(&w, Some(APP_TOKEN)).await;
    let watch = || {
        let (mut app, token) = (app.clone(), token.clone());
        async move {
            let mut stream = app
                .watch_session(WatchSessionRequest { drip_token: token })
                .await
                .unwrap()
                .into_inner();
            stream.message().await.unwrap().unwrap();
            stream
        }
    };
    let first = watch().await;
    let second = watch().await;
    let mut third = Box::pin(watch());
    assert!(
        tokio::time::timeout(Duration::from_secs(2), &mut third)
            .await
            .is_err(),
        "a third stream at once"
    );
    assert_eq!(metric(&w, "drip_watch_streams").await, Some(2.0));
    drop(first);
    let third = tokio::time::timeout(T, third)
        .await
        .expect("the third stream, once a place is free");
    // Abandoned, on a session that never changes: the streams end.
    drop((second, third));
    let mut open = None;
    for _ in 0..100 {
        open = metric(&w, "drip_watch_streams").await;
        if open == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, Some(0.0), "abandoned streams still open");

    // A call the database holds up ends at the request timeout.
    let mut db = w.db.client().await;
    let lock = db.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE drip.sessions IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let held = tokio::time::timeout(
        T,
        merchant.get_session(GetSessionRequest {
            session_id: "idle".into(),
        }),
    )
    .await
    .expect("no answer within 10 s");
    assert_eq!(held.unwrap_err().code(), Code::Cancelled);
    lock.rollback().await.unwrap();
    merchant
        .get_session(GetSessionRequest {
            session_id: "idle".into(),
        })
        .await
        .unwrap();
    finish(w).await;
}
