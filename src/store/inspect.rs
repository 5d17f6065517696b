//! Reading the sled trees back raw, decoded, for the consistency check.

use super::codec::SEP;
use super::sled_store::{SledStore, TREE_NAMES};
use super::{IndexEntries, Result, StoreError};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Splits an index key into exactly `n` parts (the last, an identifier, never holds SEP).
fn parts(tree: &str, k: &[u8], n: usize) -> Result<Vec<String>> {
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

fn triple(tree: &str, k: &[u8]) -> Result<(String, String, String)> {
    let mut p = parts(tree, k, 3)?.into_iter();
    Ok((p.next().expect("3"), p.next().expect("3"), p.next().expect("3")))
}

/// Visits every entry of one tree (by name), in key order.
pub(super) type Scan<'a> = dyn Fn(&str, &mut dyn FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> + 'a;

/// Decodes every index entry and pointer of a store, whatever the engine: `scan`
/// visits the entries of a tree or keyspace by its name.
pub(super) fn decode_indexes(scan: &Scan<'_>) -> Result<IndexEntries> {
    let mut out = IndexEntries::default();
    scan("idx_number", &mut |k, v| {
        let mut p = parts("idx_number", k, 2)?.into_iter();
        out.number.push((p.next().expect("2"), p.next().expect("2"), text(v)));
        Ok(())
    })?;
    for (tree, into) in [
        ("idx_holder", &mut out.holder),
        ("idx_type", &mut out.by_type),
        ("idx_issuer", &mut out.by_issuer),
    ] {
        scan(tree, &mut |k, _| {
            into.push(triple(tree, k)?);
            Ok(())
        })?;
    }
    scan("events", &mut |k, _| {
        if k.len() < 5 || k[k.len() - 5] != SEP {
            return Err(StoreError::Corrupt(format!("events: malformed key {}", text(k))));
        }
        let seq = u32::from_be_bytes(k[k.len() - 4..].try_into().expect("4 bytes"));
        out.events.push((text(&k[..k.len() - 5]), seq));
        Ok(())
    })?;
    for (tree, into) in [("requests", &mut out.requests), ("import_keys", &mut out.import_keys)] {
        scan(tree, &mut |_, v| {
            into.push(text(v));
            Ok(())
        })?;
    }
    Ok(out)
}

impl SledStore {
    pub(super) fn decode_indexes(&self) -> Result<IndexEntries> {
        decode_indexes(&|name, visit| {
            let id = TREE_NAMES.iter().position(|n| *n == name).expect("a tree");
            for kv in self.trees[id].iter() {
                let (k, v) = kv?;
                visit(&k, &v)?;
            }
            Ok(())
        })
    }
}
