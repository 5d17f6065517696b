//! The transparency log on PostgreSQL.
//!
//! Leaves are queued by trigger in the same transaction as the rows they log
//! (`sql/0002_transparency_log.sql`); each process runs one sequencer thread which, every
//! `INTERVAL` (and at once when this process has just written), takes the queue in one
//! transaction: it locks `tlog_head`, gives up to `BATCH` queued leaves the next
//! positions in queue order, stores the tree hashes they complete (computed from the
//! hashes of the tree's right edge, read once per batch), and removes them from the
//! queue. Another process's sequencer waits on the row lock and then finds the queue
//! taken, so positions are never given twice and never skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use deadpool_postgres::{Object, Pool};

use super::write::Param;
use super::{connection, pg_error};
use crate::store::{Result, StoreError};
use crate::tlog::{self, Hash};

/// Most leaves positioned in one transaction.
const BATCH: i64 = 10_000;
/// How often the queue is looked at when this process has not written.
const INTERVAL: Duration = Duration::from_millis(200);

pub(super) struct Sequencer {
    wake: Option<mpsc::Sender<()>>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sequencer {
    pub fn start(rt: tokio::runtime::Handle, pool: Pool) -> Sequencer {
        let (tx, rx) = mpsc::channel::<()>();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("elicence-tlog".into())
            .spawn(move || run(rt, pool, rx, &stop))
            .expect("spawning the log sequencer");
        Sequencer {
            wake: Some(tx),
            stopping,
            thread: Some(thread),
        }
    }

    /// What asks for a round now (after a write of this process committed).
    pub fn waker(&self) -> Waker {
        Waker(self.wake.clone())
    }

    /// Positions what is queued, then stops.
    pub fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(w) = self.wake.take() {
            let _ = w.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(super) struct Waker(Option<mpsc::Sender<()>>);

impl Waker {
    pub fn wake(&self) {
        if let Some(w) = &self.0 {
            let _ = w.send(());
        }
    }
}

fn run(rt: tokio::runtime::Handle, pool: Pool, rx: mpsc::Receiver<()>, stop: &AtomicBool) {
    loop {
        match rx.recv_timeout(INTERVAL) {
            Ok(()) => while rx.try_recv().is_ok() {},
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => stop.store(true, Ordering::SeqCst),
        }
        let stopping = stop.load(Ordering::SeqCst);
        // Rounds until the queue is empty (a backlog goes in BATCH-sized transactions).
        loop {
            match rt.block_on(round(&pool)) {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "transparency log: positioning queued leaves failed; retrying");
                    break;
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// One transaction: positions up to `BATCH` queued leaves. Answers how many.
pub(super) async fn round(pool: &Pool) -> Result<usize> {
    let c = connection(pool).await?;
    let r = sequence(&c).await;
    if r.is_err() {
        // The transaction may be open on a broken connection: never reuse it.
        drop(Object::take(c));
    }
    r
}

async fn sequence(c: &Object) -> Result<usize> {
    let (head, queued) = tokio::join!(
        c.prepare_cached("SELECT size FROM tlog_head WHERE log = 0 FOR UPDATE"),
        c.prepare_cached("SELECT id, leaf_key, entry FROM tlog_pending ORDER BY id LIMIT $1"),
    );
    let (head, queued) = (head.map_err(pg_error)?, queued.map_err(pg_error)?);
    c.batch_execute("BEGIN").await.map_err(pg_error)?;
    let rollback = async |e: StoreError| {
        let _ = c.batch_execute("ROLLBACK").await;
        Err(e)
    };
    let size: i64 = match c.query_one(&head, &[]).await {
        Ok(row) => row.get(0),
        Err(e) => return rollback(pg_error(e)).await,
    };
    let rows = match c.query(&queued, &[&BATCH]).await {
        Ok(rows) => rows,
        Err(e) => return rollback(pg_error(e)).await,
    };
    if rows.is_empty() {
        c.batch_execute("ROLLBACK").await.map_err(pg_error)?;
        return Ok(0);
    }
    let size = size as u64;
    // The right edge of the tree: every hash appending can need.
    let edge = tlog_tiles::sub_tree_index(0, size, vec![]);
    let mut hashes = Overlay(match read_hashes(c, &edge).await {
        Ok(v) => edge.iter().copied().zip(v).collect(),
        Err(e) => return rollback(e).await,
    });
    let (mut ids, mut ns, mut keys, mut entries) = (vec![], vec![], vec![], vec![]);
    let (mut idxs, mut new_hashes) = (vec![], vec![]);
    for (i, row) in rows.iter().enumerate() {
        let n = size + i as u64;
        let entry: Vec<u8> = row.get(2);
        let new = match tlog::tree::append(n, tlog::leaf::leaf_hash(&entry), &hashes) {
            Ok(new) => new,
            Err(e) => return rollback(StoreError::Corrupt(format!("log: appending leaf {n}: {e}"))).await,
        };
        for (idx, h) in new {
            hashes.0.insert(idx, h);
            idxs.push(idx as i64);
            new_hashes.push(h.to_vec());
        }
        ids.push(row.get::<_, i64>(0));
        ns.push(n as i64);
        keys.push(row.get::<_, Vec<u8>>(1));
        entries.push(entry);
    }
    let new_size = (size + rows.len() as u64) as i64;
    let statements = [
        "INSERT INTO tlog_leaves (n, leaf_key, entry) SELECT * FROM unnest($1::int8[], $2::bytea[], $3::bytea[])",
        "INSERT INTO tlog_hashes (idx, hash) SELECT * FROM unnest($1::int8[], $2::bytea[])",
        "DELETE FROM tlog_pending WHERE id = ANY($1)",
        "UPDATE tlog_head SET size = $1 WHERE log = 0",
    ];
    let prepared = futures_util::future::try_join_all(statements.iter().map(|s| c.prepare_cached(s))).await;
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => return rollback(pg_error(e)).await,
    };
    let (p0, p1, p2, p3): ([Param; 3], [Param; 2], [Param; 1], [Param; 1]) =
        ([&ns, &keys, &entries], [&idxs, &new_hashes], [&ids], [&new_size]);
    let (a, b, d, u) = tokio::join!(
        c.execute(&prepared[0], &p0),
        c.execute(&prepared[1], &p1),
        c.execute(&prepared[2], &p2),
        c.execute(&prepared[3], &p3),
    );
    if let Err(e) = a.and(b).and(d).and(u) {
        return rollback(pg_error(e)).await;
    }
    c.batch_execute("COMMIT")
        .await
        .map_err(|e| StoreError::Io(format!("postgresql: commit of log leaves: {e}")))?;
    Ok(rows.len())
}

/// Hashes read once, then extended in memory as leaves are appended.
struct Overlay(HashMap<u64, Hash>);

impl tlog::tree::Hashes for Overlay {
    type Error = StoreError;
    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(i)
                    .copied()
                    .ok_or_else(|| StoreError::Corrupt(format!("log: tree hash {i} is missing")))
            })
            .collect()
    }
}

pub(super) async fn read_hashes(c: &Object, indexes: &[u64]) -> Result<Vec<Hash>> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<i64> = indexes.iter().map(|&i| i as i64).collect();
    let st = c
        .prepare_cached("SELECT idx, hash FROM tlog_hashes WHERE idx = ANY($1)")
        .await
        .map_err(pg_error)?;
    let rows = c.query(&st, &[&wanted]).await.map_err(pg_error)?;
    let found: HashMap<i64, Vec<u8>> = rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
    wanted
        .iter()
        .map(|i| {
            let h = found
                .get(i)
                .ok_or_else(|| StoreError::Corrupt(format!("log: tree hash {i} is missing")))?;
            <[u8; 32]>::try_from(h.as_slice())
                .map_err(|_| StoreError::Corrupt(format!("log: tree hash {i} is not 32 bytes")))
        })
        .collect()
}

pub(super) async fn size(c: &Object) -> Result<u64> {
    let st = c
        .prepare_cached("SELECT size FROM tlog_head WHERE log = 0")
        .await
        .map_err(pg_error)?;
    let n: i64 = c.query_one(&st, &[]).await.map_err(pg_error)?.get(0);
    Ok(n as u64)
}

pub(super) async fn entries(c: &Object, from: u64, limit: usize) -> Result<Vec<Vec<u8>>> {
    let st = c
        .prepare_cached("SELECT n, entry FROM tlog_leaves WHERE n >= $1 ORDER BY n LIMIT $2")
        .await
        .map_err(pg_error)?;
    let rows = c
        .query(&st, &[&(from as i64), &(limit as i64)])
        .await
        .map_err(pg_error)?;
    let mut out = Vec::with_capacity(rows.len());
    for (expect, r) in (from..).zip(rows) {
        let n: i64 = r.get(0);
        if n as u64 != expect {
            return Err(StoreError::Corrupt(format!("log: leaf {expect} is missing")));
        }
        out.push(r.get(1));
    }
    Ok(out)
}

pub(super) async fn position(c: &Object, key: Vec<u8>) -> Result<Option<u64>> {
    let st = c
        .prepare_cached("SELECT n FROM tlog_leaves WHERE leaf_key = $1")
        .await
        .map_err(pg_error)?;
    Ok(c.query_opt(&st, &[&key])
        .await
        .map_err(pg_error)?
        .map(|r| r.get::<_, i64>(0) as u64))
}

pub(super) async fn put_checkpoint(c: &Object, size: u64, note: Vec<u8>) -> Result<()> {
    let st = c
        .prepare_cached("INSERT INTO tlog_checkpoints (size, note) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING")
        .await
        .map_err(pg_error)?;
    c.execute(&st, &[&(size as i64), &note]).await.map_err(pg_error)?;
    Ok(())
}

pub(super) async fn checkpoints(c: &Object, from: u64, limit: usize, latest: bool) -> Result<Vec<(u64, Vec<u8>)>> {
    let sql = if latest {
        "SELECT size, note FROM tlog_checkpoints WHERE size >= $1 ORDER BY size DESC LIMIT $2"
    } else {
        "SELECT size, note FROM tlog_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2"
    };
    let st = c.prepare_cached(sql).await.map_err(pg_error)?;
    let rows = c
        .query(&st, &[&(from as i64), &(limit as i64)])
        .await
        .map_err(pg_error)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
        .collect())
}
