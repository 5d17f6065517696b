//! The embedded fjall backend: one fjall database (an LSM tree per keyspace, one journal
//! for all), with the same keyspaces and key layouts as the sled backend it replaces
//! (see `sled_store`), plus `meta` for the serial counter.
//!
//! Writes: every write is queued to one committer thread (see `committer`), which checks
//! each against the store and the writes queued before it, commits a whole group as one
//! fjall batch (atomic across keyspaces), and answers each caller once a group-commit
//! `persist(SyncData)` (an fdatasync of the journal) covers it.
//!
//! Memory is bounded by configuration, not by the number of licences: the block cache
//! (`cache_bytes`) and the write buffer (`write_buffer_bytes`, shared out among the
//! keyspaces by how much each one is written; see `memtable_sizes`).

mod backup;
mod committer;

use std::path::Path;
use std::sync::{Arc, Mutex};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use self::committer::{Committer, Engine, Write};
use super::codec::{self, key};
use super::group_commit::GroupCommit;
use super::inspect;
use super::permissions;
use super::{
    pending, BatchOutcome, IndexEntry, IndexKey, IndexName, IndexQuery, NewRecord, Page, Pending, RequestKey, Result,
    SignedAuditEntry, SignedEvent, Store, StoreError, StoredTemplate, WriteOutcome,
};
use crate::audit::AuditSeal;
use crate::catalog::LicenceType;
use crate::licence::SignedRecord;

/// Keyspace names, in backup order: the sled backend's trees, then `meta`, then the
/// transparency log's:
/// - `tlog_hashes`       stored-hash index (u64 BE) → 32-byte hash (`tlog::tree`)
/// - `tlog_leaves`       leaf index (u64 BE) → entry text (`tlog::leaf`)
/// - `tlog_index`        leaf key (`LeafKey::to_bytes`) → leaf index (u64 BE)
/// - `tlog_checkpoints`  tree size (u64 BE) → signed checkpoint note
pub const KEYSPACES: [&str; 16] = [
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
    "tlog_hashes",
    "tlog_leaves",
    "tlog_index",
    "tlog_checkpoints",
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
const TLOG_HASHES: usize = 12;
const TLOG_LEAVES: usize = 13;
const TLOG_INDEX: usize = 14;
const TLOG_CHECKPOINTS: usize = 15;

/// `meta` key of the serial counter's reserved ceiling (u64 BE).
const SEQUENCE_CEILING: &[u8] = b"sequence_ceiling";
/// Serial numbers reserved per write of the ceiling: a crash skips at most this many.
const SEQUENCE_BLOCK: u64 = 1_000;

/// Memory settings; the defaults suit a city's repository on a small server.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedConfig {
    /// Block cache shared by every keyspace.
    pub cache_bytes: u64,
    /// The active memtables of all keyspaces together. A full memtable is sealed and
    /// flushed to a table in the background; fjall holds writes to a keyspace while it
    /// has four sealed memtables queued, so the memtables never hold more than five
    /// times this, and in steady state between one and two times.
    pub write_buffer_bytes: u64,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            cache_bytes: 64 << 20,
            write_buffer_bytes: 32 << 20,
        }
    }
}

/// Each keyspace's share of the write buffer, in KEYSPACES order, by the bytes one issued
/// licence writes to it: the record (~1.2 KB) and its access-audit entries (~0.5 KB
/// each) the most, then the first event, the log's leaves (~300 bytes each), the small
/// index and request keys and the log's hashes. The catalogue, templates, meta and
/// checkpoints are rarely written and get the floor.
const WRITE_SHARES: [u64; 16] = [30, 12, 6, 6, 6, 6, 6, 6, 0, 22, 0, 0, 5, 12, 6, 0];
/// The smallest memtable of any keyspace.
const MIN_MEMTABLE: u64 = 1 << 20;

