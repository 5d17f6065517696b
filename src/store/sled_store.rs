//! The embedded sled backend. One sled database, one tree per record kind and index;
//! every write that touches several trees is one sled transaction.
//!
//! Trees and key layouts (`·` is the 0x00 separator):
//! - `records`       identifier → signed record
//! - `events`        identifier · seq(u32 BE) → signed event
//! - `idx_number`    type · number → identifier of the current version
//! - `idx_holder`    holder code type · holder code · identifier → ()
//! - `idx_type`      type · issue date · identifier → ()
//! - `idx_issuer`    issuer code · issue date · identifier → ()
//! - `requests`      caller · request id → identifier (idempotency)
//! - `import_keys`   source key of a migrated row → identifier
//! - `catalog`       type code → licence type (JSON)
//! - `audit`         seq(u64 BE) → signed access-audit entry
//! - `templates`     template id · version(u32 BE) → stored template (JSON)

use std::path::Path;
use std::sync::{Arc, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Db, Transactional, Tree};

use super::codec::{self, key};
use super::group_commit::{after_flush, GroupCommit};
use super::inspect;
use super::permissions;
use super::snapshot::{WriteGate, WriteTicket};
use super::{
    BatchItem, BatchOutcome, IndexEntry, IndexKey, IndexName, IndexQuery, NewRecord, Page, Pending, RequestKey, Result,
    SignedAuditEntry, SignedEvent, Store, StoreError, StoredTemplate, WriteOutcome,
};
use crate::audit::{AuditLink, AuditSeal};
use crate::catalog::LicenceType;
use crate::licence::SignedRecord;

pub(super) const RECORDS: usize = 0;
pub(super) const EVENTS: usize = 1;
pub(super) const IDX_NUMBER: usize = 2;
pub(super) const IDX_HOLDER: usize = 3;
pub(super) const IDX_TYPE: usize = 4;
pub(super) const IDX_ISSUER: usize = 5;
pub(super) const REQUESTS: usize = 6;
pub(super) const IMPORT_KEYS: usize = 7;
pub(super) const TREE_NAMES: [&str; 8] = [
    "records",
    "events",
    "idx_number",
    "idx_holder",
    "idx_type",
    "idx_issuer",
    "requests",
    "import_keys",
];
/// Ids of the two trees written outside transactions, after those of `TREE_NAMES`.
pub(super) const CATALOG: usize = TREE_NAMES.len();
pub(super) const AUDIT: usize = TREE_NAMES.len() + 1;
pub(super) const TEMPLATES: usize = TREE_NAMES.len() + 2;

pub struct SledStore {
    pub(super) db: Db,
    pub(super) trees: Vec<Tree>,
    pub(super) catalog: Tree,
    pub(super) audit: Tree,
    pub(super) templates: Tree,
    /// sled's log file, kept open to make flushes durable (see [`durable_flush`]).
    log: Arc<std::fs::File>,
    commit: GroupCommit,
    /// Held while an audit entry is sealed and written.
    audit_chain: Mutex<()>,
    /// Writes pass it; a backup cuts through it (see `snapshot`).
    pub(super) gate: WriteGate,
}

/// A write's view of the gate: notes each key for an open snapshot, then writes it.
struct Writer<'a> {
    ticket: &'a WriteTicket<'a>,
}

impl Writer<'_> {
    fn insert(
        &self,
        t: &[TransactionalTree],
        tree: usize,
        k: impl AsRef<[u8]>,
        v: impl Into<sled::IVec>,
    ) -> TxResult<()> {
        let k = k.as_ref();
        self.ticket.note(tree, k, || t[tree].get(k))?;
        t[tree].insert(k, v)?;
        Ok(())
    }
}

/// sled 0.34 keeps everything in this one log file under the data directory.
const SLED_LOG: &str = "db";

