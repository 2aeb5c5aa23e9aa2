//! BTP calls in flight on one connection: each request gets a random id no
//! other pending call holds, and waits for the Response or Error carrying
//! that id, up to a timeout. Both ends of the asymmetric plugin make calls
//! (the client to the server, the server to a client), so both use this.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::btp::Packet;

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError<E> {
    /// The request could not be sent.
    #[error("sending: {0}")]
    Send(E),
    /// The connection ended before the answer.
    #[error("the connection closed")]
    Closed,
    /// No answer in time.
    #[error("no answer in time")]
    Timeout,
}

/// The pending calls of one connection.
#[derive(Debug, Default)]
pub struct Calls {
    pending: Mutex<HashMap<u32, oneshot::Sender<Packet>>>,
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    // A failed random source only makes ids predictable, not wrong: the
    // id is still checked against the pending ones.
    let _ = getrandom::getrandom(&mut b);
    u32::from_be_bytes(b)
}

impl Calls {
    /// The map; a poisoned lock only means a panicking holder, and every
    /// change is one insert or remove, so the map stays whole.
    fn pending(&self) -> MutexGuard<'_, HashMap<u32, oneshot::Sender<Packet>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Make a call: `send` sends the request under the id it is given; the
    /// answer carrying that id is returned. `timeout` covers the send too: a
    /// peer that stops reading fills its queue, and must not hold the caller
    /// past it.
    pub async fn call<E, F, Fut>(&self, timeout: Duration, send: F) -> Result<Packet, CallError<E>>
    where
        F: FnOnce(u32) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut pending = self.pending();
            let mut id = random_u32();
            while pending.contains_key(&id) {
                id = random_u32();
            }
            pending.insert(id, tx);
            id
        };
        let answer = tokio::time::timeout(timeout, async {
            send(id).await.map_err(CallError::Send)?;
            rx.await.map_err(|_| CallError::Closed)
        })
        .await;
        self.pending().remove(&id);
        answer.unwrap_or(Err(CallError::Timeout))
    }

    /// Hand an answer to the call waiting for it (answers nobody waits for
    /// are dropped).
    pub fn answered(&self, packet: Packet) {
        if let Some(tx) = self.pending().remove(&packet.request_id) {
            let _ = tx.send(packet);
        }
    }

    /// The connection ended: every waiting call learns it.
    pub fn close(&self) {
        self.pending().clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::btp::Body;
    use std::sync::Arc;

    #[tokio::test]
    async fn answers_find_their_calls() {
        let calls = Arc::new(Calls::default());
        let (c, sent) = (calls.clone(), Arc::new(Mutex::new(None)));
        let s = sent.clone();
        let call = tokio::spawn(async move {
            c.call(Duration::from_secs(5), |id| async move {
                *s.lock().unwrap() = Some(id);
                Ok::<_, ()>(())
            })
            .await
        });
        let id = loop {
            if let Some(id) = *sent.lock().unwrap() {
                break id;
            }
            tokio::task::yield_now().await;
        };
        // An answer for another id changes nothing.
        calls.answered(Packet {
            request_id: id.wrapping_add(1),
            body: Body::Response(vec![]),
        });
        calls.answered(Packet {
            request_id: id,
            body: Body::Response(vec![]),
        });
        assert_eq!(call.await.unwrap().unwrap().request_id, id);
        assert!(calls.pending().is_empty());
    }

    #[tokio::test]
    async fn calls_end_on_timeout_send_failure_and_close() {
        let calls = Arc::new(Calls::default());
        let timeout = calls
            .call(Duration::from_millis(10), |_| async { Ok::<_, ()>(()) })
            .await;
        assert_eq!(timeout, Err(CallError::Timeout));
        let failed = calls
            .call(Duration::from_secs(5), |_| async { Err("down") })
            .await;
        assert_eq!(failed, Err(CallError::Send("down")));
        // A send that never completes (the peer's queue full) times out too.
        let stuck = tokio::time::timeout(
            Duration::from_secs(5),
            calls.call(Duration::from_millis(10), |_| {
                std::future::pending::<Result<(), ()>>()
            }),
        )
        .await;
        assert_eq!(stuck, Ok(Err(CallError::Timeout)));
        assert!(calls.pending().is_empty());
        let c = calls.clone();
        let waiting = tokio::spawn(async move {
            c.call(Duration::from_secs(5), |_| async { Ok::<_, ()>(()) })
                .await
        });
        while calls.pending().is_empty() {
            tokio::task::yield_now().await;
        }
        calls.close();
        assert_eq!(waiting.await.unwrap(), Err(CallError::Closed));
        assert!(calls.pending().is_empty());
    }
}
