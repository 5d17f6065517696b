//! The import driver, a three-stage pipeline so that the machine's cores all work:
//! a reader thread streams rows from a [`Source`] and maps them; a preparing thread hands
//! each batch to [`ImportSink::prepare`] (the store's sink signs it, on every core); the
//! caller's thread writes prepared batches in source order with [`ImportSink::write`]
//! and passes every problem to a reject callback. Stages are joined by channels that
//! hold one batch each, so memory stays flat however long the file is.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::mapper::RowMapper;
use super::report::Summary;
use super::source::Source;
use super::{ImportError, ImportRecord, Reject};

/// What the sink did with one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub imported: u64,
    /// Records whose key was already stored (an earlier or interrupted run).
    pub already_present: u64,
    /// Records the sink refused (e.g. an identifier clash), one reject per problem.
    pub rejects: Vec<Reject>,
}

/// Where good records go, in two steps. The store's implementation signs each batch in
/// [`prepare`](ImportSink::prepare) and writes it atomically and durably in
/// [`write`](ImportSink::write), skipping keys already present; `imported +
/// already_present + rejected records` must equal the batch size.
pub trait ImportSink: Sync {
    /// A batch made ready to write.
    type Ready: Send;
    /// Readies a batch. Runs on the pipeline's preparing thread while the previous
    /// batch is being written, so it must not depend on that write.
    fn prepare(&self, records: Vec<ImportRecord>) -> Result<Self::Ready, ImportError>;
    /// Writes one readied batch; called on one thread, in source order.
    fn write(&self, batch: Self::Ready) -> Result<BatchOutcome, ImportError>;
}

/// Run settings that are not part of the mapping.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Source rows per batch handed to the sink (the sink's atomic unit).
    pub batch_size: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { batch_size: 1000 }
    }
}

/// A progress report, sent after every batch.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub summary: Summary,
    /// How far through the file the reader is, and its size (None for streamed input).
    pub bytes_read: u64,
    pub total_bytes: Option<u64>,
    pub elapsed: Duration,
}

impl Progress {
    pub fn rows_per_second(&self) -> f64 {
        self.summary.rows_read as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Estimated time left from the byte position, when the size is known.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total_bytes?;
        if self.bytes_read == 0 {
            return None;
        }
        let done = (self.bytes_read as f64 / total as f64).min(1.0);
        Some(self.elapsed.mul_f64((1.0 - done) / done.max(1e-9)))
    }
}

/// A batch's worth of mapped rows travelling from the reader thread.
struct Chunk {
    records: Vec<ImportRecord>,
    rejects: Vec<Reject>,
    rows: u64,
    rejected_rows: u64,
    flagged: u64,
    bytes_read: u64,
}

/// A 128-bit digest of a source key: two differently salted SipHashes. Remembering
/// digests instead of keys keeps duplicate detection at about 50 MB per million rows;
/// a false duplicate would need a 128-bit collision.
fn key_hash(key: &str) -> [u64; 2] {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    [half(0), half(1)]
}

