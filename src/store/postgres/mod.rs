//! The PostgreSQL backend, for several stateless `serve` processes on one database.
//!
//! Every guarantee the embedded store gives with its single committer is given here by
//! the database, so that any number of processes can write at once:
//! - every write is one transaction, its statements pipelined on one connection, and it
//!   is answered only after `COMMIT` returned (with `synchronous_commit` on, after the
//!   synchronous standbys have it too);
//! - numbers per type, request ids and import keys are unique by primary key; a
//!   licence's events can neither gap nor fork (`events_follow`, `events_pk`);
//! - serials come from a counter row, reserved in blocks inside committed transactions;
//! - the access-audit chain is appended in batches under a lock on its head row, so
//!   every process extends the same chain (`audit`);
//! - a batch insert goes through binary COPY into a staging table (`copy`).
//!
//! The store keeps its own small tokio runtime for the connections: the service layer
//! is synchronous and calls the store from its blocking threads, the CLI from plain
//! threads.

mod audit;
mod backup;
mod changes;
mod copy;
mod read;
mod schema;
mod tlog;
mod write;

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

pub use schema::SCHEMA_VERSION;

use super::{
    pending, BatchOutcome, IndexEntry, IndexKey, IndexName, IndexQuery, NewRecord, Page, Pending, RequestKey, Result,
    SignedAuditEntry, SignedEvent, Store, StoreError, StoredTemplate, WriteOutcome,
};
use crate::audit::AuditSeal;
use crate::catalog::LicenceType;
use crate::licence::SignedRecord;

/// Where the database is and how many connections one process may hold.
#[derive(Clone)]
pub struct PgConfig {
    /// `postgresql://…` (multi-host URLs with `target_session_attrs=read-write` find the
    /// primary). May carry a password: never logged, never in an error.
    pub url: String,
    pub pool_size: usize,
    /// Hot standbys to read from (`--read-database-url`); see [`Standby`].
    pub read_url: Option<String>,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &"<redacted>")
            .field("pool_size", &self.pool_size)
            .field("read_url", &self.read_url.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Session advisory lock held while a process seeds an empty database: "elicence" + 1.
const STARTUP_LOCK_KEY: i64 = 0x656c_6963_656e_6366;

/// The startup lock, held until dropped.
pub struct StartupLock {
    connection: Option<Object>,
    rt: tokio::runtime::Handle,
}

impl Drop for StartupLock {
    fn drop(&mut self) {
        if let Some(c) = self.connection.take() {
            // Closing the session releases the lock, whatever state the connection is in.
            let client = Object::take(c);
            let _guard = self.rt.enter();
            drop(client);
        }
    }
}

/// Serial numbers reserved per update of the counter row.
const SEQUENCE_BLOCK: i64 = 1_000;

pub struct PgStore {
    /// The one appender of access-audit entries in this process. Declared first: it is
    /// stopped (its queue drained) while the runtime still runs.
    audit: audit::Appender,
    /// Positions the log's queued leaves (see `tlog`). Stopped after the appender, so
    /// the last audit entries get their positions.
    sequencer: tlog::Sequencer,
    /// The runtime the pool's connections live on.
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// The next serial number and the end of the block reserved for this process.
    sequence: Mutex<(u64, u64)>,
    /// The schema version found at open, before migrating (0: a new database).
    found_version: i32,
    /// The catalogue and template generation last read (`Store::changes`).
    changes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Where reads go, when not to the primary.
    standby: Option<Standby>,
}

/// Hot standbys reads go to. Every write's connection asks for `synchronous_commit =
/// remote_apply`: a commit returns only once the synchronous standbys have applied it,
/// so a read from one of them sees every acknowledged write, whichever process made it
/// (a department reads its own write through any replica). A standby that cannot be
/// reached is left alone for a few seconds and reads go to the primary meanwhile.
#[derive(Clone)]
struct Standby {
    pool: Pool,
    /// Until when (ms since the store opened) the standby is left alone after a failure.
    resting_until: std::sync::Arc<std::sync::atomic::AtomicU64>,
    opened: std::time::Instant,
}

/// How long a standby that failed is left alone.
const STANDBY_REST: Duration = Duration::from_secs(5);

impl Standby {
    /// A connection to read on: the standby's, or the primary's while the standby rests
    /// or cannot be reached.
    async fn connection(&self, primary: &Pool) -> Result<Object> {
        use std::sync::atomic::Ordering;
        let now = self.opened.elapsed().as_millis() as u64;
        if now >= self.resting_until.load(Ordering::Relaxed) {
            match connection(&self.pool).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    self.resting_until
                        .store(now + STANDBY_REST.as_millis() as u64, Ordering::Relaxed);
                    tracing::warn!(error = %e, "the read standby is unavailable; reading from the primary for {} s", STANDBY_REST.as_secs());
                }
            }
        }
        connection(primary).await
    }
}

