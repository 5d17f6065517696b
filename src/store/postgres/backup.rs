//! Backup and restore of a PostgreSQL store in elicence's engine-neutral backup format
//! (`store::backup`): a backup of a database restores into a data directory and the
//! other way round, which is also how an embedded store moves to PostgreSQL.
//!
//! A backup reads one snapshot (a `REPEATABLE READ READ ONLY` transaction) while every
//! process goes on writing, tree by tree in the embedded store's key order, a page at a
//! time through a cursor, so its memory does not grow with the number of licences.
//! A restore writes everything in one transaction, each tree through binary COPY, into
//! a database that holds no licence, audit entry, licence type or template; the holder,
//! type and issuer indexes are the database's own and are rebuilt from the records.
//!
//! Both block the calling thread on the store's runtime: call them from a thread outside
//! any async runtime (the CLI's).

use std::io::Write;
use std::path::Path;
use std::pin::Pin;

use deadpool_postgres::Object;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

use super::{connection, pg_error, PgConfig, PgStore};
use crate::audit::AuditLink;
use crate::licence::record::{format_date, Licence};
use crate::store::backup::{
    backup_tree_names, check_backup, read_backup, BackupError, BackupSummary, BackupWriter, Frame,
};
use crate::store::codec::{self, key, SEP};
use crate::store::{SignedAuditEntry, StoredTemplate};

/// Rows fetched from a cursor at a time.
const PAGE: usize = 1_000;

fn pg(e: tokio_postgres::Error) -> BackupError {
    BackupError::Store(pg_error(e))
}

fn corrupt(what: impl std::fmt::Display) -> BackupError {
    BackupError::Corrupt(what.to_string())
}

/// The query listing a tree's entries in its key order.
fn tree_query(name: &str) -> Result<&'static str, BackupError> {
    Ok(match name {
        "records" => "SELECT identifier, key_id, signature, bytes FROM records ORDER BY identifier",
        "events" => "SELECT identifier, seq, key_id, signature, bytes FROM events ORDER BY identifier, seq",
        "idx_number" => "SELECT type_code, licence_number, identifier FROM licence_numbers ORDER BY 1, 2",
        "idx_holder" => "SELECT holder_code_type, holder_code, identifier FROM records ORDER BY 1, 2, 3",
        "idx_type" => "SELECT type_code, issue_date, identifier FROM records ORDER BY 1, 2, 3",
        "idx_issuer" => "SELECT issuer_code, issue_date, identifier FROM records ORDER BY 1, 2, 3",
        "requests" => "SELECT caller, request_id, identifier FROM requests ORDER BY 1, 2",
        "import_keys" => "SELECT import_key, identifier FROM import_keys ORDER BY 1",
        "catalog" => "SELECT code, licence_type FROM catalog ORDER BY code",
        "audit" => "SELECT seq, key_id, signature, bytes FROM audit_log WHERE chain = 0 ORDER BY seq",
        "templates" => "SELECT id, version, text, put_by, put_at FROM templates ORDER BY id, version",
        other => return Err(corrupt(format!("no table holds tree {other}"))),
    })
}

/// A signed value (`codec::encode_signed`) from its key id, signature and bytes columns.
fn signed(r: &Row, at: usize, what: &str) -> Result<Vec<u8>, BackupError> {
    let signature = super::signature(r.get(at + 1), what)?;
    Ok(codec::encode_signed(r.get(at), &signature, r.get::<_, &[u8]>(at + 2)))
}

