//! Writes: each one transaction on one connection. `BEGIN` and every statement are sent
//! together (pipelined) and their results read in order; `COMMIT` is sent only once all
//! of them succeeded and every check passed, because PostgreSQL answers a `COMMIT` of a
//! failed transaction with a rollback and no error. A violated constraint is the answer:
//! the statements run in the order the embedded committer checks (request id, number,
//! identifier, event chain), so the first violation names the same refusal.

use deadpool_postgres::Object;
use futures_util::future::{join_all, try_join_all};
use tokio_postgres::types::ToSql;

use super::{describe, pg_error, retryable, violated};
use crate::store::{NewRecord, RequestKey, Result, SignedEvent, StoreError, StoredTemplate, WriteOutcome};

/// Transactions refused by a deadlock or serialisation failure are run again this many
/// times before the error is answered.
const RETRIES: usize = 5;

pub(super) type Param<'a> = &'a (dyn ToSql + Sync);

/// One statement of a transaction.
pub(super) struct Step<'a> {
    pub sql: &'static str,
    pub params: Vec<Param<'a>>,
}

/// How a pipelined transaction failed.
pub(super) enum Failed {
    /// Statement `n` failed (the transaction was rolled back).
    At(usize, tokio_postgres::Error),
    /// The connection or the transaction's framing failed; the outcome of nothing is
    /// committed, and the connection is not to be reused.
    Io(StoreError),
    /// Refused by a row that has gone again (its writer rolled back): run it again.
    Again,
}

impl From<Failed> for StoreError {
    fn from(f: Failed) -> StoreError {
        match f {
            Failed::At(_, e) => pg_error(e),
            Failed::Io(e) => e,
            Failed::Again => StoreError::Conflict("a concurrent write kept changing; retry".into()),
        }
    }
}

/// Sends `BEGIN` and every step at once, reads every result, and leaves the transaction
/// open when all succeeded (answering each step's row count); on the first failure rolls
/// back and names the step.
pub(super) async fn pipeline(c: &Object, steps: &[Step<'_>]) -> std::result::Result<Vec<u64>, Failed> {
    run(c, steps, true).await
}

/// As [`pipeline`], in the transaction already open.
pub(super) async fn in_transaction(c: &Object, steps: &[Step<'_>]) -> std::result::Result<Vec<u64>, Failed> {
    run(c, steps, false).await
}

async fn run(c: &Object, steps: &[Step<'_>], begin: bool) -> std::result::Result<Vec<u64>, Failed> {
    let statements = try_join_all(steps.iter().map(|s| c.prepare_cached(s.sql)))
        .await
        .map_err(|e| Failed::Io(pg_error(e)))?;
    let runs = join_all(steps.iter().zip(&statements).map(|(s, st)| c.execute(st, &s.params)));
    let results = if begin {
        let (begun, results) = tokio::join!(c.batch_execute("BEGIN"), runs);
        if let Err(e) = begun {
            // The statements (if any reached the server) ran outside a transaction: the
            // connection is in an unknown state.
            return Err(Failed::Io(pg_error(e)));
        }
        results
    } else {
        runs.await
    };
    let mut counts = Vec::with_capacity(results.len());
    for (n, r) in results.into_iter().enumerate() {
        match r {
            Ok(count) => counts.push(count),
            Err(e) => {
                rollback(c).await.map_err(Failed::Io)?;
                return Err(Failed::At(n, e));
            }
        }
    }
    Ok(counts)
}

pub(super) async fn commit(c: &Object) -> Result<()> {
    c.batch_execute("COMMIT").await.map_err(|e| {
        // Whether it committed is unknown; a retry with the same request id finds out.
        StoreError::Io(format!("postgresql: commit: {}", describe(&e)))
    })
}

pub(super) async fn rollback(c: &Object) -> Result<()> {
    c.batch_execute("ROLLBACK").await.map_err(pg_error)
}

/// Runs `$attempt` (an expression awaiting one try on connection `$c`) until it is not
/// refused by a deadlock, a serialisation failure or a vanished winner (at most
/// `RETRIES` more times). A connection that failed otherwise is dropped, not returned to
/// the pool.
macro_rules! retrying {
    ($c:ident, $attempt:expr) => {{
        let mut tries = 0;
        loop {
            match $attempt {
                Ok(v) => break Ok(v),
                Err(Failed::At(_, e)) if retryable(&e) && tries < RETRIES => tries += 1,
                Err(Failed::Again) if tries < RETRIES => tries += 1,
                Err(Failed::Io(e)) => {
                    drop(Object::take($c));
                    break Err(e);
                }
                Err(f) => break Err(StoreError::from(f)),
            }
        }
    }};
}

const INSERT_REQUEST: &str = "INSERT INTO requests (caller, request_id, identifier) VALUES ($1, $2, $3)";
const INSERT_NUMBER: &str = "INSERT INTO licence_numbers (type_code, licence_number, identifier) VALUES ($1, $2, $3)";
const MOVE_NUMBER: &str =
    "UPDATE licence_numbers SET identifier = $4 WHERE type_code = $1 AND licence_number = $2 AND identifier = $3";
const INSERT_RECORD: &str = "INSERT INTO records (identifier, type_code, licence_number, holder_code_type, \
     holder_code, issuer_code, issue_date, key_id, signature, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const INSERT_EVENT: &str = "INSERT INTO events (identifier, seq, prev_seq, key_id, signature, bytes) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const INSERT_IMPORT_KEY: &str = "INSERT INTO import_keys (import_key, identifier) VALUES ($1, $2)";

/// The columns of one event row.
struct EventRow<'a> {
    identifier: &'a str,
    seq: i32,
    prev: Option<i32>,
    event: &'a SignedEvent,
    signature: Vec<u8>,
}

impl<'a> EventRow<'a> {
    fn new(identifier: &'a str, event: &'a SignedEvent) -> Result<EventRow<'a>> {
        let seq = i32::try_from(event.seq).map_err(|_| StoreError::Conflict(identifier.to_string()))?;
        Ok(EventRow {
            identifier,
            seq,
            prev: (seq > 0).then(|| seq - 1),
            event,
            signature: event.signature.to_vec(),
        })
    }

    fn step(&self) -> Step<'_> {
        Step {
            sql: INSERT_EVENT,
            params: vec![
                &self.identifier,
                &self.seq,
                &self.prev,
                &self.event.key_id,
                &self.signature,
                &self.event.bytes,
            ],
        }
    }
}