/// A pool of connections on `config`.
fn pool_of(
    config: tokio_postgres::Config,
    size: usize,
    create_timeout: Duration,
    wait_timeout: Duration,
) -> Result<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(create_timeout))
        .wait_timeout(Some(wait_timeout))
        .build()
        .map_err(|e| StoreError::Io(format!("database pool: {e}")))
}

fn pg_error(e: tokio_postgres::Error) -> StoreError {
    StoreError::Io(format!("postgresql: {}", describe(&e)))
}

/// A database error as the server gave it (SQLSTATE, message, constraint), or the
/// client's own error otherwise. Never includes connection parameters.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.constraint() {
            Some(c) => format!("{} ({}, constraint {c})", db.message(), db.code().code()),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => e.to_string(),
    }
}

/// The constraint a unique or foreign-key violation names.
fn violated(e: &tokio_postgres::Error) -> Option<&str> {
    let db = e.as_db_error()?;
    match *db.code() {
        SqlState::UNIQUE_VIOLATION | SqlState::FOREIGN_KEY_VIOLATION | SqlState::CHECK_VIOLATION => db.constraint(),
        _ => None,
    }
}

/// A deadlock or serialisation failure: the whole transaction may simply be run again.
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
    )
}

/// A pooled connection, or `Io` naming why none could be had (never the URL).
async fn connection(pool: &Pool) -> Result<Object> {
    pool.get().await.map_err(|e| {
        let why = match &e {
            deadpool_postgres::PoolError::Backend(b) => describe(b),
            other => other.to_string(),
        };
        StoreError::Io(format!("database unavailable: {why}"))
    })
}

/// `bytea` of a signature column as 64 bytes.
fn signature(v: Vec<u8>, what: &str) -> Result<[u8; 64]> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what}: signature is not 64 bytes")))
}

