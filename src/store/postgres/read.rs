//! Reads. Pages are keyset scans in index order; each entry's position is the key the
//! embedded store would give it (its parts joined by 0x00, an event's seq big-endian),
//! so positions compare the same in both backends, and a position is turned back into
//! the row values to continue after. Every text key column is `COLLATE "C"`: SQL order
//! is byte order.

use deadpool_postgres::Object;
use tokio_postgres::Row;

use super::{pg_error, signature};
use crate::audit::SignedAuditEntry;
use crate::catalog::LicenceType;
use crate::licence::SignedRecord;
use crate::store::codec::{self, key, SEP};
use crate::store::StoredTemplate;
use crate::store::{IndexEntry, IndexKey, IndexName, IndexQuery, Page, RequestKey, Result, SignedEvent, StoreError};

async fn rows(c: &Object, sql: &str, params: &[super::write::Param<'_>]) -> Result<Vec<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query(&st, params).await.map_err(pg_error)
}

async fn row(c: &Object, sql: &str, params: &[super::write::Param<'_>]) -> Result<Option<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query_opt(&st, params).await.map_err(pg_error)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) async fn replayed(c: &Object, key: &RequestKey) -> Result<Option<String>> {
    Ok(row(
        c,
        "SELECT identifier FROM requests WHERE caller = $1 AND request_id = $2",
        &[&key.caller, &key.request_id],
    )
    .await?
    .map(|r| r.get(0)))
}

pub(super) async fn number_owner(c: &Object, type_code: &str, number: &str) -> Result<Option<String>> {
    Ok(row(
        c,
        "SELECT identifier FROM licence_numbers WHERE type_code = $1 AND licence_number = $2",
        &[&type_code, &number],
    )
    .await?
    .map(|r| r.get(0)))
}

pub(super) async fn record(c: &Object, identifier: &str) -> Result<Option<SignedRecord>> {
    row(
        c,
        "SELECT key_id, signature, bytes FROM records WHERE identifier = $1",
        &[&identifier],
    )
    .await?
    .map(|r| {
        Ok(SignedRecord {
            key_id: r.get(0),
            signature: signature(r.get(1), identifier)?,
            bytes: r.get(2),
        })
    })
    .transpose()
}

pub(super) async fn events(c: &Object, identifier: &str) -> Result<Vec<SignedEvent>> {
    rows(
        c,
        "SELECT seq, key_id, signature, bytes FROM events WHERE identifier = $1 ORDER BY seq",
        &[&identifier],
    )
    .await?
    .into_iter()
    .map(|r| {
        Ok(SignedEvent {
            seq: r.get::<_, i32>(0) as u32,
            key_id: r.get(1),
            signature: signature(r.get(2), identifier)?,
            bytes: r.get(3),
        })
    })
    .collect()
}

/// A record and its events in one statement (one execution, one snapshot): the record's
/// columns repeat on each event's row.
pub(super) async fn load(c: &Object, identifier: &str) -> Result<Option<(SignedRecord, Vec<SignedEvent>)>> {
    let found = rows(
        c,
        "SELECT r.key_id, r.signature, r.bytes, e.seq, e.key_id, e.signature, e.bytes FROM records r \
         LEFT JOIN events e ON e.identifier = r.identifier WHERE r.identifier = $1 ORDER BY e.seq",
        &[&identifier],
    )
    .await?;
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let record = SignedRecord {
        key_id: first.get(0),
        signature: signature(first.get(1), identifier)?,
        bytes: first.get(2),
    };
    let mut events = Vec::with_capacity(found.len());
    for r in &found {
        let Some(seq) = r.get::<_, Option<i32>>(3) else {
            continue;
        };
        events.push(SignedEvent {
            seq: seq as u32,
            key_id: r.get(4),
            signature: signature(r.get(5), identifier)?,
            bytes: r.get(6),
        });
    }
    Ok(Some((record, events)))
}

fn audit_entry(r: Row) -> Result<SignedAuditEntry> {
    let seq: i64 = r.get(0);
    Ok(SignedAuditEntry {
        seq: seq as u64,
        key_id: r.get(1),
        signature: signature(r.get(2), &format!("audit entry {seq}"))?,
        bytes: r.get(3),
    })
}

pub(super) async fn audit_range(c: &Object, from: u64, n: usize) -> Result<Vec<SignedAuditEntry>> {
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    rows(
        c,
        "SELECT seq, key_id, signature, bytes FROM audit_log WHERE chain = 0 AND seq >= $1 ORDER BY seq LIMIT $2",
        &[&from, &limit(n)],
    )
    .await?
    .into_iter()
    .map(audit_entry)
    .collect()
}

pub(super) async fn last_audit(c: &Object) -> Result<Option<SignedAuditEntry>> {
    row(
        c,
        "SELECT seq, key_id, signature, bytes FROM audit_log WHERE chain = 0 ORDER BY seq DESC LIMIT 1",
        &[],
    )
    .await?
    .map(audit_entry)
    .transpose()
}

fn licence_type_of(code: &str, json: &str) -> Result<LicenceType> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("catalog {code}: {e}")))
}

