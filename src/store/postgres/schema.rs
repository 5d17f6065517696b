//! The database schema: versioned SQL files, applied at open in one transaction under an
//! advisory lock, so replicas starting together never race (the second finds nothing to
//! do), and refused when the database is newer than this binary.

use deadpool_postgres::Client;

use super::{describe, pg_error};
use crate::store::{Result, StoreError};

/// `pg_advisory_xact_lock` key of schema changes: "elicence" in ASCII.
const LOCK_KEY: i64 = 0x656c_6963_656e_6365;

/// Every schema version this binary knows, oldest first.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("sql/0001_initial.sql")),
    (2, include_str!("sql/0002_transparency_log.sql")),
];

/// The newest schema version this binary knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the database to `SCHEMA_VERSION`, or refuses a database whose schema is newer.
/// Returns the version found before (0 for an empty database).
pub async fn migrate(client: &mut Client) -> Result<i32> {
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(pg_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
           version    integer NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now(),
           applied_by text NOT NULL,
           CONSTRAINT schema_version_pk PRIMARY KEY (version))",
    )
    .await
    .map_err(pg_error)?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::Io(format!(
            "the database's schema is version {found}, newer than this elicence knows (up to \
             {SCHEMA_VERSION}): upgrade elicence"
        )));
    }
    let by = concat!("elicence ", env!("CARGO_PKG_VERSION"));
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Io(format!("schema version {version}: {}", describe(&e))))?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_by) VALUES ($1, $2)",
            &[version, &by],
        )
        .await
        .map_err(pg_error)?;
    }
    // Every statement's result was read above, so a COMMIT answered is a COMMIT done.
    tx.commit().await.map_err(pg_error)?;
    Ok(found)
}
