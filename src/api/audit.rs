//! The access audit at the API edge: every call by an authenticated department —
//! granted or refused — is recorded with its method, use cause, the identifiers it named
//! or returned, and its status code, before the answer leaves the server.
//!
//! Calls that fail authentication are not written to the signed log (anyone on the
//! network could fill it); they are logged in the service log with the peer's address,
//! never the token (see `auth`).

use std::future::Future;

use tonic::{Code, Request, Response, Status};

use super::pb;
use super::{ApiError, AppState};
use crate::audit::ImportRun;
use crate::catalog::Department;
use crate::registry::AccessRecord;

/// What a request tells the audit log: its use cause and the identifiers it names.
pub(crate) trait AuditedRequest {
    fn use_cause(&self) -> &str {
        ""
    }
    fn identifiers(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The identifiers a response discloses (or, for an import, creates).
pub(crate) trait AuditedResponse {
    fn identifiers(&self) -> Vec<String> {
        Vec::new()
    }
    /// What an import created.
    fn import(&self) -> Option<ImportRun> {
        None
    }
}

/// Authenticates, runs `handler`, and records the call. If the entry cannot be written
/// the caller gets UNAVAILABLE instead of the answer: nothing leaves unaudited.
pub(crate) async fn audited<T, R, F, Fut>(
    state: &AppState,
    method: &'static str,
    req: Request<T>,
    handler: F,
) -> Result<Response<R>, Status>
where
    T: AuditedRequest,
    R: AuditedResponse,
    F: FnOnce(Department, T) -> Fut,
    Fut: Future<Output = Result<R, ApiError>>,
{
    // A refusal is logged there, with the peer's address.
    let caller = state.directory.authenticate(method, &req)?;
    let msg = req.into_inner();
    let use_cause = msg.use_cause().trim().to_string();
    let mut identifiers = msg.identifiers();
    let outcome = handler(caller.clone(), msg).await.map_err(Status::from);
    let mut import = None;
    if let Ok(r) = &outcome {
        identifiers.extend(r.identifiers());
        import = r.import();
    }
    identifiers.retain(|i| !i.is_empty());
    let mut seen = std::collections::HashSet::new();
    identifiers.retain(|i| seen.insert(i.clone()));
    let code = match &outcome {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    };
    let record = AccessRecord {
        department: &caller,
        method,
        use_cause: &use_cause,
        identifiers,
        result: code_name(code),
        import,
    };
    if let Err(e) = state.registry.record_access(record).await {
        tracing::error!(error = %e, method, department = %caller.id, "access audit write failed");
        return Err(Status::unavailable("access audit unavailable; call not answered"));
    }
    outcome.map(Response::new)
}

/// The canonical gRPC name of a status code.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

fn one(identifier: &str) -> Vec<String> {
    vec![identifier.trim().to_string()]
}

impl AuditedRequest for pb::IssueLicenceRequest {}
impl AuditedResponse for pb::IssueLicenceResponse {
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}

impl AuditedRequest for pb::GetLicenceRequest {
    fn use_cause(&self) -> &str {
        &self.use_cause
    }
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}
impl AuditedResponse for pb::GetLicenceResponse {
    fn identifiers(&self) -> Vec<String> {
        self.licence.as_ref().map(|l| one(&l.identifier)).unwrap_or_default()
    }
}

impl AuditedRequest for pb::ChangeStatusRequest {
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}
impl AuditedResponse for pb::ChangeStatusResponse {}

impl AuditedRequest for pb::AmendLicenceRequest {
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}
impl AuditedRequest for pb::RenewLicenceRequest {
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}
impl AuditedResponse for pb::ReissueResponse {
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}

impl AuditedRequest for pb::GetLicenceHistoryRequest {
    fn use_cause(&self) -> &str {
        &self.use_cause
    }
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}
impl AuditedResponse for pb::GetLicenceHistoryResponse {
    fn identifiers(&self) -> Vec<String> {
        self.versions
            .iter()
            .filter_map(|v| v.licence.as_ref().map(|l| l.identifier.clone()))
            .collect()
    }
}

impl AuditedRequest for pb::QueryLicencesRequest {
    fn use_cause(&self) -> &str {
        &self.use_cause
    }
}
impl AuditedResponse for pb::QueryLicencesResponse {
    fn identifiers(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|r| r.licence.as_ref().map(|l| l.identifier.clone()))
            .collect()
    }
}

impl AuditedRequest for pb::VerifyLicenceFieldsRequest {
    fn use_cause(&self) -> &str {
        &self.use_cause
    }
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}
impl AuditedResponse for pb::VerifyLicenceFieldsResponse {
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}

impl AuditedRequest for pb::ListLicenceTypesRequest {}
impl AuditedResponse for pb::ListLicenceTypesResponse {}
impl AuditedRequest for pb::GetLicenceTypeRequest {}
impl AuditedRequest for pb::PutLicenceTypeRequest {}
impl AuditedResponse for pb::LicenceType {}

impl AuditedRequest for pb::QueryAccessLogRequest {
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}
impl AuditedResponse for pb::QueryAccessLogResponse {}

impl AuditedRequest for tonic::Streaming<pb::ImportLicencesRequest> {}
impl AuditedResponse for pb::ImportLicencesResponse {
    fn identifiers(&self) -> Vec<String> {
        self.created_identifiers.clone()
    }
    fn import(&self) -> Option<ImportRun> {
        Some(ImportRun {
            run_id: self.run_id.clone(),
            created: self.imported,
            created_sha256: hex::encode(&self.created_sha256),
        })
    }
}

impl AuditedRequest for pb::RenderLicencePdfRequest {
    fn use_cause(&self) -> &str {
        &self.use_cause
    }
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}
impl AuditedRequest for pb::RenderLicenceCopyRequest {
    fn use_cause(&self) -> &str {
        &self.use_cause
    }
    fn identifiers(&self) -> Vec<String> {
        one(&self.identifier)
    }
}

impl AuditedRequest for pb::PutTemplateRequest {}
impl AuditedRequest for pb::GetTemplateRequest {}
impl AuditedRequest for pb::ListTemplatesRequest {}
impl AuditedResponse for pb::TemplateVersion {}
impl AuditedResponse for pb::ListTemplatesResponse {}