fn request_step<'a>(r: &'a RequestKey, identifier: &'a String) -> Step<'a> {
    Step {
        sql: INSERT_REQUEST,
        params: vec![&r.caller, &r.request_id, identifier],
    }
}

/// The record row, its number, its first event and its import key, in that order.
fn record_steps<'a>(new: &'a NewRecord, signature: &'a Vec<u8>, first: Option<&'a EventRow<'a>>) -> Vec<Step<'a>> {
    let mut steps = vec![Step {
        sql: INSERT_RECORD,
        params: vec![
            &new.identifier,
            &new.type_code,
            &new.licence_number,
            &new.holder_code_type,
            &new.holder_code,
            &new.issuer_code,
            &new.issue_date,
            &new.record.key_id,
            signature,
            &new.record.bytes,
        ],
    }];
    if let Some(e) = first {
        steps.push(e.step());
    }
    if let Some(k) = &new.import_key {
        steps.push(Step {
            sql: INSERT_IMPORT_KEY,
            params: vec![k, &new.identifier],
        });
    }
    steps
}

/// What a refused write is answered, from the constraint its first failing statement
/// violated. `Replayed` and `NumberTaken` name the row that won, read after the
/// rollback; if that row is gone again (its own writer rolled back), run it again.
async fn refusal(
    c: &Object,
    failed: Failed,
    request: Option<&RequestKey>,
    number: Option<(&str, &str)>,
    conflict: &str,
) -> std::result::Result<Result<WriteOutcome>, Failed> {
    let e = match failed {
        Failed::At(_, e) if !retryable(&e) => e,
        other => return Err(other),
    };
    Ok(match violated(&e) {
        Some("requests_pk") if request.is_some() => {
            let r = request.expect("checked");
            match super::read::replayed(c, r).await.map_err(Failed::Io)? {
                Some(id) => Ok(WriteOutcome::Replayed(id)),
                None => return Err(Failed::Again),
            }
        }
        Some("licence_numbers_pk") if number.is_some() => {
            let (type_code, number) = number.expect("checked");
            match super::read::number_owner(c, type_code, number)
                .await
                .map_err(Failed::Io)?
            {
                Some(identifier) => Err(StoreError::NumberTaken {
                    type_code: type_code.to_string(),
                    number: number.to_string(),
                    identifier,
                }),
                None => return Err(Failed::Again),
            }
        }
        Some("records_pk" | "import_keys_pk") => Err(StoreError::Conflict(conflict.to_string())),
        Some(name) if name.starts_with("events_") => Err(StoreError::Conflict(conflict.to_string())),
        _ => Err(pg_error(e)),
    })
}

