//! Group commit: callers that need durability queue a waiter; one flusher thread takes
//! every waiter queued so far, flushes once, and answers them all. A waiter that
//! arrives during a flush is served by the next one, so its write is always covered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use super::{pending, Pending, Result, StoreError};

/// Called with the result of the flush that covers it.
pub type Waiter = Box<dyn FnOnce(Result<()>) + Send>;

pub struct GroupCommit {
    tx: Option<mpsc::Sender<Waiter>>,
    thread: Option<thread::JoinHandle<()>>,
    failed: Arc<AtomicBool>,
}

impl GroupCommit {
    /// Starts the flusher thread. `flush` performs one durable flush.
    pub fn start(flush: Arc<dyn Fn() -> Result<()> + Send + Sync>) -> GroupCommit {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let failed = Arc::new(AtomicBool::new(false));
        let mark = failed.clone();
        let thread = thread::Builder::new()
            .name("elicence-group-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut waiters = vec![first];
                    while let Ok(w) = rx.try_recv() {
                        waiters.push(w);
                    }
                    let result = flush();
                    if result.is_err() {
                        // What reached the journal but not the disk is in doubt: no
                        // later write may build on it (PostgreSQL's rule after a failed
                        // fsync). Reads go on; a restart replays the journal.
                        mark.store(true, Ordering::SeqCst);
                    }
                    for w in waiters {
                        w(match &result {
                            Ok(()) => Ok(()),
                            Err(e) => Err(StoreError::Io(format!("flush failed: {e}"))),
                        });
                    }
                }
            })
            .expect("spawn group-commit thread");
        GroupCommit {
            tx: Some(tx),
            thread: Some(thread),
            failed,
        }
    }

    /// Queues `w` for the next flush (one that starts after this call).
    pub fn enqueue(&self, w: Waiter) {
        match &self.tx {
            Some(sender) => {
                if let Err(mpsc::SendError(w)) = sender.send(w) {
                    w(Err(StoreError::Io("group-commit thread stopped".into())));
                }
            }
            None => w(Err(StoreError::Io("group-commit thread stopped".into()))),
        }
    }

    /// Answers once everything written before the call is durable.
    pub fn wait(&self) -> Pending<()> {
        let (answer, rx) = pending();
        self.enqueue(Box::new(move |r| answer.send(r)));
        rx
    }

    /// Whether a flush has failed since open: the store then refuses writes.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }
}

/// Answers `result` once the flush that covers it is done; a refused write at once.
pub fn after_flush<T: Send + 'static>(commit: &GroupCommit, result: Result<T>) -> Pending<T> {
    match result {
        Err(e) => Pending::ready(Err(e)),
        Ok(v) => {
            let (answer, rx) = pending();
            commit.enqueue(Box::new(move |r| answer.send(r.map(|()| v))));
            rx
        }
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
            tasks.push(tokio::spawn(async move { gc.wait().await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!((1..100).contains(&n), "200 waiters took {n} flushes");
    }

    /// A failed flush fails every write it covered and every write after it: what the
    /// journal holds past the last good flush is in doubt until a restart replays it.
    #[test]
    fn a_failed_flush_fails_its_waiters_and_marks_the_store() {
        let fail = Arc::new(AtomicBool::new(false));
        let f = fail.clone();
        let gc = GroupCommit::start(Arc::new(move || {
            if f.load(Ordering::SeqCst) {
                Err(StoreError::Io("disk full".into()))
            } else {
                Ok(())
            }
        }));
        gc.wait().wait().unwrap();
        assert!(!gc.failed());
        fail.store(true, Ordering::SeqCst);
        let e = gc.wait().wait().unwrap_err().to_string();
        assert!(e.contains("flush failed") && e.contains("disk full"), "{e}");
        assert!(gc.failed());
        // A refused write is answered at once, without waiting for a flush.
        assert!(after_flush::<u32>(&gc, Err(StoreError::Conflict("x".into())))
            .wait()
            .is_err());
    }
}
