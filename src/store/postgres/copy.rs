//! Batch inserts (migrations) through binary COPY, in one transaction per batch:
//! 1. the batch is copied into a temporary staging table;
//! 2. one join finds, for every staged row, what the store already holds (its import
//!    key, its number, its identifier), and `batch_rules::classify` decides each row's
//!    fate in input order, exactly as the embedded store does;
//! 3. the refused rows leave the staging table, and four set-based inserts write the
//!    rest, in key order (so concurrent importers take their locks in one order);
//! 4. commit. A concurrent writer that took one of the keys between 2 and 3 makes an
//!    insert fail: the batch is rolled back and run again, and then sees that row.
//!
//! A batch is one transaction, so an import killed and re-run finds every row of a
//! committed batch by its import key (`AlreadyPresent`) and none of an uncommitted one.

use std::pin::pin;

use deadpool_postgres::Object;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::write::{commit, in_transaction, rollback, Failed, Step};
use super::{pg_error, retryable, violated};
use crate::store::batch_rules::{classify, Stored};
use crate::store::{BatchItem, BatchOutcome, NewRecord, Result, StoreError};

/// Runs of a batch refused by a concurrent writer before the error is answered.
const RETRIES: usize = 5;

const STAGING: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS import_staging (
    ord int4 NOT NULL, identifier text COLLATE \"C\" NOT NULL, type_code text COLLATE \"C\" NOT NULL,
    licence_number text COLLATE \"C\" NOT NULL, holder_code_type text COLLATE \"C\" NOT NULL,
    holder_code text COLLATE \"C\" NOT NULL, issuer_code text COLLATE \"C\" NOT NULL,
    issue_date text COLLATE \"C\" NOT NULL, key_id text NOT NULL, signature bytea NOT NULL, bytes bytea NOT NULL,
    ev_seq int4, ev_key_id text, ev_signature bytea, ev_bytes bytea, import_key text COLLATE \"C\"
) ON COMMIT DELETE ROWS";

const COLUMNS: [Type; 16] = [
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::INT4,
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::TEXT,
];

/// What the store holds for each staged row. Correlated subqueries, so that each is an
/// index lookup per staged row whatever the planner guesses of the (never analysed)
/// temporary table: as joins, the planner hashed the whole of `import_keys`,
/// `licence_numbers` and `records` for every batch (a third of the database's time in a
/// profile, and growing with the store).
const STORED: &str = "SELECT s.ord, \
     (SELECT k.identifier FROM import_keys k WHERE k.import_key = s.import_key), \
     (SELECT n.identifier FROM licence_numbers n WHERE n.type_code = s.type_code AND n.licence_number = s.licence_number), \
     EXISTS (SELECT 1 FROM records r WHERE r.identifier = s.identifier) \
     FROM import_staging s ORDER BY s.ord";

/// Takes the rows not to write out of the staging table: one pass over it, comparing
/// each row with the (usually few) refused ones.
const DROP_REFUSED: &str = "DELETE FROM import_staging WHERE ord = ANY($1)";

/// What is left staged, written: each statement one pass over the staging table.
const WRITE: [&str; 4] = [
    "INSERT INTO records (identifier, type_code, licence_number, holder_code_type, holder_code, issuer_code, \
     issue_date, key_id, signature, bytes) SELECT identifier, type_code, licence_number, holder_code_type, \
     holder_code, issuer_code, issue_date, key_id, signature, bytes FROM import_staging ORDER BY identifier",
    "INSERT INTO events (identifier, seq, prev_seq, key_id, signature, bytes) SELECT identifier, ev_seq, \
     nullif(ev_seq, 0) - 1, ev_key_id, ev_signature, ev_bytes FROM import_staging \
     WHERE ev_seq IS NOT NULL ORDER BY identifier",
    "INSERT INTO licence_numbers (type_code, licence_number, identifier) SELECT type_code, licence_number, \
     identifier FROM import_staging ORDER BY type_code, licence_number",
    "INSERT INTO import_keys (import_key, identifier) SELECT import_key, identifier FROM import_staging \
     WHERE import_key IS NOT NULL ORDER BY import_key",
];