impl PgStore {
    /// Connects, and creates or upgrades the schema (see `schema::migrate`).
    pub fn open(config: &PgConfig) -> Result<PgStore> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            // The parser's message names the problem, not the URL's contents.
            .map_err(|e| StoreError::Io(format!("database URL: {e}")))?;
        let standby_config = match &config.read_url {
            Some(url) => {
                let standby: tokio_postgres::Config = url
                    .parse()
                    .map_err(|e| StoreError::Io(format!("read database URL: {e}")))?;
                // Commits wait until the synchronous standbys applied them (see `Standby`).
                let options = match pg.get_options() {
                    Some(o) => format!("{o} -c synchronous_commit=remote_apply"),
                    None => "-c synchronous_commit=remote_apply".to_string(),
                };
                pg.options(&options);
                Some(standby)
            }
            None => None,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("elicence-db")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io(format!("database runtime: {e}")))?;
        let listening = pg.clone();
        let pool = pool_of(pg, config.pool_size, Duration::from_secs(10), Duration::from_secs(30))?;
        let standby = standby_config
            .map(|c| {
                // A standby that does not answer quickly is left for the primary.
                Ok::<_, StoreError>(Standby {
                    pool: pool_of(c, config.pool_size, Duration::from_secs(2), Duration::from_secs(5))?,
                    resting_until: Default::default(),
                    opened: std::time::Instant::now(),
                })
            })
            .transpose()?;
        let migrating = pool.clone();
        let found_version = block_on(&rt, async move {
            let mut client = connection(&migrating).await?;
            schema::migrate(&mut client).await
        })?;
        let reading = pool.clone();
        let generation = block_on(&rt, async move { changes::current(&reading).await })?;
        let changes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(generation));
        rt.spawn(changes::listen(listening, changes.clone()));
        if standby.is_some() {
            let checking = pool.clone();
            let synchronous: i64 = block_on(&rt, async move {
                let c = connection(&checking).await?;
                Ok(c.query_one(
                    "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')",
                    &[],
                )
                .await
                .map_err(pg_error)?
                .get(0))
            })?;
            if synchronous == 0 {
                tracing::warn!(
                    "--read-database-url is set but the primary has no synchronous standby: reads from the \
                     standby may miss acknowledged writes until it catches up (set synchronous_standby_names \
                     on the primary; docs/SCALING.md)"
                );
            }
        }
        let audit = audit::Appender::start(rt.handle().clone(), pool.clone());
        let sequencer = tlog::Sequencer::start(rt.handle().clone(), pool.clone());
        Ok(PgStore {
            audit,
            sequencer,
            rt: Some(rt),
            pool,
            sequence: Mutex::new((0, 0)),
            found_version,
            changes,
            standby,
        })
    }

    /// Takes the database's startup lock (a session advisory lock on a connection of
    /// its own), waiting for another process that holds it; released when the guard is
    /// dropped.
    pub fn startup_lock(&self) -> Result<StartupLock> {
        let connection = self.on_primary(|c| async move {
            c.execute("SELECT pg_advisory_lock($1)", &[&STARTUP_LOCK_KEY])
                .await
                .map_err(pg_error)?;
            Ok(c)
        })?;
        Ok(StartupLock {
            connection: Some(connection),
            rt: self.rt().handle().clone(),
        })
    }

    /// The schema version the database had when this store opened it.
    pub fn found_version(&self) -> i32 {
        self.found_version
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives until drop")
    }

    /// Runs a read on a pooled connection (of the read standby, if there is one) and
    /// waits for it.
    fn read<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send,
    {
        let (pool, standby) = (self.pool.clone(), self.standby.clone());
        block_on(self.rt(), async move {
            let c = match &standby {
                Some(s) => s.connection(&pool).await?,
                None => connection(&pool).await?,
            };
            f(c).await
        })
    }

    /// Runs a statement that must reach the primary on a pooled connection and waits.
    fn on_primary<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send,
    {
        let pool = self.pool.clone();
        block_on(self.rt(), async move { f(connection(&pool).await?).await })
    }

    /// Starts a write on a pooled connection; its answer comes once it is committed or
    /// refused.
    fn write<T, F, Fut>(&self, f: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send,
    {
        let (answer, rx) = pending();
        let pool = self.pool.clone();
        let logged = self.sequencer.waker();
        self.rt().spawn(async move {
            let r = match connection(&pool).await {
                Ok(c) => f(c).await,
                Err(e) => Err(e),
            };
            if r.is_ok() {
                // What it stored is queued for the log: position it now.
                logged.wake();
            }
            answer.send(r)
        });
        rx
    }

    /// Runs `f` with a pooled connection on the store's runtime and waits for it.
    #[cfg(test)]
    fn with_client<T: Send + 'static>(
        &self,
        f: impl AsyncFnOnce(&deadpool_postgres::Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let pool = self.pool.clone();
        self.rt().block_on(async move {
            let client = connection(&pool).await?;
            f(&client).await
        })
    }
}