fn produce(mut source: Source, mapper: &RowMapper, batch: usize, tx: SyncSender<Result<Chunk, ImportError>>) {
    let dedupe = mapper.mapping().options.reject_duplicate_keys;
    let fixed_columns = source.has_fixed_columns();
    let bytes = source.bytes_read_handle();
    let mut seen: HashMap<[u64; 2], u32> = HashMap::new();
    let mut checked = false;
    let new_chunk = || Chunk {
        records: Vec::with_capacity(batch),
        rejects: Vec::new(),
        rows: 0,
        rejected_rows: 0,
        flagged: 0,
        bytes_read: 0,
    };
    let mut chunk = new_chunk();
    for item in source.by_ref() {
        chunk.rows += 1;
        match item {
            Err(r) => {
                chunk.rejects.push(r);
                chunk.rejected_rows += 1;
            }
            Ok(row) => {
                if !checked && fixed_columns {
                    checked = true;
                    if let Err(e) = mapper.check_columns(row.columns()) {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                match mapper.map(&row) {
                    Err(mut problems) => {
                        chunk.rejects.append(&mut problems);
                        chunk.rejected_rows += 1;
                    }
                    Ok(record) => {
                        let line = u32::try_from(record.line).unwrap_or(u32::MAX);
                        let first = if dedupe {
                            *seen.entry(key_hash(&record.key)).or_insert(line)
                        } else {
                            line
                        };
                        if first != line {
                            let number = record.draft.draft.licence_number.clone();
                            chunk.rejects.push(Reject::new(
                                record.line,
                                "key",
                                number,
                                format!("duplicate of line {first}: same licence type and key in this file"),
                            ));
                            chunk.rejected_rows += 1;
                        } else {
                            chunk.flagged += u64::from(!record.flags.is_empty());
                            chunk.records.push(record);
                        }
                    }
                }
            }
        }
        if chunk.rows as usize >= batch {
            chunk.bytes_read = bytes.load(std::sync::atomic::Ordering::Relaxed);
            if tx.send(Ok(std::mem::replace(&mut chunk, new_chunk()))).is_err() {
                return;
            }
        }
    }
    if chunk.rows > 0 {
        chunk.bytes_read = bytes.load(std::sync::atomic::Ordering::Relaxed);
        let _ = tx.send(Ok(chunk));
    }
}

/// A batch after the preparing stage: the reader's chunk without its records, which
/// the sink has readied, and what accounting needs of them.
struct Readied<R> {
    chunk: Chunk,
    /// How many records went to the sink, and the lines of those with flags.
    sent: u64,
    flagged_lines: Vec<u64>,
    ready: Option<R>,
}

fn prepare_stage<S: ImportSink>(
    sink: &S,
    rx: Receiver<Result<Chunk, ImportError>>,
    tx: SyncSender<Result<Readied<S::Ready>, ImportError>>,
) {
    for chunk in rx {
        let readied = chunk.and_then(|mut chunk| {
            let records = std::mem::take(&mut chunk.records);
            let sent = records.len() as u64;
            let flagged_lines = records.iter().filter(|r| !r.flags.is_empty()).map(|r| r.line).collect();
            let ready = if records.is_empty() {
                None
            } else {
                Some(sink.prepare(records)?)
            };
            Ok(Readied {
                chunk,
                sent,
                flagged_lines,
                ready,
            })
        });
        let stop = readied.is_err();
        if tx.send(readied).is_err() || stop {
            return;
        }
    }
}

fn consume<S: ImportSink>(
    rx: Receiver<Result<Readied<S::Ready>, ImportError>>,
    sink: &S,
    on_reject: &mut dyn FnMut(&Reject) -> Result<(), ImportError>,
    progress: &dyn Fn(&Progress),
    total_bytes: Option<u64>,
) -> Result<Summary, ImportError> {
    let started = Instant::now();
    let mut s = Summary::default();
    for readied in rx {
        let Readied {
            chunk,
            sent,
            flagged_lines,
            ready,
        } = readied?;
        s.rows_read += chunk.rows;
        s.rejected_rows += chunk.rejected_rows;
        s.reject_problems += chunk.rejects.len() as u64;
        s.flagged += chunk.flagged;
        for r in &chunk.rejects {
            on_reject(r)?;
        }
        if let Some(ready) = ready {
            let out = sink.write(ready)?;
            let mut refused: Vec<u64> = out.rejects.iter().map(|r| r.line).collect();
            refused.sort_unstable();
            refused.dedup();
            if out.imported + out.already_present + refused.len() as u64 != sent {
                return Err(ImportError::Sink(format!(
                    "sink accounted for {} of {sent} records",
                    out.imported + out.already_present + refused.len() as u64
                )));
            }
            s.imported += out.imported;
            s.already_present += out.already_present;
            s.rejected_rows += refused.len() as u64;
            s.flagged -= refused.iter().filter(|l| flagged_lines.contains(l)).count() as u64;
            s.reject_problems += out.rejects.len() as u64;
            for r in &out.rejects {
                on_reject(r)?;
            }
        }
        progress(&Progress {
            summary: s,
            bytes_read: chunk.bytes_read,
            total_bytes,
            elapsed: started.elapsed(),
        });
    }
    Ok(s)
}

/// Runs an import: every source row ends up imported, already present, or rejected (each
/// of its problems passed to `on_reject`, e.g. [`super::RejectWriter::write`]).
/// Within one file, a row whose key repeats an earlier row's is rejected (unless the
/// mapping turns `reject_duplicate_keys` off, leaving it to the sink as already present).
/// Errors from the source's structure, the sink or `on_reject` stop the run; batches
/// already written stay written, so running again resumes.
pub fn run_import<S: ImportSink>(
    source: Source,
    mapper: &RowMapper,
    sink: &S,
    on_reject: &mut dyn FnMut(&Reject) -> Result<(), ImportError>,
    opts: &RunOptions,
    progress: &dyn Fn(&Progress),
) -> Result<Summary, ImportError> {
    let batch = opts.batch_size.max(1);
    let total_bytes = source.total_bytes();
    std::thread::scope(|scope| {
        let (chunks_tx, chunks_rx) = sync_channel(1);
        let (ready_tx, ready_rx) = sync_channel(1);
        let reader = std::thread::Builder::new()
            .name("import-reader".into())
            .spawn_scoped(scope, move || produce(source, mapper, batch, chunks_tx))
            .map_err(|e| ImportError::Source(format!("starting the reader thread: {e}")))?;
        let preparer = std::thread::Builder::new()
            .name("import-prepare".into())
            .spawn_scoped(scope, move || prepare_stage(sink, chunks_rx, ready_tx))
            .map_err(|e| ImportError::Source(format!("starting the preparing thread: {e}")))?;
        // On an early error the receiver drops here, which stops the stages upstream.
        let result = consume(ready_rx, sink, on_reject, progress, total_bytes);
        for stage in [preparer, reader] {
            if let Err(panic) = stage.join() {
                std::panic::resume_unwind(panic);
            }
        }
        result
    })
}

/// An in-memory sink keyed by source key, for tests and dry runs. It can be told to fail
/// after a number of batches, to simulate an interrupted run.
#[derive(Debug, Default)]
pub struct MemorySink {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
pub struct MemoryState {
    pub records: std::collections::BTreeMap<String, ImportRecord>,
    pub batches: usize,
    pub fail_after_batches: Option<usize>,
}

impl MemorySink {
    /// A sink that fails on its batch number `n + 1`.
    pub fn failing_after(n: usize) -> MemorySink {
        MemorySink {
            state: Mutex::new(MemoryState {
                fail_after_batches: Some(n),
                ..MemoryState::default()
            }),
        }
    }

    /// What the sink holds (records by key, batches written, the failure setting).
    pub fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().expect("memory sink lock")
    }
}

impl ImportSink for MemorySink {
    type Ready = Vec<ImportRecord>;

    fn prepare(&self, records: Vec<ImportRecord>) -> Result<Self::Ready, ImportError> {
        Ok(records)
    }

    fn write(&self, records: Vec<ImportRecord>) -> Result<BatchOutcome, ImportError> {
        let mut state = self.state();
        if state.fail_after_batches.is_some_and(|n| state.batches >= n) {
            return Err(ImportError::Sink("simulated crash".into()));
        }
        state.batches += 1;
        let mut out = BatchOutcome::default();
        for r in records {
            if state.records.contains_key(&r.key) {
                out.already_present += 1;
            } else {
                state.records.insert(r.key.clone(), r);
                out.imported += 1;
            }
        }
        Ok(out)
    }
}
