//! Storage: the interface the service holds; its embedded fjall backend (with one
//! committer that owns every write); its PostgreSQL backend, for several processes on one
//! database, where the database gives the guarantees the committer gives; and the sled
//! backend of earlier releases, kept to convert their data directories.
//!
//! The interface speaks in domain terms — signed records, signed events, indexes,
//! queued writes answered once durable, paged reads — and one test suite
//! (`conformance`) runs against every backend.

mod backup;
mod batch_rules;
mod codec;
#[cfg(test)]
pub mod conformance;
mod embedded;
mod group_commit;
mod inspect;
mod pending;
pub mod permissions;
pub mod postgres;
mod sled_store;
mod snapshot;

pub use backup::{check_backup, BackupError, BackupHeader, BackupSummary};
pub use embedded::{EmbeddedConfig, FjallStore};

/// The store a data directory holds when no database URL is given.
pub type EmbeddedStore = FjallStore;

/// Whether `dir` holds a sled data directory written by a release before fjall.
pub fn is_sled_dir(dir: &std::path::Path) -> bool {
    dir.join("conf").is_file() && dir.join("db").is_file()
}

/// Opens the embedded store in `dir`, refusing a sled data directory from an earlier
/// release with the command that converts it.
pub fn open_embedded(dir: &std::path::Path, config: EmbeddedConfig) -> Result<EmbeddedStore> {
    if is_sled_dir(dir) {
        return Err(StoreError::Io(format!(
            "{} holds a sled data directory from an earlier release; convert it with \
             `elicence store migrate --from-sled {} --data-dir NEW_DIR` and serve NEW_DIR",
            dir.display(),
            dir.display()
        )));
    }
    FjallStore::open_with(dir, config)
}
/// Where a repository's store is: a data directory, or a PostgreSQL database.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Embedded {
        dir: std::path::PathBuf,
        config: EmbeddedConfig,
    },
    Postgres(postgres::PgConfig),
}

/// A store as opened: the interface the service holds, and the backend itself for what
/// only it does (the embedded store's control socket and file backups; the database's
/// startup lock).
#[derive(Clone)]
pub enum OpenedStore {
    Embedded(std::sync::Arc<EmbeddedStore>),
    Postgres(std::sync::Arc<postgres::PgStore>),
}

impl OpenedStore {
    /// Opens the store at `location` (creating an embedded one, or the database schema,
    /// if there is none yet).
    pub fn open(location: &StoreLocation) -> Result<OpenedStore> {
        Ok(match location {
            StoreLocation::Embedded { dir, config } => {
                OpenedStore::Embedded(std::sync::Arc::new(open_embedded(dir, *config)?))
            }
            StoreLocation::Postgres(pg) => OpenedStore::Postgres(std::sync::Arc::new(postgres::PgStore::open(pg)?)),
        })
    }

    pub fn store(&self) -> std::sync::Arc<dyn Store> {
        match self {
            OpenedStore::Embedded(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }

    pub fn embedded(&self) -> Option<&std::sync::Arc<EmbeddedStore>> {
        match self {
            OpenedStore::Embedded(s) => Some(s),
            OpenedStore::Postgres(_) => None,
        }
    }

    /// Held while a starting process seeds an empty store (catalogue, templates), so
    /// that processes starting together on one database seed it once. The embedded
    /// store has one process by construction: nothing to hold.
    pub fn startup_lock(&self) -> Result<Option<postgres::StartupLock>> {
        match self {
            OpenedStore::Embedded(_) => Ok(None),
            OpenedStore::Postgres(s) => s.startup_lock().map(Some),
        }
    }
}

thread_local! {
    static ON_BLOCKING_POOL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, a synchronous caller of the store on an async runtime's blocking pool
/// (`spawn_blocking`): a store that waits on the network may drive that wait on this
/// thread itself, instead of handing it to its own runtime and sleeping until it ends.
pub fn on_blocking_pool<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ON_BLOCKING_POOL.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(ON_BLOCKING_POOL.with(|c| c.replace(true)));
    f()
}

/// Whether the current thread runs inside [`on_blocking_pool`].
pub(crate) fn is_on_blocking_pool() -> bool {
    ON_BLOCKING_POOL.with(|c| c.get())
}

pub use pending::{pending, Answer, Pending};
pub use permissions::OpenDataDir;
pub use sled_store::SledStore;

use crate::audit::{AuditSeal, SignedAuditEntry};
use crate::catalog::LicenceType;
use crate::licence::status::SignedEvent;
use crate::licence::SignedRecord;

/// Everything written when a licence version is created: the record, the fields its
/// indexes need, and its first event.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub identifier: String,
    pub type_code: String,
    pub licence_number: String,
    pub holder_code_type: String,
    pub holder_code: String,
    pub issuer_code: String,
    /// ISO date, ordered for range scans.
    pub issue_date: String,
    pub record: SignedRecord,
    /// Event seq 0 of the new record (issued or reissued). Migrated records carry their
    /// provenance inside the signed record and start with no event.
    pub first_event: Option<SignedEvent>,
    /// Stable source key of a migrated row; a second write with the same key is skipped.
    pub import_key: Option<String>,
}

/// One stored version of a licence template: its TOML text exactly as put, and who put
/// it when. Versions of an id count up from 1 and are never overwritten.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredTemplate {
    pub id: String,
    pub version: u32,
    pub text: String,
    /// Department id, or `built-in` for the templates seeded on first start.
    pub put_by: String,
    /// RFC 3339.
    pub put_at: String,
}

