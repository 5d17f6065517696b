//! Backups: a point-in-time logical copy of every tree, streamed in a versioned,
//! checksummed format, and its restore into a new data directory.
//!
//! Format (version 1), all integers big-endian:
//! ```text
//! "ELICENCE-BACKUP\n" (16 bytes)  u32 version
//! u32 length, header JSON          {"version":1,"created_at":…,"sequence_floor":…,"trees":[…]}
//! per tree:  'T' u16 length, name
//!            'E' u32 length, key, u32 length, value      (in key order)
//!            'Z' u64 entries in this tree
//! end:       'X' u64 entries in all trees, SHA-256 of every byte before the digest
//! ```
//! A file that is cut short, altered, or of another version is refused before anything
//! is trusted: restore checks the whole file first, then reads it again to rebuild.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::sled_store::{SledStore, AUDIT, CATALOG, TEMPLATES, TREE_NAMES};

pub const MAGIC: &[u8; 16] = b"ELICENCE-BACKUP\n";
pub const VERSION: u32 = 1;
const MAX_KEY: usize = 1 << 20;
const MAX_VALUE: usize = 64 << 20;
const MAX_HEADER: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not an elicence backup (bad magic bytes)")]
    NotABackup,
    #[error("backup format version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("backup is truncated: {0}")]
    Truncated(String),
    #[error("backup is corrupt: {0}")]
    Corrupt(String),
    #[error("backup checksum mismatch: the file was altered or damaged (SHA-256 {found}, recorded {recorded})")]
    Checksum { found: String, recorded: String },
    #[error("target {0} is not empty; restore only into a new or empty directory")]
    TargetNotEmpty(String),
    #[error("store: {0}")]
    Store(#[from] super::StoreError),
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
}

impl From<sled::Error> for BackupError {
    fn from(e: sled::Error) -> Self {
        BackupError::Store(e.into())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupHeader {
    pub version: u32,
    /// RFC 3339, when the cut was taken (informational).
    pub created_at: String,
    /// Every sequence number handed out before the cut is below this; a restored store
    /// continues above it so that no identifier serial is issued twice.
    pub sequence_floor: u64,
    pub trees: Vec<String>,
}

/// What a backup holds, or what a restore wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSummary {
    pub trees: Vec<(String, u64)>,
    pub entries: u64,
    pub sha256: String,
    /// Keys written by others while the backup streamed (left out: after the cut).
    pub written_during: usize,
    pub sequence_floor: u64,
}

impl BackupSummary {
    pub fn count(&self, tree: &str) -> u64 {
        self.trees.iter().find(|(n, _)| n == tree).map(|(_, c)| *c).unwrap_or(0)
    }
}

/// Writes the framing and hashes every byte written.
struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> HashingWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.inner.write_all(bytes)
    }
}

/// Writes a backup in the format above, whatever the engine: the header, then each
/// tree's entries in key order, then the trailer and checksum.
pub(crate) struct BackupWriter<W: Write> {
    w: HashingWriter<BufWriter<W>>,
    summary: BackupSummary,
}

impl<W: Write> BackupWriter<W> {
    pub(crate) fn start(out: W, created_at: &str, sequence_floor: u64) -> Result<Self, BackupError> {
        let header = BackupHeader {
            version: VERSION,
            created_at: created_at.to_string(),
            sequence_floor,
            trees: backup_tree_names(),
        };
        let mut w = HashingWriter {
            inner: BufWriter::with_capacity(256 * 1024, out),
            hash: Sha256::new(),
        };
        w.put(MAGIC)?;
        w.put(&VERSION.to_be_bytes())?;
        let header = serde_json::to_vec(&header).expect("header serialises");
        w.put(&(header.len() as u32).to_be_bytes())?;
        w.put(&header)?;
        Ok(BackupWriter {
            w,
            summary: BackupSummary {
                sequence_floor,
                ..BackupSummary::default()
            },
        })
    }