/// `Db::flush` writes sled's buffers with `sync_file_range`, which waits for the pages to
/// reach the device but neither flushes the device's volatile write cache nor makes the
/// file's new length durable (sled issues #1351 and #1452): an acknowledged write could
/// be lost on power failure, though not on a process crash. An `fdatasync` of the log
/// file after it closes both gaps. Group commit runs this once for every waiter queued
/// meanwhile, so its cost is shared.
fn durable_flush(db: &Db, log: &std::fs::File) -> Result<()> {
    db.flush()?;
    log.sync_data()?;
    Ok(())
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with the server's page cache (256 MB).
    pub fn open(dir: &Path) -> Result<SledStore> {
        SledStore::open_with_cache(dir, 256 * 1024 * 1024)
    }

    /// Opens the store with a page cache of `cache_bytes` (sled's own accounting; the
    /// process's memory is a few times that). A bulk import writes far more than it
    /// reads back, so it gains little from a large cache.
    ///
    /// A new directory is created mode 0700. sled creates its files with the process's
    /// umask, so when the directory is private, every entry in it is set to 0700/0600
    /// after opening; an open directory is left as it is (the CLI refuses one unless the
    /// operator allowed it, see `permissions`).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<SledStore> {
        permissions::create_private(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            // Durability is ours to request (group commit); no background timer flushes.
            .flush_every_ms(None)
            .open()?;
        let log = Arc::new(std::fs::File::open(dir.join(SLED_LOG))?);
        if permissions::is_private(dir)? {
            permissions::restrict(dir)?;
        }
        // sled creates its files on first open; make their directory entries durable.
        std::fs::File::open(dir)?.sync_all()?;
        SledStore::with_db(db, log)
    }

    fn with_db(db: Db, log: Arc<std::fs::File>) -> Result<SledStore> {
        let trees = TREE_NAMES
            .iter()
            .map(|n| db.open_tree(n))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let catalog = db.open_tree("catalog")?;
        let audit = db.open_tree("audit")?;
        let templates = db.open_tree("templates")?;
        let flush_db = db.clone();
        let flush_log = log.clone();
        let commit = GroupCommit::start(Arc::new(move || durable_flush(&flush_db, &flush_log)));
        Ok(SledStore {
            db,
            log,
            trees,
            catalog,
            audit,
            templates,
            commit,
            audit_chain: Mutex::new(()),
            gate: WriteGate::new(TREE_NAMES.len() + 3),
        })
    }

    /// Flushes sled and makes the flushed bytes durable; see [`durable_flush`].
    pub(super) fn flush_durably(&self) -> Result<()> {
        durable_flush(&self.db, &self.log)
    }

    /// The raw sled database (backup and consistency tooling inside this module's crate).
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn put_record(t: &[TransactionalTree], w: &Writer, new: &NewRecord) -> TxResult<()> {
        let number_key = key(&[new.type_code.as_bytes(), new.licence_number.as_bytes()]);
        w.insert(t, RECORDS, new.identifier.as_bytes(), codec::encode_record(&new.record))?;
        if let Some(e) = &new.first_event {
            w.insert(
                t,
                EVENTS,
                codec::event_key(&new.identifier, e.seq),
                codec::encode_signed(&e.key_id, &e.signature, &e.bytes),
            )?;
        }
        if let Some(k) = &new.import_key {
            w.insert(t, IMPORT_KEYS, k.as_bytes(), new.identifier.as_bytes())?;
        }
        w.insert(t, IDX_NUMBER, number_key, new.identifier.as_bytes())?;
        let id = new.identifier.as_bytes();
        let empty: &[u8] = &[];
        w.insert(
            t,
            IDX_HOLDER,
            key(&[new.holder_code_type.as_bytes(), new.holder_code.as_bytes(), id]),
            empty,
        )?;
        w.insert(
            t,
            IDX_TYPE,
            key(&[new.type_code.as_bytes(), new.issue_date.as_bytes(), id]),
            empty,
        )?;
        w.insert(
            t,
            IDX_ISSUER,
            key(&[new.issuer_code.as_bytes(), new.issue_date.as_bytes(), id]),
            empty,
        )?;
        Ok(())
    }

    fn writer<'a>(&'a self, ticket: &'a WriteTicket<'a>) -> Writer<'a> {
        Writer { ticket }
    }

    fn request_key(r: &RequestKey) -> Vec<u8> {
        key(&[r.caller.as_bytes(), r.request_id.as_bytes()])
    }

    /// Checks the request key inside a transaction; `Some` means replay.
    fn check_request(t: &[TransactionalTree], request: &Option<RequestKey>) -> TxResult<Option<String>> {
        if let Some(r) = request {
            if let Some(v) = t[REQUESTS].get(Self::request_key(r))? {
                return Ok(Some(String::from_utf8_lossy(&v).into_owned()));
            }
        }
        Ok(None)
    }

    fn record_request(
        t: &[TransactionalTree],
        w: &Writer,
        request: &Option<RequestKey>,
        identifier: &str,
    ) -> TxResult<()> {
        if let Some(r) = request {
            w.insert(t, REQUESTS, Self::request_key(r), identifier.as_bytes())?;
        }
        Ok(())
    }

    fn last_event_seq(&self, identifier: &str) -> Result<Option<u32>> {
        let prefix = key(&[identifier.as_bytes(), b""]);
        match self.trees[EVENTS].scan_prefix(&prefix).next_back() {
            Some(kv) => {
                let (k, _) = kv?;
                Ok(Some(u32::from_be_bytes(k[k.len() - 4..].try_into().expect("4 bytes"))))
            }
            None => Ok(None),
        }
    }

    fn append_in_tx(t: &[TransactionalTree], w: &Writer, identifier: &str, event: &SignedEvent) -> TxResult<()> {
        // The chain must continue from the last stored event; a first event (seq 0) is
        // only appended to a stored record (migrated records start without events).
        let links = match event.seq {
            0 => t[RECORDS].get(identifier.as_bytes())?.is_some(),
            n => t[EVENTS].get(codec::event_key(identifier, n - 1))?.is_some(),
        };
        if !links {
            return abort(StoreError::Conflict(identifier.to_string()));
        }
        let k = codec::event_key(identifier, event.seq);
        if t[EVENTS].get(&k)?.is_some() {
            return abort(StoreError::Conflict(identifier.to_string()));
        }
        w.insert(
            t,
            EVENTS,
            k,
            codec::encode_signed(&event.key_id, &event.signature, &event.bytes),
        )?;
        Ok(())
    }
}

