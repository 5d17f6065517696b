//! `elicence.v1.LicenceService`: issue, read, lifecycle, history, queries and field
//! checks (departments only). Every method goes through the access audit; the method
//! bodies live beside their kind (`lifecycle_api`, `query_api`).

use tonic::{Request, Response, Status};

use super::audit::audited;
use super::convert::{draft_from_pb, licence_to_pb, status_to_pb};
use super::pb::licence_service_server::LicenceService;
use super::pb::{
    AmendLicenceRequest, ChangeStatusRequest, ChangeStatusResponse, GetLicenceHistoryRequest,
    GetLicenceHistoryResponse, GetLicenceRequest, GetLicenceResponse, IssueLicenceRequest, IssueLicenceResponse,
    QueryLicencesRequest, QueryLicencesResponse, ReissueResponse, RenewLicenceRequest, VerifyLicenceFieldsRequest,
    VerifyLicenceFieldsResponse,
};
use super::{blocking, write, ApiError, AppState};
use crate::catalog::Department;
use crate::licence::Invalid;
use crate::registry::{type_of, Registry, StatusChange};

pub struct LicenceApi {
    pub(super) state: AppState,
}

impl LicenceApi {
    pub fn new(state: AppState) -> LicenceApi {
        LicenceApi { state }
    }
}

/// 用证事由: required on every department read, 1–200 characters.
pub(crate) fn check_use_cause(use_cause: &str) -> Result<(), Invalid> {
    let n = use_cause.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(Invalid::new(
            "use_cause",
            "is required: 1-200 characters stating why the licence is used (用证事由)",
        ));
    }
    crate::licence::text::check_chars("use_cause", use_cause, crate::licence::text::Lines::Single)
}

/// Either an identifier, or a licence type code and number (resolved to the current
/// version). Read permission on the type is checked first, so a caller without it
/// cannot tell whether the licence exists.
pub(crate) fn resolve_readable(
    registry: &Registry,
    caller: &Department,
    identifier: &str,
    licence_type_code: &str,
    licence_number: &str,
) -> Result<String, ApiError> {
    match (identifier.trim(), licence_type_code.trim(), licence_number.trim()) {
        (id, "", "") if !id.is_empty() => {
            registry.check_read(caller, &type_of(id)?)?;
            Ok(id.to_string())
        }
        ("", t, n) if !t.is_empty() && !n.is_empty() => {
            registry.check_read(caller, t)?;
            Ok(registry.identifier_for_number(t, n)?)
        }
        _ => Err(Invalid::new(
            "identifier",
            "give either identifier, or licence_type_code and licence_number",
        )
        .into()),
    }
}

/// Audit log name of a method of this service.
macro_rules! method {
    ($name:literal) => {
        concat!("elicence.v1.LicenceService/", $name)
    };
}

#[tonic::async_trait]
impl LicenceService for LicenceApi {
    async fn issue_licence(&self, req: Request<IssueLicenceRequest>) -> Result<Response<IssueLicenceResponse>, Status> {
        audited(&self.state, method!("IssueLicence"), req, |c, m| self.issue(c, m)).await
    }

    async fn get_licence(&self, req: Request<GetLicenceRequest>) -> Result<Response<GetLicenceResponse>, Status> {
        audited(&self.state, method!("GetLicence"), req, |c, m| self.get(c, m)).await
    }

    async fn suspend_licence(
        &self,
        req: Request<ChangeStatusRequest>,
    ) -> Result<Response<ChangeStatusResponse>, Status> {
        audited(&self.state, method!("SuspendLicence"), req, |c, m| {
            self.change_status(c, m, StatusChange::Suspend)
        })
        .await
    }

    async fn restore_licence(
        &self,
        req: Request<ChangeStatusRequest>,
    ) -> Result<Response<ChangeStatusResponse>, Status> {
        audited(&self.state, method!("RestoreLicence"), req, |c, m| {
            self.change_status(c, m, StatusChange::Restore)
        })
        .await
    }