/// Commits, answering `Written`.
async fn written(c: &Object) -> std::result::Result<Result<WriteOutcome>, Failed> {
    commit(c).await.map_err(Failed::Io)?;
    Ok(Ok(WriteOutcome::Written))
}

type Try<T> = std::result::Result<T, Failed>;

pub(super) async fn insert(c: Object, new: NewRecord, request: Option<RequestKey>) -> Result<WriteOutcome> {
    let signature = new.record.signature.to_vec();
    let first = new
        .first_event
        .as_ref()
        .map(|e| EventRow::new(&new.identifier, e))
        .transpose()?;
    retrying!(
        c,
        insert_once(&c, &new, &signature, first.as_ref(), request.as_ref()).await
    )?
}

async fn insert_once(
    c: &Object,
    new: &NewRecord,
    signature: &Vec<u8>,
    first: Option<&EventRow<'_>>,
    request: Option<&RequestKey>,
) -> Try<Result<WriteOutcome>> {
    let mut steps = Vec::new();
    if let Some(r) = request {
        steps.push(request_step(r, &new.identifier));
    }
    steps.push(Step {
        sql: INSERT_NUMBER,
        params: vec![&new.type_code, &new.licence_number, &new.identifier],
    });
    steps.extend(record_steps(new, signature, first));
    let number = (new.type_code.as_str(), new.licence_number.as_str());
    match pipeline(c, &steps).await {
        Ok(_) => written(c).await,
        Err(f) => refusal(c, f, request, Some(number), &new.identifier).await,
    }
}

pub(super) async fn reissue(
    c: Object,
    old: String,
    supersede: SignedEvent,
    new: NewRecord,
    request: Option<RequestKey>,
) -> Result<WriteOutcome> {
    let signature = new.record.signature.to_vec();
    let superseded = EventRow::new(&old, &supersede)?;
    let first = new
        .first_event
        .as_ref()
        .map(|e| EventRow::new(&new.identifier, e))
        .transpose()?;
    retrying!(
        c,
        reissue_once(
            &c,
            &old,
            &superseded,
            &new,
            &signature,
            first.as_ref(),
            request.as_ref()
        )
        .await
    )?
}

async fn reissue_once(
    c: &Object,
    old: &String,
    superseded: &EventRow<'_>,
    new: &NewRecord,
    signature: &Vec<u8>,
    first: Option<&EventRow<'_>>,
    request: Option<&RequestKey>,
) -> Try<Result<WriteOutcome>> {
    let mut steps = Vec::new();
    if let Some(r) = request {
        steps.push(request_step(r, &new.identifier));
    }
    // The number must still point at the version being replaced: the row lock makes
    // concurrent reissues of one licence wait, and the second then finds it moved.
    let moved = steps.len();
    steps.push(Step {
        sql: MOVE_NUMBER,
        params: vec![&new.type_code, &new.licence_number, old, &new.identifier],
    });
    let mut record = record_steps(new, signature, first);
    // The new record first: its identifier is checked before the old chain.
    steps.push(record.remove(0));
    steps.push(superseded.step());
    steps.extend(record);
    match pipeline(c, &steps).await {
        Ok(counts) if counts[moved] == 1 => written(c).await,
        Ok(_) => {
            rollback(c).await.map_err(Failed::Io)?;
            Ok(Err(StoreError::Conflict(old.clone())))
        }
        Err(Failed::At(n, e)) if n > moved && violated(&e).is_some_and(|v| v.starts_with("events_")) => {
            Ok(Err(StoreError::Conflict(old.clone())))
        }
        Err(f) => refusal(c, f, request, None, &new.identifier).await,
    }
}