impl Store for SledStore {
    fn next_sequence(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    fn replayed(&self, key: &RequestKey) -> Result<Option<String>> {
        Ok(self.trees[REQUESTS]
            .get(Self::request_key(key))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn get(&self, identifier: &str) -> Result<Option<SignedRecord>> {
        self.trees[RECORDS]
            .get(identifier.as_bytes())?
            .map(|v| codec::decode_record(&v))
            .transpose()
    }

    fn find_number(&self, type_code: &str, number: &str) -> Result<Option<String>> {
        Ok(self.trees[IDX_NUMBER]
            .get(key(&[type_code.as_bytes(), number.as_bytes()]))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn events(&self, identifier: &str) -> Result<Vec<SignedEvent>> {
        let prefix = key(&[identifier.as_bytes(), b""]);
        self.trees[EVENTS]
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                codec::decode_event(&k, &v)
            })
            .collect()
    }

    fn query(&self, q: &IndexQuery, after: Option<&[u8]>, limit: usize) -> Result<Page> {
        let (name, start, end) = codec::index_range(q);
        let tree = &self.trees[TREE_NAMES.iter().position(|n| *n == name).expect("an index tree")];
        let range_start = codec::continue_after(start, &end, after);
        let mut page = Page::default();
        let mut last = None;
        for kv in tree.range(range_start..end) {
            let (k, _) = kv?;
            if page.identifiers.len() == limit {
                page.next = last;
                return Ok(page);
            }
            let id_start = k.iter().rposition(|b| *b == codec::SEP).map(|p| p + 1).unwrap_or(0);
            page.identifiers
                .push(String::from_utf8_lossy(&k[id_start..]).into_owned());
            page.positions.push(k.to_vec());
            last = Some(k.to_vec());
        }
        Ok(page)
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<SignedAuditEntry>> {
        self.audit
            .range(from.to_be_bytes()..)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                codec::decode_audit(&k, &v)
            })
            .collect()
    }

    fn last_audit(&self) -> Result<Option<SignedAuditEntry>> {
        self.audit.last()?.map(|(k, v)| codec::decode_audit(&k, &v)).transpose()
    }

    fn get_type(&self, code: &str) -> Result<Option<LicenceType>> {
        self.catalog
            .get(code.as_bytes())?
            .map(|v| serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("catalog {code}: {e}"))))
            .transpose()
    }

