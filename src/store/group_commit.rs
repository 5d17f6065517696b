//! Group commit: callers that need durability queue a waiter; one flusher thread takes
//! every waiter queued so far, flushes once, and answers them all. A waiter that
//! arrives during a flush is served by the next one, so its write is always covered.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use tokio::sync::oneshot;

use super::{Result, StoreError};

type Waiter = oneshot::Sender<Result<()>>;

pub struct GroupCommit {
    tx: Option<mpsc::Sender<Waiter>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flusher thread. `flush` performs one durable flush.
    pub fn start(flush: Arc<dyn Fn() -> Result<()> + Send + Sync>) -> GroupCommit {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let thread = thread::Builder::new()
            .name("elicence-group-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut waiters = vec![first];
                    while let Ok(w) = rx.try_recv() {
                        waiters.push(w);
                    }
                    let result = flush();
                    for w in waiters {
                        let r = match &result {
                            Ok(()) => Ok(()),
                            Err(e) => Err(StoreError::Io(format!("flush failed: {e}"))),
                        };
                        let _ = w.send(r);
                    }
                }
            })
            .expect("spawn group-commit thread");
        GroupCommit {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn wait(&self) -> oneshot::Receiver<Result<()>> {
        let (tx, rx) = oneshot::channel();
        match &self.tx {
            Some(sender) => {
                if let Err(mpsc::SendError(w)) = sender.send(tx) {
                    let _ = w.send(Err(StoreError::Io("group-commit thread stopped".into())));
                }
            }
            None => {
                let _ = tx.send(Err(StoreError::Io("group-commit thread stopped".into())));
            }
        }
        rx
    }
}

impl Drop for GroupCommit {
    /// Serves the waiters already queued, then stops the thread (which releases the
    /// database handle it holds).
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_share_flushes() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let f = flushes.clone();
        let gc = Arc::new(GroupCommit::start(Arc::new(move || {
            f.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            Ok(())
        })));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let gc = gc.clone();
            tasks.push(tokio::spawn(async move { gc.wait().await.unwrap() }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!((1..100).contains(&n), "200 waiters took {n} flushes");
    }
}