    /// Writes one tree: `entries` in key order.
    pub(crate) fn tree<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        name: &str,
        entries: impl Iterator<Item = Result<(K, V), BackupError>>,
    ) -> Result<(), BackupError> {
        let w = &mut self.w;
        w.put(b"T")?;
        w.put(&(name.len() as u16).to_be_bytes())?;
        w.put(name.as_bytes())?;
        let mut n = 0u64;
        for kv in entries {
            let (k, v) = kv?;
            let (k, v) = (k.as_ref(), v.as_ref());
            w.put(b"E")?;
            w.put(&(k.len() as u32).to_be_bytes())?;
            w.put(k)?;
            w.put(&(v.len() as u32).to_be_bytes())?;
            w.put(v)?;
            n += 1;
        }
        w.put(b"Z")?;
        w.put(&n.to_be_bytes())?;
        self.summary.trees.push((name.to_string(), n));
        self.summary.entries += n;
        Ok(())
    }

    /// Writes the trailer and the checksum.
    pub(crate) fn finish(mut self) -> Result<BackupSummary, BackupError> {
        let w = &mut self.w;
        w.put(b"X")?;
        w.put(&self.summary.entries.to_be_bytes())?;
        let digest: [u8; 32] = w.hash.clone().finalize().into();
        w.inner.write_all(&digest)?;
        w.inner.flush()?;
        self.summary.sha256 = hex::encode(digest);
        Ok(self.summary)
    }
}

pub(crate) fn backup_tree_names() -> Vec<String> {
    TREE_NAMES
        .iter()
        .map(|s| s.to_string())
        .chain(["catalog".to_string(), "audit".to_string(), "templates".to_string()])
        .collect()
}

impl SledStore {
    fn tree_by_id(&self, id: usize) -> &sled::Tree {
        match id {
            CATALOG => &self.catalog,
            AUDIT => &self.audit,
            TEMPLATES => &self.templates,
            n => &self.trees[n],
        }
    }

    /// Streams a point-in-time backup of every tree to `out`. Writers pause only for the
    /// instant of the cut; memory holds only the keys written while the backup runs.
    pub fn write_backup(&self, out: impl Write, created_at: &str) -> Result<BackupSummary, BackupError> {
        let names = backup_tree_names();
        // At the cut: the sequence counter and each tree's last key. Keys past it were
        // written later; bounding the walk keeps it finite while writers append.
        let (snapshot, at_cut) = self.gate.snapshot(|| {
            let last: sled::Result<Vec<Option<sled::IVec>>> = (0..names.len())
                .map(|id| Ok(self.tree_by_id(id).last()?.map(|(k, _)| k)))
                .collect();
            Ok::<_, sled::Error>((self.db.generate_id()?, last?))
        });
        let (floor, last_keys) = at_cut?;
        let mut w = BackupWriter::start(out, created_at, floor + 1)?;
        for (id, name) in names.iter().enumerate() {
            let Some(last) = &last_keys[id] else {
                w.tree(name, std::iter::empty::<Result<(Vec<u8>, Vec<u8>), BackupError>>())?;
                continue;
            };
            let entries = self
                .tree_by_id(id)
                .range::<&[u8], _>(..=last.as_ref())
                .filter_map(|kv| match kv {
                    Err(e) => Some(Err(e.into())),
                    Ok((k, live)) => match snapshot.cut.at_cut(id, &k) {
                        None => Some(Ok((k, live))),
                        Some(Some(at_cut)) => Some(Ok((k, at_cut))),
                        Some(None) => None,
                    },
                });
            w.tree(name, entries)?;
        }
        let mut summary = w.finish()?;
        summary.written_during = snapshot.cut.written_since();
        Ok(summary)
    }

