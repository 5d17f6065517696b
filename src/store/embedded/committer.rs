//! The single writer of the embedded store.
//!
//! Every write is queued here. The committer thread takes everything queued (up to a
//! cap), checks each write against the store *and the writes before it in the same
//! group* (number free, request id new, event seq next, identifier unused, audit seq
//! next), puts what passes into one fjall batch and commits it, so one journal append
//! carries the whole group. Then:
//! - a write refused by its checks is answered at once with its own error (it wrote
//!   nothing);
//! - an audit entry is answered once the batch is committed (journaled; it becomes
//!   durable with the next flush, as before);
//! - every other write is handed to the group-commit flusher and answered after the
//!   `persist(SyncData)` that covers it.
//!
//! The flusher runs beside the committer, so the next group is checked and committed
//! while the previous one is being made durable. Being the only writer, the committer
//! needs no lock for its checks and holds the audit chain's end and the transparency
//! log's size itself.
//!
//! Every record, event and audit entry the group stores appends its leaf to the
//! transparency log in the same batch, with the tree hashes it completes: no entry
//! without its leaf, no leaf without its entry. A store opened without a log (written
//! before it existed, or restored from a backup without one) gets its log built from its
//! entries before the first write.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::mpsc;
use std::thread;

use fjall::{Database, Keyspace, OwnedWriteBatch};

use super::{
    AUDIT, EVENTS, IDX_HOLDER, IDX_ISSUER, IDX_NUMBER, IDX_TYPE, IMPORT_KEYS, RECORDS, REQUESTS, TEMPLATES,
    TLOG_CHECKPOINTS, TLOG_HASHES, TLOG_INDEX, TLOG_LEAVES,
};
use crate::audit::{AuditLink, AuditSeal};
use crate::licence::status::SignedEvent;
use crate::store::codec::{self, key};
use crate::store::group_commit::GroupCommit;
use crate::store::{
    Answer, BatchItem, BatchOutcome, NewRecord, RequestKey, Result, StoreError, StoredTemplate, WriteOutcome,
};
use crate::tlog::{self, Leaf};

/// Writes taken into one group at most, and rows (a migration batch counts its rows).
const MAX_GROUP_WRITES: usize = 1024;
const MAX_GROUP_ROWS: usize = 8192;

/// One queued write and where its answer goes.
pub(super) enum Write {
    Insert {
        new: NewRecord,
        request: Option<RequestKey>,
        answer: Answer<WriteOutcome>,
    },
    Reissue {
        old: String,
        supersede: SignedEvent,
        new: NewRecord,
        request: Option<RequestKey>,
        answer: Answer<WriteOutcome>,
    },
    Append {
        identifier: String,
        event: SignedEvent,
        request: Option<RequestKey>,
        answer: Answer<WriteOutcome>,
    },
    Batch {
        records: Vec<NewRecord>,
        answer: Answer<BatchOutcome>,
    },
    Audit {
        seal: AuditSeal,
        answer: Answer<u64>,
    },
    PutType {
        code: String,
        json: Vec<u8>,
        answer: Answer<()>,
    },
    PutTemplate {
        template: StoredTemplate,
        answer: Answer<u32>,
    },
    Checkpoint {
        size: u64,
        note: Vec<u8>,
        answer: Answer<()>,
    },
}

impl Write {
    fn rows(&self) -> usize {
        match self {
            Write::Batch { records, .. } => records.len().max(1),
            _ => 1,
        }
    }

    fn refuse(self, e: StoreError) {
        match self {
            Write::Insert { answer, .. } | Write::Reissue { answer, .. } | Write::Append { answer, .. } => {
                answer.send(Err(e))
            }
            Write::Batch { answer, .. } => answer.send(Err(e)),
            Write::Audit { answer, .. } => answer.send(Err(e)),
            Write::PutType { answer, .. } | Write::Checkpoint { answer, .. } => answer.send(Err(e)),
            Write::PutTemplate { answer, .. } => answer.send(Err(e)),
        }
    }
}

/// The writer's handle to the database (clones of the store's handles).
pub(super) struct Engine {
    pub db: Database,
    pub ks: Vec<Keyspace>,
}