    async fn revoke_licence(
        &self,
        req: Request<ChangeStatusRequest>,
    ) -> Result<Response<ChangeStatusResponse>, Status> {
        audited(&self.state, method!("RevokeLicence"), req, |c, m| {
            self.change_status(c, m, StatusChange::Revoke)
        })
        .await
    }

    async fn withdraw_licence(
        &self,
        req: Request<ChangeStatusRequest>,
    ) -> Result<Response<ChangeStatusResponse>, Status> {
        audited(&self.state, method!("WithdrawLicence"), req, |c, m| {
            self.change_status(c, m, StatusChange::Withdraw)
        })
        .await
    }

    async fn cancel_licence(
        &self,
        req: Request<ChangeStatusRequest>,
    ) -> Result<Response<ChangeStatusResponse>, Status> {
        audited(&self.state, method!("CancelLicence"), req, |c, m| {
            self.change_status(c, m, StatusChange::Cancel)
        })
        .await
    }

    async fn amend_licence(&self, req: Request<AmendLicenceRequest>) -> Result<Response<ReissueResponse>, Status> {
        audited(&self.state, method!("AmendLicence"), req, |c, m| self.amend(c, m)).await
    }

    async fn renew_licence(&self, req: Request<RenewLicenceRequest>) -> Result<Response<ReissueResponse>, Status> {
        audited(&self.state, method!("RenewLicence"), req, |c, m| self.renew(c, m)).await
    }

    async fn get_licence_history(
        &self,
        req: Request<GetLicenceHistoryRequest>,
    ) -> Result<Response<GetLicenceHistoryResponse>, Status> {
        audited(&self.state, method!("GetLicenceHistory"), req, |c, m| {
            self.history(c, m)
        })
        .await
    }

    async fn query_licences(
        &self,
        req: Request<QueryLicencesRequest>,
    ) -> Result<Response<QueryLicencesResponse>, Status> {
        audited(&self.state, method!("QueryLicences"), req, |c, m| self.query(c, m)).await
    }

    async fn verify_licence_fields(
        &self,
        req: Request<VerifyLicenceFieldsRequest>,
    ) -> Result<Response<VerifyLicenceFieldsResponse>, Status> {
        audited(&self.state, method!("VerifyLicenceFields"), req, |c, m| {
            self.check_fields(c, m)
        })
        .await
    }
}

impl LicenceApi {
    async fn issue(&self, caller: Department, req: IssueLicenceRequest) -> Result<IssueLicenceResponse, ApiError> {
        let IssueLicenceRequest { request_id, licence } = req;
        let licence = licence.ok_or_else(|| Invalid::new("licence", "is required"))?;
        let draft = draft_from_pb(licence);
        let r = write(&self.state.registry, move |r| {
            r.issue(&caller, &request_id, draft.clone())
        })
        .await?;
        Ok(IssueLicenceResponse {
            identifier: r.identifier,
            digest: r.digest.to_vec(),
            signature: r.signature.to_vec(),
            key_id: r.key_id,
            verification_code: r.verification_code,
        })
    }

    async fn get(&self, caller: Department, req: GetLicenceRequest) -> Result<GetLicenceResponse, ApiError> {
        let GetLicenceRequest {
            identifier,
            licence_type_code,
            licence_number,
            use_cause,
        } = req;
        check_use_cause(&use_cause)?;
        let registry = self.state.registry.clone();
        let view = blocking(move || {
            let identifier = resolve_readable(&registry, &caller, &identifier, &licence_type_code, &licence_number)?;
            Ok(registry.read(&caller, &identifier)?)
        })
        .await?;
        Ok(GetLicenceResponse {
            digest: view.record.digest().to_vec(),
            status: status_to_pb(view.status) as i32,
            status_code: view.status.national_code().to_string(),
            signed_record: view.record.bytes,
            signature: view.record.signature.to_vec(),
            key_id: view.record.key_id,
            verification_code: view.licence.verification_code.clone().unwrap_or_default(),
            record_format: view.licence.format(),
            licence: Some(licence_to_pb(view.licence)),
        })
    }
}
