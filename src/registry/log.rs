//! The transparency log's operations: signed checkpoints, and the proofs checked against
//! them. Public: the log commits to entries by hashes that reveal nothing of a licence
//! (see `tlog::leaf`), so its checkpoints and proofs are for anyone; the entries
//! themselves are only given out with a licence's own verification (see `verify`).

use std::future::Future;

use super::{Registry, RegistryError, Result};
use crate::licence::Invalid;
use crate::store::LogHashes;
use crate::tlog::tree::{self, TreeError};
use crate::tlog::{Checkpoint, ConsistencyProof, InclusionProof, LeafKey};

/// The latest checkpoint as stored: the signed note and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub note: Vec<u8>,
    pub checkpoint: Checkpoint,
}

/// A leaf of the log, where it is, and its proof against a checkpoint's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEntry {
    pub entry: Vec<u8>,
    pub proof: InclusionProof,
}

/// A licence's leaves with their proofs against the latest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvidence {
    pub checkpoint: SignedCheckpoint,
    pub record: LoggedEntry,
    pub latest_event: Option<LoggedEntry>,
}

/// How long a read checkpoint is reused by verification answers (the checkpointer
/// signs at most one a second).
const CHECKPOINT_REUSE: std::time::Duration = std::time::Duration::from_millis(500);

impl From<TreeError<crate::store::StoreError>> for RegistryError {
    fn from(e: TreeError<crate::store::StoreError>) -> Self {
        match e {
            TreeError::Store(e) => e.into(),
            TreeError::Proof(p) => RegistryError::Invalid(Invalid::new("tree_size", p.to_string())),
            TreeError::Inconsistent(why) => RegistryError::Corrupt(format!("log: {why}")),
        }
    }
}

impl Registry {
    /// The origin checkpoints are signed under: the one the log already has (so a
    /// changed setting cannot split a log's history in two names), else `configured`.
    pub fn log_origin(&self, configured: &str) -> Result<String> {
        match self.store().latest_checkpoint()? {
            Some((_, note)) => Ok(self.open_checkpoint(&note)?.origin),
            None => Ok(configured.to_string()),
        }
    }

    fn open_checkpoint(&self, note: &[u8]) -> Result<Checkpoint> {
        Checkpoint::open(note, &self.keys().public_keys(), None)
            .map_err(|e| RegistryError::Corrupt(format!("stored checkpoint: {e}")))
    }