pub(super) async fn licence_type(c: &Object, code: &str) -> Result<Option<LicenceType>> {
    row(c, "SELECT licence_type FROM catalog WHERE code = $1", &[&code])
        .await?
        .map(|r| licence_type_of(code, r.get(0)))
        .transpose()
}

pub(super) async fn licence_types(c: &Object) -> Result<Vec<LicenceType>> {
    rows(c, "SELECT code, licence_type FROM catalog ORDER BY code", &[])
        .await?
        .iter()
        .map(|r| licence_type_of(r.get(0), r.get(1)))
        .collect()
}

fn template_of(r: &Row) -> StoredTemplate {
    StoredTemplate {
        id: r.get(0),
        version: r.get::<_, i32>(1) as u32,
        text: r.get(2),
        put_by: r.get(3),
        put_at: r.get(4),
    }
}

pub(super) async fn template(c: &Object, id: &str, version: Option<u32>) -> Result<Option<StoredTemplate>> {
    let found =
        match version {
            Some(v) => {
                let Ok(v) = i32::try_from(v) else { return Ok(None) };
                row(
                    c,
                    "SELECT id, version, text, put_by, put_at FROM templates WHERE id = $1 AND version = $2",
                    &[&id, &v],
                )
                .await?
            }
            None => row(
                c,
                "SELECT id, version, text, put_by, put_at FROM templates WHERE id = $1 ORDER BY version DESC LIMIT 1",
                &[&id],
            )
            .await?,
        };
    Ok(found.as_ref().map(template_of))
}

pub(super) async fn latest_templates(c: &Object) -> Result<Vec<StoredTemplate>> {
    Ok(rows(
        c,
        "SELECT DISTINCT ON (id) id, version, text, put_by, put_at FROM templates ORDER BY id, version DESC",
        &[],
    )
    .await?
    .iter()
    .map(template_of)
    .collect())
}

