//! The PostgreSQL backend, for several stateless `serve` processes on one database.
//!
//! Built so far: the connection pool, its own small runtime, and the versioned schema
//! (`schema`). The `Store` implementation over it is the next step of the PostgreSQL
//! issue; until then nothing outside this module and its tests uses it.

mod schema;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub use schema::SCHEMA_VERSION;

use super::{Result, StoreError};

/// Where the database is and how many connections one process may hold.
#[derive(Clone)]
pub struct PgConfig {
    /// `postgresql://…` (multi-host URLs with `target_session_attrs=read-write` find the
    /// primary). May carry a password: never logged, never in an error.
    pub url: String,
    pub pool_size: usize,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &"<redacted>")
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

pub struct PgStore {
    /// The runtime the pool's connections live on: the service layer is synchronous and
    /// calls the store from blocking threads.
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// The schema version found at open, before migrating (0: a new database).
    found_version: i32,
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

impl PgStore {
    /// Connects, and creates or upgrades the schema (see `schema::migrate`).
    pub fn open(config: &PgConfig) -> Result<PgStore> {
        let pg: tokio_postgres::Config = config
            .url
            .parse()
            // The parser's message names the problem, not the URL's contents.
            .map_err(|e| StoreError::Io(format!("database URL: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("elicence-db")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io(format!("database runtime: {e}")))?;
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| StoreError::Io(format!("database pool: {e}")))?;
        let found_version = rt.block_on(async {
            let mut client = pool
                .get()
                .await
                .map_err(|e| StoreError::Io(format!("connecting to the database: {e}")))?;
            schema::migrate(&mut client).await
        })?;
        Ok(PgStore {
            rt: Some(rt),
            pool,
            found_version,
        })
    }

    /// The schema version the database had when this store opened it.
    pub fn found_version(&self) -> i32 {
        self.found_version
    }

    /// Runs `f` with a pooled connection on the store's runtime and waits for it.
    #[cfg(test)]
    fn with_client<T: Send + 'static>(
        &self,
        f: impl AsyncFnOnce(&deadpool_postgres::Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let pool = self.pool.clone();
        self.rt.as_ref().expect("runtime until drop").block_on(async move {
            let client = pool
                .get()
                .await
                .map_err(|e| StoreError::Io(format!("connecting to the database: {e}")))?;
            f(&client).await
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.pool.close();
        // Dropping a runtime inside another runtime's context panics; this does not wait.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
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
            "audit_head,audit_log,catalog,config_generation,events,import_keys,licence_numbers,records,requests,schema_version,serial_counter,templates"
        );
        let n: i64 = store
            .with_client(async |c| {
                Ok(c.query_one("SELECT count(*) FROM schema_version", &[])
                    .await
                    .map_err(pg_error)?
                    .get(0))
            })
            .unwrap();
        assert_eq!(n, 1);
        drop(store);
        let again = PgStore::open(&config(&pg)).unwrap();
        assert_eq!(again.found_version(), SCHEMA_VERSION);
        assert_eq!(pg.psql("postgres", "SELECT count(*) FROM schema_version").unwrap(), "1");
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
        assert_eq!(pg.psql("postgres", "SELECT count(*) FROM schema_version").unwrap(), "1");
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
        assert_eq!(pg.psql("postgres", "SELECT count(*) FROM schema_version").unwrap(), "2");
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
                pool_size: 1
            }
        );
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}
