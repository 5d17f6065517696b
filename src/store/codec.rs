//! Byte layouts of stored values and index keys. Index keys join ASCII-safe parts with
//! 0x00, which validated text never contains, so prefixes cannot collide.

use super::{IndexQuery, Result, SignedAuditEntry, SignedEvent, StoreError};
use crate::licence::SignedRecord;

pub const SEP: u8 = 0;

pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(SEP);
        }
        k.extend_from_slice(p);
    }
    k
}

/// `[key_id len: u8][key_id][signature: 64][bytes]`
pub fn encode_signed(key_id: &str, signature: &[u8; 64], bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + key_id.len() + 64 + bytes.len());
    v.push(key_id.len() as u8);
    v.extend_from_slice(key_id.as_bytes());
    v.extend_from_slice(signature);
    v.extend_from_slice(bytes);
    v
}

pub fn decode_signed(v: &[u8]) -> Result<(String, [u8; 64], Vec<u8>)> {
    let corrupt = || StoreError::Corrupt("truncated signed value".into());
    let n = *v.first().ok_or_else(corrupt)? as usize;
    if v.len() < 1 + n + 64 {
        return Err(corrupt());
    }
    let key_id = String::from_utf8(v[1..1 + n].to_vec()).map_err(|_| corrupt())?;
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&v[1 + n..1 + n + 64]);
    Ok((key_id, sig, v[1 + n + 64..].to_vec()))
}

pub fn encode_record(r: &SignedRecord) -> Vec<u8> {
    encode_signed(&r.key_id, &r.signature, &r.bytes)
}

pub fn decode_record(v: &[u8]) -> Result<SignedRecord> {
    let (key_id, signature, bytes) = decode_signed(v)?;
    Ok(SignedRecord {
        bytes,
        signature,
        key_id,
    })
}

pub fn template_key(id: &str, version: u32) -> Vec<u8> {
    let mut k = key(&[id.as_bytes(), b""]);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

pub fn template_version(k: &[u8]) -> Result<u32> {
    let tail = k
        .len()
        .checked_sub(4)
        .map(|n| &k[n..])
        .ok_or_else(|| StoreError::Corrupt("short template key".into()))?;
    Ok(u32::from_be_bytes(tail.try_into().expect("4 bytes")))
}

pub fn decode_template(v: &[u8]) -> Result<super::StoredTemplate> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt(format!("template: {e}")))
}

/// The latest version of each template from stored templates in key order (by id, then
/// version): the last one of each id.
pub fn latest_per_id(
    stored: impl Iterator<Item = Result<super::StoredTemplate>>,
) -> Result<Vec<super::StoredTemplate>> {
    let mut latest: Vec<super::StoredTemplate> = Vec::new();
    for t in stored {
        let t = t?;
        match latest.last_mut() {
            Some(prev) if prev.id == t.id => *prev = t,
            _ => latest.push(t),
        }
    }
    Ok(latest)
}

pub fn event_key(identifier: &str, seq: u32) -> Vec<u8> {
    let mut k = key(&[identifier.as_bytes(), b""]);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn decode_event(k: &[u8], v: &[u8]) -> Result<SignedEvent> {
    if k.len() < 4 {
        return Err(StoreError::Corrupt("short event key".into()));
    }
    let seq = u32::from_be_bytes(k[k.len() - 4..].try_into().expect("4 bytes"));
    let (key_id, signature, bytes) = decode_signed(v)?;
    Ok(SignedEvent {
        seq,
        bytes,
        signature,
        key_id,
    })
}

pub fn decode_audit(k: &[u8], v: &[u8]) -> Result<SignedAuditEntry> {
    let seq = u64::from_be_bytes(
        k.try_into()
            .map_err(|_| StoreError::Corrupt("audit key is not 8 bytes".into()))?,
    );
    let (key_id, signature, bytes) = decode_signed(v)?;
    Ok(SignedAuditEntry {
        seq,
        bytes,
        signature,
        key_id,
    })
}

/// Where a scan of `start..end` continues after the position `after` (the key of the
/// last entry returned); a position outside the range starts it over.
pub fn continue_after(start: Vec<u8>, end: &[u8], after: Option<&[u8]>) -> Vec<u8> {
    match after {
        Some(a) if a >= start.as_slice() && a < end => {
            let mut s = a.to_vec();
            s.push(0);
            s
        }
        _ => start,
    }
}

/// The index (tree or keyspace name, the same in every backend) and the key range an
/// index query scans.
pub fn index_range(q: &IndexQuery) -> (&'static str, Vec<u8>, Vec<u8>) {
    match q {
        IndexQuery::Holder { code_type, code } => {
            let p = key(&[code_type.as_bytes(), code.as_bytes(), b""]);
            let mut end = p.clone();
            end.push(0xff);
            ("idx_holder", p, end)
        }
        IndexQuery::Type { type_code, from, to } => {
            let mut end = key(&[type_code.as_bytes(), to.as_bytes()]);
            end.push(1);
            ("idx_type", key(&[type_code.as_bytes(), from.as_bytes()]), end)
        }
        IndexQuery::Issuer { issuer_code, from, to } => {
            let mut end = key(&[issuer_code.as_bytes(), to.as_bytes()]);
            end.push(1);
            ("idx_issuer", key(&[issuer_code.as_bytes(), from.as_bytes()]), end)
        }
    }
}