    /// Rebuilds a store in `dir` (absent or empty) from a backup. The file is checked
    /// end to end first; nothing is written from a file that fails the check.
    pub fn restore_backup(dir: &Path, file: &Path) -> Result<BackupSummary, BackupError> {
        check_backup(std::fs::File::open(file)?)?;
        if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
            return Err(BackupError::TargetNotEmpty(dir.display().to_string()));
        }
        let store = SledStore::open(dir)?;
        let names = backup_tree_names();
        let mut current: Option<(usize, sled::Batch, usize)> = None;
        let rebuilt = read_backup(std::fs::File::open(file)?, |frame| {
            match frame {
                Frame::Tree(name) => {
                    let id = names
                        .iter()
                        .position(|n| *n == name)
                        .ok_or_else(|| BackupError::Corrupt(format!("unknown tree {name}")))?;
                    current = Some((id, sled::Batch::default(), 0));
                }
                Frame::Entry(k, v) => {
                    let (id, batch, pending) = current
                        .as_mut()
                        .ok_or_else(|| BackupError::Corrupt("entry outside a tree".into()))?;
                    batch.insert(k, v);
                    *pending += 1;
                    if *pending == 10_000 {
                        store.tree_by_id(*id).apply_batch(std::mem::take(batch))?;
                        *pending = 0;
                    }
                }
                Frame::TreeEnd => {
                    if let Some((id, batch, _)) = current.take() {
                        store.tree_by_id(id).apply_batch(batch)?;
                    }
                }
            }
            Ok(())
        })?;
        // Serials come from this counter: continue above everything issued before.
        while store.db.generate_id()? < rebuilt.sequence_floor {}
        store.flush_durably()?;
        Ok(rebuilt)
    }
}

/// One step of reading a backup.
pub(crate) enum Frame {
    Tree(String),
    Entry(Vec<u8>, Vec<u8>),
    TreeEnd,
}

struct HashingReader<R: Read> {
    inner: BufReader<R>,
    hash: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn take(&mut self, n: usize, what: &str) -> Result<Vec<u8>, BackupError> {
        let mut buf = Vec::new();
        (&mut self.inner).take(n as u64).read_to_end(&mut buf)?;
        if buf.len() != n {
            return Err(BackupError::Truncated(format!("ends inside {what}")));
        }
        self.hash.update(&buf);
        Ok(buf)
    }