/// The queue into the committer thread; dropping it stops the thread once the queue
/// is drained.
pub(super) struct Committer {
    tx: Option<mpsc::Sender<Write>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Committer {
    pub fn start(engine: Engine, flusher: std::sync::Arc<GroupCommit>) -> Committer {
        let (tx, rx) = mpsc::channel::<Write>();
        let thread = thread::Builder::new()
            .name("elicence-committer".into())
            .spawn(move || run(engine, flusher, rx))
            .expect("spawn committer thread");
        Committer {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn submit(&self, w: Write) {
        match &self.tx {
            Some(tx) => {
                if let Err(mpsc::SendError(w)) = tx.send(w) {
                    w.refuse(StoreError::Io("the store's writer stopped".into()));
                }
            }
            None => w.refuse(StoreError::Io("the store's writer stopped".into())),
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(engine: Engine, flusher: std::sync::Arc<GroupCommit>, rx: mpsc::Receiver<Write>) {
    // Where the audit log ends, and how many leaves the transparency log has; read from
    // the store on first use, and again after a failed commit (whose entries were not
    // written).
    let mut audit: Option<AuditLink> = None;
    let mut log: Option<u64> = None;
    // A store without a log gets one before any write; if that fails, every write is
    // refused with the reason (an entry must never be stored without its leaf).
    let mut broken: Option<String> = build_missing_log(&engine)
        .err()
        .map(|e| format!("the transparency log could not be built: {e}"));
    while let Ok(first) = rx.recv() {
        let mut rows = first.rows();
        let mut writes = vec![first];
        while writes.len() < MAX_GROUP_WRITES && rows < MAX_GROUP_ROWS {
            match rx.try_recv() {
                Ok(w) => {
                    rows += w.rows();
                    writes.push(w);
                }
                Err(_) => break,
            }
        }
        if flusher.failed() {
            for w in writes {
                w.refuse(StoreError::Io(
                    "an earlier flush failed; the store refuses writes until it is restarted".into(),
                ));
            }
            continue;
        }
        let log_size = match log
            .take()
            .map(Ok)
            .unwrap_or_else(|| super::log_size(&engine.ks[TLOG_LEAVES]))
        {
            Ok(n) if broken.is_none() => n,
            Ok(_) => {
                let why = broken.clone().unwrap_or_default();
                for w in writes {
                    w.refuse(StoreError::Corrupt(why.clone()));
                }
                continue;
            }
            Err(e) => {
                for w in writes {
                    w.refuse(StoreError::Corrupt(format!("log: {e}")));
                }
                continue;
            }
        };
        let mut group = Group::new(&engine, log_size);
        let mut done: Vec<Done> = Vec::with_capacity(writes.len());
        for w in writes {
            if let Some(d) = group.apply(w, &mut audit) {
                done.push(d);
            }
        }
        let size = done.len();
        let log_end = group.log_size;
        match group.commit() {
            Ok(()) => {
                log = Some(log_end);
                crate::metrics::METRICS.commit_group(size);
                // An audit entry is answered before its flush, but it is flushed all the
                // same: a group of audit entries alone still asks for one.
                if done.iter().all(|d| matches!(d, Done::Audit(..))) && !done.is_empty() {
                    flusher.enqueue(Box::new(|_| {}));
                }
                for d in done {
                    d.answer(&flusher);
                }
            }
            Err(e) => {
                audit = None;
                if let GroupError::Log(why) = &e {
                    // The stored tree does not add up: nothing more is written.
                    broken = Some(why.clone());
                }
                for d in done {
                    d.fail(e.to_store_error());
                }
            }
        }
    }
}

/// Appends a leaf for every stored record, event and audit entry when the store has
/// entries but no log: records in identifier order, then events in (identifier, seq)
/// order, then audit entries in seq order, committed in batches and made durable.
fn build_missing_log(engine: &Engine) -> Result<()> {
    if super::log_size(&engine.ks[TLOG_LEAVES])? > 0 {
        return Ok(());
    }
    let empty = [RECORDS, EVENTS, AUDIT]
        .iter()
        .all(|&ks| engine.ks[ks].first_key_value().is_none());
    if empty {
        return Ok(());
    }
    const BATCH: u64 = 10_000;
    let mut group = Group::new(engine, 0);
    let mut leaves = 0u64;
    fn add<'a>(engine: &'a Engine, group: &mut Group<'a>, leaf: Leaf) -> Result<()> {
        group.log(leaf);
        if group.log_size % BATCH == 0 {
            let next = Group::new(engine, group.log_size);
            std::mem::replace(group, next)
                .commit()
                .map_err(|e| e.to_store_error())?;
        }
        Ok(())
    }
    for g in engine.ks[RECORDS].iter() {
        let (k, v) = g.into_inner()?;
        add(engine, &mut group, Leaf::record(&text(&k), &codec::decode_record(&v)?))?;
        leaves += 1;
    }
    for g in engine.ks[EVENTS].iter() {
        let (k, v) = g.into_inner()?;
        let event = codec::decode_event(&k, &v)?;
        let id_end = k.iter().position(|b| *b == codec::SEP).unwrap_or(k.len());
        add(engine, &mut group, Leaf::event(&text(&k[..id_end]), &event))?;
        leaves += 1;
    }
    for g in engine.ks[AUDIT].iter() {
        let (k, v) = g.into_inner()?;
        add(engine, &mut group, Leaf::audit(&codec::decode_audit(&k, &v)?))?;
        leaves += 1;
    }
    group.commit().map_err(|e| e.to_store_error())?;
    engine
        .db
        .persist(fjall::PersistMode::SyncAll)
        .map_err(|e| StoreError::Io(format!("fjall: {e}")))?;
    tracing::info!(leaves, "built the transparency log of a store that had none");
    Ok(())
}

/// Why a group's commit failed.
#[derive(Debug)]
enum GroupError {
    Engine(fjall::Error),
    Log(String),
}

impl GroupError {
    fn to_store_error(&self) -> StoreError {
        match self {
            GroupError::Engine(e) => StoreError::Io(format!("write failed: {e}")),
            GroupError::Log(why) => StoreError::Corrupt(format!("log: {why}")),
        }
    }
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupError::Engine(e) => write!(f, "{e}"),
            GroupError::Log(why) => write!(f, "log: {why}"),
        }
    }
}

/// A write that passed its checks, waiting for its group's commit.
enum Done {
    Outcome(Answer<WriteOutcome>, WriteOutcome),
    Batch(Answer<BatchOutcome>, BatchOutcome),
    Audit(Answer<u64>, u64),
    Unit(Answer<()>),
    Version(Answer<u32>, u32),
}

impl Done {
    /// After the commit: an audit entry now, everything else after the flush.
    fn answer(self, flusher: &GroupCommit) {
        fn later<T: Send + 'static>(flusher: &GroupCommit, answer: Answer<T>, v: T) {
            flusher.enqueue(Box::new(move |r| answer.send(r.map(|()| v))));
        }
        match self {
            Done::Outcome(a, v) => later(flusher, a, v),
            Done::Batch(a, v) => later(flusher, a, v),
            Done::Audit(a, seq) => a.send(Ok(seq)),
            Done::Unit(a) => later(flusher, a, ()),
            Done::Version(a, v) => later(flusher, a, v),
        }
    }

    fn fail(self, e: StoreError) {
        match self {
            Done::Outcome(a, _) => a.send(Err(e)),
            Done::Batch(a, _) => a.send(Err(e)),
            Done::Audit(a, _) => a.send(Err(e)),
            Done::Unit(a) => a.send(Err(e)),
            Done::Version(a, _) => a.send(Err(e)),
        }
    }
}

/// The group's own keys need no protection against crafted collisions (they are checked
/// once and dropped with the group), so a fast hasher serves them.
type BuildHasher = BuildHasherDefault<rustc_hash::FxHasher>;

/// One group: its batch, and what it has written so far, which later writes of the
/// group see as stored.
struct Group<'a> {
    engine: &'a Engine,
    batch: OwnedWriteBatch,
    /// Keys this group wrote in the keyspaces whose keys are checked, with their values,
    /// one map per keyspace (looked up by borrowed key: no allocation per check).
    written: Vec<HashMap<Vec<u8>, Vec<u8>, BuildHasher>>,
    /// The last version of each template this group wrote.
    templates: HashMap<String, u32>,
    /// Leaves in the log with this group's.
    log_size: u64,
    /// Set when the stored tree could not be extended: the group is not committed.
    log_failed: Option<String>,
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn request_key(r: &RequestKey) -> Vec<u8> {
    key(&[r.caller.as_bytes(), r.request_id.as_bytes()])
}

fn number_key(new: &NewRecord) -> Vec<u8> {
    key(&[new.type_code.as_bytes(), new.licence_number.as_bytes()])
}

impl<'a> Group<'a> {
    fn new(engine: &'a Engine, log_size: u64) -> Group<'a> {
        Group {
            engine,
            batch: engine.db.batch(),
            written: (0..super::KEYSPACES.len()).map(|_| HashMap::default()).collect(),
            templates: HashMap::new(),
            log_size,
            log_failed: None,
        }
    }

    /// Appends `leaf` to the log in this group's batch: its entry, its position and the
    /// tree hashes it completes (read from this group's earlier leaves or the store).
    fn log(&mut self, leaf: Leaf) {
        if self.log_failed.is_some() {
            return;
        }
        let n = self.log_size;
        let entry = leaf.entry();
        match tlog::tree::append(n, tlog::leaf::leaf_hash(&entry), &GroupHashes(self)) {
            Ok(hashes) => {
                for (i, h) in hashes {
                    self.put(TLOG_HASHES, i.to_be_bytes().to_vec(), h.to_vec(), true);
                }
                self.put(TLOG_LEAVES, n.to_be_bytes().to_vec(), entry, false);
                self.put(TLOG_INDEX, leaf.key.to_bytes(), n.to_be_bytes().to_vec(), false);
                self.log_size += 1;
            }
            Err(e) => self.log_failed = Some(format!("appending leaf {n}: {e}")),
        }
    }

    /// The value of `k` as this group sees it: written earlier in it, or stored.
    fn get(&self, ks: usize, k: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.written[ks].get(k) {
            return Ok(Some(v.clone()));
        }
        Ok(self.engine.ks[ks].get(k)?.map(|v| v.to_vec()))
    }

    fn contains(&self, ks: usize, k: &[u8]) -> Result<bool> {
        if self.written[ks].contains_key(k) {
            return Ok(true);
        }
        Ok(self.engine.ks[ks].contains_key(k)?)
    }

    /// Writes `k` in the batch; `seen` keys are remembered for later checks.
    fn put(&mut self, ks: usize, k: Vec<u8>, v: Vec<u8>, seen: bool) {
        if seen {
            self.batch.insert(&self.engine.ks[ks], k.as_slice(), v.as_slice());
            self.written[ks].insert(k, v);
        } else {
            self.batch.insert(&self.engine.ks[ks], k, v);
        }
    }

    fn commit(self) -> std::result::Result<(), GroupError> {
        if let Some(why) = self.log_failed {
            return Err(GroupError::Log(why));
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch.commit().map_err(GroupError::Engine)
    }

    /// Checks one write and, if it passes, adds it to the batch. Returns what to answer
    /// after the commit; a refused write is answered here.
    fn apply(&mut self, w: Write, audit: &mut Option<AuditLink>) -> Option<Done> {
        match w {
            Write::Insert { new, request, answer } => match self.insert(new, request) {
                Ok(o) => Some(Done::Outcome(answer, o)),
                Err(e) => {
                    answer.send(Err(e));
                    None
                }
            },
            Write::Reissue {
                old,
                supersede,
                new,
                request,
                answer,
            } => match self.reissue(&old, supersede, new, request) {
                Ok(o) => Some(Done::Outcome(answer, o)),
                Err(e) => {
                    answer.send(Err(e));
                    None
                }
            },
            Write::Append {
                identifier,
                event,
                request,
                answer,
            } => match self.append(&identifier, event, request) {
                Ok(o) => Some(Done::Outcome(answer, o)),
                Err(e) => {
                    answer.send(Err(e));
                    None
                }
            },
            Write::Batch { records, answer } => match self.insert_batch(records) {
                Ok(o) => Some(Done::Batch(answer, o)),
                Err(e) => {
                    answer.send(Err(e));
                    None
                }
            },
            Write::Audit { seal, answer } => match self.audit(seal, audit) {
                Ok(seq) => Some(Done::Audit(answer, seq)),
                Err(e) => {
                    answer.send(Err(e));
                    None
                }
            },
            Write::PutType { code, json, answer } => {
                self.put(super::CATALOG, code.into_bytes(), json, false);
                Some(Done::Unit(answer))
            }
            Write::Checkpoint { size, note, answer } => {
                // The first checkpoint of a size is kept (a later one of the same tree,
                // say after a key rotation, adds nothing).
                let k = size.to_be_bytes();
                match self.contains(TLOG_CHECKPOINTS, &k) {
                    Ok(true) => {}
                    Ok(false) => self.put(TLOG_CHECKPOINTS, k.to_vec(), note, true),
                    Err(e) => {
                        answer.send(Err(e));
                        return None;
                    }
                }
                Some(Done::Unit(answer))
            }
            Write::PutTemplate { template, answer } => match self.put_template(template) {
                Ok(v) => Some(Done::Version(answer, v)),
                Err(e) => {
                    answer.send(Err(e));
                    None
                }
            },
        }
    }

    fn replayed(&self, request: &Option<RequestKey>) -> Result<Option<String>> {
        match request {
            Some(r) => Ok(self.get(REQUESTS, &request_key(r))?.map(|v| text(&v))),
            None => Ok(None),
        }
    }

    fn record_request(&mut self, request: Option<RequestKey>, identifier: &str) {
        if let Some(r) = request {
            self.put(REQUESTS, request_key(&r), identifier.as_bytes().to_vec(), true);
        }
    }

    /// Whether `event` continues the chain of `identifier` as this group sees it.
    fn check_event(&self, identifier: &str, event: &SignedEvent) -> Result<()> {
        // A first event (seq 0) is only appended to a stored record (migrated records
        // may start without events).
        let links = match event.seq {
            0 => self.contains(RECORDS, identifier.as_bytes())?,
            n => self.contains(EVENTS, &codec::event_key(identifier, n - 1))?,
        };
        if !links || self.contains(EVENTS, &codec::event_key(identifier, event.seq))? {
            return Err(StoreError::Conflict(identifier.to_string()));
        }
        Ok(())
    }

    fn put_event(&mut self, identifier: &str, event: &SignedEvent) {
        self.log(Leaf::event(identifier, event));
        self.put(
            EVENTS,
            codec::event_key(identifier, event.seq),
            codec::encode_signed(&event.key_id, &event.signature, &event.bytes),
            true,
        );
    }

    /// The record, its indexes, its first event and its import key.
    fn put_record(&mut self, new: &NewRecord) {
        let id = new.identifier.as_bytes();
        self.log(Leaf::record(&new.identifier, &new.record));
        self.put(RECORDS, id.to_vec(), codec::encode_record(&new.record), false);
        // Records are checked for presence only: remember the key, not the record.
        self.written[RECORDS].insert(id.to_vec(), Vec::new());
        if let Some(e) = &new.first_event {
            self.put_event(&new.identifier, e);
        }
        if let Some(k) = &new.import_key {
            self.put(IMPORT_KEYS, k.as_bytes().to_vec(), id.to_vec(), true);
        }
        self.put(IDX_NUMBER, number_key(new), id.to_vec(), true);
        self.put(
            IDX_HOLDER,
            key(&[new.holder_code_type.as_bytes(), new.holder_code.as_bytes(), id]),
            Vec::new(),
            false,
        );
        self.put(
            IDX_TYPE,
            key(&[new.type_code.as_bytes(), new.issue_date.as_bytes(), id]),
            Vec::new(),
            false,
        );
        self.put(
            IDX_ISSUER,
            key(&[new.issuer_code.as_bytes(), new.issue_date.as_bytes(), id]),
            Vec::new(),
            false,
        );
    }

    fn insert(&mut self, new: NewRecord, request: Option<RequestKey>) -> Result<WriteOutcome> {
        if let Some(id) = self.replayed(&request)? {
            return Ok(WriteOutcome::Replayed(id));
        }
        if let Some(existing) = self.get(IDX_NUMBER, &number_key(&new))? {
            return Err(StoreError::NumberTaken {
                type_code: new.type_code,
                number: new.licence_number,
                identifier: text(&existing),
            });
        }
        if self.contains(RECORDS, new.identifier.as_bytes())? {
            return Err(StoreError::Conflict(new.identifier));
        }
        self.put_record(&new);
        self.record_request(request, &new.identifier);
        Ok(WriteOutcome::Written)
    }

    fn reissue(
        &mut self,
        old: &str,
        supersede: SignedEvent,
        new: NewRecord,
        request: Option<RequestKey>,
    ) -> Result<WriteOutcome> {
        if let Some(id) = self.replayed(&request)? {
            return Ok(WriteOutcome::Replayed(id));
        }
        // The number must still point at the version being replaced.
        match self.get(IDX_NUMBER, &number_key(&new))? {
            Some(current) if current == old.as_bytes() => {}
            _ => return Err(StoreError::Conflict(old.to_string())),
        }
        if self.contains(RECORDS, new.identifier.as_bytes())? {
            return Err(StoreError::Conflict(new.identifier));
        }
        self.check_event(old, &supersede)?;
        self.put_event(old, &supersede);
        self.put_record(&new);
        self.record_request(request, &new.identifier);
        Ok(WriteOutcome::Written)
    }

    fn append(&mut self, identifier: &str, event: SignedEvent, request: Option<RequestKey>) -> Result<WriteOutcome> {
        if let Some(id) = self.replayed(&request)? {
            return Ok(WriteOutcome::Replayed(id));
        }
        self.check_event(identifier, &event)?;
        self.put_event(identifier, &event);
        self.record_request(request, identifier);
        Ok(WriteOutcome::Written)
    }

    fn insert_batch(&mut self, batch: Vec<NewRecord>) -> Result<BatchOutcome> {
        let mut items = Vec::with_capacity(batch.len());
        for new in &batch {
            if let Some(k) = &new.import_key {
                if let Some(existing) = self.get(IMPORT_KEYS, k.as_bytes())? {
                    items.push(BatchItem::AlreadyPresent(text(&existing)));
                    continue;
                }
            }
            if let Some(existing) = self.get(IDX_NUMBER, &number_key(new))? {
                items.push(BatchItem::NumberTaken(text(&existing)));
                continue;
            }
            if self.contains(RECORDS, new.identifier.as_bytes())? {
                items.push(BatchItem::IdentifierTaken);
                continue;
            }
            self.put_record(new);
            items.push(BatchItem::Written);
        }
        Ok(BatchOutcome { items })
    }

    fn audit(&mut self, seal: AuditSeal, link: &mut Option<AuditLink>) -> Result<u64> {
        let current = match link.take() {
            Some(l) => l,
            None => {
                let last = self.engine.ks[AUDIT]
                    .last_key_value()
                    .map(|g| {
                        let (k, v) = g.into_inner()?;
                        codec::decode_audit(&k, &v)
                    })
                    .transpose()?;
                AuditLink::after(last.as_ref()).map_err(|e| StoreError::Corrupt(format!("audit log: {e}")))?
            }
        };
        let entry = seal(&current);
        let k = entry.seq.to_be_bytes();
        if entry.seq != current.seq || self.contains(AUDIT, &k)? {
            // The chain stays where it was.
            *link = Some(current);
            return Err(StoreError::Conflict(format!("audit entry {}", entry.seq)));
        }
        let next = AuditLink::after(Some(&entry)).map_err(|e| StoreError::Corrupt(format!("audit entry: {e}")))?;
        self.log(Leaf::audit(&entry));
        self.put(
            AUDIT,
            k.to_vec(),
            codec::encode_signed(&entry.key_id, &entry.signature, &entry.bytes),
            false,
        );
        self.written[AUDIT].insert(k.to_vec(), Vec::new());
        *link = Some(next);
        Ok(entry.seq)
    }

    fn put_template(&mut self, t: StoredTemplate) -> Result<u32> {
        let version = match self.templates.get(&t.id) {
            Some(v) => v + 1,
            None => match self.engine.ks[TEMPLATES]
                .prefix(key(&[t.id.as_bytes(), b""]))
                .next_back()
            {
                Some(g) => codec::template_version(&g.key()?)? + 1,
                None => 1,
            },
        };
        let stored = StoredTemplate { version, ..t };
        let value = serde_json::to_vec(&stored).expect("template serialises");
        self.put(TEMPLATES, codec::template_key(&stored.id, version), value, false);
        self.templates.insert(stored.id, version);
        Ok(version)
    }
}

/// The tree hashes as a group sees them: its own first, then the store's.
struct GroupHashes<'g, 'a>(&'g Group<'a>);

impl tlog::tree::Hashes for GroupHashes<'_, '_> {
    type Error = StoreError;
    fn read(&self, indexes: &[u64]) -> Result<Vec<tlog::Hash>> {
        indexes
            .iter()
            .map(|i| match self.0.get(TLOG_HASHES, &i.to_be_bytes())? {
                Some(v) => super::decode_hash(*i, &v),
                None => Err(StoreError::Corrupt(format!("tree hash {i} is missing"))),
            })
            .collect()
    }
}
