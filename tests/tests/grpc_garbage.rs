//! Garbage through a real client to every gRPC method of the real sidecar:
//! random and boundary fields (empty, NUL bytes, huge, non-hex, 2^63 and
//! u64::MAX), as the merchant and as an arbitrary bearer. Every answer is a
//! result or a clear status (bad argument, not found, wrong state,
//! credentials), never INTERNAL or UNKNOWN, and the server keeps serving.

use std::time::Duration;

use drip_sidecar::proto::{
    AddUnitDebtRequest, AgreementRequest, AmountDueRequest, CreateSessionRequest,
    DestroySessionRequest, GetSessionRequest, InquireRequest, PayRequest, WatchSessionRequest,
};
use drip_tests::sidecar::{api, finish, world, Api, MERCHANT_TOKEN};
use drip_tests::sim::Rng;
use tonic::Code;

/// A number in `0..n`.
fn below(rng: &mut Rng, n: usize) -> usize {
    usize::try_from(rng.below(n as u64)).unwrap_or(0)
}

/// A string worth trying: boundaries, malformed values, or one of `real`.
fn text(rng: &mut Rng, real: &[String]) -> String {
    let fixed = [
        String::new(),
        "x".into(),
        "\0".into(),
        "a\0b".into(),
        "é∑\u{10FFFF}".into(),
        "a".repeat(257),
        "a".repeat(100_000),
        "zz".into(),
        "00".repeat(32),
        "drip://localhost/".into(),
    ];
    let i = below(rng, fixed.len() + real.len());
    fixed
        .get(i)
        .cloned()
        .unwrap_or_else(|| real[i - fixed.len()].clone())
}

/// An amount worth trying: 0, 1, 2^63 - 1, 2^63, u64::MAX, or random.
fn amount(rng: &mut Rng) -> u64 {
    let random = rng.next_u64();
    [0, 1, 1_000, (1 << 63) - 1, 1 << 63, u64::MAX, random][below(rng, 7)]
}

/// A clear refusal, or a success.
fn clear(r: Result<(), tonic::Status>, what: &str) {
    if let Err(s) = r {
        assert!(
            matches!(
                s.code(),
                Code::InvalidArgument
                    | Code::NotFound
                    | Code::FailedPrecondition
                    | Code::PermissionDenied
                    | Code::Unauthenticated
                    | Code::AlreadyExists
            ),
            "{what}: {:?} {}",
            s.code(),
            s.message()
        );
    }
}

async fn one_call(
    c: &mut Api,
    rng: &mut Rng,
    real: &[String],
) -> (String, Result<(), tonic::Status>) {
    let method = below(rng, 10);
    let (t, u) = (text(rng, real), text(rng, real));
    let amount = amount(rng);
    let what = format!(
        "method {method} ({} and {} chars, amount {amount})",
        t.len(),
        u.len()
    );
    let r = match method {
        0 => c
            .create_session(CreateSessionRequest { session_id: t })
            .await
            .map(drop),
        1 => c
            .get_session(GetSessionRequest { session_id: t })
            .await
            .map(drop),
        2 => c
            .destroy_session(DestroySessionRequest { session_id: t })
            .await
            .map(drop),
        3 => c.inquire(InquireRequest { drip_token: t }).await.map(drop),
        4 => c
            .refresh_inquire(InquireRequest { drip_token: t })
            .await
            .map(drop),
        5 => {
            let req = AgreementRequest {
                proposal_id: t,
                tx_hash: u,
                wait: amount.is_multiple_of(2),
                wait_seconds: 1,
                drip_token: text(rng, real),
            };
            if amount.is_multiple_of(3) {
                c.submit_refresh(req).await.map(drop)
            } else {
                c.submit_agreement(req).await.map(drop)
            }
        }
        6 => c
            .amount_due(AmountDueRequest { drip_token: t })
            .await
            .map(drop),
        7 => c
            .pay(PayRequest {
                drip_token: t,
                amount,
                signature: u,
            })
            .await
            .map(drop),
        8 => c
            .add_unit_debt(AddUnitDebtRequest {
                drip_token: t,
                amount,
            })
            .await
            .map(drop),
        _ => match c.watch_session(WatchSessionRequest { drip_token: t }).await {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
                    Ok(Err(s)) => Err(s),
                    _ => Ok(()),
                }
            }
            Err(s) => Err(s),
        },
    };
    (what, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_method_takes_garbage_without_breaking() {
    let w = world("grpc_garbage").await;
    let seed: u64 = std::env::var("GARBAGE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xd819_0022);
    let mut rng = Rng::new(seed);
    let mut merchant = api(&w, Some(MERCHANT_TOKEN)).await;
    let session = merchant
        .create_session(CreateSessionRequest {
            session_id: "web-garbage".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let proposal = merchant
        .inquire(InquireRequest {
            drip_token: session.drip_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let real = vec![
        session.drip_token.clone(),
        session.session_id.clone(),
        proposal.proposal_id,
    ];
    // A well-formed drip token nobody issued.
    let mut stranger = api(&w, Some(Box::leak("5a".repeat(20).into_boxed_str()))).await;
    for i in 0..300 {
        let c = if i % 3 == 0 {
            &mut stranger
        } else {
            &mut merchant
        };
        let (what, r) = one_call(c, &mut rng, &real).await;
        clear(r, &format!("seed {seed} call {i}: {what}"));
    }
    // Still serving, and the real session is as it was made.
    let due = merchant
        .amount_due(AmountDueRequest {
            drip_token: session.drip_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((due.paid, due.due), (0, 0));
    finish(w).await;
}
