//! The embedded fjall backend: one fjall database (an LSM tree per keyspace, one journal
//! for all), with the same keyspaces and key layouts as the sled backend it replaces
//! (see `sled_store`), plus `meta` for the serial counter.
//!
//! Writes: every logical write (a record with its indexes, first event and request key;
//! an event; a batch of migrated records; an audit entry) is one fjall write batch, so
//! it is atomic across keyspaces. Its checks (number free, request id new, event seq
//! next, audit seq free) and its batch are made under one short lock, so no two writes
//! can both pass a check that only one may pass; the lock covers no I/O but the journal
//! append. Durability is requested separately: [`Store::durable`] group-commits one
//! `persist(SyncData)` (an fdatasync of the journal) for every waiter queued meanwhile.
//!
//! Memory is bounded by configuration, not by the number of licences: the block cache
//! (`cache_bytes`) and the memtables (`max_memtable_bytes` per keyspace), fjall's own
//! knobs.

mod backup;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};

use super::codec::{self, key};
use super::group_commit::GroupCommit;
use super::inspect;
use super::permissions;
use super::{
    BatchItem, BatchOutcome, IndexEntry, IndexKey, IndexName, IndexQuery, NewRecord, Page, RequestKey, Result,
    SignedAuditEntry, SignedEvent, Store, StoreError, StoredTemplate, WriteOutcome,
};
use crate::catalog::LicenceType;
use crate::licence::SignedRecord;

/// Keyspace names, in backup order: the sled backend's trees, then `meta`.
pub const KEYSPACES: [&str; 12] = [
    "records",
    "events",
    "idx_number",
    "idx_holder",
    "idx_type",
    "idx_issuer",
    "requests",
    "import_keys",
    "catalog",
    "audit",
    "templates",
    "meta",
];
const RECORDS: usize = 0;
const EVENTS: usize = 1;
const IDX_NUMBER: usize = 2;
const IDX_HOLDER: usize = 3;
const IDX_TYPE: usize = 4;
const IDX_ISSUER: usize = 5;
const REQUESTS: usize = 6;
const IMPORT_KEYS: usize = 7;
const CATALOG: usize = 8;
const AUDIT: usize = 9;
const TEMPLATES: usize = 10;
const META: usize = 11;

/// `meta` key of the serial counter's reserved ceiling (u64 BE).
const SEQUENCE_CEILING: &[u8] = b"sequence_ceiling";
/// Serial numbers reserved per write of the ceiling: a crash skips at most this many.
const SEQUENCE_BLOCK: u64 = 1_000;

/// Memory settings; the defaults suit a city's repository on a small server.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedConfig {
    /// Block cache shared by every keyspace.
    pub cache_bytes: u64,
    /// One keyspace's active memtable (there are twelve keyspaces; a full memtable is
    /// sealed and flushed to a table in the background).
    pub max_memtable_bytes: u64,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            cache_bytes: 64 << 20,
            max_memtable_bytes: 8 << 20,
        }
    }
}

pub struct FjallStore {
    db: Database,
    ks: Vec<Keyspace>,
    /// Held while a write's checks run and its batch is appended to the journal.
    write: Mutex<()>,
    /// The next serial number, and the ceiling reserved in `meta` (see `next_sequence`).
    sequence: Mutex<(u64, u64)>,
    commit: GroupCommit,
    /// Writes since open, for tests and metrics.
    writes: AtomicU64,
}

fn err(e: fjall::Error) -> StoreError {
    StoreError::Io(format!("fjall: {e}"))
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        err(e)
    }
}

impl FjallStore {
    /// Opens (or creates) the store in `dir` with the default memory settings.
    pub fn open(dir: &Path) -> Result<FjallStore> {
        FjallStore::open_with(dir, EmbeddedConfig::default())
    }

