//! The answer to a queued write: the store's committer sends it once the write is
//! decided (and, for every write but an audit entry, durable). A caller awaits it on the
//! async executor or, off the executor, blocks on it with [`Pending::wait`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use super::{Result, StoreError};

/// The shared slot: the answer once sent; `closed` when the sender is gone.
struct Slot<T> {
    state: Mutex<State<T>>,
    sent: Condvar,
}

struct State<T> {
    value: Option<Result<T>>,
    closed: bool,
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn close(&self, value: Option<Result<T>>) {
        let waker = {
            let mut s = self.lock();
            if s.closed {
                return;
            }
            s.value = value;
            s.closed = true;
            s.waker.take()
        };
        self.sent.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The sending half, held by the writer.
pub struct Answer<T>(Arc<Slot<T>>);

impl<T> Answer<T> {
    /// Sends the answer. A caller that stopped waiting (a cancelled request) is not an
    /// error: its write stands.
    pub fn send(self, r: Result<T>) {
        self.0.close(Some(r));
    }
}

impl<T> Drop for Answer<T> {
    /// An answer dropped unsent (a writer that stopped) ends the wait with an error.
    fn drop(&mut self) {
        self.0.close(None);
    }
}

/// The receiving half, returned by every write of [`super::Store`].
#[must_use = "a write is only known to have succeeded once its answer is read"]
pub struct Pending<T>(Arc<Slot<T>>);

/// A pending answer and the sender that will resolve it.
pub fn pending<T>() -> (Answer<T>, Pending<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State {
            value: None,
            closed: false,
            waker: None,
        }),
        sent: Condvar::new(),
    });
    (Answer(slot.clone()), Pending(slot))
}

fn stopped() -> StoreError {
    StoreError::Io("the store's writer stopped before answering".into())
}

impl<T> Pending<T> {
    /// An answer known already (a backend that writes synchronously, or a write refused
    /// before it was queued).
    pub fn ready(r: Result<T>) -> Pending<T> {
        let (tx, rx) = pending();
        tx.send(r);
        rx
    }

    /// Blocks the calling thread until the answer arrives (CLI commands, the blocking
    /// pool; on an async executor thread, `.await` instead).
    pub fn wait(self) -> Result<T> {
        let mut s = self.0.lock();
        while !s.closed {
            s = self.0.sent.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.value.take().unwrap_or_else(|| Err(stopped()))
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut s = self.0.lock();
        if s.closed {
            return Poll::Ready(s.value.take().unwrap_or_else(|| Err(stopped())));
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reaches_a_blocked_waiter_and_a_dropped_sender_ends_the_wait() {
        let (tx, rx) = pending::<u32>();
        let t = std::thread::spawn(move || rx.wait());
        std::thread::sleep(std::time::Duration::from_millis(20));
        tx.send(Ok(7));
        assert_eq!(t.join().unwrap().unwrap(), 7);

        let (tx, rx) = pending::<u32>();
        drop(tx);
        assert!(matches!(rx.wait(), Err(StoreError::Io(m)) if m.contains("stopped")));
    }

    #[tokio::test]
    async fn an_answer_wakes_an_awaiting_task() {
        let (tx, rx) = pending::<&str>();
        let task = tokio::spawn(rx);
        tokio::task::yield_now().await;
        tx.send(Ok("done"));
        assert_eq!(task.await.unwrap().unwrap(), "done");
        assert_eq!(Pending::ready(Ok(1)).await.unwrap(), 1);
    }
}