    fn list_types(&self) -> Result<Vec<LicenceType>> {
        self.catalog
            .iter()
            .values()
            .map(|v| serde_json::from_slice(&v?).map_err(|e| StoreError::Corrupt(format!("catalog: {e}"))))
            .collect()
    }

    fn get_template(&self, id: &str, version: Option<u32>) -> Result<Option<StoredTemplate>> {
        let tree = &self.templates;
        let value = match version {
            Some(v) => tree.get(codec::template_key(id, v))?,
            None => tree
                .scan_prefix(key(&[id.as_bytes(), b""]))
                .next_back()
                .transpose()?
                .map(|(_, v)| v),
        };
        value.map(|v| codec::decode_template(&v)).transpose()
    }

    fn latest_templates(&self) -> Result<Vec<StoredTemplate>> {
        codec::latest_per_id(self.templates.iter().map(|kv| codec::decode_template(&kv?.1)))
    }

    fn flush(&self) -> Result<()> {
        self.flush_durably()
    }

    fn identifiers(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.trees[RECORDS]
            .range(inspect::after(after.map(str::as_bytes)))
            .keys()
            .take(limit)
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    fn index_page(&self, index: IndexName, after: Option<&[u8]>, limit: usize) -> Result<Vec<IndexEntry>> {
        self.tree_named(inspect::keyspace(index))
            .range(inspect::after(after))
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                Ok(IndexEntry {
                    key: inspect::decode(index, &k, &v)?,
                    position: k.to_vec(),
                })
            })
            .collect()
    }

    fn has_index_key(&self, key: &IndexKey) -> Result<bool> {
        inspect::holds(key, |name, k| Ok(self.tree_named(name).get(k)?))
    }

    fn insert(&self, new: NewRecord, request: Option<RequestKey>) -> Pending<WriteOutcome> {
        after_flush(&self.commit, self.insert_now(new, request))
    }

    fn reissue(
        &self,
        old: &str,
        supersede: SignedEvent,
        new: NewRecord,
        request: Option<RequestKey>,
    ) -> Pending<WriteOutcome> {
        after_flush(&self.commit, self.reissue_now(old, supersede, new, request))
    }

    fn append_event(&self, identifier: &str, event: SignedEvent, request: Option<RequestKey>) -> Pending<WriteOutcome> {
        after_flush(&self.commit, self.append_event_now(identifier, event, request))
    }

    fn insert_batch(&self, batch: Vec<NewRecord>) -> Pending<BatchOutcome> {
        after_flush(&self.commit, self.insert_batch_now(batch))
    }

    fn append_audit(&self, seal: AuditSeal) -> Pending<u64> {
        // Sealing and writing under one lock keeps the chain in one order.
        let _chain = self.audit_chain.lock().unwrap_or_else(|p| p.into_inner());
        let sealed = self.last_audit().and_then(|last| {
            AuditLink::after(last.as_ref()).map_err(|e| StoreError::Corrupt(format!("audit log: {e}")))
        });
        Pending::ready(sealed.and_then(|link| {
            let entry = seal(&link);
            let seq = entry.seq;
            self.append_audit_now(entry).map(|()| seq)
        }))
    }

    fn put_type(&self, t: &LicenceType) -> Pending<()> {
        after_flush(&self.commit, self.put_type_now(t))
    }

    fn put_template(&self, t: StoredTemplate) -> Pending<u32> {
        after_flush(&self.commit, self.put_template_now(t))
    }

    fn sync(&self) -> Pending<()> {
        self.commit.wait()
    }

    // The sled backend is kept to read data directories of releases before fjall (see
    // `elicence store migrate`); it has no transparency log. The conversion builds the
    // new store's log from the entries it copies.
    fn log_size(&self) -> Result<u64> {
        Ok(0)
    }

    fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<crate::tlog::Hash>> {
        match indexes.first() {
            None => Ok(Vec::new()),
            Some(i) => Err(StoreError::Corrupt(format!(
                "log: tree hash {i} is missing (a sled store has no transparency log)"
            ))),
        }
    }

    fn log_entries(&self, _from: u64, _limit: usize) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }

    fn log_position(&self, _key: &crate::tlog::LeafKey) -> Result<Option<u64>> {
        Ok(None)
    }

    fn put_checkpoint(&self, _size: u64, _note: Vec<u8>) -> Pending<()> {
        let (answer, rx) = super::pending();
        answer.send(Err(StoreError::Io(
            "a sled store has no transparency log; convert it with `elicence store migrate`".into(),
        )));
        rx
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(None)
    }

    fn checkpoints(&self, _from: u64, _limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        Ok(Vec::new())
    }
}