/// An idempotency key: who asked and their request id.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub caller: String,
    pub request_id: String,
}

/// The result of an idempotent write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written now.
    Written,
    /// The same request was already done; this is the identifier it produced.
    Replayed(String),
}

/// What a batch insert did with one record, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchItem {
    Written,
    /// The import key was already stored (an earlier or interrupted run); its identifier.
    AlreadyPresent(String),
    /// Another record already uses this `(type, number)`; its identifier.
    NumberTaken(String),
    /// The identifier itself is already stored (a legacy identifier clash).
    IdentifierTaken,
}

/// Result of a batch insert (migration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub items: Vec<BatchItem>,
}

/// A page of index results.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub identifiers: Vec<String>,
    /// The position of each identifier's entry: a query `after` it continues with the
    /// next one. Opaque outside the store.
    pub positions: Vec<Vec<u8>>,
    /// Opaque position to continue from; `None` at the end.
    pub next: Option<Vec<u8>>,
}

/// What a query selects.
#[derive(Debug, Clone)]
pub enum IndexQuery {
    Holder {
        code_type: String,
        code: String,
    },
    Type {
        type_code: String,
        from: String,
        to: String,
    },
    Issuer {
        issuer_code: String,
        from: String,
        to: String,
    },
}

/// A secondary index or stored pointer, to read back in pages (consistency checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexName {
    /// type · number → identifier of the current version.
    Number,
    /// holder code type · holder code · identifier.
    Holder,
    /// type · issue date · identifier.
    Type,
    /// issuer code · issue date · identifier.
    Issuer,
    /// identifier · seq: every stored event.
    Events,
    /// caller · request id → identifier (idempotency keys).
    Requests,
    /// source key of a migrated row → identifier.
    ImportKeys,
}

impl IndexName {
    pub const ALL: [IndexName; 7] = [
        IndexName::Number,
        IndexName::Holder,
        IndexName::Type,
        IndexName::Issuer,
        IndexName::Events,
        IndexName::Requests,
        IndexName::ImportKeys,
    ];
}

/// What one index entry or pointer says, decoded: its key's parts and the identifier
/// it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndexKey {
    Number {
        type_code: String,
        number: String,
        identifier: String,
    },
    Holder {
        code_type: String,
        code: String,
        identifier: String,
    },
    Type {
        type_code: String,
        issue_date: String,
        identifier: String,
    },
    Issuer {
        issuer_code: String,
        issue_date: String,
        identifier: String,
    },
    Event {
        identifier: String,
        seq: u32,
    },
    Request {
        caller: String,
        request_id: String,
        identifier: String,
    },
    ImportKey {
        key: String,
        identifier: String,
    },
}

impl IndexKey {
    /// The index it belongs to.
    pub fn index(&self) -> IndexName {
        match self {
            IndexKey::Number { .. } => IndexName::Number,
            IndexKey::Holder { .. } => IndexName::Holder,
            IndexKey::Type { .. } => IndexName::Type,
            IndexKey::Issuer { .. } => IndexName::Issuer,
            IndexKey::Event { .. } => IndexName::Events,
            IndexKey::Request { .. } => IndexName::Requests,
            IndexKey::ImportKey { .. } => IndexName::ImportKeys,
        }
    }

    /// The licence version it names.
    pub fn identifier(&self) -> &str {
        match self {
            IndexKey::Number { identifier, .. }
            | IndexKey::Holder { identifier, .. }
            | IndexKey::Type { identifier, .. }
            | IndexKey::Issuer { identifier, .. }
            | IndexKey::Event { identifier, .. }
            | IndexKey::Request { identifier, .. }
            | IndexKey::ImportKey { identifier, .. } => identifier,
        }
    }
}