/// One row of a tree's query as the entry the embedded store holds.
fn entry(name: &str, r: &Row) -> Result<(Vec<u8>, Vec<u8>), BackupError> {
    let s = |i: usize| -> &str { r.get(i) };
    Ok(match name {
        "records" => (s(0).as_bytes().to_vec(), signed(r, 1, s(0))?),
        "events" => {
            let seq = u32::try_from(r.get::<_, i32>(1)).map_err(|_| corrupt(format!("events of {}", s(0))))?;
            (codec::event_key(s(0), seq), signed(r, 2, s(0))?)
        }
        "idx_number" | "requests" => (key(&[s(0).as_bytes(), s(1).as_bytes()]), s(2).as_bytes().to_vec()),
        "idx_holder" | "idx_type" | "idx_issuer" => {
            (key(&[s(0).as_bytes(), s(1).as_bytes(), s(2).as_bytes()]), Vec::new())
        }
        "import_keys" | "catalog" => (s(0).as_bytes().to_vec(), s(1).as_bytes().to_vec()),
        "audit" => {
            let seq = r.get::<_, i64>(0) as u64;
            (seq.to_be_bytes().to_vec(), signed(r, 1, &format!("audit entry {seq}"))?)
        }
        "templates" => {
            let t = StoredTemplate {
                id: r.get(0),
                version: r.get::<_, i32>(1) as u32,
                text: r.get(2),
                put_by: r.get(3),
                put_at: r.get(4),
            };
            let value = serde_json::to_vec(&t).expect("template serialises");
            (codec::template_key(&t.id, t.version), value)
        }
        other => return Err(corrupt(format!("no table holds tree {other}"))),
    })
}

/// A tree's entries, fetched a page at a time from its cursor.
struct Pages<'a> {
    rt: &'a tokio::runtime::Runtime,
    c: &'a Object,
    name: &'a str,
    page: std::vec::IntoIter<Row>,
    done: bool,
}

impl Iterator for Pages<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), BackupError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.page.next() {
                return Some(entry(self.name, &r));
            }
            if self.done {
                return None;
            }
            let fetch = format!("FETCH {PAGE} FROM backup_{}", self.name);
            match self.rt.block_on(self.c.query(&fetch, &[])) {
                Ok(rows) => {
                    self.done = rows.len() < PAGE;
                    self.page = rows.into_iter();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(pg(e)));
                }
            }
        }
    }
}

impl PgStore {
    /// Streams a point-in-time backup of the database to `out`; writers do not pause.
    pub fn write_backup(&self, out: impl Write, created_at: &str) -> Result<BackupSummary, BackupError> {
        let rt = self.rt();
        let c = rt.block_on(connection(&self.pool))?;
        let result = (|| {
            rt.block_on(c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
                .map_err(pg)?;
            // Every serial handed out lies below the counter (reserved blocks included).
            let floor: i64 = rt
                .block_on(c.query_one("SELECT next FROM serial_counter WHERE id = 0", &[]))
                .map_err(pg)?
                .get(0);
            let mut w = BackupWriter::start(out, created_at, floor as u64)?;
            for name in backup_tree_names() {
                let declare = format!("DECLARE backup_{name} NO SCROLL CURSOR FOR {}", tree_query(&name)?);
                rt.block_on(c.batch_execute(&declare)).map_err(pg)?;
                let pages = Pages {
                    rt,
                    c: &c,
                    name: &name,
                    page: Vec::new().into_iter(),
                    done: false,
                };
                w.tree(&name, pages)?;
                rt.block_on(c.batch_execute(&format!("CLOSE backup_{name}")))
                    .map_err(pg)?;
            }
            rt.block_on(c.batch_execute("COMMIT")).map_err(pg)?;
            w.finish()
        })();
        if result.is_err() {
            // The snapshot may still be open: never hand the connection back.
            drop(Object::take(c));
        }
        result
    }

    /// Rebuilds a store in the database at `config` from a backup of either backend.
    /// The file is checked end to end first, and the database must hold no licence,
    /// audit entry, licence type or template; nothing is written unless all of it is.
    pub fn restore_backup(config: &PgConfig, file: &Path) -> Result<BackupSummary, BackupError> {
        check_backup(std::fs::File::open(file)?)?;
        let store = PgStore::open(config)?;
        let rt = store.rt();
        let c = rt.block_on(connection(&store.pool))?;
        let empty: bool = rt
            .block_on(c.query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM records) AND NOT EXISTS (SELECT 1 FROM audit_log) \
                 AND NOT EXISTS (SELECT 1 FROM catalog) AND NOT EXISTS (SELECT 1 FROM templates)",
                &[],
            ))
            .map_err(pg)?
            .get(0);
        if !empty {
            return Err(BackupError::TargetNotEmpty("the database".into()));
        }
        let result = restore_into(rt, &c, file);
        // On failure the transaction is left unfinished: dropping the connection rolls
        // it back.
        drop(Object::take(c));
        result
    }
}