    /// Signs and keeps a checkpoint of the whole log when it has grown since the latest
    /// one (or has none, and is not empty). Answers the new checkpoint's size, or `None` when there was
    /// nothing new.
    pub fn make_checkpoint(&self, origin: &str) -> Result<Option<u64>> {
        let store = self.store();
        let size = store.log_size()?;
        if size == 0 {
            // An empty log has nothing to commit to.
            return Ok(None);
        }
        let latest = store.latest_checkpoint()?;
        if let Some((at, _)) = &latest {
            if *at >= size {
                return Ok(None);
            }
        }
        let root = tree::root(size, &LogHashes(store.as_ref()))?;
        let note = Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        }
        .sign(self.keys())
        .map_err(|e| RegistryError::Invalid(Invalid::new("log_origin", e.to_string())))?;
        store.put_checkpoint(size, note).wait()?;
        Ok(Some(size))
    }

    /// The latest signed checkpoint.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        match self.store().latest_checkpoint()? {
            Some((_, note)) => Ok(Some(SignedCheckpoint {
                checkpoint: self.open_checkpoint(&note)?,
                note,
            })),
            None => Ok(None),
        }
    }

    /// The kept checkpoint of a tree size, if one was signed at that size.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>> {
        match self.store().checkpoints(size, 1)?.pop() {
            Some((at, note)) if at == size => Ok(Some(SignedCheckpoint {
                checkpoint: self.open_checkpoint(&note)?,
                note,
            })),
            _ => Ok(None),
        }
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (a checkpointed
    /// size: the caller holds that checkpoint).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof> {
        self.check_size("tree_size", size)?;
        Ok(tree::inclusion(size, index, &LogHashes(self.store().as_ref()))?)
    }

    /// The consistency proof from the tree of `old` leaves to the one of `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof> {
        self.check_size("new_size", new)?;
        Ok(tree::consistency(old, new, &LogHashes(self.store().as_ref()))?)
    }

    /// Where an entry's leaf is, its entry text, and its proof in the tree of `size`
    /// leaves; `None` when it has no leaf in that tree (yet).
    pub fn logged(&self, key: &LeafKey, size: u64) -> Result<Option<LoggedEntry>> {
        let Some(index) = self.store().log_position(key)? else {
            return Ok(None);
        };
        if index >= size {
            return Ok(None);
        }
        let entry = self
            .store()
            .log_entries(index, 1)?
            .pop()
            .ok_or_else(|| RegistryError::Corrupt(format!("log: leaf {index} is missing")))?;
        Ok(Some(LoggedEntry {
            proof: self.inclusion_proof(index, size)?,
            entry,
        }))
    }

    /// The latest checkpoint, read at most every [`CHECKPOINT_REUSE`].
    fn recent_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        let now = std::time::Instant::now();
        {
            let cache = self.checkpoint_cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, c)) = cache.as_ref() {
                if now.duration_since(*at) < CHECKPOINT_REUSE {
                    return Ok(Some(c.clone()));
                }
            }
        }
        let latest = self.latest_checkpoint()?;
        if let Some(c) = &latest {
            *self.checkpoint_cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, c.clone()));
        }
        Ok(latest)
    }

    /// The record's and latest event's leaves of `identifier` with proofs against the
    /// latest checkpoint; `None` while the checkpoint does not cover the record yet. A
    /// log that cannot be read is reported and left out: the licence's own answer does
    /// not depend on it.
    pub fn evidence(&self, identifier: &str, latest_event: Option<u32>) -> Option<LogEvidence> {
        let found = (|| -> Result<Option<LogEvidence>> {
            let Some(checkpoint) = self.recent_checkpoint()? else {
                return Ok(None);
            };
            let size = checkpoint.checkpoint.size;
            let Some(record) = self.logged(&LeafKey::Record(identifier.to_string()), size)? else {
                return Ok(None);
            };
            let latest_event = match latest_event {
                Some(seq) => match self.logged(&LeafKey::Event(identifier.to_string(), seq), size)? {
                    Some(e) => Some(e),
                    // The latest status is not covered yet: evidence of an older one
                    // would mislead.
                    None => return Ok(None),
                },
                None => None,
            };
            Ok(Some(LogEvidence {
                checkpoint,
                record,
                latest_event,
            }))
        })();
        found.unwrap_or_else(|e| {
            tracing::error!(error = %e, "transparency log: a licence's evidence could not be read");
            None
        })
    }

    /// The leaf hash of leaf `index` (public: it is in the log's tiles).
    pub fn leaf_hash(&self, index: u64) -> Result<crate::tlog::Hash> {
        let size = self.store().log_size()?;
        if index >= size {
            return Err(RegistryError::Invalid(Invalid::new(
                "leaf_index",
                format!("the log has {size} leaves; leaf {index} is not one of them"),
            )));
        }
        let entry = self
            .store()
            .log_entries(index, 1)?
            .pop()
            .ok_or_else(|| RegistryError::Corrupt(format!("log: leaf {index} is missing")))?;
        Ok(crate::tlog::leaf::leaf_hash(&entry))
    }

    fn check_size(&self, field: &str, size: u64) -> Result<()> {
        let have = self.store().log_size()?;
        if size > have {
            return Err(RegistryError::Invalid(Invalid::new(
                field,
                format!("the log has {have} leaves, fewer than {size}"),
            )));
        }
        Ok(())
    }
}

/// How often the checkpointer looks whether the log grew.
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Signs a checkpoint every [`CHECKPOINT_INTERVAL`] while the log grows, and a last one
/// once `stopped` resolves and `drained` (the servers' end) has been awaited. Failures
/// are logged and retried on the next tick: a checkpoint is a summary of what is stored,
/// never a condition of storing it.
pub async fn run_checkpointer(
    registry: std::sync::Arc<Registry>,
    configured_origin: String,
    stopped: impl Future<Output = ()>,
) {
    let origin = {
        let r = registry.clone();
        let configured = configured_origin.clone();
        match tokio::task::spawn_blocking(move || r.log_origin(&configured)).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "transparency log: reading the latest checkpoint failed");
                configured_origin.clone()
            }
            Err(_) => configured_origin.clone(),
        }
    };
    if origin != configured_origin {
        tracing::warn!(
            origin = %origin,
            configured = %configured_origin,
            "transparency log: the log's checkpoints name another origin than configured; keeping the log's"
        );
    }
    tracing::info!(origin = %origin, "transparency log checkpoints");
    let tick = |registry: std::sync::Arc<Registry>, origin: String| async move {
        let r =
            tokio::task::spawn_blocking(move || crate::store::on_blocking_pool(|| registry.make_checkpoint(&origin)));
        match r.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "transparency log: signing a checkpoint failed"),
            Err(e) => tracing::error!(error = %e, "transparency log: the checkpoint task failed"),
        }
    };
    let mut interval = tokio::time::interval(CHECKPOINT_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = interval.tick() => tick(registry.clone(), origin.clone()).await,
            _ = &mut stopped => break,
        }
    }
    tick(registry, origin).await;
}