/// One entry of an index page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub key: IndexKey,
    /// Where the entry stands in its index: a page `after` it continues with the next
    /// one. Opaque outside the store (a key for fjall; a keyset cursor for SQL).
    pub position: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("licence number {number} is already used for type {type_code} (by {identifier})")]
    NumberTaken {
        type_code: String,
        number: String,
        identifier: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("concurrent change to {0}; retry")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage I/O: {0}")]
    Io(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { .. } => StoreError::Corrupt(e.to_string()),
            other => StoreError::Io(other.to_string()),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The storage interface. Reads are synchronous and short. Writes are queued to the
/// backend's writer and answered through a [`Pending`]: an answer means the write is
/// decided and durable (an audit entry: decided and journaled, durable with the next
/// write's flush). A refused write changes nothing.
pub trait Store: Send + Sync + 'static {
    /// A fresh, never-reused number for building serials.
    fn next_sequence(&self) -> Result<u64>;

    /// The identifier an earlier request with this key produced, if any (it may not be
    /// durable yet: await [`Store::sync`] before answering from it).
    fn replayed(&self, key: &RequestKey) -> Result<Option<String>>;

    /// What an issue checks before it signs anything: the identifier an earlier request
    /// with this key produced, and the identifier holding `(type, number)` (a network
    /// backend asks both at once).
    fn issue_checks(
        &self,
        key: &RequestKey,
        type_code: &str,
        number: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        match self.replayed(key)? {
            Some(id) => Ok((Some(id), None)),
            None => Ok((None, self.find_number(type_code, number)?)),
        }
    }

    /// Checks the licence number is free and the request new, then stores the record,
    /// its indexes, its first event and the request key, atomically.
    fn insert(&self, new: NewRecord, request: Option<RequestKey>) -> Pending<WriteOutcome>;

    /// Atomically: appends `supersede` to the events of `old` (whose last event must
    /// have seq `supersede.seq - 1`) and inserts `new` (same type and number, which
    /// moves the number index to it).
    fn reissue(
        &self,
        old: &str,
        supersede: SignedEvent,
        new: NewRecord,
        request: Option<RequestKey>,
    ) -> Pending<WriteOutcome>;

    /// Appends an event; fails with `Conflict` unless the last stored event has seq
    /// `event.seq - 1`.
    fn append_event(&self, identifier: &str, event: SignedEvent, request: Option<RequestKey>) -> Pending<WriteOutcome>;

    /// Inserts many migrated records in one atomic write. A record whose import key is
    /// present is skipped as already present; one whose number or identifier is taken is
    /// not written and reported.
    fn insert_batch(&self, batch: Vec<NewRecord>) -> Pending<BatchOutcome>;

    fn get(&self, identifier: &str) -> Result<Option<SignedRecord>>;
    /// A record and its events, as `get` and `events` would answer (a network backend
    /// asks for both at once).
    fn load(&self, identifier: &str) -> Result<Option<(SignedRecord, Vec<SignedEvent>)>> {
        match self.get(identifier)? {
            Some(record) => Ok(Some((record, self.events(identifier)?))),
            None => Ok(None),
        }
    }
    /// The identifier of the current version of `(type, number)`.
    fn find_number(&self, type_code: &str, number: &str) -> Result<Option<String>>;
    fn events(&self, identifier: &str) -> Result<Vec<SignedEvent>>;
    /// Identifiers matching a query, in index order, from `after` (exclusive).
    fn query(&self, q: &IndexQuery, after: Option<&[u8]>, limit: usize) -> Result<Page>;

    /// Appends the next access-audit entry: the writer calls `seal` with the link that
    /// ends the log, in log order, and stores what it returns. Answers the entry's seq
    /// once the entry is journaled; it is durable after the next flush (any durable
    /// write's, or [`Store::sync`]).
    fn append_audit(&self, seal: AuditSeal) -> Pending<u64>;
    /// Audit entries with seq ≥ `from`, in seq order, at most `limit`.
    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<SignedAuditEntry>>;
    /// The entry with the highest seq.
    fn last_audit(&self) -> Result<Option<SignedAuditEntry>>;

    fn put_type(&self, t: &LicenceType) -> Pending<()>;
    fn get_type(&self, code: &str) -> Result<Option<LicenceType>>;
    fn list_types(&self) -> Result<Vec<LicenceType>>;

    /// Stores `t` as the next version of template `t.id` (its `version` is ignored) and
    /// answers that version.
    fn put_template(&self, t: StoredTemplate) -> Pending<u32>;
    /// A version of a template; `None` asks for the latest.
    fn get_template(&self, id: &str, version: Option<u32>) -> Result<Option<StoredTemplate>>;
    /// The latest version of every template, ordered by id.
    fn latest_templates(&self) -> Result<Vec<StoredTemplate>>;

    /// Answers once everything written before the call is durable on disk.
    fn sync(&self) -> Pending<()>;
    /// Flushes synchronously (shutdown, CLI).
    fn flush(&self) -> Result<()>;

    /// Stored identifiers in order, from `after` (exclusive), at most `limit`: a walk
    /// over every record takes one page at a time (keyset pagination), so its memory is
    /// one page whatever the number of licences.
    fn identifiers(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>>;
    /// Entries of one index, decoded, in index order, from `after` (exclusive; the
    /// position of an entry read earlier), at most `limit`.
    fn index_page(&self, index: IndexName, after: Option<&[u8]>, limit: usize) -> Result<Vec<IndexEntry>>;
    /// Whether the store holds exactly this entry; for a pointer (number, request,
    /// import key), whether its key is stored and points to this identifier.
    fn has_index_key(&self, key: &IndexKey) -> Result<bool>;

    /// A number that changes whenever the catalogue or the templates change, in this
    /// process or another one writing the same store: caches of them compare it to the
    /// number they were loaded at. A store only this process writes answers 0 (its own
    /// changes update its caches directly).
    fn changes(&self) -> u64 {
        0
    }

    /// About how many licence records are stored, cheaply (for metrics): `None` when the
    /// backend cannot tell without reading them all.
    fn approximate_licences(&self) -> Option<u64> {
        None
    }

    // The transparency log (see `tlog`). Every write that stores a record, an event or
    // an audit entry appends its leaf, and the tree hashes the leaf completes, in the
    // same atomic write; these read what is committed.

    /// Leaves in the log.
    fn log_size(&self) -> Result<u64>;
    /// Stored tree hashes by stored-hash index (`tlog::tree`); a missing one is an error.
    fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<crate::tlog::Hash>>;
    /// The entries of leaves `from..`, at most `limit`, in leaf order.
    fn log_entries(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>>;
    /// Where the leaf of an entry is.
    fn log_position(&self, key: &crate::tlog::LeafKey) -> Result<Option<u64>>;
    /// Keeps a signed checkpoint of the first `size` leaves; every checkpoint is kept.
    fn put_checkpoint(&self, size: u64, note: Vec<u8>) -> Pending<()>;
    /// The checkpoint of the largest tree, with its size.
    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>>;
    /// Kept checkpoints with tree size ≥ `from`, in size order, at most `limit`.
    fn checkpoints(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>>;
}

/// A store's log hashes as the tree reads them.
pub struct LogHashes<'a>(pub &'a dyn Store);

impl crate::tlog::tree::Hashes for LogHashes<'_> {
    type Error = StoreError;
    fn read(&self, indexes: &[u64]) -> Result<Vec<crate::tlog::Hash>> {
        self.0.log_hashes(indexes)
    }
}

#[cfg(test)]
mod conformance_runs {
    use std::path::Path;
    use std::sync::Arc;

    use super::{FjallStore, SledStore, Store};

    fn sled(dir: &Path) -> Arc<dyn Store> {
        Arc::new(SledStore::open_with_cache(dir, 1 << 20).unwrap())
    }

    fn fjall(dir: &Path) -> Arc<dyn Store> {
        Arc::new(FjallStore::open(dir).unwrap())
    }

    /// A private PostgreSQL server per test directory, its files inside it; a second
    /// open of the same directory (a reopen) reaches the same server. The server stops
    /// when its test's thread ends.
    fn postgres(dir: &Path) -> Arc<dyn Store> {
        use crate::testing::postgres::Cluster;
        static SERVERS: std::sync::Mutex<Vec<(std::path::PathBuf, Cluster)>> = std::sync::Mutex::new(Vec::new());
        let mut servers = SERVERS.lock().unwrap_or_else(|p| p.into_inner());
        let url = match servers.iter().find(|(d, _)| d == dir) {
            Some((_, pg)) => pg.url("postgres"),
            None => {
                let pg = Cluster::start_in(dir, &["-c", "fsync=off"]).unwrap();
                let url = pg.url("postgres");
                servers.push((dir.to_path_buf(), pg));
                url
            }
        };
        drop(servers);
        Arc::new(
            super::postgres::PgStore::open(&super::postgres::PgConfig {
                url,
                pool_size: 8,
                read_url: None,
            })
            .unwrap(),
        )
    }

    crate::store_conformance!(on_sled, super::sled);
    crate::store_conformance!(on_fjall, super::fjall);
    crate::store_conformance!(
        on_postgres,
        super::postgres,
        skip_unless = crate::testing::postgres::available_or_skip
    );
    crate::log_conformance!(log_on_fjall, super::fjall);
    crate::log_conformance!(
        log_on_postgres,
        super::postgres,
        skip_unless = crate::testing::postgres::available_or_skip
    );
}