pub(super) async fn identifiers(c: &Object, after: Option<&str>, n: usize) -> Result<Vec<String>> {
    let after = after.map(|a| text(a.as_bytes())).unwrap_or_default();
    Ok(rows(
        c,
        "SELECT identifier FROM records WHERE identifier > $1 ORDER BY identifier LIMIT $2",
        &[&after, &limit(n)],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// Bytes of a position as a text value: invalid UTF-8 becomes U+FFFD (which sorts after
/// every ASCII character, as the byte it replaces does), and the text ends before any
/// 0x00, which PostgreSQL text cannot hold.
fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&x| x == SEP).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The first `N` parts of a position (the last one takes the rest); parts it lacks are
/// empty, which sorts before every stored value, as a shorter key does.
fn parts<const N: usize>(position: &[u8]) -> [String; N] {
    let mut split = position.splitn(N, |b| *b == SEP);
    std::array::from_fn(|_| split.next().map(text).unwrap_or_default())
}

/// An event position as (identifier, seq to continue after): a position between two keys
/// continues with the next key, as in the embedded store.
fn event_after(position: &[u8]) -> (String, i64) {
    let (id, rest) = match position.iter().position(|b| *b == SEP) {
        Some(i) => (&position[..i], &position[i + 1..]),
        None => (position, &[][..]),
    };
    let mut seq = [0u8; 4];
    let n = rest.len().min(4);
    seq[..n].copy_from_slice(&rest[..n]);
    let seq = i64::from(u32::from_be_bytes(seq));
    // Shorter than a seq: it sorts before the key with those bytes zero-padded.
    (text(id), if rest.len() < 4 { seq - 1 } else { seq })
}

pub(super) async fn query(c: &Object, q: &IndexQuery, after: Option<&[u8]>, n: usize) -> Result<Page> {
    let (_, start, end) = codec::index_range(q);
    // A position outside the query's range starts it over (as `continue_after`).
    let after = after.filter(|a| *a >= start.as_slice() && *a < end.as_slice());
    let fetch = limit(n).saturating_add(1);
    let found = match q {
        IndexQuery::Holder { code_type, code } => {
            let [_, _, id] = after.map(parts::<3>).unwrap_or_default();
            rows(
                c,
                "SELECT holder_code_type, holder_code, identifier FROM records \
                 WHERE holder_code_type = $1 AND holder_code = $2 AND identifier > $3 \
                 ORDER BY identifier LIMIT $4",
                &[code_type, code, &id, &fetch],
            )
            .await?
        }
        IndexQuery::Type { type_code, from, to } => {
            let [_, date, id] = after
                .map(parts::<3>)
                .unwrap_or_else(|| [String::new(), from.clone(), String::new()]);
            rows(
                c,
                "SELECT type_code, issue_date, identifier FROM records \
                 WHERE type_code = $1 AND (issue_date, identifier) > ($2, $3) AND issue_date <= $4 \
                 ORDER BY issue_date, identifier LIMIT $5",
                &[type_code, &date, &id, to, &fetch],
            )
            .await?
        }
        IndexQuery::Issuer { issuer_code, from, to } => {
            let [_, date, id] = after
                .map(parts::<3>)
                .unwrap_or_else(|| [String::new(), from.clone(), String::new()]);
            rows(
                c,
                "SELECT issuer_code, issue_date, identifier FROM records \
                 WHERE issuer_code = $1 AND (issue_date, identifier) > ($2, $3) AND issue_date <= $4 \
                 ORDER BY issue_date, identifier LIMIT $5",
                &[issuer_code, &date, &id, to, &fetch],
            )
            .await?
        }
    };
    let mut page = Page::default();
    for r in found.iter().take(n) {
        let (a, b, id): (&str, &str, String) = (r.get(0), r.get(1), r.get(2));
        page.positions.push(key(&[a.as_bytes(), b.as_bytes(), id.as_bytes()]));
        page.identifiers.push(id);
    }
    if found.len() > n {
        page.next = page.positions.last().cloned();
    }
    Ok(page)
}

/// The SQL of one index's page: from the start, and after a keyset.
fn page_sql(index: IndexName) -> (&'static str, &'static str) {
    match index {
        IndexName::Number => (
            "SELECT type_code, licence_number, identifier FROM licence_numbers ORDER BY 1, 2 LIMIT $1",
            "SELECT type_code, licence_number, identifier FROM licence_numbers \
             WHERE (type_code, licence_number) > ($1, $2) ORDER BY 1, 2 LIMIT $3",
        ),
        IndexName::Holder => (
            "SELECT holder_code_type, holder_code, identifier FROM records ORDER BY 1, 2, 3 LIMIT $1",
            "SELECT holder_code_type, holder_code, identifier FROM records \
             WHERE (holder_code_type, holder_code, identifier) > ($1, $2, $3) ORDER BY 1, 2, 3 LIMIT $4",
        ),
        IndexName::Type => (
            "SELECT type_code, issue_date, identifier FROM records ORDER BY 1, 2, 3 LIMIT $1",
            "SELECT type_code, issue_date, identifier FROM records \
             WHERE (type_code, issue_date, identifier) > ($1, $2, $3) ORDER BY 1, 2, 3 LIMIT $4",
        ),
        IndexName::Issuer => (
            "SELECT issuer_code, issue_date, identifier FROM records ORDER BY 1, 2, 3 LIMIT $1",
            "SELECT issuer_code, issue_date, identifier FROM records \
             WHERE (issuer_code, issue_date, identifier) > ($1, $2, $3) ORDER BY 1, 2, 3 LIMIT $4",
        ),
        IndexName::Events => (
            "SELECT identifier, seq FROM events ORDER BY 1, 2 LIMIT $1",
            "SELECT identifier, seq FROM events WHERE (identifier, seq) > ($1, $2::int4) ORDER BY 1, 2 LIMIT $3",
        ),
        IndexName::Requests => (
            "SELECT caller, request_id, identifier FROM requests ORDER BY 1, 2 LIMIT $1",
            "SELECT caller, request_id, identifier FROM requests \
             WHERE (caller, request_id) > ($1, $2) ORDER BY 1, 2 LIMIT $3",
        ),
        IndexName::ImportKeys => (
            "SELECT import_key, identifier FROM import_keys ORDER BY 1 LIMIT $1",
            "SELECT import_key, identifier FROM import_keys WHERE import_key > $1 ORDER BY 1 LIMIT $2",
        ),
    }
}

pub(super) async fn index_page(
    c: &Object,
    index: IndexName,
    after: Option<&[u8]>,
    n: usize,
) -> Result<Vec<IndexEntry>> {
    let (first, next) = page_sql(index);
    let n_ = limit(n);
    let found = match after {
        None => rows(c, first, &[&n_]).await?,
        Some(a) => match index {
            IndexName::Number | IndexName::Requests => {
                let [x, y] = parts::<2>(a);
                rows(c, next, &[&x, &y, &n_]).await?
            }
            IndexName::Holder | IndexName::Type | IndexName::Issuer => {
                let [x, y, z] = parts::<3>(a);
                rows(c, next, &[&x, &y, &z, &n_]).await?
            }
            IndexName::Events => {
                let (id, seq) = event_after(a);
                // Before seq 0 of this identifier: continue with its first event.
                let seq = seq.clamp(-1, i64::from(i32::MAX)) as i32;
                rows(c, next, &[&id, &seq, &n_]).await?
            }
            IndexName::ImportKeys => {
                let k = String::from_utf8_lossy(a).replace('\0', "");
                rows(c, next, &[&k, &n_]).await?
            }
        },
    };
    found.iter().map(|r| entry(index, r)).collect()
}

/// One row of an index page as its decoded entry and its position.
fn entry(index: IndexName, r: &Row) -> Result<IndexEntry> {
    let s = |i: usize| -> String { r.get(i) };
    let (key_, position) = match index {
        IndexName::Number => {
            let (type_code, number, identifier) = (s(0), s(1), s(2));
            let p = key(&[type_code.as_bytes(), number.as_bytes()]);
            (
                IndexKey::Number {
                    type_code,
                    number,
                    identifier,
                },
                p,
            )
        }
        IndexName::Holder => {
            let (code_type, code, identifier) = (s(0), s(1), s(2));
            let p = key(&[code_type.as_bytes(), code.as_bytes(), identifier.as_bytes()]);
            (
                IndexKey::Holder {
                    code_type,
                    code,
                    identifier,
                },
                p,
            )
        }
        IndexName::Type => {
            let (type_code, issue_date, identifier) = (s(0), s(1), s(2));
            let p = key(&[type_code.as_bytes(), issue_date.as_bytes(), identifier.as_bytes()]);
            (
                IndexKey::Type {
                    type_code,
                    issue_date,
                    identifier,
                },
                p,
            )
        }
        IndexName::Issuer => {
            let (issuer_code, issue_date, identifier) = (s(0), s(1), s(2));
            let p = key(&[issuer_code.as_bytes(), issue_date.as_bytes(), identifier.as_bytes()]);
            (
                IndexKey::Issuer {
                    issuer_code,
                    issue_date,
                    identifier,
                },
                p,
            )
        }
        IndexName::Events => {
            let identifier = s(0);
            let seq = u32::try_from(r.get::<_, i32>(1))
                .map_err(|_| StoreError::Corrupt(format!("events: {identifier} has a negative seq")))?;
            let p = codec::event_key(&identifier, seq);
            (IndexKey::Event { identifier, seq }, p)
        }
        IndexName::Requests => {
            let (caller, request_id, identifier) = (s(0), s(1), s(2));
            let p = key(&[caller.as_bytes(), request_id.as_bytes()]);
            (
                IndexKey::Request {
                    caller,
                    request_id,
                    identifier,
                },
                p,
            )
        }
        IndexName::ImportKeys => {
            let (k, identifier) = (s(0), s(1));
            let p = k.as_bytes().to_vec();
            (IndexKey::ImportKey { key: k, identifier }, p)
        }
    };
    Ok(IndexEntry { key: key_, position })
}

pub(super) async fn has_index_key(c: &Object, k: &IndexKey) -> Result<bool> {
    let found = match k {
        IndexKey::Number {
            type_code,
            number,
            identifier,
        } => {
            row(
                c,
                "SELECT 1 FROM licence_numbers WHERE type_code = $1 AND licence_number = $2 AND identifier = $3",
                &[type_code, number, identifier],
            )
            .await?
        }
        IndexKey::Holder {
            code_type,
            code,
            identifier,
        } => {
            row(
                c,
                "SELECT 1 FROM records WHERE holder_code_type = $1 AND holder_code = $2 AND identifier = $3",
                &[code_type, code, identifier],
            )
            .await?
        }
        IndexKey::Type {
            type_code,
            issue_date,
            identifier,
        } => {
            row(
                c,
                "SELECT 1 FROM records WHERE type_code = $1 AND issue_date = $2 AND identifier = $3",
                &[type_code, issue_date, identifier],
            )
            .await?
        }
        IndexKey::Issuer {
            issuer_code,
            issue_date,
            identifier,
        } => {
            row(
                c,
                "SELECT 1 FROM records WHERE issuer_code = $1 AND issue_date = $2 AND identifier = $3",
                &[issuer_code, issue_date, identifier],
            )
            .await?
        }
        IndexKey::Event { identifier, seq } => {
            let Ok(seq) = i32::try_from(*seq) else { return Ok(false) };
            row(
                c,
                "SELECT 1 FROM events WHERE identifier = $1 AND seq = $2",
                &[identifier, &seq],
            )
            .await?
        }
        IndexKey::Request {
            caller,
            request_id,
            identifier,
        } => {
            row(
                c,
                "SELECT 1 FROM requests WHERE caller = $1 AND request_id = $2 AND identifier = $3",
                &[caller, request_id, identifier],
            )
            .await?
        }
        IndexKey::ImportKey { key, identifier } => {
            row(
                c,
                "SELECT 1 FROM import_keys WHERE import_key = $1 AND identifier = $2",
                &[key, identifier],
            )
            .await?
        }
    };
    Ok(found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positions turn back into the values to continue after, whatever bytes a caller
    /// sends: never a 0x00 in a text value, and a position between two keys continues
    /// with the next one.
    #[test]
    fn positions_turn_back_into_keysets() {
        assert_eq!(parts::<3>(b"001\0code\0id-1"), ["001", "code", "id-1"]);
        assert_eq!(parts::<3>(b"001"), ["001", "", ""]);
        assert_eq!(parts::<2>(b"caller\0req\0uest"), ["caller", "req"]);
        assert_eq!(parts::<2>(b"T\0N1\xff"), ["T", "N1\u{FFFD}"]);
        assert_eq!(event_after(&codec::event_key("id", 7)), ("id".into(), 7));
        let mut past = codec::event_key("id", 7);
        past.push(0xff);
        assert_eq!(event_after(&past), ("id".into(), 7), "after seq 7: seq 8 next");
        assert_eq!(event_after(b"id\0\0\0"), ("id".into(), -1), "before seq 0");
        assert_eq!(event_after(b"id"), ("id".into(), -1));
    }
}