/// The writes themselves, synchronous; the trait answers them after the group flush.
impl SledStore {
    fn insert_now(&self, new: NewRecord, request: Option<RequestKey>) -> Result<WriteOutcome> {
        let ticket = self.gate.enter();
        let w = self.writer(&ticket);
        let number_key = key(&[new.type_code.as_bytes(), new.licence_number.as_bytes()]);
        self.trees[..]
            .transaction(|t| {
                if let Some(id) = Self::check_request(t, &request)? {
                    return Ok(WriteOutcome::Replayed(id));
                }
                if let Some(existing) = t[IDX_NUMBER].get(&number_key)? {
                    return abort(StoreError::NumberTaken {
                        type_code: new.type_code.clone(),
                        number: new.licence_number.clone(),
                        identifier: String::from_utf8_lossy(&existing).into_owned(),
                    });
                }
                Self::put_record(t, &w, &new)?;
                Self::record_request(t, &w, &request, &new.identifier)?;
                Ok(WriteOutcome::Written)
            })
            .map_err(tx_err)
    }

    fn reissue_now(
        &self,
        old: &str,
        supersede: SignedEvent,
        new: NewRecord,
        request: Option<RequestKey>,
    ) -> Result<WriteOutcome> {
        let ticket = self.gate.enter();
        let w = self.writer(&ticket);
        let number_key = key(&[new.type_code.as_bytes(), new.licence_number.as_bytes()]);
        self.trees[..]
            .transaction(|t| {
                if let Some(id) = Self::check_request(t, &request)? {
                    return Ok(WriteOutcome::Replayed(id));
                }
                // The number must still point at the version being replaced.
                match t[IDX_NUMBER].get(&number_key)? {
                    Some(current) if current.as_ref() == old.as_bytes() => {}
                    _ => return abort(StoreError::Conflict(old.to_string())),
                }
                if t[RECORDS].get(new.identifier.as_bytes())?.is_some() {
                    return abort(StoreError::Conflict(new.identifier.clone()));
                }
                Self::append_in_tx(t, &w, old, &supersede)?;
                Self::put_record(t, &w, &new)?;
                Self::record_request(t, &w, &request, &new.identifier)?;
                Ok(WriteOutcome::Written)
            })
            .map_err(tx_err)
    }

