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
use tonic::Code;

/// splitmix64: a seeded sequence, so a failure replays with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn text(&mut self, real: &[String]) -> String {
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
        let i = self.below(fixed.len() + real.len());
        fixed
            .get(i)
            .cloned()
            .unwrap_or_else(|| real[i - fixed.len()].clone())
    }

    fn amount(&mut self) -> u64 {
        [0, 1, 1_000, (1 << 63) - 1, 1 << 63, u64::MAX, self.next()][self.below(7)]
    }
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
    let method = rng.below(10);
    let (t, u) = (rng.text(real), rng.text(real));
    let amount = rng.amount();
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
                drip_token: rng.text(real),
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
    let mut rng = Rng(seed);
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