/// The memtable size of each keyspace for a write buffer of `total` bytes.
fn memtable_sizes(total: u64) -> [u64; 16] {
    let shares: u64 = WRITE_SHARES.iter().sum();
    WRITE_SHARES.map(|share| (total / shares * share).max(MIN_MEMTABLE))
}

pub struct FjallStore {
    db: Database,
    ks: Vec<Keyspace>,
    /// The next serial number, and the ceiling reserved in `meta` (see `next_sequence`).
    sequence: Mutex<(u64, u64)>,
    /// The only writer. Declared before `flusher`: dropping it drains its queue into
    /// the flusher, which is dropped (and drained) next.
    committer: Committer,
    flusher: Arc<GroupCommit>,
}

fn err(e: fjall::Error) -> StoreError {
    StoreError::Io(format!("fjall: {e}"))
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn decode_u64(v: &[u8], what: &str) -> Result<u64> {
    Ok(u64::from_be_bytes(v.try_into().map_err(|_| {
        StoreError::Corrupt(format!("log: {what} is not 8 bytes"))
    })?))
}

fn decode_hash(index: u64, v: &[u8]) -> Result<crate::tlog::Hash> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt(format!("log: tree hash {index} is not 32 bytes")))
}

/// Leaves in the log: one past the last leaf's index.
fn log_size(leaves: &Keyspace) -> Result<u64> {
    match leaves.last_key_value() {
        Some(g) => Ok(decode_u64(&g.key()?, "leaf index")? + 1),
        None => Ok(0),
    }
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
        let sizes = memtable_sizes(config.write_buffer_bytes);
        let ks = KEYSPACES
            .iter()
            .zip(sizes)
            .map(|(name, size)| db.keyspace(name, || KeyspaceCreateOptions::default().max_memtable_size(size)))
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
        let flusher = Arc::new(GroupCommit::start(Arc::new(move || {
            let started = std::time::Instant::now();
            let r = flush_db.persist(PersistMode::SyncData).map_err(err);
            crate::metrics::METRICS.fsync(started.elapsed());
            r
        })));
        let committer = Committer::start(
            Engine {
                db: db.clone(),
                ks: ks.clone(),
            },
            flusher.clone(),
        );
        if permissions::is_private(dir)? {
            permissions::restrict(dir)?;
        }
        // fjall creates its files on first open: make their directory entries durable.
        std::fs::File::open(dir)?.sync_all()?;
        Ok(FjallStore {
            db,
            ks,
            // Everything below the stored ceiling may have been handed out before a crash.
            sequence: Mutex::new((ceiling, ceiling)),
            committer,
            flusher,
        })
    }

    fn read(&self, ks: usize, k: impl AsRef<[u8]>) -> Result<Option<fjall::Slice>> {
        Ok(self.ks[ks].get(k)?)
    }

    fn submit<T>(&self, make: impl FnOnce(super::Answer<T>) -> Write) -> Pending<T> {
        let (answer, rx) = pending();
        self.committer.submit(make(answer));
        rx
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
        Ok(self
            .read(
                REQUESTS,
                codec::key(&[key.caller.as_bytes(), key.request_id.as_bytes()]),
            )?
            .map(|v| text(&v)))
    }

    fn insert(&self, new: NewRecord, request: Option<RequestKey>) -> Pending<WriteOutcome> {
        self.submit(|answer| Write::Insert { new, request, answer })
    }

    fn reissue(
        &self,
        old: &str,
        supersede: SignedEvent,
        new: NewRecord,
        request: Option<RequestKey>,
    ) -> Pending<WriteOutcome> {
        self.submit(|answer| Write::Reissue {
            old: old.to_string(),
            supersede,
            new,
            request,
            answer,
        })
    }

    fn append_event(&self, identifier: &str, event: SignedEvent, request: Option<RequestKey>) -> Pending<WriteOutcome> {
        self.submit(|answer| Write::Append {
            identifier: identifier.to_string(),
            event,
            request,
            answer,
        })
    }

    fn insert_batch(&self, records: Vec<NewRecord>) -> Pending<BatchOutcome> {
        self.submit(|answer| Write::Batch { records, answer })
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
        let range_start = codec::continue_after(start, &end, after);
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

    fn append_audit(&self, seal: AuditSeal) -> Pending<u64> {
        self.submit(|answer| Write::Audit { seal, answer })
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

    fn put_type(&self, t: &LicenceType) -> Pending<()> {
        let json = serde_json::to_vec(t).expect("licence type serialises");
        self.submit(|answer| Write::PutType {
            code: t.code.clone(),
            json,
            answer,
        })
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

    fn put_template(&self, template: StoredTemplate) -> Pending<u32> {
        self.submit(|answer| Write::PutTemplate { template, answer })
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

    fn sync(&self) -> Pending<()> {
        self.flusher.wait()
    }

    fn approximate_licences(&self) -> Option<u64> {
        Some(self.ks[RECORDS].approximate_len() as u64)
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

    fn log_size(&self) -> Result<u64> {
        log_size(&self.ks[TLOG_LEAVES])
    }

    fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<crate::tlog::Hash>> {
        indexes
            .iter()
            .map(|i| match self.ks[TLOG_HASHES].get(i.to_be_bytes())? {
                Some(v) => decode_hash(*i, &v),
                None => Err(StoreError::Corrupt(format!("log: tree hash {i} is missing"))),
            })
            .collect()
    }

    fn log_entries(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for (expect, g) in (from..).zip(self.ks[TLOG_LEAVES].range(from.to_be_bytes()..).take(limit)) {
            let (k, v) = g.into_inner()?;
            if decode_u64(&k, "leaf index")? != expect {
                return Err(StoreError::Corrupt(format!("log: leaf {expect} is missing")));
            }
            out.push(v.to_vec());
        }
        Ok(out)
    }

    fn log_position(&self, key: &crate::tlog::LeafKey) -> Result<Option<u64>> {
        self.read(TLOG_INDEX, key.to_bytes())?
            .map(|v| decode_u64(&v, "leaf position"))
            .transpose()
    }

    fn put_checkpoint(&self, size: u64, note: Vec<u8>) -> Pending<()> {
        self.submit(|answer| Write::Checkpoint { size, note, answer })
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.ks[TLOG_CHECKPOINTS]
            .last_key_value()
            .map(|g| {
                let (k, v) = g.into_inner()?;
                Ok((decode_u64(&k, "checkpoint size")?, v.to_vec()))
            })
            .transpose()
    }

    fn checkpoints(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        self.ks[TLOG_CHECKPOINTS]
            .range(from.to_be_bytes()..)
            .take(limit)
            .map(|g| {
                let (k, v) = g.into_inner()?;
                Ok((decode_u64(&k, "checkpoint size")?, v.to_vec()))
            })
            .collect()
    }
}

fn keyspace_id(name: &str) -> usize {
    KEYSPACES.iter().position(|n| *n == name).expect("a keyspace")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The write buffer is shared out whole: the written keyspaces together get the
    /// configured bytes (less rounding), the records the largest part, and no keyspace
    /// less than the floor.
    #[test]
    fn the_write_buffer_is_shared_out_by_what_each_keyspace_is_written() {
        let total = 32 << 20;
        let sizes = memtable_sizes(total);
        let written: u64 = sizes
            .iter()
            .zip(WRITE_SHARES)
            .filter(|(_, s)| *s > 0)
            .map(|(b, _)| b)
            .sum();
        assert!(written <= total && written > total - 100, "{written}");
        assert!(sizes.iter().all(|&b| b >= MIN_MEMTABLE));
        assert_eq!(sizes.iter().max(), Some(&sizes[RECORDS]));
        assert_eq!(sizes[CATALOG], MIN_MEMTABLE);
        // A small budget still leaves every keyspace a working memtable.
        assert!(memtable_sizes(0).iter().all(|&b| b == MIN_MEMTABLE));
    }

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