    fn append_event_now(
        &self,
        identifier: &str,
        event: SignedEvent,
        request: Option<RequestKey>,
    ) -> Result<WriteOutcome> {
        let ticket = self.gate.enter();
        let w = self.writer(&ticket);
        self.trees[..]
            .transaction(|t| {
                if let Some(id) = Self::check_request(t, &request)? {
                    return Ok(WriteOutcome::Replayed(id));
                }
                Self::append_in_tx(t, &w, identifier, &event)?;
                Self::record_request(t, &w, &request, identifier)?;
                Ok(WriteOutcome::Written)
            })
            .map_err(tx_err)
    }

    fn insert_batch_now(&self, batch: Vec<NewRecord>) -> Result<BatchOutcome> {
        let ticket = self.gate.enter();
        let w = self.writer(&ticket);
        let number_keys: Vec<Vec<u8>> = batch
            .iter()
            .map(|n| key(&[n.type_code.as_bytes(), n.licence_number.as_bytes()]))
            .collect();
        let text = |v: sled::IVec| String::from_utf8_lossy(&v).into_owned();
        self.trees[..]
            .transaction(|t| {
                let mut items = Vec::with_capacity(batch.len());
                for (new, nk) in batch.iter().zip(&number_keys) {
                    if let Some(k) = &new.import_key {
                        if let Some(existing) = t[IMPORT_KEYS].get(k.as_bytes())? {
                            items.push(BatchItem::AlreadyPresent(text(existing)));
                            continue;
                        }
                    }
                    if let Some(existing) = t[IDX_NUMBER].get(nk)? {
                        items.push(BatchItem::NumberTaken(text(existing)));
                        continue;
                    }
                    if t[RECORDS].get(new.identifier.as_bytes())?.is_some() {
                        items.push(BatchItem::IdentifierTaken);
                        continue;
                    }
                    Self::put_record(t, &w, new)?;
                    items.push(BatchItem::Written);
                }
                Ok(BatchOutcome { items })
            })
            .map_err(tx_err)
    }

    fn append_audit_now(&self, entry: SignedAuditEntry) -> Result<()> {
        let value = codec::encode_signed(&entry.key_id, &entry.signature, &entry.bytes);
        let ticket = self.gate.enter();
        ticket.note(AUDIT, &entry.seq.to_be_bytes(), || {
            self.audit.get(entry.seq.to_be_bytes())
        })?;
        self.audit
            .compare_and_swap(entry.seq.to_be_bytes(), None as Option<&[u8]>, Some(value))?
            .map_err(|_| StoreError::Conflict(format!("audit entry {}", entry.seq)))
    }

    fn put_type_now(&self, t: &LicenceType) -> Result<()> {
        let json = serde_json::to_vec(t).expect("licence type serialises");
        let ticket = self.gate.enter();
        ticket.note(CATALOG, t.code.as_bytes(), || self.catalog.get(t.code.as_bytes()))?;
        self.catalog.insert(t.code.as_bytes(), json)?;
        Ok(())
    }

    fn put_template_now(&self, t: StoredTemplate) -> Result<u32> {
        let tree = &self.templates;
        loop {
            let version = match tree.scan_prefix(key(&[t.id.as_bytes(), b""])).next_back() {
                Some(kv) => codec::template_version(&kv?.0)? + 1,
                None => 1,
            };
            let stored = StoredTemplate { version, ..t.clone() };
            let value = serde_json::to_vec(&stored).expect("template serialises");
            let k = codec::template_key(&t.id, version);
            let ticket = self.gate.enter();
            ticket.note(TEMPLATES, &k, || tree.get(&k))?;
            // A concurrent put of the same id took this version: take the next one.
            if tree.compare_and_swap(k, None as Option<&[u8]>, Some(value))?.is_ok() {
                return Ok(version);
            }
        }
    }
}

impl SledStore {
    fn tree_named(&self, name: &str) -> &Tree {
        &self.trees[TREE_NAMES.iter().position(|n| *n == name).expect("a tree")]
    }

    /// Sequence number of the last event of a licence (used by lifecycle writes).
    pub fn last_seq(&self, identifier: &str) -> Result<Option<u32>> {
        self.last_event_seq(identifier)
    }
}