/// The table and COPY column types a tree is restored into; `None` for the holder,
/// type and issuer trees, which the database derives from the records.
fn copy_target(name: &str) -> Result<Option<(&'static str, &'static [Type])>, BackupError> {
    Ok(Some(match name {
        "records" => (
            "COPY records (identifier, type_code, licence_number, holder_code_type, holder_code, issuer_code, \
             issue_date, key_id, signature, bytes) FROM STDIN (FORMAT binary)",
            &[
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
            ],
        ),
        "events" => (
            "COPY events (identifier, seq, prev_seq, key_id, signature, bytes) FROM STDIN (FORMAT binary)",
            &[Type::TEXT, Type::INT4, Type::INT4, Type::TEXT, Type::BYTEA, Type::BYTEA],
        ),
        "idx_number" => (
            "COPY licence_numbers (type_code, licence_number, identifier) FROM STDIN (FORMAT binary)",
            &[Type::TEXT, Type::TEXT, Type::TEXT],
        ),
        "requests" => (
            "COPY requests (caller, request_id, identifier) FROM STDIN (FORMAT binary)",
            &[Type::TEXT, Type::TEXT, Type::TEXT],
        ),
        "import_keys" => (
            "COPY import_keys (import_key, identifier) FROM STDIN (FORMAT binary)",
            &[Type::TEXT, Type::TEXT],
        ),
        "catalog" => (
            "COPY catalog (code, licence_type) FROM STDIN (FORMAT binary)",
            &[Type::TEXT, Type::TEXT],
        ),
        "audit" => (
            "COPY audit_log (chain, seq, prev_seq, key_id, signature, bytes) FROM STDIN (FORMAT binary)",
            &[Type::INT2, Type::INT8, Type::INT8, Type::TEXT, Type::BYTEA, Type::BYTEA],
        ),
        "templates" => (
            "COPY templates (id, version, text, put_by, put_at) FROM STDIN (FORMAT binary)",
            &[Type::TEXT, Type::INT4, Type::TEXT, Type::TEXT, Type::TEXT],
        ),
        "idx_holder" | "idx_type" | "idx_issuer" => return Ok(None),
        other => return Err(corrupt(format!("unknown tree {other}"))),
    }))
}

fn text(b: &[u8], what: &str) -> Result<String, BackupError> {
    String::from_utf8(b.to_vec()).map_err(|_| corrupt(format!("{what} is not UTF-8")))
}

/// Splits `a SEP b` (a caller holds no SEP; what follows may).
fn split_pair(k: &[u8], what: &str) -> Result<(String, String), BackupError> {
    let at = k
        .iter()
        .position(|b| *b == SEP)
        .ok_or_else(|| corrupt(format!("{what}: key without a separator")))?;
    Ok((text(&k[..at], what)?, text(&k[at + 1..], what)?))
}

