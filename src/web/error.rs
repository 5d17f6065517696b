//! The one mapping from errors to HTTP answers: a status code and a JSON body
//! `{"error": {"code": …, "message": …}}` whose message names the field and the reason.
//! Every registry error is matched explicitly; internal causes are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::licence::Invalid;
use crate::limits::RateLimited;
use crate::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// Too many requests in progress, or one ran past its deadline.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("no such page: {0}")]
    NotFound(String),
    #[error("internal: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    /// The gRPC status name of the same failure, so integrators of both see one code.
    code: &'a str,
    /// The request field at fault, for a bad request.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    message: String,
}

impl WebError {
    /// The HTTP status, the gRPC code name and the message to send.
    pub fn parts(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        match self {
            WebError::Invalid(i) => (S::BAD_REQUEST, "INVALID_ARGUMENT", i.to_string()),
            WebError::RateLimited(r) => (S::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", r.to_string()),
            WebError::Busy(m) => (S::SERVICE_UNAVAILABLE, "UNAVAILABLE", m.clone()),
            WebError::TooLarge(m) => (S::PAYLOAD_TOO_LARGE, "INVALID_ARGUMENT", m.clone()),
            WebError::NotFound(m) => (S::NOT_FOUND, "NOT_FOUND", format!("no such page: {m}")),
            WebError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                (S::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error".into())
            }
            WebError::Registry(r) => match r {
                RegistryError::Invalid(i) => (S::BAD_REQUEST, "INVALID_ARGUMENT", i.to_string()),
                RegistryError::PermissionDenied(m) => (S::FORBIDDEN, "PERMISSION_DENIED", m.clone()),
                e @ RegistryError::AlreadyExists { .. } => (S::CONFLICT, "ALREADY_EXISTS", e.to_string()),
                RegistryError::NotFound(m) => (S::NOT_FOUND, "NOT_FOUND", format!("{m} not found")),
                RegistryError::FailedPrecondition(m) => (S::CONFLICT, "FAILED_PRECONDITION", m.clone()),
                RegistryError::Aborted(m) | RegistryError::InFlight(m) => (S::CONFLICT, "ABORTED", m.clone()),
                e @ RegistryError::Tampered(_) => {
                    tracing::error!(error = %e, "tampered record");
                    (S::INTERNAL_SERVER_ERROR, "DATA_LOSS", e.to_string())
                }
                RegistryError::Unavailable(m) => {
                    tracing::warn!(error = %m, "unavailable");
                    (S::SERVICE_UNAVAILABLE, "UNAVAILABLE", m.clone())
                }
                RegistryError::Throttled(m) => (S::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", m.clone()),
                RegistryError::Corrupt(m) => {
                    tracing::error!(error = %m, "store corruption");
                    (S::INTERNAL_SERVER_ERROR, "DATA_LOSS", "stored data is corrupt".into())
                }
                RegistryError::StorageIo(m) => {
                    tracing::error!(error = %m, "storage I/O error");
                    (S::SERVICE_UNAVAILABLE, "UNAVAILABLE", "storage unavailable".into())
                }
            },
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            WebError::RateLimited(r) => Some(r.retry_after_secs),
            _ => None,
        };
        let field = match &self {
            WebError::Invalid(i) | WebError::Registry(RegistryError::Invalid(i)) => Some(i.field.clone()),
            _ => None,
        };
        let (status, code, message) = self.parts();
        let mut response = (
            status,
            Json(Body {
                error: Detail { code, field, message },
            }),
        )
            .into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
