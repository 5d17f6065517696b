//! Reading the sled trees back raw, decoded, for the consistency check.

use super::codec::SEP;
use super::sled_store::{SledStore, EVENTS, IDX_HOLDER, IDX_ISSUER, IDX_NUMBER, IDX_TYPE, IMPORT_KEYS, REQUESTS};
use super::{IndexEntries, Result, StoreError};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Splits an index key into exactly `n` parts (the last, an identifier, never holds SEP).
pub(super) fn parts(tree: &str, k: &[u8], n: usize) -> Result<Vec<String>> {
    let p: Vec<String> = k.splitn(n, |b| *b == SEP).map(text).collect();
    if p.len() != n {
        return Err(StoreError::Corrupt(format!(
            "{tree}: key {} has {} parts, not {n}",
            text(k),
            p.len()
        )));
    }
    Ok(p)
}

pub(super) fn triple(tree: &str, k: &[u8]) -> Result<(String, String, String)> {
    let mut p = parts(tree, k, 3)?.into_iter();
    Ok((p.next().expect("3"), p.next().expect("3"), p.next().expect("3")))
}

impl SledStore {
    pub(super) fn decode_indexes(&self) -> Result<IndexEntries> {
        let mut out = IndexEntries::default();
        for kv in self.trees[IDX_NUMBER].iter() {
            let (k, v) = kv?;
            let mut p = parts("idx_number", &k, 2)?.into_iter();
            out.number.push((p.next().expect("2"), p.next().expect("2"), text(&v)));
        }
        for (tree, into) in [
            (IDX_HOLDER, &mut out.holder),
            (IDX_TYPE, &mut out.by_type),
            (IDX_ISSUER, &mut out.by_issuer),
        ] {
            for k in self.trees[tree].iter().keys() {
                into.push(triple(super::sled_store::TREE_NAMES[tree], &k?)?);
            }
        }
        for k in self.trees[EVENTS].iter().keys() {
            let k = k?;
            if k.len() < 5 || k[k.len() - 5] != SEP {
                return Err(StoreError::Corrupt(format!("events: malformed key {}", text(&k))));
            }
            let seq = u32::from_be_bytes(k[k.len() - 4..].try_into().expect("4 bytes"));
            out.events.push((text(&k[..k.len() - 5]), seq));
        }
        for (tree, into) in [(REQUESTS, &mut out.requests), (IMPORT_KEYS, &mut out.import_keys)] {
            for v in self.trees[tree].iter().values() {
                into.push(text(&v?));
            }
        }
        Ok(out)
    }
}
