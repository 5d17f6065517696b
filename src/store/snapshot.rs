//! Point-in-time snapshots of a live store without stopping writers for long.
//!
//! Every write holds the [`WriteGate`] shared for the length of its transaction. A
//! snapshot takes the gate exclusively only for an instant — long enough that no
//! transaction is half applied — and opens a [`Cut`]. From then on, every write first
//! notes, per key it is about to write, the value that key had at the cut (first note
//! wins), and only then writes. An exporter walking the live trees afterwards emits the
//! noted value for any key written since the cut, and the live value otherwise, so what
//! it emits is exactly the state at the cut, across all trees, while writers carry on.
//!
//! Why the note kept for a key is its value at the cut: every post-cut write to a key
//! notes it before writing, and a note reads the key, then keeps what it read only if
//! no note for that key is there yet. A read that comes after some post-cut write to
//! the key therefore comes after that write's note, and is dropped; the note that is
//! kept read the key before any post-cut write to it, so it read the value at the cut.
//! (The read happens outside the cut's lock: see `Cut::note`.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use sled::IVec;

/// Values as they were at the cut, per tree id, for the keys written since.
#[derive(Debug)]
pub struct Cut {
    prior: Mutex<Vec<HashMap<Vec<u8>, Option<IVec>>>>,
}

impl Cut {
    fn new(trees: usize) -> Cut {
        Cut {
            prior: Mutex::new(vec![HashMap::new(); trees]),
        }
    }

    /// `None`: the key was not written since the cut (use the live value).
    /// `Some(None)`: it did not exist at the cut. `Some(Some(v))`: its value at the cut.
    pub fn at_cut(&self, tree: usize, key: &[u8]) -> Option<Option<IVec>> {
        self.prior.lock().expect("cut lock")[tree].get(key).cloned()
    }

    fn note<E>(&self, tree_id: usize, key: &[u8], read: impl FnOnce() -> Result<Option<IVec>, E>) -> Result<(), E> {
        if self.prior.lock().expect("cut lock")[tree_id].contains_key(key) {
            return Ok(());
        }
        // Read without holding the cut's lock: a write inside a sled transaction holds
        // sled's global lock and then takes this one, so reading sled under this one
        // (as an audit append's plain `Tree::get` does) would invert the order and
        // deadlock against it.
        let old = read()?;
        self.prior.lock().expect("cut lock")[tree_id]
            .entry(key.to_vec())
            .or_insert(old);
        Ok(())
    }

    /// Keys written since the cut (for reporting).
    pub fn written_since(&self) -> usize {
        self.prior.lock().expect("cut lock").iter().map(HashMap::len).sum()
    }
}

/// The gate writers pass through, and the cut of the snapshot in progress, if any.
#[derive(Debug)]
pub struct WriteGate {
    trees: usize,
    gate: RwLock<()>,
    active: Mutex<Option<Arc<Cut>>>,
    /// One snapshot at a time.
    exclusive: Mutex<()>,
}

/// Held by a write for the length of its transaction.
pub struct WriteTicket<'a> {
    _shared: RwLockReadGuard<'a, ()>,
    cut: Option<Arc<Cut>>,
}

impl WriteTicket<'_> {
    /// Call before writing `key` into tree `tree_id`; `read` gives the key's current
    /// value. Inside a sled transaction it must read through the transaction: sled holds
    /// its global write lock while the closure runs, so a plain `Tree::get` deadlocks.
    pub fn note<E>(&self, tree_id: usize, key: &[u8], read: impl FnOnce() -> Result<Option<IVec>, E>) -> Result<(), E> {
        match &self.cut {
            Some(cut) => cut.note(tree_id, key, read),
            None => Ok(()),
        }
    }
}

/// An open snapshot; closing (dropping) it stops the noting.
pub struct Snapshot<'a> {
    gate: &'a WriteGate,
    pub cut: Arc<Cut>,
    _one: std::sync::MutexGuard<'a, ()>,
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        *self.gate.active.lock().expect("snapshot lock") = None;
    }
}

impl WriteGate {
    pub fn new(trees: usize) -> WriteGate {
        WriteGate {
            trees,
            gate: RwLock::new(()),
            active: Mutex::new(None),
            exclusive: Mutex::new(()),
        }
    }

    pub fn enter(&self) -> WriteTicket<'_> {
        let shared = self.gate.read().expect("write gate");
        let cut = self.active.lock().expect("snapshot lock").clone();
        WriteTicket { _shared: shared, cut }
    }

    /// Opens a snapshot: waits for the transactions in flight, then cuts. `at_cut` runs
    /// while no write can start (to read counters that belong to the same instant).
    pub fn snapshot<T>(&self, at_cut: impl FnOnce() -> T) -> (Snapshot<'_>, T) {
        let one = self.exclusive.lock().expect("snapshot exclusive");
        let _all = self.gate.write().expect("write gate");
        let cut = Arc::new(Cut::new(self.trees));
        *self.active.lock().expect("snapshot lock") = Some(cut.clone());
        let extra = at_cut();
        (
            Snapshot {
                gate: self,
                cut,
                _one: one,
            },
            extra,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_sees_the_state_at_the_cut() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert(b"a", b"1").unwrap();
        tree.insert(b"b", b"1").unwrap();
        let gate = WriteGate::new(1);
        let (snap, ()) = gate.snapshot(|| ());
        for (k, v) in [(&b"b"[..], &b"2"[..]), (b"c", b"2"), (b"b", b"3")] {
            let w = gate.enter();
            w.note(0, k, || tree.get(k)).unwrap();
            tree.insert(k, v).unwrap();
        }
        let seen: Vec<(Vec<u8>, Vec<u8>)> = tree
            .iter()
            .filter_map(|kv| {
                let (k, v) = kv.unwrap();
                match snap.cut.at_cut(0, &k) {
                    None => Some((k.to_vec(), v.to_vec())),
                    Some(prior) => prior.map(|p| (k.to_vec(), p.to_vec())),
                }
            })
            .collect();
        assert_eq!(
            seen,
            vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"1".to_vec())]
        );
        drop(snap);
        let w = gate.enter();
        assert!(w.cut.is_none(), "closing the snapshot stops the noting");
    }
}
