//! Index entries and pointers read back decoded, and looked up one at a time, for the
//! consistency check; the same for both embedded engines, which share one key layout
//! (see `sled_store`).

use std::ops::Bound;

use super::codec::{self, key, SEP};
use super::{IndexKey, IndexName, Result, StoreError};

/// The tree or keyspace holding an index (the same name in both engines).
pub(super) fn keyspace(index: IndexName) -> &'static str {
    match index {
        IndexName::Number => "idx_number",
        IndexName::Holder => "idx_holder",
        IndexName::Type => "idx_type",
        IndexName::Issuer => "idx_issuer",
        IndexName::Events => "events",
        IndexName::Requests => "requests",
        IndexName::ImportKeys => "import_keys",
    }
}

/// The key range of a page that continues after `after` (exclusive), or from the start.
pub(super) fn after(after: Option<&[u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    match after {
        Some(a) => (Bound::Excluded(a.to_vec()), Bound::Unbounded),
        None => (Bound::Unbounded, Bound::Unbounded),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Splits an index key into exactly `n` parts (the last, an identifier, never holds SEP).
fn parts<const N: usize>(index: IndexName, k: &[u8]) -> Result<[String; N]> {
    let p: Vec<String> = k.splitn(N, |b| *b == SEP).map(text).collect();
    p.try_into().map_err(|p: Vec<String>| {
        StoreError::Corrupt(format!(
            "{}: key {} has {} parts, not {N}",
            keyspace(index),
            text(k),
            p.len()
        ))
    })
}

/// Decodes one stored entry of `index` from its key and value.
pub(super) fn decode(index: IndexName, k: &[u8], v: &[u8]) -> Result<IndexKey> {
    Ok(match index {
        IndexName::Number => {
            let [type_code, number] = parts(index, k)?;
            IndexKey::Number {
                type_code,
                number,
                identifier: text(v),
            }
        }
        IndexName::Holder => {
            let [code_type, code, identifier] = parts(index, k)?;
            IndexKey::Holder {
                code_type,
                code,
                identifier,
            }
        }
        IndexName::Type => {
            let [type_code, issue_date, identifier] = parts(index, k)?;
            IndexKey::Type {
                type_code,
                issue_date,
                identifier,
            }
        }
        IndexName::Issuer => {
            let [issuer_code, issue_date, identifier] = parts(index, k)?;
            IndexKey::Issuer {
                issuer_code,
                issue_date,
                identifier,
            }
        }
        IndexName::Events => {
            if k.len() < 5 || k[k.len() - 5] != SEP {
                return Err(StoreError::Corrupt(format!("events: malformed key {}", text(k))));
            }
            IndexKey::Event {
                identifier: text(&k[..k.len() - 5]),
                seq: u32::from_be_bytes(k[k.len() - 4..].try_into().expect("4 bytes")),
            }
        }
        IndexName::Requests => {
            // The caller (a department id) holds no SEP; a request id may follow it.
            let [caller, request_id] = parts(index, k)?;
            IndexKey::Request {
                caller,
                request_id,
                identifier: text(v),
            }
        }
        IndexName::ImportKeys => IndexKey::ImportKey {
            key: text(k),
            identifier: text(v),
        },
    })
}

/// The stored key of an entry, and the value a pointer holds (`None` for an index
/// entry, whose value is empty, or an event, whose value is the signed event).
fn encode(entry: &IndexKey) -> (Vec<u8>, Option<&[u8]>) {
    match entry {
        IndexKey::Number {
            type_code,
            number,
            identifier,
        } => (
            key(&[type_code.as_bytes(), number.as_bytes()]),
            Some(identifier.as_bytes()),
        ),
        IndexKey::Holder {
            code_type: a,
            code: b,
            identifier,
        }
        | IndexKey::Type {
            type_code: a,
            issue_date: b,
            identifier,
        }
        | IndexKey::Issuer {
            issuer_code: a,
            issue_date: b,
            identifier,
        } => (key(&[a.as_bytes(), b.as_bytes(), identifier.as_bytes()]), None),
        IndexKey::Event { identifier, seq } => (codec::event_key(identifier, *seq), None),
        IndexKey::Request {
            caller,
            request_id,
            identifier,
        } => (
            key(&[caller.as_bytes(), request_id.as_bytes()]),
            Some(identifier.as_bytes()),
        ),
        IndexKey::ImportKey { key, identifier } => (key.as_bytes().to_vec(), Some(identifier.as_bytes())),
    }
}

/// Whether the store holds `entry`; `read` gets a key from a tree or keyspace by name.
pub(super) fn holds<V: AsRef<[u8]>>(
    entry: &IndexKey,
    read: impl FnOnce(&str, &[u8]) -> Result<Option<V>>,
) -> Result<bool> {
    let (k, want) = encode(entry);
    Ok(match (read(keyspace(entry.index()), &k)?, want) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(v), Some(want)) => v.as_ref() == want,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of entry decodes from the key (and value) it is stored under.
    #[test]
    fn entries_decode_from_their_encoding() {
        let id = || "1.2.156.3005.2.x".to_string();
        for entry in [
            IndexKey::Number {
                type_code: "T".into(),
                number: "N-1".into(),
                identifier: id(),
            },
            IndexKey::Holder {
                code_type: "001".into(),
                code: "91440300708461136T".into(),
                identifier: id(),
            },
            IndexKey::Type {
                type_code: "T".into(),
                issue_date: "2026-11-28".into(),
                identifier: id(),
            },
            IndexKey::Issuer {
                issuer_code: "I".into(),
                issue_date: "2026-11-28".into(),
                identifier: id(),
            },
            IndexKey::Event {
                identifier: id(),
                seq: 258,
            },
            IndexKey::Request {
                caller: "scjgj".into(),
                request_id: "r-1".into(),
                identifier: id(),
            },
            IndexKey::ImportKey {
                key: "run·row-7".into(),
                identifier: id(),
            },
        ] {
            let (k, v) = encode(&entry);
            let decoded = decode(entry.index(), &k, v.unwrap_or_default()).unwrap();
            assert_eq!(decoded, entry);
        }
        assert!(matches!(
            decode(IndexName::Holder, b"001\x00only-two", b""),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            decode(IndexName::Events, b"id", b""),
            Err(StoreError::Corrupt(_))
        ));
    }
}