    /// A new directory is created 0700 and, when private, everything in it is set to
    /// 0700/0600 after opening (as for sled; tables written later follow the process's
    /// umask, which the CLI sets to 077).
    pub fn open_with(dir: &Path, config: EmbeddedConfig) -> Result<FjallStore> {
        permissions::create_private(dir)?;
        let db = Database::builder(dir).cache_size(config.cache_bytes).open()?;
        let memtable = config.max_memtable_bytes;
        let ks = KEYSPACES
            .iter()
            .map(|name| db.keyspace(name, || KeyspaceCreateOptions::default().max_memtable_size(memtable)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let ceiling = match ks[META].get(SEQUENCE_CEILING)? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("meta: sequence ceiling is not 8 bytes".into()))?,
            ),
            None => 0,
        };
        let flush_db = db.clone();
        let commit = GroupCommit::start(Arc::new(move || flush_db.persist(PersistMode::SyncData).map_err(err)));
        if permissions::is_private(dir)? {
            permissions::restrict(dir)?;
        }
        // fjall creates its files on first open: make their directory entries durable.
        std::fs::File::open(dir)?.sync_all()?;
        Ok(FjallStore {
            db,
            ks,
            write: Mutex::new(()),
            // Everything below the stored ceiling may have been handed out before a crash.
            sequence: Mutex::new((ceiling, ceiling)),
            commit,
            writes: AtomicU64::new(0),
        })
    }

    fn batch(&self) -> OwnedWriteBatch {
        self.db.batch()
    }

    fn commit_batch(&self, b: OwnedWriteBatch) -> Result<()> {
        b.commit()?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read(&self, ks: usize, k: impl AsRef<[u8]>) -> Result<Option<fjall::Slice>> {
        Ok(self.ks[ks].get(k)?)
    }

    /// The record, its indexes, its first event and its import key, into `b`.
    fn put_record(&self, b: &mut OwnedWriteBatch, new: &NewRecord) {
        let ks = &self.ks;
        let id = new.identifier.as_bytes();
        b.insert(&ks[RECORDS], id, codec::encode_record(&new.record));
        if let Some(e) = &new.first_event {
            b.insert(
                &ks[EVENTS],
                codec::event_key(&new.identifier, e.seq),
                codec::encode_signed(&e.key_id, &e.signature, &e.bytes),
            );
        }
        if let Some(k) = &new.import_key {
            b.insert(&ks[IMPORT_KEYS], k.as_bytes(), id);
        }
        b.insert(
            &ks[IDX_NUMBER],
            key(&[new.type_code.as_bytes(), new.licence_number.as_bytes()]),
            id,
        );
        let empty: &[u8] = &[];
        b.insert(
            &ks[IDX_HOLDER],
            key(&[new.holder_code_type.as_bytes(), new.holder_code.as_bytes(), id]),
            empty,
        );
        b.insert(
            &ks[IDX_TYPE],
            key(&[new.type_code.as_bytes(), new.issue_date.as_bytes(), id]),
            empty,
        );
        b.insert(
            &ks[IDX_ISSUER],
            key(&[new.issuer_code.as_bytes(), new.issue_date.as_bytes(), id]),
            empty,
        );
    }

    fn request_key(r: &RequestKey) -> Vec<u8> {
        key(&[r.caller.as_bytes(), r.request_id.as_bytes()])
    }

    fn check_request(&self, request: &Option<RequestKey>) -> Result<Option<String>> {
        match request {
            Some(r) => Ok(self.read(REQUESTS, Self::request_key(r))?.map(|v| text(&v))),
            None => Ok(None),
        }
    }

    fn record_request(&self, b: &mut OwnedWriteBatch, request: &Option<RequestKey>, identifier: &str) {
        if let Some(r) = request {
            b.insert(&self.ks[REQUESTS], Self::request_key(r), identifier.as_bytes());
        }
    }

    /// Checks that `event` continues the stored chain of `identifier` and adds it to `b`.
    fn append_checked(&self, b: &mut OwnedWriteBatch, identifier: &str, event: &SignedEvent) -> Result<()> {
        // A first event (seq 0) is only appended to a stored record (migrated records
        // may start without events).
        let links = match event.seq {
            0 => self.read(RECORDS, identifier.as_bytes())?.is_some(),
            n => self.read(EVENTS, codec::event_key(identifier, n - 1))?.is_some(),
        };
        let k = codec::event_key(identifier, event.seq);
        if !links || self.read(EVENTS, &k)?.is_some() {
            return Err(StoreError::Conflict(identifier.to_string()));
        }
        b.insert(
            &self.ks[EVENTS],
            k,
            codec::encode_signed(&event.key_id, &event.signature, &event.bytes),
        );
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes on disk (journal and tables), for sizing.
    pub fn disk_space(&self) -> Result<u64> {
        Ok(self.db.disk_space()?)
    }
}

impl Store for FjallStore {
    fn next_sequence(&self) -> Result<u64> {
        let mut s = self.sequence.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 >= s.1 {
            // Reserve the next block before handing any of it out: the ceiling reaches
            // the journal before any record using a number below it.
            let ceiling = s.1 + SEQUENCE_BLOCK;
            self.ks[META].insert(SEQUENCE_CEILING, ceiling.to_be_bytes())?;
            s.1 = ceiling;
        }
        let n = s.0;
        s.0 += 1;
        Ok(n)
    }

    fn replayed(&self, key: &RequestKey) -> Result<Option<String>> {
        self.check_request(&Some(key.clone()))
    }

    fn insert(&self, new: NewRecord, request: Option<RequestKey>) -> Result<WriteOutcome> {
        let number_key = key(&[new.type_code.as_bytes(), new.licence_number.as_bytes()]);
        let _w = self.lock();
        if let Some(id) = self.check_request(&request)? {
            return Ok(WriteOutcome::Replayed(id));
        }
        if let Some(existing) = self.read(IDX_NUMBER, &number_key)? {
            return Err(StoreError::NumberTaken {
                type_code: new.type_code.clone(),
                number: new.licence_number.clone(),
                identifier: text(&existing),
            });
        }
        let mut b = self.batch();
        self.put_record(&mut b, &new);
        self.record_request(&mut b, &request, &new.identifier);
        self.commit_batch(b)?;
        Ok(WriteOutcome::Written)
    }

    fn reissue(
        &self,
        old: &str,
        supersede: SignedEvent,
        new: NewRecord,
        request: Option<RequestKey>,
    ) -> Result<WriteOutcome> {
        let number_key = key(&[new.type_code.as_bytes(), new.licence_number.as_bytes()]);
        let _w = self.lock();
        if let Some(id) = self.check_request(&request)? {
            return Ok(WriteOutcome::Replayed(id));
        }
        // The number must still point at the version being replaced.
        match self.read(IDX_NUMBER, &number_key)? {
            Some(current) if current.as_ref() == old.as_bytes() => {}
            _ => return Err(StoreError::Conflict(old.to_string())),
        }
        if self.read(RECORDS, new.identifier.as_bytes())?.is_some() {
            return Err(StoreError::Conflict(new.identifier.clone()));
        }
        let mut b = self.batch();
        self.append_checked(&mut b, old, &supersede)?;
        self.put_record(&mut b, &new);
        self.record_request(&mut b, &request, &new.identifier);
        self.commit_batch(b)?;
        Ok(WriteOutcome::Written)
    }

    fn append_event(&self, identifier: &str, event: SignedEvent, request: Option<RequestKey>) -> Result<WriteOutcome> {
        let _w = self.lock();
        if let Some(id) = self.check_request(&request)? {
            return Ok(WriteOutcome::Replayed(id));
        }
        let mut b = self.batch();
        self.append_checked(&mut b, identifier, &event)?;
        self.record_request(&mut b, &request, identifier);
        self.commit_batch(b)?;
        Ok(WriteOutcome::Written)
    }

    fn insert_batch(&self, batch: Vec<NewRecord>) -> Result<BatchOutcome> {
        let _w = self.lock();
        let mut b = self.batch();
        let mut items = Vec::with_capacity(batch.len());
        // Keys written earlier in this batch count as taken, like stored ones.
        let mut numbers = std::collections::HashMap::new();
        let mut import_keys = std::collections::HashMap::new();
        let mut identifiers = std::collections::HashSet::new();
        for new in &batch {
            let nk = key(&[new.type_code.as_bytes(), new.licence_number.as_bytes()]);
            if let Some(k) = &new.import_key {
                if let Some(existing) = import_keys.get(k) {
                    items.push(BatchItem::AlreadyPresent(String::clone(existing)));
                    continue;
                }
                if let Some(existing) = self.read(IMPORT_KEYS, k.as_bytes())? {
                    items.push(BatchItem::AlreadyPresent(text(&existing)));
                    continue;
                }
            }
            if let Some(existing) = numbers.get(&nk) {
                items.push(BatchItem::NumberTaken(String::clone(existing)));
                continue;
            }
            if let Some(existing) = self.read(IDX_NUMBER, &nk)? {
                items.push(BatchItem::NumberTaken(text(&existing)));
                continue;
            }
            if identifiers.contains(&new.identifier) || self.read(RECORDS, new.identifier.as_bytes())?.is_some() {
                items.push(BatchItem::IdentifierTaken);
                continue;
            }
            self.put_record(&mut b, new);
            numbers.insert(nk, new.identifier.clone());
            if let Some(k) = &new.import_key {
                import_keys.insert(k.clone(), new.identifier.clone());
            }
            identifiers.insert(new.identifier.clone());
            items.push(BatchItem::Written);
        }
        self.commit_batch(b)?;
        Ok(BatchOutcome { items })
    }

    fn get(&self, identifier: &str) -> Result<Option<SignedRecord>> {
        self.read(RECORDS, identifier.as_bytes())?
            .map(|v| codec::decode_record(&v))
            .transpose()
    }

    fn find_number(&self, type_code: &str, number: &str) -> Result<Option<String>> {
        Ok(self
            .read(IDX_NUMBER, key(&[type_code.as_bytes(), number.as_bytes()]))?
            .map(|v| text(&v)))
    }

    fn events(&self, identifier: &str) -> Result<Vec<SignedEvent>> {
        let prefix = key(&[identifier.as_bytes(), b""]);
        self.ks[EVENTS]
            .prefix(prefix)
            .map(|g| {
                let (k, v) = g.into_inner()?;
                codec::decode_event(&k, &v)
            })
            .collect()
    }

    fn query(&self, q: &IndexQuery, after: Option<&[u8]>, limit: usize) -> Result<Page> {
        let (name, start, end) = codec::index_range(q);
        let ks = KEYSPACES.iter().position(|n| *n == name).expect("an index keyspace");
        let range_start = match after {
            Some(a) if a >= start.as_slice() && a < end.as_slice() => {
                let mut s = a.to_vec();
                s.push(0);
                s
            }
            _ => start,
        };
        let mut page = Page::default();
        for g in self.ks[ks].range(range_start..end) {
            let k = g.key()?;
            if page.identifiers.len() == limit {
                page.next = page.positions.last().cloned();
                return Ok(page);
            }
            let id_start = k.iter().rposition(|b| *b == codec::SEP).map(|p| p + 1).unwrap_or(0);
            page.identifiers.push(text(&k[id_start..]));
            page.positions.push(k.to_vec());
        }
        Ok(page)
    }

    fn append_audit(&self, entry: SignedAuditEntry) -> Result<()> {
        let k = entry.seq.to_be_bytes();
        let _w = self.lock();
        if self.read(AUDIT, k)?.is_some() {
            return Err(StoreError::Conflict(format!("audit entry {}", entry.seq)));
        }
        let mut b = self.batch();
        b.insert(
            &self.ks[AUDIT],
            k,
            codec::encode_signed(&entry.key_id, &entry.signature, &entry.bytes),
        );
        self.commit_batch(b)
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<SignedAuditEntry>> {
        self.ks[AUDIT]
            .range(from.to_be_bytes()..)
            .take(limit)
            .map(|g| {
                let (k, v) = g.into_inner()?;
                codec::decode_audit(&k, &v)
            })
            .collect()
    }

    fn last_audit(&self) -> Result<Option<SignedAuditEntry>> {
        self.ks[AUDIT]
            .last_key_value()
            .map(|g| {
                let (k, v) = g.into_inner()?;
                codec::decode_audit(&k, &v)
            })
            .transpose()
    }

    fn put_type(&self, t: &LicenceType) -> Result<()> {
        let json = serde_json::to_vec(t).expect("licence type serialises");
        let _w = self.lock();
        let mut b = self.batch();
        b.insert(&self.ks[CATALOG], t.code.as_bytes(), json);
        self.commit_batch(b)
    }

    fn get_type(&self, code: &str) -> Result<Option<LicenceType>> {
        self.read(CATALOG, code.as_bytes())?
            .map(|v| serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("catalog {code}: {e}"))))
            .transpose()
    }

    fn list_types(&self) -> Result<Vec<LicenceType>> {
        self.ks[CATALOG]
            .iter()
            .map(|g| {
                let v = g.value()?;
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("catalog: {e}")))
            })
            .collect()
    }

    fn put_template(&self, t: StoredTemplate) -> Result<u32> {
        let _w = self.lock();
        let version = match self.ks[TEMPLATES].prefix(key(&[t.id.as_bytes(), b""])).next_back() {
            Some(g) => codec::template_version(&g.key()?)? + 1,
            None => 1,
        };
        let stored = StoredTemplate { version, ..t };
        let value = serde_json::to_vec(&stored).expect("template serialises");
        let mut b = self.batch();
        b.insert(&self.ks[TEMPLATES], codec::template_key(&stored.id, version), value);
        self.commit_batch(b)?;
        Ok(version)
    }

    fn get_template(&self, id: &str, version: Option<u32>) -> Result<Option<StoredTemplate>> {
        let value = match version {
            Some(v) => self.read(TEMPLATES, codec::template_key(id, v))?,
            None => self.ks[TEMPLATES]
                .prefix(key(&[id.as_bytes(), b""]))
                .next_back()
                .map(|g| g.value())
                .transpose()?,
        };
        value.map(|v| codec::decode_template(&v)).transpose()
    }

    fn latest_templates(&self) -> Result<Vec<StoredTemplate>> {
        codec::latest_per_id(self.ks[TEMPLATES].iter().map(|g| codec::decode_template(&g.value()?)))
    }

    fn durable(&self) -> tokio::sync::oneshot::Receiver<Result<()>> {
        self.commit.wait()
    }

    fn flush(&self) -> Result<()> {
        Ok(self.db.persist(PersistMode::SyncData)?)
    }

    fn identifiers(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.ks[RECORDS]
            .range(inspect::after(after.map(str::as_bytes)))
            .take(limit)
            .map(|g| Ok(text(&g.key()?)))
            .collect()
    }

    fn index_page(&self, index: IndexName, after: Option<&[u8]>, limit: usize) -> Result<Vec<IndexEntry>> {
        self.ks[keyspace_id(inspect::keyspace(index))]
            .range(inspect::after(after))
            .take(limit)
            .map(|g| {
                let (k, v) = g.into_inner()?;
                Ok(IndexEntry {
                    key: inspect::decode(index, &k, &v)?,
                    position: k.to_vec(),
                })
            })
            .collect()
    }

    fn has_index_key(&self, key: &IndexKey) -> Result<bool> {
        inspect::holds(key, |name, k| self.read(keyspace_id(name), k))
    }
}