pub(super) async fn append(
    c: Object,
    identifier: String,
    event: SignedEvent,
    request: Option<RequestKey>,
) -> Result<WriteOutcome> {
    let row = EventRow::new(&identifier, &event)?;
    retrying!(c, append_once(&c, &identifier, &row, request.as_ref()).await)?
}

async fn append_once(
    c: &Object,
    identifier: &String,
    row: &EventRow<'_>,
    request: Option<&RequestKey>,
) -> Try<Result<WriteOutcome>> {
    let mut steps = Vec::new();
    if let Some(r) = request {
        steps.push(request_step(r, identifier));
    }
    steps.push(row.step());
    match pipeline(c, &steps).await {
        Ok(_) => written(c).await,
        Err(f) => refusal(c, f, request, None, identifier).await,
    }
}

/// Tells every process that the catalogue or templates changed (`changes`).
const BUMP_GENERATION: &str = "UPDATE config_generation SET generation = generation + 1 WHERE id = 0";
const NOTIFY_CHANGES: &str = "SELECT pg_notify('elicence_changes', '')";

pub(super) async fn put_type(c: Object, code: String, json: String) -> Result<()> {
    retrying!(c, put_type_once(&c, &code, &json).await)
}

async fn put_type_once(c: &Object, code: &String, json: &String) -> Try<()> {
    let steps = [
        Step {
            sql: "INSERT INTO catalog (code, licence_type) VALUES ($1, $2) \
                  ON CONFLICT (code) DO UPDATE SET licence_type = EXCLUDED.licence_type",
            params: vec![code, json],
        },
        Step {
            sql: BUMP_GENERATION,
            params: vec![],
        },
    ];
    pipeline(c, &steps).await?;
    commit(c).await.map_err(Failed::Io)?;
    notify(c).await;
    Ok(())
}

pub(super) async fn put_template(c: Object, t: StoredTemplate) -> Result<u32> {
    retrying!(c, put_template_once(&c, &t).await)
}

async fn put_template_once(c: &Object, t: &StoredTemplate) -> Try<u32> {
    let steps = [
        // The next version of this id; a concurrent put of the same id takes the same
        // number and one of the two is refused by the key, then run again.
        Step {
            sql: "INSERT INTO templates (id, version, text, put_by, put_at) \
                  SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM templates WHERE id = $1",
            params: vec![&t.id, &t.text, &t.put_by, &t.put_at],
        },
        Step {
            sql: BUMP_GENERATION,
            params: vec![],
        },
    ];
    match pipeline(c, &steps).await {
        Ok(_) => {}
        Err(Failed::At(_, e)) if violated(&e) == Some("templates_pk") => return Err(Failed::Again),
        Err(f) => return Err(f),
    }
    let version: i32 = c
        .query_one("SELECT max(version) FROM templates WHERE id = $1", &[&t.id])
        .await
        .map_err(|e| Failed::Io(pg_error(e)))?
        .get(0);
    commit(c).await.map_err(Failed::Io)?;
    notify(c).await;
    u32::try_from(version).map_err(|_| Failed::Io(StoreError::Corrupt(format!("template {} version {version}", t.id))))
}

/// Wakes the other processes' listeners after a committed change. Best effort: they
/// also poll the generation, so an engine without `pg_notify` only delays them.
async fn notify(c: &Object) {
    if let Err(e) = c.execute(NOTIFY_CHANGES, &[]).await {
        tracing::debug!(error = %describe(&e), "pg_notify failed; other processes see the change at their next poll");
    }
}

/// Reserves `n` serial numbers in a committed transaction and answers the first.
pub(super) async fn reserve_serials(c: Object, n: i64) -> Result<u64> {
    let next: i64 = c
        .query_one(
            "UPDATE serial_counter SET next = next + $1 WHERE id = 0 RETURNING next - $1",
            &[&n],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    u64::try_from(next).map_err(|_| StoreError::Corrupt(format!("serial counter {next}")))
}