/// One entry of a tree as the values of its table's row.
fn row_of(name: &str, k: &[u8], v: &[u8]) -> Result<Vec<Box<dyn ToSql + Sync + Send>>, BackupError> {
    let signed = |v: &[u8]| -> Result<(String, Vec<u8>, Vec<u8>), BackupError> {
        let (key_id, signature, bytes) = codec::decode_signed(v)?;
        Ok((key_id, signature.to_vec(), bytes))
    };
    Ok(match name {
        "records" => {
            let identifier = text(k, "a record key")?;
            let (key_id, signature, bytes) = signed(v)?;
            // The indexed columns, as an issue or a migration derives them.
            let l = Licence::from_canonical(&bytes).map_err(|e| corrupt(format!("record {identifier}: {e}")))?;
            vec![
                Box::new(identifier),
                Box::new(l.licence_type_code),
                Box::new(l.licence_number),
                Box::new(l.holder_code_type),
                Box::new(l.holder_code),
                Box::new(l.issuer_code),
                Box::new(format_date(l.issue_date)),
                Box::new(key_id),
                Box::new(signature),
                Box::new(bytes),
            ]
        }
        "events" => {
            let e = codec::decode_event(k, v)?;
            let identifier = text(&k[..k.len().saturating_sub(5)], "an event key")?;
            let seq = i32::try_from(e.seq).map_err(|_| corrupt(format!("event {} of {identifier}", e.seq)))?;
            vec![
                Box::new(identifier),
                Box::new(seq),
                Box::new((seq > 0).then(|| seq - 1)),
                Box::new(e.key_id),
                Box::new(e.signature.to_vec()),
                Box::new(e.bytes),
            ]
        }
        "idx_number" | "requests" => {
            let (a, b) = split_pair(k, name)?;
            vec![Box::new(a), Box::new(b), Box::new(text(v, name)?)]
        }
        "import_keys" | "catalog" => vec![Box::new(text(k, name)?), Box::new(text(v, name)?)],
        "audit" => {
            let e = codec::decode_audit(k, v)?;
            let seq = e.seq as i64;
            vec![
                Box::new(0i16),
                Box::new(seq),
                Box::new((seq > 0).then(|| seq - 1)),
                Box::new(e.key_id),
                Box::new(e.signature.to_vec()),
                Box::new(e.bytes),
            ]
        }
        "templates" => {
            let t = codec::decode_template(v)?;
            vec![
                Box::new(t.id),
                Box::new(t.version as i32),
                Box::new(t.text),
                Box::new(t.put_by),
                Box::new(t.put_at),
            ]
        }
        other => return Err(corrupt(format!("unknown tree {other}"))),
    })
}

fn restore_into(rt: &tokio::runtime::Runtime, c: &Object, file: &Path) -> Result<BackupSummary, BackupError> {
    rt.block_on(c.batch_execute("BEGIN")).map_err(pg)?;
    let mut current: Option<(String, Option<Pin<Box<BinaryCopyInWriter>>>)> = None;
    let mut last_audit: Option<SignedAuditEntry> = None;
    let summary = read_backup(std::fs::File::open(file)?, |frame| {
        match frame {
            Frame::Tree(name) => {
                let writer = match copy_target(&name)? {
                    Some((sql, types)) => {
                        let sink = rt.block_on(c.copy_in(sql)).map_err(pg)?;
                        Some(Box::pin(BinaryCopyInWriter::new(sink, types)))
                    }
                    None => None,
                };
                current = Some((name, writer));
            }
            Frame::Entry(k, v) => {
                let (name, writer) = current.as_mut().ok_or_else(|| corrupt("an entry outside a tree"))?;
                if name == "audit" {
                    last_audit = Some(codec::decode_audit(&k, &v)?);
                }
                if let Some(w) = writer {
                    let row = row_of(name, &k, &v)?;
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        row.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
                    rt.block_on(w.as_mut().write(&refs)).map_err(pg)?;
                }
            }
            Frame::TreeEnd => {
                if let Some((_, Some(mut w))) = current.take() {
                    rt.block_on(w.as_mut().finish()).map_err(pg)?;
                }
            }
        }
        Ok(())
    })?;
    // The chain continues from the last entry restored; serials from above every one
    // handed out before the backup.
    let link = AuditLink::after(last_audit.as_ref()).map_err(|e| corrupt(format!("audit log: {e}")))?;
    let floor = i64::try_from(summary.sequence_floor).map_err(|_| corrupt("the serial floor"))?;
    let (next, prev) = (link.seq as i64, link.prev.to_vec());
    rt.block_on(c.execute(
        "UPDATE audit_head SET next_seq = $1, prev_digest = $2, last_at = $3 WHERE chain = 0",
        &[&next, &prev, &link.last_at],
    ))
    .map_err(pg)?;
    rt.block_on(c.execute(
        "UPDATE serial_counter SET next = greatest(next, $1) WHERE id = 0",
        &[&floor],
    ))
    .map_err(pg)?;
    rt.block_on(c.batch_execute("UPDATE config_generation SET generation = generation + 1 WHERE id = 0; COMMIT"))
        .map_err(pg)?;
    Ok(summary)
}
