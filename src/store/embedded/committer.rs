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
//! needs no lock for its checks and holds the audit chain's end itself.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::mpsc;
use std::thread;

use fjall::{Database, Keyspace, OwnedWriteBatch};

use super::{AUDIT, EVENTS, IDX_HOLDER, IDX_ISSUER, IDX_NUMBER, IDX_TYPE, IMPORT_KEYS, RECORDS, REQUESTS, TEMPLATES};
use crate::audit::{AuditLink, AuditSeal};
use crate::licence::status::SignedEvent;
use crate::store::codec::{self, key};
use crate::store::group_commit::GroupCommit;
use crate::store::{
    Answer, BatchItem, BatchOutcome, NewRecord, RequestKey, Result, StoreError, StoredTemplate, WriteOutcome,
};

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
            Write::PutType { answer, .. } => answer.send(Err(e)),
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
    // Where the audit log ends; read from the store on first use, and again after a
    // failed commit (whose entries were not written).
    let mut audit: Option<AuditLink> = None;
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
        let mut group = Group::new(&engine);
        let mut done: Vec<Done> = Vec::with_capacity(writes.len());
        for w in writes {
            if let Some(d) = group.apply(w, &mut audit) {
                done.push(d);
            }
        }
        let size = done.len();
        match group.commit() {
            Ok(()) => {
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
                for d in done {
                    d.fail(StoreError::Io(format!("write failed: {e}")));
                }
            }
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
    fn new(engine: &'a Engine) -> Group<'a> {
        Group {
            engine,
            batch: engine.db.batch(),
            written: (0..super::KEYSPACES.len()).map(|_| HashMap::default()).collect(),
            templates: HashMap::new(),
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

    fn commit(self) -> std::result::Result<(), fjall::Error> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch.commit()
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
