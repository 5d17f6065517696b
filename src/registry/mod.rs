//! The repository's operations — issue, read, verify, lifecycle, catalogue — over the
//! store, the key ring and the clock. API handlers and CLI commands call these; this
//! layer owns the rules (permissions, uniqueness, transitions), not the transport.

mod audit;
mod catalog_ops;
mod check;
mod documents;
mod error;
mod field_check;
mod history;
mod issue;
mod lifecycle;
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::catalog::{Department, LicenceType};
use crate::clock::Clock;
use crate::licence::record::rfc3339;
use crate::licence::signing::{self, KeyRing};
use crate::licence::status::{EventKind, StatusEvent, EVENT_SCHEMA};
use crate::store::{SignedEvent, Store};

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

pub struct Registry {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    types: RwLock<HashMap<String, LicenceType>>,
    verified: verified::VerifiedSet,
    audit: Mutex<audit::AuditHead>,
    /// Current version of every licence template, parsed.
    layouts: RwLock<HashMap<String, Arc<Layout>>>,
    /// Failed verification codes per identifier.
    throttle: throttle::Throttle,
    /// Seals and opens query page tokens.
    page_tokens: page_token::PageTokens,
}

impl Registry {
    /// Opens the registry. When the store has no catalogue yet, `seed` is written to it.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        seed: Vec<LicenceType>,
    ) -> Result<Registry> {
        let mut types = store.list_types()?;
        if types.is_empty() {
            for t in &seed {
                store.put_type(t)?;
            }
            store.flush()?;
            types = seed;
        }
        let types = types.into_iter().map(|t| (t.code.clone(), t)).collect();
        let audit = audit::AuditHead::load(store.as_ref())?;
        let layouts = RwLock::new(templates::load_current(store.as_ref())?);
        let keys_secret = keys.derive_secret(page_token::SECRET_LABEL);
        Ok(Registry {
            layouts,
            audit,
            store,
            keys,
            clock,
            types: RwLock::new(types),
            verified: verified::VerifiedSet::new(500_000),
            throttle: throttle::Throttle::default(),
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
        self.types.read().expect("types lock").get(code).cloned()
    }

    /// Waits until everything written so far is durable (group commit).
    async fn durable(&self) -> Result<()> {
        self.store
            .durable()
            .await
            .map_err(|_| RegistryError::Unavailable("durability worker stopped".into()))??;
        Ok(())
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

/// Digest of signed bytes, as events chain them.
pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
    signing::digest(bytes)
}
