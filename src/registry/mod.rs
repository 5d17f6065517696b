//! The repository's operations — issue, read, verify, lifecycle, catalogue — over the
//! store, the key ring and the clock. API handlers and CLI commands call these; this
//! layer owns the rules (permissions, uniqueness, transitions), not the transport.

mod audit;
mod catalog_ops;
mod check;
mod check_log;
mod documents;
mod error;
mod field_check;
mod history;
mod issue;
mod lifecycle;
pub mod log;
mod migrate;
mod page_token;
mod query;
mod read;
mod templates;
mod throttle;
mod verified;
mod verify;

pub use audit::{AccessRecord, AuditPage, AuditQuery};
pub use check::CheckReport;
pub use documents::{CopyOrder, DocumentOrder, RenderedDocument, MAX_COPY_DAYS};
pub use error::RegistryError;
pub use field_check::{FieldCheck, FieldMatch};
pub use issue::IssueResult;
pub(crate) use lifecycle::type_of;
pub use lifecycle::{Amendment, Reissue, Reissued, StatusChange, StatusChanged};
pub use migrate::{created_digest, ImportReceipt, Importer, RegistrySink, OPERATOR_ACTOR};
pub use query::{Query, QueryPage, Selector};
pub use read::LicenceView;
pub use templates::{Layout, BUILT_IN, MAX_TEMPLATE_BYTES};
pub use verify::{CopyCheck, Presented, Verification};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::catalog::{Department, LicenceType};
use crate::clock::Clock;
use crate::licence::record::rfc3339;
use crate::licence::signing::{self, KeyRing};
use crate::licence::status::SignedEvent;
use crate::licence::status::{EventKind, StatusEvent, EVENT_SCHEMA};
use crate::store::{Pending, Store};

pub type Result<T> = std::result::Result<T, RegistryError>;

/// Who performs an operation: a department, or the repository itself (migration).
#[derive(Debug, Clone)]
pub struct Actor {
    pub code: String,
    pub name: String,
}

impl From<&Department> for Actor {
    fn from(d: &Department) -> Actor {
        Actor {
            code: d.code.clone(),
            name: d.name.clone(),
        }
    }
}

/// The service layer: every operation of the repository, synchronous, over separate
/// parts — the store (every durable write goes through its single writer, the access
/// audit log included), the signing keys with what is derived from them, the catalogue
/// and the templates held in memory, the verification throttle, and the clock. The API
/// and the CLI call it; it knows no transport.
pub struct Registry {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    // Keys: the ring, signatures already verified, and the page-token secret.
    keys: Arc<KeyRing>,
    verified: verified::VerifiedSet,
    page_tokens: page_token::PageTokens,
    catalogue: catalog_ops::Catalogue,
    templates: templates::Templates,
    /// The store's `changes` number the catalogue and templates were loaded at; one
    /// thread at a time reloads them when it moved (another process changed them).
    loaded: std::sync::atomic::AtomicU64,
    reloading: std::sync::Mutex<()>,
    /// Failed verification codes per identifier.
    throttle: throttle::Throttle,
    /// Public verification calls per client address, one bucket for every transport.
    client_limiter: std::sync::OnceLock<crate::limits::RateLimiter>,
    /// The latest checkpoint, opened, and when it was read (see `log::Registry::evidence`).
    checkpoint_cache: std::sync::Mutex<Option<(std::time::Instant, log::SignedCheckpoint)>>,
}

