//! The gRPC services: authentication, request validation, proto ↔ domain conversion and
//! the one error → status mapping. The only module that knows tonic or generated types.

mod admission;
mod audit;
mod audit_api;
mod auth;
mod catalog_api;
mod convert;
mod convert_lifecycle;
mod document_api;
mod error;
mod licence_api;
mod lifecycle_api;
mod migration_api;
mod query_api;
pub mod server;
mod template_api;
mod transparency_api;
mod verification_api;

pub use crate::limits::RateLimiter;
pub use admission::{MetricsLayer, ShedLayer};
pub use audit::code_name;
pub use audit_api::AuditApi;
pub use auth::DirectoryHandle;
pub use catalog_api::CatalogApi;
pub use document_api::{DocumentApi, CHUNK_BYTES};
pub use error::ApiError;
pub use licence_api::LicenceApi;
pub use migration_api::MigrationApi;
pub use template_api::TemplateApi;
pub use transparency_api::TransparencyApi;
pub use verification_api::VerificationApi;

/// Generated protobuf and gRPC code for `elicence.v1`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("elicence.v1");

    /// Encoded descriptor set of every `elicence.v1` file, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/elicence_descriptor.bin"));
}

use std::sync::Arc;

use crate::registry::{Committing, Registry};
use crate::render::Renderer;

/// What every service shares.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub directory: DirectoryHandle,
    /// The parsed CJK font, shared by every render.
    pub renderer: Renderer,
}

/// Runs blocking or CPU-heavy work off the async executor.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || crate::store::on_blocking_pool(f))
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
}

/// Runs a registry write: its checks and signing on the blocking pool (in parallel with
/// other calls'), then awaits the store's answer on the executor, so that the writes
/// queued meanwhile share one commit and one flush. When a concurrent call with the same
/// request id was written first, the request runs once more and so receives that call's
/// result, as a sequential retry would.
pub(crate) async fn write<T, F>(registry: &Arc<Registry>, f: F) -> Result<T, ApiError>
where
    F: Fn(&Registry) -> crate::registry::Result<Committing<T>> + Send + Sync + 'static,
    T: Send + 'static,
{
    let f = Arc::new(f);
    let run = |f: Arc<F>| {
        let registry = registry.clone();
        async move {
            let committing = blocking(move || Ok(f(&registry)?)).await?;
            Ok::<_, ApiError>(committing.await)
        }
    };
    match run(f.clone()).await? {
        Err(crate::registry::RegistryError::InFlight(_)) => Ok(run(f).await??),
        r => Ok(r?),
    }
}