    fn u32(&mut self, what: &str) -> Result<u32, BackupError> {
        Ok(u32::from_be_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &str) -> Result<u64, BackupError> {
        Ok(u64::from_be_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }

    fn sized(&mut self, max: usize, what: &str) -> Result<Vec<u8>, BackupError> {
        let n = self.u32(what)? as usize;
        if n > max {
            return Err(BackupError::Corrupt(format!("{what} of {n} bytes (at most {max})")));
        }
        self.take(n, what)
    }
}

/// Checks a whole backup — framing, counts, checksum — without writing anything.
pub fn check_backup(input: impl Read) -> Result<BackupSummary, BackupError> {
    read_backup(input, |_| Ok(()))
}

/// Reads a backup, handing each frame to `on_frame`, and checks the trailer and
/// checksum at the end.
pub(crate) fn read_backup(
    input: impl Read,
    mut on_frame: impl FnMut(Frame) -> Result<(), BackupError>,
) -> Result<BackupSummary, BackupError> {
    let mut r = HashingReader {
        inner: BufReader::with_capacity(256 * 1024, input),
        hash: Sha256::new(),
    };
    let magic = r
        .take(MAGIC.len(), "the magic bytes")
        .map_err(|_| BackupError::NotABackup)?;
    if magic != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let version = r.u32("the version")?;
    if version != VERSION {
        return Err(BackupError::Version(version));
    }
    let header: BackupHeader = serde_json::from_slice(&r.sized(MAX_HEADER, "the header")?)
        .map_err(|e| BackupError::Corrupt(format!("header: {e}")))?;
    let mut summary = BackupSummary {
        sequence_floor: header.sequence_floor,
        ..BackupSummary::default()
    };
    let mut tree: Option<(String, u64)> = None;
    loop {
        let tag = r.take(1, "a frame tag")?[0];
        match (tag, &mut tree) {
            (b'T', None) => {
                let n = u16::from_be_bytes(r.take(2, "a tree name")?.try_into().expect("2 bytes")) as usize;
                let name = String::from_utf8(r.take(n, "a tree name")?)
                    .map_err(|_| BackupError::Corrupt("tree name is not UTF-8".into()))?;
                if !header.trees.contains(&name) {
                    return Err(BackupError::Corrupt(format!("tree {name} is not in the header")));
                }
                tree = Some((name.clone(), 0));
                on_frame(Frame::Tree(name))?;
            }
            (b'E', Some((_, n))) => {
                let k = r.sized(MAX_KEY, "a key")?;
                let v = r.sized(MAX_VALUE, "a value")?;
                *n += 1;
                on_frame(Frame::Entry(k, v))?;
            }
            (b'Z', Some((name, n))) => {
                let recorded = r.u64("a tree count")?;
                if recorded != *n {
                    return Err(BackupError::Corrupt(format!(
                        "tree {name}: {n} entries read, {recorded} recorded"
                    )));
                }
                summary.trees.push((name.clone(), *n));
                summary.entries += *n;
                tree = None;
                on_frame(Frame::TreeEnd)?;
            }
            (b'X', None) => {
                let recorded = r.u64("the entry total")?;
                let found: [u8; 32] = r.hash.clone().finalize().into();
                let mut digest = [0u8; 32];
                r.inner
                    .read_exact(&mut digest)
                    .map_err(|_| BackupError::Truncated("ends inside the checksum".into()))?;
                if digest != found {
                    return Err(BackupError::Checksum {
                        found: hex::encode(found),
                        recorded: hex::encode(digest),
                    });
                }
                if recorded != summary.entries {
                    return Err(BackupError::Corrupt(format!(
                        "{} entries read, {recorded} recorded",
                        summary.entries
                    )));
                }
                if r.inner.read(&mut [0u8; 1])? != 0 {
                    return Err(BackupError::Corrupt("bytes after the end".into()));
                }
                let missing: Vec<&String> = header
                    .trees
                    .iter()
                    .filter(|t| !summary.trees.iter().any(|(n, _)| n == *t))
                    .collect();
                if !missing.is_empty() {
                    return Err(BackupError::Corrupt(format!("trees missing: {missing:?}")));
                }
                summary.sha256 = hex::encode(digest);
                return Ok(summary);
            }
            (t, _) => {
                return Err(BackupError::Corrupt(format!("unexpected frame tag 0x{t:02x}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::SignedRecord;
    use crate::store::conformance::{all_entries, all_identifiers};
    use crate::store::{IndexName, NewRecord, Store};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn record(n: u64) -> NewRecord {
        let id = format!("id-{n:06}");
        NewRecord {
            identifier: id.clone(),
            type_code: "T".into(),
            licence_number: format!("N-{n}"),
            holder_code_type: "111".into(),
            holder_code: format!("H{n}"),
            issuer_code: "I".into(),
            issue_date: "2026-11-28".into(),
            record: SignedRecord {
                bytes: id.into_bytes(),
                signature: [0; 64],
                key_id: "k".into(),
            },
            first_event: None,
            import_key: Some(format!("row-{n}")),
        }
    }

    /// Writers insert records (each touching six trees in one transaction) while backups
    /// stream; every backup must hold each record together with all of its entries.
    #[test]
    fn backups_taken_under_concurrent_writes_hold_whole_transactions() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(&tmp.path().join("live")).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let (store, stop) = (store.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = w;
                    // Bounded, so that the test's size is too.
                    while !stop.load(Ordering::Relaxed) && n < 30_000 {
                        store.insert(record(n), None).wait().unwrap();
                        n += 2;
                    }
                })
            })
            .collect();
        while store.identifiers(None, 200).unwrap().len() < 200 {
            std::thread::yield_now();
        }
        for round in 0..3 {
            let file = tmp.path().join(format!("b{round}"));
            store
                .write_backup(std::fs::File::create(&file).unwrap(), "now")
                .unwrap();
            let target = tmp.path().join(format!("r{round}"));
            let summary = SledStore::restore_backup(&target, &file).unwrap();
            let restored = SledStore::open(&target).unwrap();
            let ids = all_identifiers(&restored);
            let n = ids.len();
            assert!(n >= 200);
            for index in [
                IndexName::Number,
                IndexName::Holder,
                IndexName::Type,
                IndexName::Issuer,
                IndexName::ImportKeys,
            ] {
                let len = all_entries(&restored, index).len();
                assert_eq!(
                    len, n,
                    "round {round}: {index:?} has {len} entries for {n} records ({summary:?})"
                );
            }
            let mut pointed: Vec<String> = all_entries(&restored, IndexName::Number)
                .iter()
                .map(|e| e.identifier().to_string())
                .collect();
            pointed.sort();
            assert_eq!(
                pointed, ids,
                "round {round}: the number index points at exactly the records"
            );
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
    }
}
