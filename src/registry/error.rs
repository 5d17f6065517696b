//! The registry's error: every way an operation can fail, in terms the API maps to
//! status codes.

use crate::licence::Invalid;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Bad input; names the field and the reason.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("licence number {number} is already used for type {type_code}")]
    AlreadyExists { type_code: String, number: String },
    #[error("{0} not found")]
    NotFound(String),
    /// The operation is illegal in the licence's current state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A concurrent change won; the caller may retry.
    #[error("{0}")]
    Aborted(String),
    /// A concurrent call with the same request id was written just before this one:
    /// run the request again to receive that call's result (the API does, once).
    #[error("{0}")]
    InFlight(String),
    /// A stored record or event no longer matches its signature.
    #[error("record {0} failed signature verification")]
    Tampered(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Too many failed attempts; the caller must wait.
    #[error("{0}")]
    Throttled(String),
    /// Stored data failed to decode (not a signature mismatch: that is `Tampered`).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The store could not be read or written.
    #[error("storage I/O: {0}")]
    StorageIo(String),
}

/// The one mapping from storage errors to the service's (and so, through
/// `api::error`, to status codes).
impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NumberTaken { type_code, number, .. } => RegistryError::AlreadyExists { type_code, number },
            StoreError::NotFound(what) => RegistryError::NotFound(what),
            StoreError::Conflict(what) => RegistryError::Aborted(format!("concurrent change to {what}; retry")),
            StoreError::Corrupt(m) => RegistryError::Corrupt(m),
            StoreError::Io(m) => RegistryError::StorageIo(m),
        }
    }
}