pub(super) async fn insert_batch(c: Object, batch: Vec<NewRecord>) -> Result<BatchOutcome> {
    if batch.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let mut tries = 0;
    loop {
        match attempt(&c, &batch).await {
            Ok(items) => return Ok(BatchOutcome { items }),
            Err(Failed::At(_, e)) if (retryable(&e) || violated(&e).is_some()) && tries < RETRIES => tries += 1,
            Err(Failed::Again) if tries < RETRIES => tries += 1,
            Err(f) => {
                drop(Object::take(c));
                return Err(f.into());
            }
        }
    }
}

async fn attempt(c: &Object, batch: &[NewRecord]) -> std::result::Result<Vec<BatchItem>, Failed> {
    let io = |e: tokio_postgres::Error| Failed::Io(pg_error(e));
    // The staging table outlives the transaction on its connection; "already exists"
    // is not news.
    c.batch_execute(&format!("BEGIN; SET LOCAL client_min_messages = warning; {STAGING}"))
        .await
        .map_err(io)?;
    match stage_and_write(c, batch).await {
        Ok(items) => {
            commit(c).await.map_err(Failed::Io)?;
            Ok(items)
        }
        Err(f) => {
            if matches!(f, Failed::At(..)) {
                // (`in_transaction` rolled back already; a second ROLLBACK only warns.)
                rollback(c).await.map_err(Failed::Io)?;
            }
            Err(f)
        }
    }
}

async fn stage_and_write(c: &Object, batch: &[NewRecord]) -> std::result::Result<Vec<BatchItem>, Failed> {
    // A failed statement leaves the transaction to roll back (`attempt`).
    let io = |e: tokio_postgres::Error| Failed::At(0, e);
    let sink = c
        .copy_in(
            "COPY import_staging (ord, identifier, type_code, licence_number, holder_code_type, holder_code, \
             issuer_code, issue_date, key_id, signature, bytes, ev_seq, ev_key_id, ev_signature, ev_bytes, \
             import_key) FROM STDIN (FORMAT binary)",
        )
        .await
        .map_err(io)?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &COLUMNS));
    for (ord, new) in batch.iter().enumerate() {
        let ord = ord as i32;
        let signature = new.record.signature.to_vec();
        let event = new.first_event.as_ref();
        let ev_seq = event
            .map(|e| i32::try_from(e.seq))
            .transpose()
            .map_err(|_| Failed::Io(StoreError::Conflict(new.identifier.clone())))?;
        let ev_key = event.map(|e| e.key_id.as_str());
        let ev_sig = event.map(|e| e.signature.to_vec());
        let ev_bytes = event.map(|e| e.bytes.as_slice());
        let row: [&(dyn ToSql + Sync); 16] = [
            &ord,
            &new.identifier,
            &new.type_code,
            &new.licence_number,
            &new.holder_code_type,
            &new.holder_code,
            &new.issuer_code,
            &new.issue_date,
            &new.record.key_id,
            &signature,
            &new.record.bytes,
            &ev_seq,
            &ev_key,
            &ev_sig,
            &ev_bytes,
            &new.import_key,
        ];
        writer.as_mut().write(&row).await.map_err(io)?;
    }
    writer.as_mut().finish().await.map_err(io)?;

    let stored: Vec<Stored> = c
        .query(STORED, &[])
        .await
        .map_err(io)?
        .into_iter()
        .map(|r| Stored {
            import_key_owner: r.get(1),
            number_owner: r.get(2),
            identifier_taken: r.get(3),
        })
        .collect();
    if stored.len() != batch.len() {
        return Err(Failed::Io(StoreError::Io(format!(
            "staged {} of {} rows",
            stored.len(),
            batch.len()
        ))));
    }
    let items = classify(batch, &stored);
    // (Filtering every insert by the rows to keep compared each staged row with each
    // kept one: four times n² per batch, the largest cost the database had in a profile.)
    let refused: Vec<i32> = (0..batch.len() as i32)
        .filter(|i| items[*i as usize] != BatchItem::Written)
        .collect();
    if refused.len() < batch.len() {
        let mut steps: Vec<Step> = Vec::with_capacity(5);
        if !refused.is_empty() {
            steps.push(Step {
                sql: DROP_REFUSED,
                params: vec![&refused],
            });
        }
        steps.extend(WRITE.iter().map(|sql| Step { sql, params: vec![] }));
        in_transaction(c, &steps).await?;
    }
    Ok(items)
}
