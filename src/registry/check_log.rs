//! The transparency log's part of the consistency check:
//! 1. every leaf logs an entry the store holds, exactly as stored, at the position the
//!    leaf index names — a deleted licence, event or audit entry whose leaf remains is
//!    found here, by its position;
//! 2. every record, event and audit entry has its leaf (checked during the walk of the
//!    records and of the audit log; a database's leaves are positioned moments after
//!    their commit, so a missing one is looked up again before it is reported);
//! 3. the tree agrees with the store's own latest checkpoint, and with an expected
//!    checkpoint kept outside it (`elicence check --expect-checkpoint`): a log cut short
//!    is reported at its first missing position; a rewritten one between the last of the
//!    store's own signed checkpoints it still matches and the first it does not; one that
//!    agrees with everything it signed but not with the expected checkpoint as a fork.

use super::check::CheckReport;
use super::{Registry, Result};
use crate::store::LogHashes;
use crate::tlog::{tree, Checkpoint, Leaf, LeafKey};

/// Leaves read per page.
const PAGE: usize = 1024;
/// Entries without a leaf remembered for the second look at most.
const MAX_UNLOGGED: usize = 1000;

/// Entries found without a leaf during the walk, to be looked up again at the end.
#[derive(Debug, Default)]
pub(super) struct Unlogged {
    keys: Vec<LeafKey>,
    more: u64,
}

impl Unlogged {
    pub fn note(&mut self, key: LeafKey) {
        if self.keys.len() < MAX_UNLOGGED {
            self.keys.push(key);
        } else {
            self.more += 1;
        }
    }
}

fn describe(key: &LeafKey) -> String {
    match key {
        LeafKey::Record(id) => format!("record {id}"),
        LeafKey::Event(id, seq) => format!("event {seq} of {id}"),
        LeafKey::Audit(seq) => format!("audit entry {seq}"),
    }
}

impl Registry {
    /// Whether the stored entry `key` has its leaf; remembered for a second look if not.
    pub(super) fn expect_leaf(&self, unlogged: &mut Unlogged, key: LeafKey) -> Result<()> {
        if self.store.log_position(&key)?.is_none() {
            unlogged.note(key);
        }
        Ok(())
    }

