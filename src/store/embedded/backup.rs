//! Backup and restore of the fjall store in the engine-neutral backup format of
//! `store::backup` (a sled store's backup restores here, which is how `elicence store
//! migrate --from-sled` converts a data directory). A backup reads one fjall snapshot:
//! every keyspace as of one instant, while writers go on.

use std::io::Write;
use std::path::Path;

use fjall::Readable;

use super::{FjallStore, KEYSPACES, META, SEQUENCE_CEILING};
use crate::store::backup::{
    backup_tree_names, check_backup, read_backup, BackupError, BackupSummary, BackupWriter, Frame,
};
use crate::store::Store;

/// Entries per write batch while restoring.
const RESTORE_BATCH: usize = 10_000;

impl FjallStore {
    /// Streams a point-in-time backup of every keyspace to `out`; writers do not pause.
    pub fn write_backup(&self, out: impl Write, created_at: &str) -> Result<BackupSummary, BackupError> {
        // The floor first: every serial handed out before the snapshot lies below it.
        let floor = {
            let s = self.sequence.lock().unwrap_or_else(|p| p.into_inner());
            s.1.max(s.0)
        };
        let snapshot = self.db.snapshot();
        let mut w = BackupWriter::start(out, created_at, floor)?;
        for name in backup_tree_names() {
            let ks = &self.ks[keyspace_of(&name)?];
            let entries = snapshot
                .iter(ks)
                .map(|g| g.into_inner().map_err(|e| BackupError::Store(e.into())));
            w.tree(&name, entries)?;
        }
        w.finish()
    }

    /// Rebuilds a store in `dir` (absent or empty) from a backup, of this engine or the
    /// sled one. The file is checked end to end first; nothing is written from a file
    /// that fails the check.
    pub fn restore_backup(dir: &Path, file: &Path) -> Result<BackupSummary, BackupError> {
        check_backup(std::fs::File::open(file)?)?;
        if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
            return Err(BackupError::TargetNotEmpty(dir.display().to_string()));
        }
        let store = FjallStore::open(dir)?;
        let mut current: Option<usize> = None;
        let mut batch = store.db.batch();
        let rebuilt = read_backup(std::fs::File::open(file)?, |frame| {
            match frame {
                Frame::Tree(name) => current = Some(keyspace_of(&name)?),
                Frame::Entry(k, v) => {
                    let ks = current.ok_or_else(|| BackupError::Corrupt("entry outside a tree".into()))?;
                    batch.insert(&store.ks[ks], k, v);
                    if batch.len() >= RESTORE_BATCH {
                        let full = std::mem::replace(&mut batch, store.db.batch());
                        full.commit().map_err(|e| BackupError::Store(e.into()))?;
                    }
                }
                Frame::TreeEnd => current = None,
            }
            Ok(())
        })?;
        batch.commit().map_err(|e| BackupError::Store(e.into()))?;
        // Serials come from this counter: continue above everything issued before.
        store.ks[META]
            .insert(SEQUENCE_CEILING, rebuilt.sequence_floor.to_be_bytes())
            .map_err(|e| BackupError::Store(e.into()))?;
        store.flush()?;
        Ok(rebuilt)
    }
}

fn keyspace_of(name: &str) -> Result<usize, BackupError> {
    KEYSPACES
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| BackupError::Corrupt(format!("unknown tree {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::test_seal;
    use crate::licence::status::SignedEvent;
    use crate::licence::SignedRecord;
    use crate::store::conformance::{all_entries, all_identifiers};
    use crate::store::{IndexName, NewRecord, SledStore};
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
            first_event: Some(SignedEvent {
                seq: 0,
                bytes: b"{}".to_vec(),
                signature: [1; 64],
                key_id: "k".into(),
            }),
            import_key: Some(format!("row-{n}")),
        }
    }

    /// A sled data directory converts through a backup: every entry arrives, and serials
    /// continue above those the sled store handed out.
    #[test]
    fn a_sled_backup_restores_into_fjall_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let sled = SledStore::open_with_cache(&tmp.path().join("sled"), 1 << 20).unwrap();
        for n in 0..500 {
            sled.insert(record(n), None).wait().unwrap();
        }
        for _ in 0..20 {
            sled.append_audit(test_seal("backup")).wait().unwrap();
        }
        let last_serial = sled.next_sequence().unwrap();
        let file = tmp.path().join("b.backup");
        let written = sled
            .write_backup(std::fs::File::create(&file).unwrap(), "2026-12-04T00:00:00Z")
            .unwrap();
        let target = tmp.path().join("fjall");
        let restored = FjallStore::restore_backup(&target, &file).unwrap();
        assert_eq!(restored.entries, written.entries);
        let store = FjallStore::open(&target).unwrap();
        assert_eq!(all_identifiers(&store), all_identifiers(&sled));
        for index in IndexName::ALL {
            let (a, b) = (all_entries(&store, index), all_entries(&sled, index));
            assert_eq!(a, b, "{index:?}");
            assert_eq!(a.len(), if index == IndexName::Requests { 0 } else { 500 }, "{index:?}");
        }
        assert_eq!(store.last_audit().unwrap().unwrap().seq, 19);
        assert_eq!(store.get("id-000007").unwrap(), sled.get("id-000007").unwrap());
        assert!(store.next_sequence().unwrap() > last_serial);
        // A backup of the fjall store checks and carries the same entries.
        let again = store.write_backup(Vec::new(), "2026-12-04T00:00:00Z").unwrap();
        assert_eq!(again.entries, written.entries);
    }

    /// Writers insert records (each touching six keyspaces in one batch) while backups
    /// stream; every backup must hold each record together with all of its entries.
    #[test]
    fn backups_taken_under_concurrent_writes_hold_whole_batches() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(FjallStore::open(&tmp.path().join("live")).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let (store, stop) = (store.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = w;
                    while !stop.load(Ordering::Relaxed) && n < 20_000 {
                        store.insert(record(n), None).wait().unwrap();
                        n += 2;
                    }
                })
            })
            .collect();
        for i in 0..3 {
            std::thread::sleep(std::time::Duration::from_millis(30));
            let file = tmp.path().join(format!("b{i}"));
            store
                .write_backup(std::fs::File::create(&file).unwrap(), "2026-12-04T00:00:00Z")
                .unwrap();
            let target = tmp.path().join(format!("r{i}"));
            FjallStore::restore_backup(&target, &file).unwrap();
            let restored = FjallStore::open(&target).unwrap();
            let ids = all_identifiers(&restored);
            for index in IndexName::ALL {
                if index != IndexName::Requests {
                    let entries = all_entries(&restored, index).len();
                    assert_eq!(entries, ids.len(), "backup {i} split a batch ({index:?})");
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
    }
}