/// Runs `fut` to completion on the store's runtime from a synchronous caller. A plain
/// thread, or a blocking-pool thread of the server (`store::on_blocking_pool`), drives
/// it itself (the connections' I/O stays on the store's runtime); any other thread of
/// another runtime (a test's executor) hands it to the store's runtime and waits, as
/// `block_on` may not be called on an executor.
fn block_on<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    if crate::store::is_on_blocking_pool() || tokio::runtime::Handle::try_current().is_err() {
        return rt.handle().block_on(fut);
    }
    let (answer, rx) = pending();
    rt.spawn(async move { answer.send(fut.await) });
    rx.wait()
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.audit.stop();
        self.sequencer.stop();
        self.pool.close();
        // Dropping a runtime inside another runtime's context panics; this does not wait.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Store for PgStore {
    fn next_sequence(&self) -> Result<u64> {
        let mut s = self.sequence.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 >= s.1 {
            // The block is reserved by a committed update before any of it is handed out,
            // so no other process, and no standby promoted later, hands it out again.
            let start = self.on_primary(|c| write::reserve_serials(c, SEQUENCE_BLOCK))?;
            *s = (start, start + SEQUENCE_BLOCK as u64);
        }
        let n = s.0;
        s.0 += 1;
        Ok(n)
    }

    fn replayed(&self, key: &RequestKey) -> Result<Option<String>> {
        let key = key.clone();
        self.read(move |c| async move { read::replayed(&c, &key).await })
    }

    fn issue_checks(
        &self,
        key: &RequestKey,
        type_code: &str,
        number: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        let (key, type_code, number) = (key.clone(), type_code.to_string(), number.to_string());
        self.read(move |c| async move {
            let (replayed, owner) = tokio::join!(read::replayed(&c, &key), read::number_owner(&c, &type_code, &number));
            Ok((replayed?, owner?))
        })
    }

    fn insert(&self, new: NewRecord, request: Option<RequestKey>) -> Pending<WriteOutcome> {
        self.write(move |c| write::insert(c, new, request))
    }

    fn reissue(
        &self,
        old: &str,
        supersede: SignedEvent,
        new: NewRecord,
        request: Option<RequestKey>,
    ) -> Pending<WriteOutcome> {
        let old = old.to_string();
        self.write(move |c| write::reissue(c, old, supersede, new, request))
    }

    fn append_event(&self, identifier: &str, event: SignedEvent, request: Option<RequestKey>) -> Pending<WriteOutcome> {
        let identifier = identifier.to_string();
        self.write(move |c| write::append(c, identifier, event, request))
    }

    fn insert_batch(&self, batch: Vec<NewRecord>) -> Pending<BatchOutcome> {
        self.write(move |c| copy::insert_batch(c, batch))
    }

    fn get(&self, identifier: &str) -> Result<Option<SignedRecord>> {
        let identifier = identifier.to_string();
        self.read(move |c| async move { read::record(&c, &identifier).await })
    }

    fn load(&self, identifier: &str) -> Result<Option<(SignedRecord, Vec<SignedEvent>)>> {
        let identifier = identifier.to_string();
        self.read(move |c| async move { read::load(&c, &identifier).await })
    }

    fn find_number(&self, type_code: &str, number: &str) -> Result<Option<String>> {
        let (type_code, number) = (type_code.to_string(), number.to_string());
        self.read(move |c| async move { read::number_owner(&c, &type_code, &number).await })
    }

    fn events(&self, identifier: &str) -> Result<Vec<SignedEvent>> {
        let identifier = identifier.to_string();
        self.read(move |c| async move { read::events(&c, &identifier).await })
    }

    fn query(&self, q: &IndexQuery, after: Option<&[u8]>, limit: usize) -> Result<Page> {
        let (q, after) = (q.clone(), after.map(<[u8]>::to_vec));
        self.read(move |c| async move { read::query(&c, &q, after.as_deref(), limit).await })
    }

    fn approximate_licences(&self) -> Option<u64> {
        // The planner's estimate (kept by autovacuum's ANALYZE), counted outright while
        // the table has never been analysed.
        self.read(|c| async move {
            let row = c
                .query_one(
                    "SELECT CASE WHEN reltuples < 0 THEN (SELECT count(*) FROM records) \
                     ELSE reltuples::int8 END FROM pg_class WHERE oid = 'records'::regclass",
                    &[],
                )
                .await
                .map_err(pg_error)?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
        .ok()
    }

    fn append_audit(&self, seal: AuditSeal) -> Pending<u64> {
        self.audit.append(seal)
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<SignedAuditEntry>> {
        self.read(move |c| async move { read::audit_range(&c, from, limit).await })
    }

    fn last_audit(&self) -> Result<Option<SignedAuditEntry>> {
        self.read(|c| async move { read::last_audit(&c).await })
    }

    fn put_type(&self, t: &LicenceType) -> Pending<()> {
        let code = t.code.clone();
        let json = serde_json::to_string(t).expect("licence type serialises");
        self.write(move |c| write::put_type(c, code, json))
    }

    fn get_type(&self, code: &str) -> Result<Option<LicenceType>> {
        let code = code.to_string();
        self.read(move |c| async move { read::licence_type(&c, &code).await })
    }

    fn list_types(&self) -> Result<Vec<LicenceType>> {
        self.read(|c| async move { read::licence_types(&c).await })
    }

    fn put_template(&self, t: StoredTemplate) -> Pending<u32> {
        self.write(move |c| write::put_template(c, t))
    }

    fn get_template(&self, id: &str, version: Option<u32>) -> Result<Option<StoredTemplate>> {
        let id = id.to_string();
        self.read(move |c| async move { read::template(&c, &id, version).await })
    }

    fn latest_templates(&self) -> Result<Vec<StoredTemplate>> {
        self.read(|c| async move { read::latest_templates(&c).await })
    }

    /// Every write is answered after its commit: there is nothing more to wait for.
    fn sync(&self) -> Pending<()> {
        let (answer, rx) = pending();
        answer.send(Ok(()));
        rx
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn identifiers(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let after = after.map(str::to_string);
        self.read(move |c| async move { read::identifiers(&c, after.as_deref(), limit).await })
    }

    fn index_page(&self, index: IndexName, after: Option<&[u8]>, limit: usize) -> Result<Vec<IndexEntry>> {
        let after = after.map(<[u8]>::to_vec);
        self.read(move |c| async move { read::index_page(&c, index, after.as_deref(), limit).await })
    }

    fn has_index_key(&self, key: &IndexKey) -> Result<bool> {
        let key = key.clone();
        self.read(move |c| async move { read::has_index_key(&c, &key).await })
    }

    fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Acquire)
    }

    fn log_size(&self) -> Result<u64> {
        self.read(|c| async move { tlog::size(&c).await })
    }

    fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<crate::tlog::Hash>> {
        let indexes = indexes.to_vec();
        self.read(move |c| async move { tlog::read_hashes(&c, &indexes).await })
    }

    fn log_entries(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>> {
        self.read(move |c| async move { tlog::entries(&c, from, limit).await })
    }

    fn log_position(&self, key: &crate::tlog::LeafKey) -> Result<Option<u64>> {
        let key = key.to_bytes();
        self.read(move |c| async move { tlog::position(&c, key).await })
    }

    fn put_checkpoint(&self, size: u64, note: Vec<u8>) -> Pending<()> {
        self.write(move |c| async move { tlog::put_checkpoint(&c, size, note).await })
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.read(|c| async move { Ok(tlog::checkpoints(&c, 0, 1, true).await?.pop()) })
    }

    fn checkpoints(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        self.read(move |c| async move { tlog::checkpoints(&c, from, limit, false).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::postgres::Cluster;

    fn config(pg: &Cluster) -> PgConfig {
        PgConfig {
            url: pg.url("postgres"),
            pool_size: 2,
            read_url: None,
        }
    }

    /// A new database gets the whole schema at the first open; later opens find it and
    /// change nothing.
    #[test]
    fn the_first_open_creates_the_schema_and_later_ones_keep_it() {
        let Some(pg) = Cluster::start_or_skip() else { return };
        let store = PgStore::open(&config(&pg)).unwrap();
        assert_eq!(store.found_version(), 0);
        let tables = pg
            .psql(
                "postgres",
                "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'",
            )
            .unwrap();
        assert_eq!(
            tables,
            "audit_head,audit_log,catalog,config_generation,events,import_keys,licence_numbers,records,requests,\
             schema_version,serial_counter,templates,tlog_checkpoints,tlog_hashes,tlog_head,tlog_leaves,tlog_pending"
        );
        let n: i64 = store
            .with_client(async |c| {
                Ok(c.query_one("SELECT count(*) FROM schema_version", &[])
                    .await
                    .map_err(pg_error)?
                    .get(0))
            })
            .unwrap();
        assert_eq!(n, SCHEMA_VERSION as i64);
        drop(store);
        let again = PgStore::open(&config(&pg)).unwrap();
        assert_eq!(again.found_version(), SCHEMA_VERSION);
        assert_eq!(
            pg.psql("postgres", "SELECT count(*) FROM schema_version").unwrap(),
            SCHEMA_VERSION.to_string()
        );
    }

    /// Replicas starting together on an empty database: one applies the schema, the
    /// others wait on the advisory lock and find it done; none fails.
    #[test]
    fn replicas_opening_together_apply_the_schema_once() {
        let Some(pg) = Cluster::start_or_skip() else { return };
        let found: Vec<i32> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| PgStore::open(&config(&pg)).map(|st| st.found_version())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
        });
        assert_eq!(found.iter().filter(|&&v| v == 0).count(), 1, "{found:?}");
        assert_eq!(found.iter().filter(|&&v| v == SCHEMA_VERSION).count(), 3, "{found:?}");
        assert_eq!(
            pg.psql("postgres", "SELECT count(*) FROM schema_version").unwrap(),
            SCHEMA_VERSION.to_string()
        );
    }

    /// A database written by a newer elicence is refused with what to do, and left as
    /// it was.
    #[test]
    fn a_newer_schema_is_refused() {
        let Some(pg) = Cluster::start_or_skip() else { return };
        drop(PgStore::open(&config(&pg)).unwrap());
        pg.psql(
            "postgres",
            "INSERT INTO schema_version (version, applied_by) VALUES (999, 'elicence 9')",
        )
        .unwrap();
        let err = PgStore::open(&config(&pg)).err().expect("refused").to_string();
        assert!(err.contains("version 999") && err.contains("upgrade elicence"), "{err}");
        assert_eq!(
            pg.psql("postgres", "SELECT count(*) FROM schema_version").unwrap(),
            (SCHEMA_VERSION + 1).to_string()
        );
    }

    /// A database of schema version 1 (before the transparency log) holding a record,
    /// its event and an audit entry: opening it queues their leaves and the sequencer
    /// positions them, each entry as the embedded store writes it.
    #[test]
    fn a_database_from_before_the_log_gets_its_log() {
        use crate::tlog::{Leaf, LeafKey};
        let Some(pg) = Cluster::start_or_skip() else { return };
        pg.psql("postgres", include_str!("sql/0001_initial.sql")).unwrap();
        pg.psql(
            "postgres",
            "CREATE TABLE schema_version (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), \
             applied_by text NOT NULL, CONSTRAINT schema_version_pk PRIMARY KEY (version)); \
             INSERT INTO schema_version (version, applied_by) VALUES (1, 'elicence 0.1'); \
             INSERT INTO records VALUES ('ID-1', 'T', 'N1', '001', 'H', 'I', '2020-01-01', 'k', \
               decode(repeat('01', 64), 'hex'), 'record bytes'); \
             INSERT INTO events VALUES ('ID-1', 0, NULL, 'k', decode(repeat('02', 64), 'hex'), 'event bytes'); \
             INSERT INTO audit_log VALUES (0, 0, NULL, 'k', decode(repeat('03', 64), 'hex'), 'audit bytes');",
        )
        .unwrap();
        let store = PgStore::open(&config(&pg)).unwrap();
        assert_eq!(store.found_version(), 1);
        crate::store::conformance::wait_for_log(&store, 3);
        let signed = |b: &[u8], s: u8| crate::licence::SignedRecord {
            bytes: b.to_vec(),
            signature: [s; 64],
            key_id: "k".into(),
        };
        let want = [
            Leaf::record("ID-1", &signed(b"record bytes", 1)),
            Leaf::event(
                "ID-1",
                &SignedEvent {
                    seq: 0,
                    bytes: b"event bytes".to_vec(),
                    signature: [2; 64],
                    key_id: "k".into(),
                },
            ),
            Leaf::audit(&SignedAuditEntry {
                seq: 0,
                bytes: b"audit bytes".to_vec(),
                signature: [3; 64],
                key_id: "k".into(),
            }),
        ];
        let entries = store.log_entries(0, 10).unwrap();
        assert_eq!(entries, want.iter().map(Leaf::entry).collect::<Vec<_>>());
        assert_eq!(store.log_position(&LeafKey::Audit(0)).unwrap(), Some(2));
        assert_eq!(pg.psql("postgres", "SELECT count(*) FROM tlog_pending").unwrap(), "0");
    }

    /// The schema itself refuses a gap or a fork in a licence's events and an event of
    /// no licence: the guarantees hold even against a faulty writer.
    #[test]
    fn the_schema_refuses_gaps_forks_and_orphans_in_events() {
        let Some(pg) = Cluster::start_or_skip() else { return };
        drop(PgStore::open(&config(&pg)).unwrap());
        let sig = "decode(repeat('00', 64), 'hex')";
        pg.psql(
            "postgres",
            &format!("INSERT INTO records VALUES ('L1','t','n','001','c','i','2026-01-01','k',{sig},'\\x00')"),
        )
        .unwrap();
        let event = |seq: i32, prev: &str| {
            pg.psql(
                "postgres",
                &format!("INSERT INTO events VALUES ('L1',{seq},{prev},'k',{sig},'\\x00')"),
            )
        };
        event(0, "NULL").unwrap();
        assert!(event(2, "1").unwrap_err().contains("events_follow"), "a gap");
        event(1, "0").unwrap();
        assert!(event(1, "0").unwrap_err().contains("events_pk"), "a fork");
        assert!(event(3, "1").unwrap_err().contains("events_prev"), "a wrong link");
        let orphan = pg.psql(
            "postgres",
            &format!("INSERT INTO events VALUES ('L9',0,NULL,'k',{sig},'\\x00')"),
        );
        assert!(orphan.unwrap_err().contains("events_of_record"));
    }

    /// A bad URL is refused by name of the problem, and a password in it never shows.
    #[test]
    fn a_bad_url_is_refused_without_showing_it() {
        let err = PgStore::open(&PgConfig {
            url: "postgresql://u:s3cret@127.0.0.1:notaport/db".into(),
            pool_size: 1,
            read_url: None,
        })
        .err()
        .expect("refused")
        .to_string();
        assert!(err.contains("database URL"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let debug = format!(
            "{:?}",
            PgConfig {
                url: "postgresql://u:s3cret@h/db".into(),
                pool_size: 1,
                read_url: Some("postgresql://u:s3cret@standby/db".into()),
            }
        );
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    /// Two processes on one database append to one audit chain at once: every entry gets
    /// its own seq, the seqs run 0..n without a gap, and each entry links to the one
    /// before it, whichever process wrote it. Their serials never meet.
    #[test]
    fn two_stores_on_one_database_share_one_chain_and_never_share_a_serial() {
        use crate::audit::AuditEntry;
        let Some(pg) = Cluster::start_or_skip() else { return };
        let (a, b) = (
            PgStore::open(&config(&pg)).unwrap(),
            PgStore::open(&config(&pg)).unwrap(),
        );
        let (seqs, serials): (Vec<u64>, Vec<u64>) = std::thread::scope(|s| {
            fn run(store: &PgStore) -> (Vec<u64>, Vec<u64>) {
                use crate::audit::test_seal;
                let pending: Vec<_> = (0..300).map(|_| store.append_audit(test_seal("two"))).collect();
                let serials: Vec<u64> = (0..1500).map(|_| store.next_sequence().unwrap()).collect();
                let seqs: Vec<u64> = pending.into_iter().map(|p| p.wait().unwrap()).collect();
                (seqs, serials)
            }
            let (ha, hb) = (s.spawn(|| run(&a)), s.spawn(|| run(&b)));
            let (mut x, y) = (ha.join().unwrap(), hb.join().unwrap());
            x.0.extend(y.0);
            x.1.extend(y.1);
            x
        });
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..600).collect::<Vec<_>>());
        let mut unique = serials.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), serials.len(), "a serial was handed out twice");
        let entries = a.audit_range(0, 1000).unwrap();
        assert_eq!(entries.len(), 600);
        for pair in entries.windows(2) {
            let next = AuditEntry::from_canonical(&pair[1].bytes).unwrap();
            assert_eq!(
                next.prev_digest,
                hex::encode(crate::licence::signing::digest(&pair[0].bytes)),
                "entry {} does not follow {}",
                pair[1].seq,
                pair[0].seq
            );
        }
    }
}