    /// Steps 1 and 3, and the second look of step 2.
    pub(super) fn check_log(
        &self,
        report: &mut CheckReport,
        unlogged: Unlogged,
        expected: Option<&[u8]>,
    ) -> Result<()> {
        // A database positions leaves within moments of their commit: look again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut missing = unlogged.keys;
        loop {
            let mut still = Vec::new();
            for k in missing {
                if self.store.log_position(&k)?.is_none() {
                    still.push(k);
                }
            }
            missing = still;
            if missing.is_empty() || std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        for k in &missing {
            report.problem(format!("log: {} has no leaf in the transparency log", describe(k)));
        }
        if unlogged.more > 0 {
            report.problem(format!("log: {} more entries have no leaf", unlogged.more));
        }

        let size = self.store.log_size()?;
        report.log_leaves = size;
        let mut n = 0u64;
        while n < size {
            let page = self.store.log_entries(n, PAGE)?;
            if page.is_empty() {
                report.problem(format!("log: leaf {n} is missing (the log should have {size})"));
                break;
            }
            for entry in page {
                self.check_leaf(report, n, &entry)?;
                n += 1;
            }
        }

        let hashes = LogHashes(self.store.as_ref());
        let keys = self.keys.public_keys();
        if let Some((at, note)) = self.store.latest_checkpoint()? {
            match Checkpoint::open(&note, &keys, None) {
                Err(e) => report.problem(format!("log: the store's latest checkpoint (size {at}): {e}")),
                Ok(c) => self.compare(report, &c, size, &hashes, "the store's latest checkpoint", true)?,
            }
        }
        if let Some(note) = expected {
            match Checkpoint::open(note, &keys, None) {
                Err(e) => report.problem(format!("log: the expected checkpoint: {e}")),
                Ok(c) => self.compare(report, &c, size, &hashes, "the expected checkpoint", false)?,
            }
        }
        Ok(())
    }

    fn check_leaf(&self, report: &mut CheckReport, n: u64, entry: &[u8]) -> Result<()> {
        let leaf = match Leaf::parse(entry) {
            Ok(l) => l,
            Err(e) => {
                report.problem(format!("log: leaf {n}: {e}"));
                return Ok(());
            }
        };
        let stored = match &leaf.key {
            LeafKey::Record(id) => self.store.get(id)?.map(|r| Leaf::record(id, &r)),
            LeafKey::Event(id, seq) => self
                .store
                .events(id)?
                .iter()
                .find(|e| e.seq == *seq)
                .map(|e| Leaf::event(id, e)),
            LeafKey::Audit(seq) => self
                .store
                .audit_range(*seq, 1)?
                .into_iter()
                .find(|a| a.seq == *seq)
                .map(|a| Leaf::audit(&a)),
        };
        match stored {
            None => report.problem(format!(
                "log: leaf {n} logs {}, which the store does not hold (deleted?)",
                describe(&leaf.key)
            )),
            Some(s) if s != leaf => report.problem(format!(
                "log: leaf {n} logs {} with other bytes than the store holds (changed?)",
                describe(&leaf.key)
            )),
            Some(_) => {}
        }
        if let Some(at) = self.store.log_position(&leaf.key)? {
            if at != n {
                report.problem(format!(
                    "log: {} is indexed at leaf {at}, but leaf {n} logs it",
                    describe(&leaf.key)
                ));
            }
        }
        Ok(())
    }

    /// Whether the log extends checkpoint `c`; if not, where it stops or starts to differ.
    fn compare(
        &self,
        report: &mut CheckReport,
        c: &Checkpoint,
        size: u64,
        hashes: &LogHashes<'_>,
        what: &str,
        own: bool,
    ) -> Result<()> {
        if c.size > size {
            report.problem(format!(
                "log: cut short: {what} covers {} leaves, the log has {size}; the first missing position is {size}",
                c.size
            ));
            return Ok(());
        }
        if tree::root(c.size, hashes)? == c.root {
            return Ok(());
        }
        // Roots of prefixes that still match stop at the first changed leaf: find the
        // largest of the store's signed checkpoints the log still matches.
        let (mut good, mut bad) = (0u64, c.size);
        let keys = self.keys.public_keys();
        let matches = |note: &[u8]| {
            Checkpoint::open(note, &keys, Some(&c.origin))
                .is_ok_and(|k| k.size <= size && tree::root(k.size, hashes).is_ok_and(|r| r == k.root))
        };
        // Binary search over the sizes of kept checkpoints in [lo, hi).
        let (mut lo, mut hi) = (1u64, c.size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.store.checkpoints(mid, 1)?.pop() {
                Some((at, note)) if at < hi => {
                    if matches(&note) {
                        good = at;
                        lo = at + 1;
                    } else {
                        bad = bad.min(at);
                        hi = at;
                    }
                }
                // No checkpoint in [mid, hi): look left of it.
                _ => hi = mid,
            }
        }
        if bad < c.size || own {
            // The store's own signed checkpoints disagree with its tree from `bad` on:
            // leaves were changed after they were signed.
            report.problem(format!(
                "log: rewritten: the log's first {} leaves do not hash to the root of {what}; it matches the \
                 store's signed checkpoints up to {good} leaves, so the first changed position is in {good}..{bad}",
                c.size
            ));
        } else {
            // The store agrees with everything it signed, but not with the checkpoint
            // kept outside: it holds another history (a fork, or another log).
            report.problem(format!(
                "log: forked: the log is another history than {what} of {} leaves (its own signed checkpoints \
                 agree with it up to {good} leaves); the two histories part before leaf {}",
                c.size, c.size
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::audit::test_seal;
    use crate::clock::FixedClock;
    use crate::licence::signing::KeyRing;
    use crate::store::{FjallStore, Store};

    /// A registry on a new store holding audit entries of `methods`, with checkpoints
    /// signed after each of `checkpoint_after` entries.
    fn registry(dir: &Path, methods: &[&'static str], checkpoint_after: &[usize]) -> Registry {
        let store: Arc<dyn Store> = Arc::new(FjallStore::open(dir).unwrap());
        let keys = Arc::new(KeyRing::single(SigningKey::from_bytes(&[5; 32])));
        let clock = Arc::new(FixedClock::new(time::macros::datetime!(2026-12-05 00:00 UTC)));
        let r = Registry::new(store, keys, clock, Vec::new()).unwrap();
        for (i, m) in methods.iter().enumerate() {
            r.store().append_audit(test_seal(m)).wait().unwrap();
            r.store().sync().wait().unwrap();
            if checkpoint_after.contains(&(i + 1)) {
                r.make_checkpoint("test/log").unwrap();
            }
        }
        r
    }

    fn log_problems(r: &CheckReport) -> Vec<String> {
        r.problems.iter().filter(|p| p.starts_with("log:")).cloned().collect()
    }

    #[test]
    fn an_expected_checkpoint_catches_a_cut_and_a_fork() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let full = registry(dirs[0].path(), &["a", "b", "c", "d", "e"], &[5]);
        let (size, note) = full.store().latest_checkpoint().unwrap().unwrap();
        assert_eq!(size, 5);
        // The log that made it extends it.
        assert_eq!(
            log_problems(&full.check_against(Some(&note)).unwrap()),
            Vec::<String>::new()
        );

        // A copy holding the first three entries (an old backup): cut short at 3.
        let cut = registry(dirs[1].path(), &["a", "b", "c"], &[]);
        let problems = log_problems(&cut.check_against(Some(&note)).unwrap());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("cut short") && problems[0].contains("the first missing position is 3"),
            "{problems:?}"
        );

        // Another history from the same start, signed by the same key: a fork (the
        // store agrees with its own checkpoints, not with the one kept outside).
        let forked = registry(dirs[2].path(), &["a", "b", "x", "d", "e"], &[2, 4]);
        let problems = log_problems(&forked.check_against(Some(&note)).unwrap());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("forked: the log is another history"),
            "{problems:?}"
        );
        assert!(problems[0].contains("up to 4 leaves"), "{problems:?}");
    }
}
