//! The one mapping from errors to gRPC statuses. Every variant is matched explicitly;
//! internal causes are logged and a safe message is returned.

use tonic::{Code, Status};

use crate::licence::Invalid;
use crate::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A bounded resource is in use; the caller may retry later.
    #[error("{0}")]
    Busy(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        match e {
            ApiError::Unauthenticated(m) => Status::unauthenticated(m),
            ApiError::Invalid(i) => Status::invalid_argument(i.to_string()),
            ApiError::Busy(m) => Status::resource_exhausted(m),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Status::internal("internal error")
            }
            ApiError::Registry(r) => match r {
                RegistryError::Invalid(i) => Status::invalid_argument(i.to_string()),
                RegistryError::PermissionDenied(m) => Status::permission_denied(m),
                e @ RegistryError::AlreadyExists { .. } => Status::already_exists(e.to_string()),
                RegistryError::NotFound(m) => Status::not_found(format!("{m} not found")),
                RegistryError::FailedPrecondition(m) => Status::failed_precondition(m),
                RegistryError::Aborted(m) | RegistryError::InFlight(m) => Status::aborted(m),
                e @ RegistryError::Tampered(_) => {
                    tracing::error!(error = %e, "tampered record");
                    Status::new(Code::DataLoss, e.to_string())
                }
                RegistryError::Unavailable(m) => {
                    tracing::warn!(error = %m, "unavailable");
                    Status::unavailable(m)
                }
                RegistryError::Throttled(m) => Status::resource_exhausted(m),
                RegistryError::Corrupt(m) => {
                    tracing::error!(error = %m, "store corruption");
                    Status::new(Code::DataLoss, "stored data is corrupt")
                }
                RegistryError::StorageIo(m) => {
                    tracing::error!(error = %m, "storage I/O error");
                    Status::unavailable("storage unavailable")
                }
            },
        }
    }
}