fn keyspace_id(name: &str) -> usize {
    KEYSPACES.iter().position(|n| *n == name).expect("a keyspace")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fjall creates its files with the process's umask (typically 022 in tests); the
    /// store still leaves a new directory 0700 with every file in it 0600, and tightens
    /// a private directory whose files were left readable.
    #[cfg(unix)]
    #[test]
    fn a_new_data_directory_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new/data");
        drop(FjallStore::open(&dir).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(permissions::check(&dir).unwrap(), Ok(()));
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_file())
            .expect("fjall wrote a file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(FjallStore::open(&dir).unwrap());
        assert_eq!(mode(&file), 0o600);

        // An open directory is the operator's decision (the CLI asks for it): left alone.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        drop(FjallStore::open(&dir).unwrap());
        assert_eq!((mode(&dir), mode(&file)), (0o750, 0o640));
    }

    /// A sled data directory of an earlier release is refused with the command that
    /// converts it.
    #[test]
    fn a_sled_directory_is_refused_with_the_conversion_command() {
        let tmp = tempfile::tempdir().unwrap();
        drop(crate::store::SledStore::open_with_cache(tmp.path(), 1 << 20).unwrap());
        let e = crate::store::open_embedded(tmp.path(), EmbeddedConfig::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("elicence store migrate --from-sled"), "{e}");
    }
}