impl Registry {
    /// Opens the registry. When the store has no catalogue yet, `seed` is written to it.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        seed: Vec<LicenceType>,
    ) -> Result<Registry> {
        // Read before loading: a change made while loading is then seen as one.
        let loaded = store.changes();
        let catalogue = catalog_ops::Catalogue::load(store.as_ref(), seed)?;
        let templates = templates::Templates::load(store.as_ref())?;
        let keys_secret = keys.derive_secret(page_token::SECRET_LABEL);
        Ok(Registry {
            catalogue,
            templates,
            loaded: loaded.into(),
            reloading: Default::default(),
            store,
            keys,
            clock,
            verified: verified::VerifiedSet::new(500_000),
            throttle: throttle::Throttle::default(),
            client_limiter: std::sync::OnceLock::new(),
            checkpoint_cache: Default::default(),
            page_tokens: page_token::PageTokens::new(keys_secret),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn licence_type(&self, code: &str) -> Option<LicenceType> {
        self.fresh();
        self.catalogue.get(code)
    }

    /// Reloads the catalogue and templates if another process sharing the store changed
    /// them since they were loaded (a database shared by several processes; an embedded
    /// store never moves). A failed reload keeps what is held and is tried again on the
    /// next call.
    fn fresh(&self) {
        use std::sync::atomic::Ordering;
        if self.store.changes() == self.loaded.load(Ordering::Acquire) {
            return;
        }
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.store.changes();
        if now == self.loaded.load(Ordering::Acquire) {
            return;
        }
        let reloaded = self
            .catalogue
            .reload(self.store.as_ref())
            .and_then(|()| self.templates.reload(self.store.as_ref()));
        match reloaded {
            Ok(()) => {
                self.loaded.store(now, Ordering::Release);
                tracing::info!(
                    generation = now,
                    "catalogue and templates reloaded: changed by another process"
                );
            }
            Err(e) => tracing::warn!(error = %e, "reloading the catalogue and templates failed; keeping the ones held"),
        }
    }

    /// Blocks until everything written so far is durable (a replayed request's first
    /// answer may still be on its way to disk).
    fn synced(&self) -> Result<()> {
        Ok(self.store.sync().wait()?)
    }

    /// Builds and signs an event with the active key.
    #[allow(clippy::too_many_arguments)]
    fn sign_event(
        &self,
        identifier: &str,
        seq: u32,
        kind: EventKind,
        actor: &Actor,
        reason: &str,
        related: Option<String>,
        prev_digest: [u8; 32],
    ) -> SignedEvent {
        let event = StatusEvent {
            schema: EVENT_SCHEMA.to_string(),
            identifier: identifier.to_string(),
            seq,
            kind,
            actor: actor.code.clone(),
            actor_name: actor.name.clone(),
            at: rfc3339(self.clock.now()),
            reason: reason.to_string(),
            related,
            prev_digest: hex::encode(prev_digest),
            key_id: self.keys.active_key_id().to_string(),
        };
        let bytes = event.canonical_bytes();
        let signature = self.keys.sign(&bytes);
        SignedEvent {
            seq,
            bytes,
            signature,
            key_id: self.keys.active_key_id().to_string(),
        }
    }
}

/// A write queued to the store's writer, with what its answer becomes. Await it on the
/// async executor, or [`Committing::wait`] off it. Everything before the queueing
/// (checks, signing) is done by the time a registry method returns one.
#[must_use = "a write is only known to have succeeded once it is awaited"]
pub struct Committing<T>(Inner<T>);

enum Inner<T> {
    Ready(Option<Result<T>>),
    Queued(Box<dyn Resolve<T>>),
}

trait Resolve<T>: Send {
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Result<T>>;
    fn wait_answer(self: Box<Self>) -> Result<T>;
}

struct Then<S, F> {
    pending: Pending<S>,
    then: Option<F>,
}

impl<S: Send, T, F: FnOnce(S) -> Result<T> + Send> Resolve<T> for Then<S, F> {
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Result<T>> {
        Pin::new(&mut self.pending).poll(cx).map(|r| {
            let then = self.then.take().expect("a write's answer is read once");
            then(r?)
        })
    }

    fn wait_answer(self: Box<Self>) -> Result<T> {
        let answer = self.pending.wait()?;
        (self.then.expect("a write's answer is read once"))(answer)
    }
}

impl<T: 'static> Committing<T> {
    /// The answer to `pending`, turned into the caller's result by `then` (which must not
    /// block: it runs where the answer is read).
    fn then<S: Send + 'static>(
        pending: Pending<S>,
        then: impl FnOnce(S) -> Result<T> + Send + 'static,
    ) -> Committing<T> {
        Committing(Inner::Queued(Box::new(Then {
            pending,
            then: Some(then),
        })))
    }

    /// A result known without waiting (a replayed request).
    fn ready(r: Result<T>) -> Committing<T> {
        Committing(Inner::Ready(Some(r)))
    }

    /// Blocks until the write is answered (CLI commands, the blocking pool).
    pub fn wait(self) -> Result<T> {
        match self.0 {
            Inner::Ready(r) => r.expect("a write's answer is read once"),
            Inner::Queued(q) => q.wait_answer(),
        }
    }
}

// Nothing inside is ever pinned: the answer is moved out by value.
impl<T> Unpin for Committing<T> {}

impl<T> Future for Committing<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match &mut self.get_mut().0 {
            Inner::Ready(r) => Poll::Ready(r.take().expect("a write's answer is read once")),
            Inner::Queued(q) => q.poll_answer(cx),
        }
    }
}

/// Digest of signed bytes, as events chain them.
pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
    signing::digest(bytes)
}

impl Registry {
    /// The per-client limit of public verification: made with the first caller's `rate`
    /// and `burst` (every transport of one server passes the same), then shared, so a
    /// client's calls over gRPC and HTTP take from one bucket.
    pub fn client_limiter(&self, rate: u32, burst: u32) -> &crate::limits::RateLimiter {
        self.client_limiter
            .get_or_init(|| crate::limits::RateLimiter::new(rate, burst))
    }
}
