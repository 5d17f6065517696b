//! The access-audit chain on PostgreSQL: one chain for every process on the database.
//!
//! Each process has one appender thread. It takes every seal queued (up to `BATCH`)
//! and, in one transaction, locks the chain's head row (`SELECT … FOR UPDATE`), seals
//! the entries in queue order from the link the row holds, inserts them and moves the
//! head. Another process's batch waits on the row lock until this one commits and then
//! starts from the new head, so the chain never forks; `audit_log`'s key and its
//! `audit_follow` constraint make a gap impossible even for a faulty writer. A seal is
//! answered after the commit.

use std::sync::mpsc;
use std::thread::JoinHandle;

use deadpool_postgres::{Object, Pool};

use super::write::Param;
use super::{connection, pg_error};
use crate::audit::{AuditLink, AuditSeal, SignedAuditEntry};
use crate::store::{pending, Answer, Pending, Result, StoreError};

/// Most seals appended in one transaction.
const BATCH: usize = 1024;

type Queued = (AuditSeal, Answer<u64>);

pub(super) struct Appender {
    queue: Option<mpsc::Sender<Queued>>,
    thread: Option<JoinHandle<()>>,
}

impl Appender {
    pub fn start(rt: tokio::runtime::Handle, pool: Pool) -> Appender {
        let (tx, rx) = mpsc::channel::<Queued>();
        let thread = std::thread::Builder::new()
            .name("elicence-audit-chain".into())
            .spawn(move || run(rt, pool, rx))
            .expect("spawning the audit appender");
        Appender {
            queue: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn append(&self, seal: AuditSeal) -> Pending<u64> {
        let (answer, rx) = pending();
        if let Some(q) = &self.queue {
            // A stopped appender drops the answer, which ends the wait with an error.
            let _ = q.send((seal, answer));
        }
        rx
    }

    /// Appends what is queued, then stops.
    pub fn stop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(rt: tokio::runtime::Handle, pool: Pool, rx: mpsc::Receiver<Queued>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let (seals, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        // This thread is no runtime's worker: it may drive the transaction itself, and
        // the seals sign on it, not on the runtime's two threads.
        let outcome = rt.block_on(async {
            let c = connection(&pool).await?;
            let r = append(&c, seals).await;
            if r.is_err() {
                // The transaction may be open on a broken connection: never reuse it.
                drop(Object::take(c));
            }
            r
        });
        match outcome {
            Ok(results) => {
                for (answer, r) in answers.into_iter().zip(results) {
                    answer.send(r);
                }
            }
            Err(e) => {
                for answer in answers {
                    answer.send(Err(StoreError::Io(e.to_string())));
                }
            }
        }
    }
}

/// One batch: each seal's answer, or the error that refused the whole batch (nothing of
/// it was stored).
async fn append(c: &Object, seals: Vec<AuditSeal>) -> Result<Vec<Result<u64>>> {
    let head = c
        .prepare_cached("SELECT next_seq, prev_digest, last_at FROM audit_head WHERE chain = 0 FOR UPDATE")
        .await
        .map_err(pg_error)?;
    let (begun, head) = tokio::join!(c.batch_execute("BEGIN"), c.query_one(&head, &[]));
    begun.map_err(pg_error)?;
    let head = match head {
        Ok(h) => h,
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            return Err(pg_error(e));
        }
    };
    let next: i64 = head.get(0);
    let prev: Vec<u8> = head.get(1);
    let mut link = AuditLink {
        seq: next as u64,
        prev: prev
            .try_into()
            .map_err(|_| StoreError::Corrupt("audit_head: digest is not 32 bytes".into()))?,
        last_at: head.get(2),
    };
    let mut entries: Vec<SignedAuditEntry> = Vec::with_capacity(seals.len());
    let mut results = Vec::with_capacity(seals.len());
    for seal in seals {
        let entry = seal(&link);
        if entry.seq != link.seq {
            // A seal that ignores its link is refused; the chain stays where it was.
            results.push(Err(StoreError::Conflict(format!("audit entry {}", entry.seq))));
            continue;
        }
        match AuditLink::after(Some(&entry)) {
            Ok(after) => {
                results.push(Ok(entry.seq));
                link = after;
                entries.push(entry);
            }
            Err(e) => results.push(Err(StoreError::Corrupt(format!("audit entry: {e}")))),
        }
    }
    if entries.is_empty() {
        c.batch_execute("ROLLBACK").await.map_err(pg_error)?;
        return Ok(results);
    }
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq as i64).collect();
    let keys: Vec<&str> = entries.iter().map(|e| e.key_id.as_str()).collect();
    let sigs: Vec<&[u8]> = entries.iter().map(|e| &e.signature[..]).collect();
    let bytes: Vec<&[u8]> = entries.iter().map(|e| e.bytes.as_slice()).collect();
    let (insert, update) = tokio::join!(
        c.prepare_cached(
            "INSERT INTO audit_log (chain, seq, prev_seq, key_id, signature, bytes) \
             SELECT 0, s, nullif(s, 0) - 1, k, g, b FROM unnest($1::int8[], $2::text[], $3::bytea[], $4::bytea[]) \
             AS t(s, k, g, b)"
        ),
        c.prepare_cached("UPDATE audit_head SET next_seq = $1, prev_digest = $2, last_at = $3 WHERE chain = 0"),
    );
    let (insert, update) = (insert.map_err(pg_error)?, update.map_err(pg_error)?);
    let next = link.seq as i64;
    let digest = link.prev.to_vec();
    let (insert_params, update_params): ([Param; 4], [Param; 3]) =
        ([&seqs, &keys, &sigs, &bytes], [&next, &digest, &link.last_at]);
    let (inserted, updated) = tokio::join!(c.execute(&insert, &insert_params), c.execute(&update, &update_params),);
    if let Err(e) = inserted.and(updated) {
        let _ = c.batch_execute("ROLLBACK").await;
        return Err(pg_error(e));
    }
    c.batch_execute("COMMIT")
        .await
        .map_err(|e| StoreError::Io(format!("postgresql: commit of audit entries: {e}")))?;
    Ok(results)
}
